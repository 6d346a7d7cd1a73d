"""Compositing: the fast operations draw the same pictures as the reference ones."""

import cv2
import numpy as np
import pytest
from PIL import Image

from imaging import compose
from tests import compose_reference as reference
from tests import images


def textured_cover(size: int) -> np.ndarray:
    """A cover with fine detail (stripes, noise) everywhere: hardest on a reduced-size blur."""
    base = images.astronaut().transpose(Image.Transpose.FLIP_LEFT_RIGHT).resize((size, size))
    xs = np.arange(size)[None, :, None]
    stripes = 40 * np.sin(xs / 3.0) * np.array([1.0, -1.0, 0.5])
    noise = np.random.default_rng(size).normal(0, 12, (size, size, 3))
    tinted = np.asarray(base, np.float64) * np.array([1.1, 0.8, 0.9])
    return np.clip(tinted + stripes + noise, 0, 255).astype(np.uint8)


def member_photo(width: int = 640, height: int = 480) -> tuple[np.ndarray, np.ndarray]:
    """The astronaut and a soft head-and-shoulders matte, the shape a segmenter returns."""
    photo = np.asarray(images.astronaut().resize((width, height)))
    matte = np.zeros((height, width), np.float32)
    centre_x = width // 2
    cv2.ellipse(matte, (centre_x, int(height * 0.35)), (width // 8, height // 5), 0, 0, 360, 1, -1)
    cv2.ellipse(matte, (centre_x, height), (int(width * 0.3), height // 2), 0, 180, 360, 1, -1)
    return photo, np.clip(cv2.GaussianBlur(matte, (0, 0), 3), 0, 1)


PLACEMENTS = [(0.14, 0.22, 0.86, 1.0), (0.0, 0.0, 1.0, 1.0), (0.5, 0.05, 1.0, 0.6)]


@pytest.mark.parametrize("size", [1024, 1000, 512, 300])
@pytest.mark.parametrize("placement", PLACEMENTS)
def test_composite_matches_the_reference(size, placement):
    photo, matte = member_photo()
    cover = textured_cover(size)
    subject, alpha = compose.fit_into_region(photo, matte, size, placement)
    offset = max(2, size // 90)

    shadowed = compose.drop_shadow(cover, alpha, offset)
    expected_shadow = reference.drop_shadow(cover, alpha, offset)
    assert np.abs(shadowed.astype(int) - expected_shadow).max() <= 2
    blended = compose.blend(expected_shadow, subject, alpha)
    expected_blend = reference.blend(expected_shadow, subject, alpha)
    assert np.abs(blended.astype(int) - expected_blend).max() <= 2

    rng = np.random.default_rng(3)
    ours = compose.add_grain(compose.blend(shadowed, subject, alpha), 0.05, rng)
    theirs = reference.composite(photo, matte, cover, placement, 0.05 / 0.6, seed=3)
    assert reference.psnr(ours, theirs) >= 40


@pytest.mark.parametrize("shape", [(1024, 1024), (777, 1000)])
@pytest.mark.parametrize("sigma", [6.0, 8.53, 12.8, 16.5, 40.0])
def test_wide_blur_matches_opencv(shape, sigma):
    height, width = shape
    matte = np.zeros(shape, np.float32)
    matte[height // 3 :, width // 4 : width // 2] = 1.0  # hard edges, touching the border
    picture = cv2.resize(textured_cover(max(shape)), (width, height))
    box = (slice(height // 5, height), slice(width // 6, width - 3))
    for image, tolerance in ((matte, 1.5 / 255), (picture, 1.5)):
        exact = cv2.GaussianBlur(image.astype(np.float32), (0, 0), sigma)
        assert np.abs(compose._wide_blur(image, sigma) - exact).max() < tolerance
        assert np.abs(compose._wide_blur(image, sigma, box) - exact[box]).max() < tolerance


def test_grain_and_vignette_are_unchanged():
    cover = textured_cover(512)
    for seed in (0, 7):
        ours = compose.add_grain(cover, 0.05, np.random.default_rng(seed))
        theirs = reference.add_grain(cover, 0.05, np.random.default_rng(seed))
        assert np.array_equal(ours, theirs)
    assert np.array_equal(compose.vignette(cover, 0.35), reference.vignette(cover, 0.35))
    assert np.array_equal(compose.vignette(cover[:300], 0.2), reference.vignette(cover[:300], 0.2))


def test_lab_statistics_are_exact_and_colour_transfer_matches():
    cover = textured_cover(512)
    photo, matte = member_photo()
    for image, mask in ((cover, None), (photo, matte), (photo, np.zeros_like(matte))):
        lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float64)
        weights = np.ones(len(lab)) if mask is None else mask.reshape(-1).astype(np.float64)
        total = max(weights.sum(), 1e-6)
        mean = weights @ lab / total
        std = np.sqrt(weights @ (lab - mean) ** 2 / total) + 1e-3
        ours = compose.lab_statistics(image, mask)
        assert all(v.dtype == np.float32 for v in ours)
        np.testing.assert_allclose(ours[0], mean, atol=1e-3)
        np.testing.assert_allclose(ours[1], std, atol=1e-3)
    target = reference.lab_statistics(cover)
    for mask in (None, matte):
        ours = compose.transfer_colour(photo, target, mask=mask)
        theirs = reference.transfer_colour(photo, target, mask=mask)
        assert reference.psnr(ours, theirs) >= 40


def test_same_seed_same_bytes():
    photo, matte = member_photo()
    cover = textured_cover(512)

    def cover_art(seed: int) -> bytes:
        subject, alpha = compose.fit_into_region(photo, matte, 512, PLACEMENTS[0])
        out = compose.blend(compose.drop_shadow(cover, alpha, 5), subject, alpha)
        return compose.add_grain(out, 0.03, np.random.default_rng(seed)).tobytes()

    assert cover_art(4) == cover_art(4)
    assert cover_art(4) != cover_art(5)


def test_an_empty_matte_leaves_the_cover_alone():
    cover = textured_cover(300)
    empty = np.zeros((300, 300), np.float32)
    assert np.array_equal(compose.blend(cover, cover[::-1], empty), cover)
    assert np.array_equal(compose.drop_shadow(cover, empty, 4), cover)


def test_a_subject_on_the_bottom_edge_casts_no_shadow_on_the_top():
    cover = np.full((200, 200, 3), 200, np.uint8)
    alpha = np.zeros((200, 200), np.float32)
    alpha[120:, 60:140] = 1.0  # standing on the bottom edge, as cutouts do
    shadowed = compose.drop_shadow(cover, alpha, offset=8)
    assert np.array_equal(shadowed[:60], cover[:60])  # no band wrapped round to the top
    assert shadowed[199, 150, 0] < 200  # the shadow falls down and to the right


def test_alpha_bbox():
    alpha = np.zeros((50, 80), np.float32)
    assert compose.alpha_bbox(alpha) is None
    alpha[10:20, 30:33] = 0.4
    alpha[12, 70] = 0.9
    assert compose.alpha_bbox(alpha) == (70, 12, 71, 13)
    assert compose.alpha_bbox(alpha, threshold=0.01) == (30, 10, 71, 20)
