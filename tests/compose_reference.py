"""The compositing code as it was before it was made fast, kept as the yardstick.

`imaging.compose` now blurs wide kernels at reduced resolution, blends only the matte's box
and computes statistics in one pass; tests compare its pictures with these (PSNR ≥ 40 dB).
"""

from __future__ import annotations

import cv2
import numpy as np

from imaging.compose import alpha_bbox, fit_into_region


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


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
    ref_mean, ref_std = reference
    src_mean, src_std = lab_statistics(image, mask)
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    moved = (lab - src_mean) / src_std * ref_std + ref_mean
    mix = np.asarray(strength, dtype=np.float32)
    out = lab * (1 - mix) + moved * mix
    return cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def blend(
    background: np.ndarray, foreground: np.ndarray, alpha: np.ndarray, wrap: float = 0.35
) -> np.ndarray:
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
    shadow = np.zeros_like(alpha)  # shifted, not rolled: nothing wraps round the edges
    shadow[offset:, offset // 2 :] = alpha[
        : alpha.shape[0] - offset, : alpha.shape[1] - offset // 2
    ]
    shadow = cv2.GaussianBlur(shadow, (0, 0), sigmaX=max(1.0, offset * 1.5))
    darkened = background.astype(np.float32) * (1 - strength * shadow[..., None])
    return darkened.astype(np.uint8)


def add_grain(image: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
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


def composite(
    member: np.ndarray,
    alpha: np.ndarray,
    cover: np.ndarray,
    placement: tuple[float, float, float, float],
    grain: float,
    seed: int,
) -> np.ndarray:
    """The cut-out layout family (`imaging.layouts.cutout`) on the reference functions."""
    size = cover.shape[0]
    subject, matte = fit_into_region(member, alpha, size, placement)
    background = drop_shadow(cover, matte, offset=max(2, size // 90))
    out = blend(background, subject, matte)
    return add_grain(out, grain * 0.6, np.random.default_rng(seed))


def colour_style(
    member: np.ndarray,
    alpha: np.ndarray,
    cover: np.ndarray,
    strength: tuple[float, float, float] = (0.35, 0.65, 0.65),
) -> np.ndarray:
    """`models.face_style.ColourStyler` on the reference functions."""
    box = alpha_bbox(alpha, threshold=0.01)
    if box is None:
        return member
    x0, y0, x1, y1 = box
    out = member.copy()
    out[y0:y1, x0:x1] = transfer_colour(
        member[y0:y1, x0:x1], lab_statistics(cover), strength, mask=alpha[y0:y1, x0:x1]
    )
    return out
