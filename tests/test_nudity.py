"""NudeNet's 320n detector (models/nudity.py) with the real model file from the nudenet wheel:
our pre- and post-processing, the example photo, shapes, ranges and determinism on generated
images. No explicit image is needed or kept: the refusal path is tested with a stubbed score
(tests/test_safety.py, tests/test_e2e_safety.py)."""

from __future__ import annotations

import ast
import importlib.metadata
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from albumify.settings import Limits
from models.nudity import INPUT_SIDE, LABELS, NudityDetector, decode, letterbox, model_file
from worker.safety import EXPOSED, judge

EXAMPLE = Path(__file__).resolve().parents[1] / "devtools" / "data" / "astronaut.png"

pytest.importorskip("onnxruntime")
try:
    model_file()
except Exception:
    pytest.skip("nudenet (its model file) is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def detector() -> NudityDetector:
    return NudityDetector.load(threads=1)


def astronaut() -> np.ndarray:
    with Image.open(EXAMPLE) as image:
        return np.asarray(image.convert("RGB"))


def generated(height: int, width: int, seed: int) -> np.ndarray:
    """Gradients with blocks and noise: no person in them."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width]
    rgb = np.stack([xs * 255 // max(width, 1), ys * 255 // max(height, 1), (xs + ys) % 256], -1)
    rgb = rgb + rng.integers(-20, 20, rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def test_our_class_list_is_the_installed_nudenet_release(detector: NudityDetector) -> None:
    """The labels are read from nudenet's source (never imported) and match ours in order;
    the model has one score row per label."""
    source = Path(str(importlib.metadata.distribution("nudenet").locate_file("nudenet/nudenet.py")))
    tree = ast.parse(source.read_text())
    theirs = next(
        ast.literal_eval(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id.endswith("labels") for t in node.targets)
    )
    assert tuple(theirs) == LABELS
    output, _ = detector.raw(generated(64, 64, 0))
    assert output.shape[0] == 4 + len(LABELS)
    assert set(EXPOSED) <= set(LABELS)


def test_the_example_photo_passes_and_its_face_is_found(detector: NudityDetector) -> None:
    rgb = astronaut()
    scores = detector.scores(rgb)
    verdict = judge(scores, Limits().nsfw_threshold)
    assert not verdict.explicit, verdict
    assert all(scores[label] < Limits().nsfw_threshold for label in EXPOSED), scores
    # The pre-processing is right when the model sees what is there: a face, in the photo.
    faces = [d for d in detector.detect(rgb) if d.label.startswith("FACE_")]
    assert faces, detector.detect(rgb)
    x0, y0, x1, y1 = faces[0].box
    assert 0 <= x0 < x1 <= rgb.shape[1] and 0 <= y0 < y1 <= rgb.shape[0]


def test_boxes_follow_the_photo_when_it_is_padded(detector: NudityDetector) -> None:
    """The example photo at the right half of a wider canvas: the same face, its box moved by
    the offset (the letterbox and the box mapping agree)."""
    rgb = astronaut()
    height, width = rgb.shape[:2]
    canvas = np.zeros((height, width * 2, 3), np.uint8)
    canvas[:, width:] = rgb
    alone = max((d for d in detector.detect(rgb) if d.label.startswith("FACE_")), key=_score)
    moved = max((d for d in detector.detect(canvas) if d.label.startswith("FACE_")), key=_score)
    centre = np.array(
        [(alone.box[0] + alone.box[2]) / 2 + width, (alone.box[1] + alone.box[3]) / 2]
    )
    seen = np.array([(moved.box[0] + moved.box[2]) / 2, (moved.box[1] + moved.box[3]) / 2])
    side = alone.box[2] - alone.box[0]
    assert np.abs(centre - seen).max() < 0.25 * side, (alone, moved)


def _score(detection) -> float:
    return detection.score


@pytest.mark.parametrize(("height", "width"), [(320, 320), (480, 640), (1280, 200), (7, 3)])
def test_shapes_and_ranges_on_generated_images(
    detector: NudityDetector, height: int, width: int
) -> None:
    rgb = generated(height, width, height + width)
    tensor, scale = letterbox(rgb)
    assert tensor.shape == (1, 3, INPUT_SIDE, INPUT_SIDE) and tensor.dtype == np.float32
    assert tensor.min() >= 0.0 and tensor.max() <= 1.0
    assert scale == pytest.approx(INPUT_SIDE / max(height, width))
    output, _ = detector.raw(rgb)
    assert output.shape == (4 + len(LABELS), 2100)  # 40² + 20² + 10² anchors at 320 px
    scores = detector.scores(rgb)
    assert set(scores) == set(LABELS)
    assert all(0.0 <= s <= 1.0 for s in scores.values())
    for found in detector.detect(rgb, min_score=0.01):
        x0, y0, x1, y1 = found.box
        assert 0 <= x0 <= x1 <= width and 0 <= y0 <= y1 <= height
        assert found.label in LABELS and 0.01 <= found.score <= 1.0


def test_the_same_photo_scores_the_same(detector: NudityDetector) -> None:
    rgb = generated(360, 480, 7)
    first, again = detector.scores(rgb), detector.scores(rgb.copy())
    assert first == again
    other = NudityDetector.load(threads=2).scores(rgb)  # thread count changes nothing that matters
    assert max(abs(first[k] - other[k]) for k in LABELS) < 1e-4


def test_letterbox_puts_the_photo_top_left_on_black() -> None:
    rgb = np.full((100, 200, 3), 255, np.uint8)  # wide: padded at the bottom
    tensor, scale = letterbox(rgb)
    assert scale == pytest.approx(1.6)
    image = tensor[0]
    assert image[:, :150, :].min() == pytest.approx(1.0)  # 100 px * 1.6 = 160 rows of photo
    assert image[:, 170:, :].max() == 0.0
    tall = letterbox(np.full((200, 100, 3), 255, np.uint8))[0][0]  # tall: padded on the right
    assert tall[:, :, :150].min() == pytest.approx(1.0) and tall[:, :, 170:].max() == 0.0


def test_decode_keeps_the_best_of_overlapping_hits_and_maps_boxes_back() -> None:
    """YOLOv8 layout [4 + classes, anchors]: centre x, centre y, width, height, scores."""
    anchors = np.zeros((4 + len(LABELS), 4), np.float32)
    breast = LABELS.index("FEMALE_BREAST_EXPOSED")
    face = LABELS.index("FACE_FEMALE")
    anchors[:4, 0] = (100, 100, 40, 40)
    anchors[4 + breast, 0] = 0.9
    anchors[:4, 1] = (102, 101, 40, 40)  # overlaps the first: suppressed
    anchors[4 + breast, 1] = 0.6
    anchors[:4, 2] = (250, 50, 20, 20)  # elsewhere: kept
    anchors[4 + face, 2] = 0.7
    anchors[:4, 3] = (10, 10, 5, 5)  # below the cut-off: not a detection
    anchors[4 + face, 3] = 0.1
    found = decode(anchors, scale=0.5, size=(640, 640))
    assert [(d.label, round(d.score, 2)) for d in found] == [
        ("FEMALE_BREAST_EXPOSED", 0.9),
        ("FACE_FEMALE", 0.7),
    ]
    assert found[0].box == pytest.approx((160.0, 160.0, 240.0, 240.0))  # input px / 0.5
    assert decode(anchors, scale=0.5, size=(640, 640), min_score=0.95) == []
