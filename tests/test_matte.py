"""The person matte: MediaPipe's real selfie and pose models from the installed wheel, on the
example photo and on real crops of a group photo where neighbours are in frame."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest
from PIL import Image

from albumify.cli import main
from models.blazeface import BlazeFaceDetector
from models.faces import Face, main_face
from models.litert import mediapipe_file
from models.matte import SelfieMatte
from models.segmenter import GrabCutSegmenter, OvalMatte
from tests import images, photos
from tests.conftest import ROOT
from worker.pipeline import CoverOptions, Pipeline, Stage, _first_that_copes


@pytest.fixture(scope="module")
def matte() -> SelfieMatte:
    return SelfieMatte()


@pytest.fixture(scope="module")
def detector() -> BlazeFaceDetector:
    return BlazeFaceDetector()


def faces_of(detector: BlazeFaceDetector, rgb: np.ndarray) -> tuple[Face, list[Face]]:
    faces = detector.detect(rgb)
    face = main_face(faces, (rgb.shape[1], rgb.shape[0]))
    assert face is not None
    return face, [f for f in faces if f is not face]


def on_grey(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The cut-out alone, on a flat background: what a face detector may find in it."""
    grey = np.full_like(rgb, 128, dtype=np.float32)
    out = rgb * alpha[..., None] + grey * (1 - alpha[..., None])
    return out.astype(np.uint8)


def test_the_models_are_the_real_files_from_the_installed_wheel(matte: SelfieMatte) -> None:
    import importlib.metadata

    wheel = importlib.metadata.distribution("mediapipe")
    assert wheel.version == "0.10.21"
    path = mediapipe_file("selfie_segmentation/selfie_segmentation.tflite")
    assert path == matte.selfie.path and path.stat().st_size > 200_000
    assert str(path).startswith(str(wheel.locate_file("mediapipe")))
    assert matte.selfie.input_shape == (1, 256, 256, 3)
    assert matte.pose.output_shapes[2] == (256, 256, 1)  # the pose model's person mask


def test_without_the_wheel_the_error_says_how_to_install_it(monkeypatch) -> None:
    import importlib.metadata

    from albumify.errors import MissingAsset
    from models import litert

    with pytest.raises(MissingAsset, match=r"has no modules/nothing\.tflite: install it with"):
        mediapipe_file("nothing.tflite")

    def not_installed(name: str) -> None:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(litert.importlib.metadata, "distribution", not_installed)
    with pytest.raises(MissingAsset, match=r"pip install --no-deps mediapipe==0\.10\.21"):
        SelfieMatte()


def test_the_matte_of_the_example_photo(matte: SelfieMatte, detector: BlazeFaceDetector) -> None:
    rgb = np.asarray(images.astronaut())
    face, others = faces_of(detector, rgb)
    alpha = matte(rgb, face, others)
    assert alpha is not None and alpha.shape == rgb.shape[:2] and alpha.dtype == np.float32
    assert alpha.min() >= 0.0 and alpha.max() <= 1.0
    x0, y0, x1, y1 = (round(v) for v in face.box)
    inner = alpha[
        y0 + (y1 - y0) // 5 : y1 - (y1 - y0) // 5, x0 + (x1 - x0) // 5 : x1 - (x1 - x0) // 5
    ]
    assert inner.mean() > 0.97  # the face is in the cut-out
    corner = rgb.shape[0] // 10
    # The flag, the shuttle model and the helmet in three corners are not (in the fourth
    # the astronaut's own suit reaches the frame).
    for patch in (alpha[:corner, :corner], alpha[:corner, -corner:], alpha[-corner:, -corner:]):
        assert patch.max() < 0.02
    assert alpha[-corner:, :corner].mean() > 0.5
    # Sane edges: a thin soft rim, not a blurred blob or a rectangle.
    soft = np.count_nonzero((alpha > 0.05) & (alpha < 0.95))
    assert soft < 0.06 * alpha.size
    hard = alpha > 0.5
    ys, xs = np.nonzero(hard)
    box_area = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
    assert 0.3 < hard.sum() / box_area < 0.9
    assert np.array_equal(matte(rgb, face, others), alpha)  # deterministic


def test_nobody_at_the_face_falls_back_to_grabcut(matte: SelfieMatte) -> None:
    """A flat drawing of a person: no one to the selfie model, shapes enough for GrabCut."""
    image = np.full((400, 300, 3), (40, 60, 90), np.uint8)
    cv2.ellipse(image, (150, 110), (35, 45), 0, 0, 360, (220, 170, 140), -1)
    cv2.rectangle(image, (80, 150), (220, 400), (200, 80, 40), -1)
    face = Face((115.0, 65.0, 185.0, 155.0), np.zeros((5, 2), np.float32), 1.0)
    assert matte(image, face) is None
    assert matte(image, None) is None
    notes: list[str] = []
    backends = {"cutout": matte.name}
    chain = (matte, GrabCutSegmenter(), OvalMatte())
    alpha = _first_that_copes(Stage.CUTOUT, chain, (image, face, []), notes, backends)
    assert backends["cutout"] == "grabcut"
    assert notes == ["selfie found no person: used grabcut"]
    assert alpha[300, 150] > 0.9 and alpha[300, 20] < 0.1


