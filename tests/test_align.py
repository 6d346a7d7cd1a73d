"""FFHQ alignment from 5 landmarks: geometry, round trips, paste-back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from models.align import AlignedFace, align_face, ffhq_quad, invert_affine, paste_face

# A frontal face in canonical position: left eye, right eye, nose, mouth left, mouth right.
CANONICAL = np.array([[-30.0, -20.0], [30.0, -20.0], [0.0, 10.0], [-24.0, 40.0], [24.0, 40.0]])


def pose(angle_deg: float, scale: float, centre: tuple[float, float]) -> np.ndarray:
    t = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    return CANONICAL @ rot.T * scale + np.asarray(centre)


def smooth_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0, 255, size=(h // 16 + 2, w // 16 + 2, 3)).astype(np.float32)
    img = cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(img, 0, 255).astype(np.uint8)


def blob_image(h: int, w: int, points: np.ndarray, sigma: float) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w), np.float64)
    for x, y in points:
        img += np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2))
    return np.repeat((np.clip(img, 0, 1) * 255).astype(np.uint8)[..., None], 3, axis=2)


def centroid_near(img: np.ndarray, point: np.ndarray, radius: int) -> np.ndarray:
    x0, y0 = np.round(point).astype(int)
    patch = img[y0 - radius : y0 + radius + 1, x0 - radius : x0 + radius + 1, 0].astype(float)
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    total = patch.sum()
    return np.array([x0 + (xx * patch).sum() / total, y0 + (yy * patch).sum() / total])


def test_shapes_and_dtype() -> None:
    image = smooth_image(300, 400)
    face = align_face(image, pose(10, 1.5, (200, 150)), size=128)
    assert isinstance(face, AlignedFace)
    assert face.image.shape == (128, 128, 3) and face.image.dtype == np.uint8
    assert face.matrix.shape == (2, 3) and face.size == 128


@pytest.mark.parametrize("angle", [-25.0, 0.0, 17.0])
def test_upright_and_centred(angle: float) -> None:
    """A rotated symmetric face comes out level, centred, at FFHQ's proportions."""
    lm = pose(angle, 1.7, (250, 260))
    face = align_face(smooth_image(500, 500), lm, size=256)
    out = face.to_aligned(lm)
    assert abs(out[0, 1] - out[1, 1]) < 1e-6  # eyes level
    assert abs((out[0, 0] + out[1, 0]) / 2 - 127.5) < 1e-6  # eyes centred horizontally
    # eye_to_eye * 2 spans half the crop width for a face this shape (FFHQ's 2.0 factor)
    assert abs((out[1, 0] - out[0, 0]) - 256 / 4) < 1e-6


@pytest.mark.parametrize(("scale", "size"), [(1.6, 256), (8.0, 128)])
def test_landmarks_land_where_the_matrix_says(scale: float, size: int) -> None:
    """Blobs drawn at the landmarks are found at the mapped points (sub-pixel), incl. shrink."""
    centre = (CANONICAL.max() * scale * 1.5 + 40,) * 2  # blobs well inside the photo
    lm = pose(12.0, scale, centre)
    h = w = int(2 * centre[0])
    to_crop = (size / 4) / (60.0 * scale)  # aligned eye distance / source eye distance
    image = blob_image(h, w, lm, sigma=2.0 / to_crop)  # blobs ~2 px wide in the crop
    face = align_face(image, lm, size=size)
    errors = [np.linalg.norm(centroid_near(face.image, p, 6) - p) for p in face.to_aligned(lm)]
    assert max(errors) < 0.1, errors


def test_points_round_trip() -> None:
    lm = pose(33.0, 2.2, (310, 270))
    face = align_face(smooth_image(600, 640), lm)
    back = (
        face.to_aligned(lm) @ invert_affine(face.matrix)[:, :2].T + invert_affine(face.matrix)[:, 2]
    )
    assert np.abs(back - lm).max() < 1e-6
    # matrix agrees with cv2's own inverse
    np.testing.assert_allclose(invert_affine(face.matrix), cv2.invertAffineTransform(face.matrix))


def test_paste_back_round_trip() -> None:
    image = smooth_image(400, 420, seed=3)
    lm = pose(-15.0, 1.8, (210, 200))
    face = align_face(image, lm, size=256)
    pasted = paste_face(np.zeros_like(image), face.image, face.matrix, feather=0.1)
    assert pasted.shape == image.shape and pasted.dtype == np.uint8
    # inside the face the image comes back (two bilinear resamplings of a smooth image)
    for x, y in np.round(lm).astype(int):
        diff = np.abs(
            pasted[y - 3 : y + 4, x - 3 : x + 4].astype(int) - image[y - 3 : y + 4, x - 3 : x + 4]
        )
        assert diff.mean() < 3
    # far outside the crop nothing changes
    assert (pasted[:5, :5] == 0).all() and (pasted[-5:, -5:] == 0).all()


def test_paste_rescales_larger_face() -> None:
    image = smooth_image(300, 300, seed=5)
    lm = pose(5.0, 1.5, (150, 150))
    face = align_face(image, lm, size=128)
    big = cv2.resize(face.image, (512, 512), interpolation=cv2.INTER_CUBIC)
    a = paste_face(image, face.image, face.matrix)
    b = paste_face(image, big, face.matrix, aligned_size=128)
    assert np.abs(a.astype(int) - b).mean() < 2


def test_bad_inputs() -> None:
    with pytest.raises(ValueError):
        align_face(np.zeros((10, 10), np.uint8), CANONICAL)
    with pytest.raises(ValueError):
        align_face(np.zeros((10, 10, 3), np.uint8), CANONICAL[:4])
    with pytest.raises(ValueError):
        ffhq_quad(np.zeros((5, 2)))


def test_align_does_not_import_torch() -> None:
    code = "import sys, models.align; assert 'torch' not in sys.modules, 'torch imported'"
    root = Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)
