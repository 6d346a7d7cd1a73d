"""The classic cutout: faster GrabCut must still cut out what the full GrabCut did."""

import io
from collections.abc import Callable

import cv2
import numpy as np
import pytest
from PIL import Image

from models.faces import FaceDetector, main_face
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
