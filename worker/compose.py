"""Image operations that turn a cutout and a cover into one picture.

All functions take and return RGB uint8 numpy arrays (alpha mattes are float32 in [0, 1]),
so stages can be timed and tested one by one.
"""

from __future__ import annotations

import cv2
import numpy as np


def square_crop(
    image: np.ndarray, size: int, centre: tuple[float, float] | None = None
) -> np.ndarray:
    """The largest square around `centre` (default: the middle), resized to `size`."""
    height, width = image.shape[:2]
    side = min(height, width)
    cx, cy = centre if centre is not None else (width / 2, height / 2)
    x0 = int(np.clip(cx - side / 2, 0, width - side))
    y0 = int(np.clip(cy - side / 2, 0, height - side))
    crop = image[y0 : y0 + side, x0 : x0 + side]
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    return cv2.resize(crop, (size, size), interpolation=interpolation)


def lab_statistics(
    image: np.ndarray, mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float32)
    if mask is not None:
        weights = mask.reshape(-1).astype(np.float32)
        total = max(float(weights.sum()), 1e-6)
        mean = (lab * weights[:, None]).sum(0) / total
        var = (((lab - mean) ** 2) * weights[:, None]).sum(0) / total
    else:
        mean, var = lab.mean(0), lab.var(0)
    return mean, np.sqrt(var) + 1e-3


def transfer_colour(
    image: np.ndarray,
    reference: tuple[np.ndarray, np.ndarray],
    strength: tuple[float, float, float] = (0.4, 0.7, 0.7),
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """AdaIN in Lab space: move `image`'s colour statistics toward `reference`'s.

    `strength` is per channel (L, a, b): lightness moves less than colour so faces keep
    their shading and stay recognisable. Statistics of `image` are taken under `mask`.
    """
    ref_mean, ref_std = reference
    src_mean, src_std = lab_statistics(image, mask)
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    moved = (lab - src_mean) / src_std * ref_std + ref_mean
    mix = np.asarray(strength, dtype=np.float32)
    out = lab * (1 - mix) + moved * mix
    return cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def alpha_bbox(alpha: np.ndarray, threshold: float = 0.5) -> tuple[int, int, int, int] | None:
    ys, xs = np.nonzero(alpha > threshold)
    if len(xs) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def fit_into_region(
    subject: np.ndarray,
    alpha: np.ndarray,
    size: int,
    region: tuple[float, float, float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """Scale the subject's matte bounding box into `region` (fractions of a `size` cover).

    The subject stands on the region's bottom edge, centred, as large as fits: album covers
    crop people at the bottom, not at the head.
    """
    box = alpha_bbox(alpha)
    canvas = np.zeros((size, size, 3), np.uint8)
    matte = np.zeros((size, size), np.float32)
    if box is None:
        return canvas, matte
    x0, y0, x1, y1 = box
    rx0, ry0, rx1, ry1 = (int(v * size) for v in region)
    scale = min((rx1 - rx0) / (x1 - x0), (ry1 - ry0) / (y1 - y0))
    new_w, new_h = max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    part = cv2.resize(subject[y0:y1, x0:x1], (new_w, new_h), interpolation=interpolation)
    part_alpha = cv2.resize(alpha[y0:y1, x0:x1], (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    left = (rx0 + rx1 - new_w) // 2
    top = ry1 - new_h
    # Clip to the canvas: a region may touch the cover's edges.
    cx0, cy0 = max(0, left), max(0, top)
    cx1, cy1 = min(size, left + new_w), min(size, top + new_h)
    canvas[cy0:cy1, cx0:cx1] = part[cy0 - top : cy1 - top, cx0 - left : cx1 - left]
    matte[cy0:cy1, cx0:cx1] = part_alpha[cy0 - top : cy1 - top, cx0 - left : cx1 - left]
    return canvas, np.clip(matte, 0, 1)


def blend(
    background: np.ndarray, foreground: np.ndarray, alpha: np.ndarray, wrap: float = 0.35
) -> np.ndarray:
    """Composite with a soft matte and a light wrap, so the cutout sits *in* the cover.

    Light wrap bleeds a blur of the background onto the subject's rim, the way light from a
    scene spills round a real person's edges; it hides the halo that hard cutouts leave.
    """
    bg = background.astype(np.float32)
    fg = foreground.astype(np.float32)
    a = alpha[..., None]
    if wrap > 0:
        glow = cv2.GaussianBlur(bg, (0, 0), sigmaX=max(2.0, background.shape[0] / 80))
        inner = cv2.GaussianBlur(alpha, (0, 0), sigmaX=max(2.0, background.shape[0] / 120))
        rim = np.clip(alpha - inner, 0, 1)[..., None] * 2.0
        fg = fg * (1 - wrap * rim) + glow * (wrap * rim)
    out = bg * (1 - a) + fg * a
    return np.clip(out, 0, 255).astype(np.uint8)


def drop_shadow(
    background: np.ndarray, alpha: np.ndarray, offset: int, strength: float = 0.45
) -> np.ndarray:
    shadow = np.roll(alpha, (offset, offset // 2), axis=(0, 1))
    shadow = cv2.GaussianBlur(shadow, (0, 0), sigmaX=max(1.0, offset * 1.5))
    darkened = background.astype(np.float32) * (1 - strength * shadow[..., None])
    return darkened.astype(np.uint8)


def add_grain(image: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """Film grain over everything: one texture unifies cover and cutout."""
    if amount <= 0:
        return image
    noise = rng.standard_normal(image.shape[:2], dtype=np.float32) * (255 * amount)
    return np.clip(image.astype(np.float32) + noise[..., None], 0, 255).astype(np.uint8)


def vignette(image: np.ndarray, strength: float) -> np.ndarray:
    if strength <= 0:
        return image
    height, width = image.shape[:2]
    ys = np.linspace(-1, 1, height, dtype=np.float32)[:, None]
    xs = np.linspace(-1, 1, width, dtype=np.float32)[None, :]
    falloff = 1 - strength * np.clip((xs**2 + ys**2) / 2, 0, 1) ** 1.5
    return (image.astype(np.float32) * falloff[..., None]).astype(np.uint8)
