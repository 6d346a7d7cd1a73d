"""The backend registry: what runs each stage, what takes over per photo, and which embedders
an index gets. Neural files are random weights in the official formats (tests/support/weights)
or, where only their presence counts, a few bytes under the official name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from albumify.errors import MissingAsset, UsageError
from models import backends as registry
from models.backends import (
    NEURAL_FILES,
    REGISTRY,
    available_embedders,
    build_stages,
    find_embedder,
    searchable_embedder,
    select_backends,
    select_embedders,
)
from models.embedder import ClassicEmbedder, ResNetEmbedder
from models.face_style import ColourStyler
from models.faces import Face
from models.matte import SelfieMatte
from models.segmenter import GrabCutSegmenter, OvalMatte, YoloSegmenter
from models.weights import PSP_FFHQ, RESNET50, YOLO_SEG

CLASSIC_CHAINS = {
    "faces": ("blazeface",),
    "similarity": ("classic-v2",),
    "cutout": ("selfie", "grabcut", "oval"),
    "face": (ColourStyler.name,),
}
NEURAL_CHAINS = {
    "faces": ("blazeface",),
    "similarity": ("resnet50-v2", "classic-v2"),
    "cutout": ("yolo11n-seg", "selfie", "grabcut", "oval"),
    "face": ("psp", ColourStyler.name),
}
"""What `neural` (or `auto` with every file) chooses; tests/test_neural_pipeline.py checks the
loaded stages of a neural pipeline against it."""


def weights_dir_with(tmp_path: Path, **files: Path | bytes) -> Path:
    """`tmp_path` holding each file under its official name (a link, or these bytes)."""
    for name, source in files.items():
        target = tmp_path / name
        if isinstance(source, bytes):
            target.write_bytes(source)
        else:
            target.symlink_to(source)
    return tmp_path


def names(models: list) -> list[str]:
    return [model.name for model in models]


# --- choosing the pipeline's backends ----------------------------------------------------------


def test_auto_without_files_is_classic(tmp_path: Path) -> None:
    backends = select_backends(tmp_path, "auto", "cpu")
    assert [type(e) for e in backends.load_embedders()] == [ClassicEmbedder]
    assert [type(s) for s in backends.load("cutout")] == [SelfieMatte, GrabCutSegmenter, OvalMatte]
    assert backends.files() == {}
    assert backends.chain_names() == CLASSIC_CHAINS


def test_auto_picks_each_stage_whose_file_is_present(tmp_path: Path, resnet_file: Path) -> None:
    assert names(available_embedders(tmp_path, "cpu")) == ["classic-v2"]
    weights_dir = weights_dir_with(tmp_path, **{RESNET50: resnet_file})
    backends = select_backends(weights_dir, "auto", "cpu")
    chains = backends.chain_names()
    assert chains["similarity"] == ("resnet50-v2", "classic-v2")
    assert chains["cutout"] == ("selfie", "grabcut", "oval")
    assert chains["face"] == (ColourStyler.name,)
    assert names(backends.load_embedders()) == ["resnet50-v2", "classic-v2"]
    assert names(available_embedders(weights_dir, "cpu")) == ["classic-v2", "resnet50-v2"]


def test_neural_with_every_file(tmp_path: Path, resnet_file: Path, yolo_file: Path) -> None:
    weights_dir = weights_dir_with(
        tmp_path, **{RESNET50: resnet_file, YOLO_SEG: yolo_file, PSP_FFHQ: b"pSp checkpoint"}
    )
    for requested in ("auto", "neural"):
        backends = select_backends(weights_dir, requested, "cpu")
        assert backends.chain_names() == NEURAL_CHAINS
        assert backends.files()["psp"] == weights_dir / PSP_FFHQ
        assert backends.requested == requested
    # Loaded, each model is the backend it is registered as (pSp: test_neural_pipeline).
    cutout = backends.load("cutout")
    assert [type(s) for s in cutout] == [YoloSegmenter, SelfieMatte, GrabCutSegmenter, OvalMatte]
    assert tuple(names(cutout)) == NEURAL_CHAINS["cutout"]
    classic = select_backends(weights_dir, "classic", "cpu")
    assert classic.chain_names() == CLASSIC_CHAINS
    assert classic.files() == {}


def test_neural_names_every_missing_file(tmp_path: Path) -> None:
    (tmp_path / RESNET50).write_bytes(b"present, never loaded: the check comes first")
    with pytest.raises(MissingAsset) as caught:
        select_backends(tmp_path, "neural", "cpu")
    message = str(caught.value)
    assert YOLO_SEG in message and PSP_FFHQ in message
    assert f"needs {YOLO_SEG}, {PSP_FFHQ}" in message and RESNET50 not in message.split(":")[0]
    assert "albumify models fetch" in message
    assert "or use --backend auto to fall back per stage" in message
    assert set(NEURAL_FILES.values()) == {RESNET50, YOLO_SEG, PSP_FFHQ}


def test_unknown_backend_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        select_backends(tmp_path, "fast", "cpu")


def test_every_chain_ends_with_a_backend_that_needs_no_weights() -> None:
    for chain in REGISTRY.values():
        assert chain[-1].weights_file is None


@pytest.mark.parametrize("requested", ["classic", "auto"])
def test_classic_stages_and_their_fallback_chains(tmp_path: Path, requested: str) -> None:
    backends = select_backends(tmp_path, requested, "cpu")
    stages = build_stages(backends, backends.load_embedders(), {"classic-v2"})
    assert stages.chain_names() == CLASSIC_CHAINS
    assert stages.names() == {
        "faces": "blazeface",
        "similarity": "classic-v2",
        "cutout": "selfie",
        "face": ColourStyler.name,
    }


class Named:
    def __init__(self, name: str) -> None:
        self.name = name


def test_search_uses_an_embedder_whose_vectors_the_index_has() -> None:
    resnet, classic = Named("resnet50-v2"), Named("classic-v2")
    chain = [resnet, classic]
    assert searchable_embedder("auto", chain, {"classic-v2", "resnet50-v2"}) is resnet
    assert searchable_embedder("auto", chain, {"classic-v2"}) is classic
    assert searchable_embedder("auto", chain, set()) is classic  # the index then says so
    # `neural` keeps the neural embedder: the index's error says how to add its vectors.
    assert searchable_embedder("neural", chain, {"classic-v2"}) is resnet


def test_the_oval_matte_covers_the_face() -> None:
    image = np.zeros((400, 300, 3), np.uint8)
    face = Face((110.0, 80.0, 190.0, 180.0), np.zeros((5, 2), np.float32), 1.0)
    alpha = OvalMatte()(image, face)
    assert alpha is not None and alpha.shape == (400, 300) and alpha.dtype == np.float32
    assert alpha[90:170, 120:180].min() > 0.99  # the face, well inside the feathered edge
    assert alpha[:40, :40].max() < 0.01 and alpha[:40, -40:].max() < 0.01  # beside the head
    assert alpha.min() >= 0.0 and alpha.max() <= 1.0
    assert OvalMatte()(image, None) is None


# --- the index's embedders ---------------------------------------------------------------------


class FakeNeuralEmbedder:
    name = "fake-neural-v0"
    version = "0"
    dim = 8

    def __call__(self, images: list) -> np.ndarray:
        return np.ones((len(images), self.dim), np.float32)


def test_index_embedders_by_backend(tmp_path: Path, resnet_file: Path) -> None:
    empty = tmp_path / "none"
    empty.mkdir()
    assert names(select_embedders("auto", empty)) == ["classic-v2"]
    assert names(select_embedders("classic", empty)) == ["classic-v2"]
    with pytest.raises(MissingAsset, match=rf"neural needs the ResNet50 weights \({RESNET50}\)"):
        select_embedders("neural", empty)
    with pytest.raises(UsageError, match="Unknown backend 'fast': use auto, classic or neural"):
        select_embedders("fast", empty)

    weights_dir = weights_dir_with(empty, **{RESNET50: resnet_file})
    for backend in ("auto", "neural"):
        assert names(select_embedders(backend, weights_dir)) == ["classic-v2", "resnet50-v2"]
    assert names(select_embedders("classic", weights_dir)) == ["classic-v2"]
    assert isinstance(find_embedder("resnet50-v2", weights_dir), ResNetEmbedder)
    with pytest.raises(MissingAsset, match=r"'nope' is not available \(available: classic-v2, "):
        find_embedder("nope", weights_dir)


def test_embedder_factories_add_embedders_once(monkeypatch: pytest.MonkeyPatch) -> None:
    factories = [lambda w, d: FakeNeuralEmbedder(), lambda w, d: FakeNeuralEmbedder()]
    monkeypatch.setattr(registry, "EMBEDDER_FACTORIES", [*factories, lambda w, d: None])
    assert names(available_embedders(None)) == ["classic-v2", "fake-neural-v0"]
    assert names(select_embedders("neural")) == ["classic-v2", "fake-neural-v0"]
    assert names(select_embedders("classic")) == ["classic-v2"]
    assert isinstance(find_embedder("fake-neural-v0", None), FakeNeuralEmbedder)
