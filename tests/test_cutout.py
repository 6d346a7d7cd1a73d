"""The classic cutout: faster GrabCut must still cut out what the full GrabCut did."""

import io
from collections.abc import Callable

import cv2
import numpy as np
import pytest
from PIL import Image

from models.faces import Face, FaceDetector, main_face
from models.segmenter import GrabCutSegmenter
from tests import images


class FullGrabCut(GrabCutSegmenter):
    """The reference: four GrabCut iterations in one call on the whole WORK_SIDE image, as the
    cutout was cut before it was sped up. Seeds and matte come from the segmenter itself."""

    def _cut(self, bgr: np.ndarray, mask: np.ndarray) -> None:
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        cv2.setRNGSeed(0)
        cv2.grabCut(bgr, mask, None, bgd, fgd, 4, cv2.GC_INIT_WITH_MASK)


def astronaut_jpeg() -> Image.Image:
    return Image.open(io.BytesIO(images.encode(images.astronaut(), "JPEG", quality=85)))


PHOTOS: dict[str, Callable[[], Image.Image]] = {
    "astronaut": images.astronaut,
    "astronaut-jpeg": astronaut_jpeg,
    "group": images.group_photo,
    "twenty-faces": images.twenty_faces,
}


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of the hard mattes (alpha > 0.5)."""
    a, b = a > 0.5, b > 0.5
    return float(np.count_nonzero(a & b) / max(1, np.count_nonzero(a | b)))


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector()


@pytest.mark.parametrize("name", PHOTOS)
def test_cutout_matches_the_full_grabcut(name, detector):
    image = np.asarray(PHOTOS[name]().convert("RGB"))
    face = main_face(detector.detect(image), (image.shape[1], image.shape[0]))
    assert face is not None
    reference = FullGrabCut()(image, face)
    alpha = GrabCutSegmenter()(image, face)
    assert reference is not None and alpha is not None
    assert alpha.shape == image.shape[:2] and alpha.dtype == np.float32
    assert iou(alpha, reference) >= 0.95
    # Same photo, same cutout, whatever used OpenCV's RNG in between.
    cv2.setRNGSeed(12345)
    cv2.randu(np.empty((8, 8), np.float32), 0, 1)
    assert np.array_equal(GrabCutSegmenter()(image, face), alpha)


def test_grabcut_stops_iterating_once_the_cutout_settles(monkeypatch):
    """A person in one flat colour on a flat backdrop settles after the first iteration."""
    image = np.full((400, 300, 3), (40, 60, 90), np.uint8)
    cv2.ellipse(image, (150, 110), (35, 45), 0, 0, 360, (220, 170, 140), -1)  # head
    cv2.rectangle(image, (80, 150), (220, 400), (200, 80, 40), -1)  # torso
    face = Face((115.0, 65.0, 185.0, 155.0), np.zeros((5, 2), np.float32), 1.0)
    iterations = []
    grabcut = cv2.grabCut

    def counting(*args: object) -> object:
        iterations.append(args[5])
        return grabcut(*args)

    monkeypatch.setattr(cv2, "grabCut", counting)
    alpha = GrabCutSegmenter(iterations=4)(image, face)
    assert alpha is not None
    assert sum(iterations) < 4
    assert alpha[300, 150] > 0.9 and alpha[300, 30] < 0.1 and alpha[110, 150] > 0.9