NEIGHBOURS = photos.of_kind(photos.Kind.NEIGHBOURS)


@pytest.mark.parametrize("photo", NEIGHBOURS, ids=lambda p: p.name)
def test_the_cut_out_holds_one_person_where_neighbours_are_in_frame(
    photo: photos.Photo, matte: SelfieMatte, detector: BlazeFaceDetector
) -> None:
    rgb = np.asarray(photo.image())
    face, others = faces_of(detector, rgb)
    alpha = matte(rgb, face, others)
    assert alpha is not None, "the segmenter found the player"
    found = detector.detect(on_grey(rgb, alpha))
    assert len(found) == 1, f"{len(found)} faces in the cut-out"
    (kept,) = found
    assert abs(kept.centre[0] - face.centre[0]) < face.width / 2
    for other in others:  # each neighbour's face is out of the cut-out
        x0, y0, x1, y1 = (round(v) for v in other.box)
        assert alpha[y0:y1, x0:x1].mean() < 0.2


def test_no_cover_imports_mediapipe_and_a_classic_one_imports_no_torch(tmp_path) -> None:
    """`import mediapipe` would pull numpy < 2 and the GUI OpenCV: its files are read, never
    imported. The embedded default runs on LiteRT and OpenCV alone."""
    script = textwrap.dedent(
        """
        import sys
        from worker.pipeline import CoverOptions, Pipeline
        pipeline = Pipeline.load(backend="classic")
        result = pipeline.make_cover(sys.argv[1], CoverOptions(size=256))
        print(result.backends["faces"], result.backends["cutout"])
        print("mediapipe" in sys.modules, "torch" in sys.modules)
        """
    )
    env = {"ALBUMIFY_CACHE": str(tmp_path), "YOLO_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", script, str(images.EXAMPLE)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.split("\n")
    assert lines[0] == "blazeface selfie"
    assert lines[1] == "False False"


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline.load(backend="classic")


@pytest.mark.parametrize("photo", NEIGHBOURS, ids=lambda p: p.name)
def test_the_finished_cover_shows_one_person(photo, pipeline, detector) -> None:
    result = pipeline.make_cover(images.encode(photo.image(), "PNG"), CoverOptions(size=512))
    assert result.backends["cutout"] == "selfie"
    assert len(detector.detect(np.asarray(result.image.convert("RGB")))) == 1


def test_the_backends_line_names_the_cut_out_actually_used(tmp_path, capsys, monkeypatch):
    out = str(tmp_path / "cover.png")
    assert main(["cover", str(images.EXAMPLE), "-o", out, "--size", "256"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert any(line.startswith("library cover: starter:") for line in printed)
    assert "backends: faces=blazeface, similarity=classic-v2, cutout=selfie, face=lab-adain" in (
        printed
    )

    monkeypatch.setattr(SelfieMatte, "__call__", lambda self, image, face, others=(): None)
    assert main(["cover", str(images.EXAMPLE), "-o", out, "--size", "256"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert "backends: faces=blazeface, similarity=classic-v2, cutout=grabcut, face=lab-adain" in (
        printed
    )
    assert "note: selfie found no person: used grabcut" in printed


def neighbour_regions(photo: photos.Photo, scale: float) -> list[tuple[slice, slice]]:
    """Where the other players' faces are in this crop (found or not by the detector): a box
    of about their face's size around each centre, clipped to the frame, at `scale`."""
    assert photo.crop is not None
    x0, y0, x1, y1 = photo.crop
    regions = []
    for cx, cy in photos.POKER_FACES:
        if (cx, cy) == photo.subject:
            continue
        bx0, bx1 = max(x0, cx - 45), min(x1, cx + 45)
        by0, by1 = max(y0, cy - 55), min(y1, cy + 55)
        if bx1 - bx0 >= 20 and by1 - by0 >= 20:  # enough of that face is in frame
            ys = slice(round((by0 - y0) * scale), round((by1 - y0) * scale))
            xs = slice(round((bx0 - x0) * scale), round((bx1 - x0) * scale))
            regions.append((ys, xs))
    return regions


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_no_neighbours_face_is_kept_found_or_not(scale, matte, detector) -> None:
    """Every other player's face in frame, the detector's misses at the frame's edge too."""
    checked = 0
    for photo in NEIGHBOURS:
        image = photo.image()
        if scale != 1.0:
            size = (round(image.width * scale), round(image.height * scale))
            image = image.resize(size, Image.Resampling.LANCZOS)
        rgb = np.asarray(image)
        face, others = faces_of(detector, rgb)
        alpha = matte(rgb, face, others)
        assert alpha is not None, photo.name
        for ys, xs in neighbour_regions(photo, scale):
            assert alpha[ys, xs].mean() < 0.25, (photo.name, ys, xs)
            checked += 1
    assert checked >= 6  # the neighbours whose face is at least partly in frame
