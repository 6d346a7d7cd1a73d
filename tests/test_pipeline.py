"""The embedded-default pipeline end to end, on the real models and the starter library."""

import io

import numpy as np
import pytest
from PIL import Image

from albumify.errors import BadInput
from imaging.photo import encode_cover
from models.faces import FaceDetector, main_face
from models.segmenter import OvalMatte
from tests import compose_reference as reference
from tests import images
from worker import pipeline as pipeline_module
from worker.pipeline import CoverOptions, Pipeline


@pytest.fixture(scope="session")
def pipeline() -> Pipeline:
    return Pipeline.load(backend="classic")


@pytest.fixture(scope="session")
def detector() -> FaceDetector:
    return FaceDetector()


def test_faces_found_on_the_example_and_none_on_a_flat_image(detector):
    faces = detector.detect(images.astronaut())
    assert len(faces) == 1
    face = faces[0]
    assert face.score > 0.95
    assert face.landmarks.shape == (5, 2)
    left_eye, right_eye = face.landmarks[0], face.landmarks[1]
    assert left_eye[0] < right_eye[0]
    x0, y0, x1, y1 = face.box
    assert x0 < left_eye[0] < x1 and y0 < left_eye[1] < y1
    assert detector.detect(Image.new("RGB", (400, 300), (90, 120, 160))) == []


def test_group_photo_uses_the_main_face(detector):
    group = images.group_photo()
    faces = detector.detect(group)
    assert len(faces) == 3
    main = main_face(faces, group.size)
    assert main.width == max(f.width for f in faces)
    assert 240 < main.centre[0] < 660


def test_cover_from_the_example_photo(pipeline):
    result = pipeline.make_cover(images.EXAMPLE, CoverOptions(title="Mission", artist="Collins"))
    assert result.face_found
    assert result.image.size == (1024, 1024)
    assert result.record.library_id.startswith("starter:")
    assert -1.0 <= result.similarity <= 1.0
    assert set(result.timings) >= {"decoding", "faces", "matching", "cutout", "face", "composing"}
    assert all(t >= 0 for t in result.timings.values())
    # The member is on the cover: the cover is not just the template.
    template = np.asarray(Image.open(pipeline.index.cover_path(result.record)).convert("RGB"))
    diff = np.abs(np.asarray(result.image, np.int16) - template.astype(np.int16)).mean()
    assert diff > 10


def test_photo_without_a_face_still_makes_a_cover(pipeline):
    sunset = images.gradient(800, 600)
    result = pipeline.make_cover(images.encode(sunset, "JPEG"), CoverOptions(title="Dusk"))
    assert not result.face_found
    assert any("no face" in note for note in result.notes)
    assert result.image.size == (1024, 1024)
    assert "cutout" not in result.timings


def test_requested_size_and_format(pipeline):
    result = pipeline.make_cover(images.EXAMPLE, CoverOptions(size=512))
    assert result.image.size == (512, 512)
    for fmt, pil_format in (("png", "PNG"), ("jpeg", "JPEG"), ("webp", "WEBP")):
        decoded = Image.open(io.BytesIO(encode_cover(result.image, fmt)))
        assert decoded.format == pil_format and decoded.size == (512, 512)


def test_same_seed_same_bytes_and_seed_changes_the_cover(pipeline):
    options = CoverOptions(title="Same", artist="Seed", seed=7, size=512)
    first = encode_cover(pipeline.make_cover(images.EXAMPLE, options).image, "png")
    second = encode_cover(pipeline.make_cover(images.EXAMPLE, options).image, "png")
    assert first == second
    other = CoverOptions(title="Same", artist="Seed", seed=8, size=512)
    assert encode_cover(pipeline.make_cover(images.EXAMPLE, other).image, "png") != first


