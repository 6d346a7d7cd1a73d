import numpy as np

from index.library import CoverIndex
from index.starter import TEMPLATES, ensure_starter_index, render_template
from models.embedder import ClassicEmbedder


class TinyEmbedder:
    """Stands in for an embedder that becomes available later (e.g. ResNet50)."""

    name = "tiny-test"
    version = "1"
    dim = 3

    def __call__(self, images):
        return np.stack([np.asarray(i, np.float32).reshape(-1, 3).mean(0) + 1 for i in images])


def test_enough_templates_and_styles():
    assert len(TEMPLATES) >= 30
    assert len({t.genre for t in TEMPLATES}) >= 6
    assert len({t.template_id for t in TEMPLATES}) == len(TEMPLATES)


def test_render_is_deterministic_and_templates_differ():
    a = render_template(TEMPLATES[0], 128)
    assert a.shape == (128, 128, 3) and a.dtype == np.uint8
    assert np.array_equal(a, render_template(TEMPLATES[0], 128))
    assert not np.array_equal(a, render_template(TEMPLATES[1], 128))


def test_starter_index_is_built_and_extended_with_a_new_embedder(tmp_path):
    root = tmp_path / "starter"
    index = ensure_starter_index(root, [ClassicEmbedder()])
    assert len(index) == len(TEMPLATES)
    assert index.manifest["kind"] == "starter"
    assert index.manifest["counts"] == {"covers": len(TEMPLATES), "with_face": 0}
    vectors = index.vectors("classic-v2")
    assert vectors.shape == (len(TEMPLATES), ClassicEmbedder().dim)
    assert np.allclose(np.linalg.norm(vectors.astype(np.float32), axis=1), 1, atol=1e-2)
    assert all(index.cover_path(r).is_file() for r in index.records)
    assert all(r.face is None and len(r.placement) == 4 for r in index.records)

    extended = ensure_starter_index(root, [ClassicEmbedder(), TinyEmbedder()])
    assert extended.has_embedder("tiny-test") and extended.has_embedder("classic-v2")
    assert np.array_equal(np.asarray(extended.vectors("classic-v2")), np.asarray(vectors))
    reloaded = CoverIndex.load(root)
    assert reloaded.manifest["generation"] == 2
    # Stale files of generation 1 are gone; the live ones are all listed.
    names = {p.name for p in root.iterdir() if p.is_file()}
    assert names == {
        "manifest.json",
        reloaded.manifest["metadata"],
        *(e["file"] for e in reloaded.embedders.values()),
    }
