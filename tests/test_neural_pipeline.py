"""The neural pipeline end to end on the CPU, with random weights in the official formats."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from albumify.cli import main
from models.face_style import ColourStyler, PSPStyler
from tests import images
from tests.test_backends import NEURAL_CHAINS
from worker.pipeline import CoverOptions, Pipeline


@pytest.fixture(scope="module")
def neural_pipeline(neural_weights_dir, tmp_path_factory, monkeypatch_module) -> Pipeline:
    monkeypatch_module.setenv("ALBUMIFY_WEIGHTS", str(neural_weights_dir))
    # A private starter library: it gains ResNet vectors, which the shared one must not.
    monkeypatch_module.setenv("ALBUMIFY_CACHE", str(tmp_path_factory.mktemp("cache")))
    return Pipeline.load(backend="neural", device="cpu")


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_neural_backends_are_chosen_and_the_starter_library_gains_resnet(neural_pipeline):
    names = neural_pipeline.stages.names()
    assert names == {
        "faces": "blazeface",
        "similarity": "resnet50-v2",
        "cutout": "yolo11n-seg",
        "face": "psp",
    }
    # Per photo: YOLO → selfie → GrabCut → oval, pSp → colour transfer; the index has ResNet.
    assert neural_pipeline.stages.chain_names() == {**NEURAL_CHAINS, "similarity": ("resnet50-v2",)}
    assert neural_pipeline.index.has_embedder("resnet50-v2")
    assert neural_pipeline.index.has_embedder("classic-v2")


def test_psp_styler_restyles_only_the_face(neural_pipeline):
    styler = neural_pipeline.stages.styler
    assert isinstance(styler, PSPStyler)
    photo = np.asarray(images.astronaut())
    face = neural_pipeline.stages.detector.detect(photo)[0]
    alpha = np.ones(photo.shape[:2], np.float32)
    out = styler(photo, alpha, face, photo, cover_row=0)
    assert out.shape == photo.shape and out.dtype == np.uint8
    changed = np.abs(out.astype(np.int16) - photo.astype(np.int16)).sum(-1) > 0
    ys, xs = np.nonzero(changed)
    x0, y0, x1, y1 = face.box
    # Changes stay around the face (the aligned FFHQ crop is ~2× the detector's box).
    assert xs.min() > x0 - 2 * face.width and xs.max() < x1 + 2 * face.width
    assert ys.min() > y0 - 2 * face.height and ys.max() < y1 + 2 * face.height
    again = styler(photo, alpha, face, photo, cover_row=0)
    assert np.array_equal(out, again)  # fixed noise buffers: deterministic


def test_cover_runs_end_to_end_on_neural_backends(neural_pipeline):
    result = neural_pipeline.make_cover(images.EXAMPLE, CoverOptions(size=512, title="Neural"))
    assert result.image.size == (512, 512)
    assert result.face_found
    # Random YOLO weights rarely find a person: the per-photo fallback must say so.
    if result.backends["cutout"] != "yolo11n-seg":
        assert any("found no person" in note for note in result.notes)
    assert result.backends["face"] in {"psp", ColourStyler.name}
    assert {"faces", "matching", "cutout", "face", "composing"} <= set(result.timings)


def test_cli_backend_neural(neural_pipeline, neural_weights_dir, tmp_path, capsys):
    out = tmp_path / "neural.png"
    assert (
        main(["cover", str(images.EXAMPLE), "-o", str(out), "--backend", "neural", "--size", "256"])
        == 0
    )
    printed = capsys.readouterr().out
    assert "similarity=resnet50-v2" in printed and "face=psp" in printed
    assert Image.open(out).size == (256, 256)


def test_cli_backend_neural_without_weights_exits_4(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ALBUMIFY_WEIGHTS", str(tmp_path))
    assert main(["cover", str(images.EXAMPLE), "--backend", "neural"]) == 4
    err = capsys.readouterr().err
    assert "psp_ffhq_encode.pt" in err and "resnet50-11ad3fa6.pth" in err


def test_index_build_stores_cover_face_latents_and_the_face_stage_uses_them(
    neural_pipeline, neural_weights_dir, tmp_path
):
    from index.cli import main as index_cli
    from index.library import CoverIndex
    from tests.test_index_build import make_library

    source = make_library(tmp_path / "covers")
    out = tmp_path / "idx"
    weights = ["--quiet", "--weights", str(neural_weights_dir), "--device", "cpu"]
    assert index_cli(["build", str(source), "-o", str(out), *weights]) == 0
    index = CoverIndex.load(out)
    assert index.has_embedder("resnet50-v2") and index.has_embedder("classic-v2")
    latents = index.wplus()
    assert latents is not None and latents.shape == (len(index), 18, 512)
    with_face = [row for row, r in enumerate(index.records) if r.face is not None]
    assert with_face
    assert all(np.isfinite(latents[row].astype(np.float32)).all() for row in with_face)

    styler = neural_pipeline.stages.styler
    stored = PSPStyler(styler.psp, latents)
    row = with_face[0]
    cover_w = stored.cover_latent(row)
    assert cover_w.shape == (1, 18, 512)
    assert not torch.allclose(cover_w, styler.psp.latent_avg[None])
    assert torch.allclose(cover_w, torch.from_numpy(latents[row].astype(np.float32))[None])
    # A second run has nothing left to encode.
    assert index_cli(["add", str(out), "--embedder", "psp", *weights]) == 0
    assert CoverIndex.load(out).manifest["generation"] == index.manifest["generation"]


def test_compile_is_off_by_default_so_the_neural_models_run_eager(neural_pipeline):
    from models.compile import is_compiled

    psp = neural_pipeline.stages.styler.psp
    assert not is_compiled(psp.encoder) and not is_compiled(psp.decoder)
    assert not is_compiled(neural_pipeline.stages.embedder.model)
    assert not psp.clone_outputs


def test_the_yolo_cutout_leaves_torch_thread_count_alone(neural_pipeline):
    # ultralytics sets torch to min(8, cores - 1) threads on CPU predicts, process-wide;
    # pSp and ResNet50 must keep what the worker had.
    from ultralytics.utils import NUM_THREADS

    before = torch.get_num_threads()
    torch.set_num_threads(NUM_THREADS + 1)
    try:
        neural_pipeline.make_cover(images.encode(images.astronaut(), "PNG"), CoverOptions(size=256))
        assert torch.get_num_threads() == NUM_THREADS + 1
    finally:
        torch.set_num_threads(before)