def test_reroll_gives_the_next_best_template_and_a_different_cover(pipeline):
    options = CoverOptions(size=512)
    first = pipeline.make_cover(images.EXAMPLE, options)
    second = pipeline.make_cover(
        images.EXAMPLE, CoverOptions(size=512, exclude=(first.record.library_id,))
    )
    assert second.record.library_id != first.record.library_id
    a = np.asarray(first.image, np.int16)
    b = np.asarray(second.image, np.int16)
    assert np.abs(a - b).mean() > 10


def test_advisory_label_is_drawn(pipeline):
    plain = pipeline.make_cover(images.EXAMPLE, CoverOptions(size=512))
    labelled = pipeline.make_cover(images.EXAMPLE, CoverOptions(size=512, advisory=True))
    diff = np.abs(np.asarray(plain.image, np.int16) - np.asarray(labelled.image, np.int16))
    changed = diff.sum(-1) > 30
    ys, _ = np.nonzero(changed)
    assert ys.min() > 512 * 0.6  # only the bottom corner changed


def test_bad_photo_raises_bad_input(pipeline):
    with pytest.raises(BadInput):
        pipeline.make_cover(b"not an image")


def test_warm_up_runs_every_stage_once(pipeline, monkeypatch):
    seen = []
    original = pipeline.make_cover
    monkeypatch.setattr(pipeline, "make_cover", lambda *a, **k: seen.append(1) or original(*a, **k))
    assert pipeline.warm_up() > 0
    assert seen == [1]


class Recorder:
    """Wraps a stage model and keeps its arguments."""

    def __init__(self, inner):
        self.inner, self.name, self.calls = inner, inner.name, []

    def __call__(self, *args):
        self.calls.append(args)
        return self.inner(*args)


def test_cutout_cover_matches_the_reference_compositing(pipeline, monkeypatch):
    """The cut-out family draws what the reference code drew (PSNR ≥ 40), lettering off."""
    styler = Recorder(pipeline.stages.styler)
    monkeypatch.setattr(pipeline.stages, "stylers", (styler, *pipeline.stages.stylers[1:]))
    monkeypatch.setattr(pipeline_module, "choose_family", lambda *args: "cutout")
    options = CoverOptions(lettering=False, seed=5)
    result = pipeline.make_cover(images.EXAMPLE, options)
    assert result.layout == "cutout" and result.lettering is None
    rgb, alpha, _, cover, _ = styler.calls[0]
    styled = reference.colour_style(rgb, alpha, cover, styler.inner.strength)
    grain = float(result.record.style.get("grain", 0.02))
    placement = tuple(result.record.placement)
    art = reference.composite(styled, alpha, cover, placement, grain, seed=5)
    assert reference.psnr(result.image, art) >= 40


class GivesUp:
    """A backend that copes with no photo."""

    def __init__(self, name):
        self.name = name

    def __call__(self, *args):
        return None


def test_each_fallback_is_said_in_the_notes_and_the_backends_line(pipeline, monkeypatch):
    classic_styler = pipeline.stages.styler
    monkeypatch.setattr(pipeline.stages, "segmenters", (GivesUp("grabcut"), OvalMatte()))
    result = pipeline.make_cover(images.EXAMPLE, CoverOptions(size=256))
    assert result.notes == ["couldn't separate the person: used a soft oval crop"]
    assert result.backends["cutout"] == "oval"

    chain = (GivesUp("yolo11n-seg"), GivesUp("grabcut"), OvalMatte())
    monkeypatch.setattr(pipeline.stages, "segmenters", chain)
    monkeypatch.setattr(pipeline.stages, "stylers", (GivesUp("psp"), classic_styler))
    result = pipeline.make_cover(images.EXAMPLE, CoverOptions(size=256))
    assert result.notes == [
        "yolo11n-seg found no person: used grabcut",
        "couldn't separate the person: used a soft oval crop",
        "psp couldn't use this face: used lab-adain",
    ]
    assert result.backends == {
        "faces": "blazeface",
        "similarity": "classic-v2",
        "cutout": "oval",
        "face": "lab-adain",
    }
