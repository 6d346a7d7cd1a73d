"""Image operations that turn a cutout and a cover into one picture.

All functions take and return RGB uint8 numpy arrays (alpha mattes are float32 in [0, 1]),
so stages can be timed and tested one by one.
"""

from __future__ import annotations

import functools
import math

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
    """Per-channel Lab mean and standard deviation (+1e-3), weighted by `mask`, as float32.

    Lab values are bytes, so the weighted moments come from a weighted histogram of each
    channel: exact (float64) in one pass, where float32 sums over the whole image drifted
    and made several image-sized temporaries.
    """
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
    if mask is None:
        mean, std = cv2.meanStdDev(lab)
        mean, var = mean.ravel(), std.ravel() ** 2
    else:
        weights = mask.reshape(-1).astype(np.float64)
        total = max(float(weights.sum()), 1e-6)
        levels = np.arange(256, dtype=np.float64)
        pixels = lab.reshape(-1, 3)
        counts = [np.bincount(pixels[:, c], weights, minlength=256) for c in range(3)]
        mean = np.array([h @ levels for h in counts]) / total
        var = np.array([h @ (levels - m) ** 2 for h, m in zip(counts, mean, strict=True)]) / total
    return mean.astype(np.float32), (np.sqrt(var) + 1e-3).astype(np.float32)


def transfer_colour(
    image: np.ndarray,
    reference: tuple[np.ndarray, np.ndarray],
    strength: tuple[float, float, float] = (0.4, 0.7, 0.7),
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """AdaIN in Lab space: move `image`'s colour statistics toward `reference`'s.

    `strength` is per channel (L, a, b): lightness moves less than colour so faces keep
    their shading and stay recognisable. Statistics of `image` are taken under `mask`.
    The move is a per-channel function of a byte, so it is applied as a lookup table.
    """
    ref_mean, ref_std = reference
    src_mean, src_std = lab_statistics(image, mask)
    levels = np.arange(256, dtype=np.float32)[:, None]
    moved = (levels - src_mean) / src_std * ref_std + ref_mean
    mix = np.asarray(strength, dtype=np.float32)
    table = np.clip(levels * (1 - mix) + moved * mix, 0, 255).astype(np.uint8)
    lab = cv2.LUT(cv2.cvtColor(image, cv2.COLOR_RGB2LAB), table.reshape(256, 1, 3))
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


def alpha_bbox(alpha: np.ndarray, threshold: float = 0.5) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) around the matte above `threshold`; OpenCV's scan beats np.nonzero."""
    x, y, width, height = cv2.boundingRect((alpha > threshold).view(np.uint8))
    if width == 0 or height == 0:
        return None
    return x, y, x + width, y + height


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


def _support(alpha: np.ndarray) -> tuple[slice, slice] | None:
    """Rows and columns holding every non-zero matte pixel: outside them a blend is a no-op."""
    box = alpha_bbox(alpha, threshold=0)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    return slice(y0, y1), slice(x0, x1)


def _per_channel(plane: np.ndarray, like: np.ndarray) -> np.ndarray:
    """`plane` repeated for each channel of `like`: OpenCV arithmetic does not broadcast, and
    numpy's `[..., None]` broadcast over three channels is several times slower."""
    channels = like.shape[2] if like.ndim == 3 else 1
    return plane if channels == 1 else cv2.merge([plane] * channels)


def _wide_blur(
    image: np.ndarray, sigma: float, box: tuple[slice, slice] | None = None
) -> np.ndarray:
    """`cv2.GaussianBlur(image, (0, 0), sigma)[box]` as float32, at a fraction of the cost.

    A wide Gaussian leaves nothing finer than a few pixels, so blurring an area-downsampled
    copy (power-of-two factor, at least 3 px of sigma left) and upsampling it linearly gives
    the same picture to within about a level out of 255, with a kernel `factor`² smaller.
    The image is first padded the way OpenCV pads it (reflect-101) so the edges match too:
    the low-resolution border would mirror about a different line. Only `box` is upsampled.
    """
    height, width = image.shape[:2]
    rows, cols = box or (slice(0, height), slice(0, width))
    factor = 1
    while sigma / (factor * 2) >= 3.0:
        factor *= 2
    if factor == 1:
        return cv2.GaussianBlur(image.astype(np.float32), (0, 0), sigmaX=sigma)[rows, cols]
    pad = -(-math.ceil(4 * sigma) // factor) * factor  # OpenCV's kernel radius, rounded up
    bottom = pad + (-height) % factor
    right = pad + (-width) % factor
    padded = cv2.copyMakeBorder(image, pad, bottom, pad, right, cv2.BORDER_REFLECT_101)
    small_size = (padded.shape[1] // factor, padded.shape[0] // factor)
    small = cv2.resize(padded, small_size, interpolation=cv2.INTER_AREA)
    small = small.astype(np.float32, copy=False)
    # Area averaging and linear upsampling blur too (variance factor²/12 + factor²/6).
    small_sigma = math.sqrt((sigma / factor) ** 2 - 0.25)
    small = cv2.GaussianBlur(small, (0, 0), sigmaX=small_sigma, borderType=cv2.BORDER_REFLECT)
    # Upsample just the low-resolution cells around `box` (one spare cell each side, so the
    # interpolation at the box's edge sees the same neighbours a full resize would).
    y0, y1 = rows.start + pad, rows.stop + pad
    x0, x1 = cols.start + pad, cols.stop + pad
    sy0, sy1 = max(0, y0 // factor - 1), min(small.shape[0], (y1 - 1) // factor + 2)
    sx0, sx1 = max(0, x0 // factor - 1), min(small.shape[1], (x1 - 1) // factor + 2)
    cells = small[sy0:sy1, sx0:sx1]
    up = cv2.resize(
        cells, ((sx1 - sx0) * factor, (sy1 - sy0) * factor), interpolation=cv2.INTER_LINEAR
    )
    oy, ox = y0 - sy0 * factor, x0 - sx0 * factor
    return up[oy : oy + y1 - y0, ox : ox + x1 - x0]


def wide_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """A wide Gaussian blur of the whole image as float32 (see `_wide_blur`: within about a
    level of `cv2.GaussianBlur`, at a fraction of the cost)."""
    return _wide_blur(image, sigma)


def blend(
    background: np.ndarray, foreground: np.ndarray, alpha: np.ndarray, wrap: float = 0.35
) -> np.ndarray:
    """Composite with a soft matte and a light wrap, so the cutout sits *in* the cover.

    Light wrap bleeds a blur of the background onto the subject's rim, the way light from a
    scene spills round a real person's edges; it hides the halo that hard cutouts leave.
    Only the matte's bounding box is blended: everywhere else the result is the background.
    """
    out = background.copy()
    box = _support(alpha)
    if box is None:
        return out
    a = alpha[box]
    bg = background[box].astype(np.float32)
    fg = foreground[box].astype(np.float32)
    if wrap > 0:
        size = background.shape[0]
        glow = _wide_blur(background, max(2.0, size / 80), box)
        inner = _wide_blur(alpha, max(2.0, size / 120), box)
        rim = np.clip(a - inner, 0, 1) * 2.0
        spill = wrap * rim
        keep = _per_channel(1 - spill, fg)
        fg = cv2.add(cv2.multiply(fg, keep), cv2.multiply(glow, _per_channel(spill, fg)))
    blended = cv2.add(
        cv2.multiply(bg, _per_channel(1 - a, bg)), cv2.multiply(fg, _per_channel(a, fg))
    )
    out[box] = np.clip(blended, 0, 255, out=blended).astype(np.uint8)
    return out


def shifted(matte: np.ndarray, down: int, right: int) -> np.ndarray:
    """The matte moved down and right, zeros where it leaves (np.roll would wrap a subject
    standing on the bottom edge round to a shadow band along the top)."""
    out = np.zeros_like(matte)
    height, width = matte.shape[:2]
    if down < height and right < width:
        out[down:, right:] = matte[: height - down, : width - right]
    return out


def drop_shadow(
    background: np.ndarray, alpha: np.ndarray, offset: int, strength: float = 0.45
) -> np.ndarray:
    """Darken the cover under a blurred, offset copy of the matte: the cutout stands off it."""
    shadow = shifted(alpha, offset, offset // 2)
    shadow = _wide_blur(shadow, max(1.0, offset * 1.5))
    darkened = cv2.multiply(
        background.astype(np.float32), _per_channel(1 - strength * shadow, background)
    )
    return darkened.astype(np.uint8)


def add_grain(image: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """Film grain over everything: one texture unifies cover and cutout."""
    if amount <= 0:
        return image
    noise = rng.standard_normal(image.shape[:2], dtype=np.float32)
    noise *= 255 * amount
    grainy = cv2.add(image, _per_channel(noise, image), dtype=cv2.CV_32F)
    return np.clip(grainy, 0, 255, out=grainy).astype(np.uint8)


@functools.lru_cache(maxsize=8)
def _falloff(height: int, width: int, strength: float) -> np.ndarray:
    """The vignette's gain per pixel; every cover of one size shares it (read-only)."""
    ys = np.linspace(-1, 1, height, dtype=np.float32)[:, None]
    xs = np.linspace(-1, 1, width, dtype=np.float32)[None, :]
    falloff = 1 - strength * np.clip((xs**2 + ys**2) / 2, 0, 1) ** 1.5
    falloff.flags.writeable = False
    return falloff


def vignette(image: np.ndarray, strength: float) -> np.ndarray:
    if strength <= 0:
        return image
    falloff = _falloff(image.shape[0], image.shape[1], strength)
    return cv2.multiply(image.astype(np.float32), _per_channel(falloff, image)).astype(np.uint8)


def byte_percentiles(grey: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """`np.percentile(grey, qs)` (linear) from a histogram: bytes need no sort."""
    counts = cv2.calcHist([grey], [0], None, [256], [0, 256]).ravel()
    cumulative = np.cumsum(counts)
    n = int(cumulative[-1])

    def order(k: int) -> float:  # the k-th smallest value
        return float(np.searchsorted(cumulative, k, side="right"))

    out = []
    for q in qs:
        index = q / 100 * (n - 1)
        below = int(np.floor(index))
        a, b = order(below), order(min(below + 1, n - 1))
        out.append(a + (index - below) * (b - a))
    return out


@functools.lru_cache(maxsize=16)
def cell_distance(size: int, cell: int) -> np.ndarray:
    """Each pixel's distance from its halftone cell's centre (read-only, shared): the grid
    repeats every `cell` pixels, so one cell's distances are tiled."""
    offsets = np.arange(cell, dtype=np.float32) - np.float32(cell / 2)
    one = np.sqrt(offsets[:, None] ** 2 + offsets[None, :] ** 2)
    reps = -(-size // cell)
    distance = np.ascontiguousarray(np.tile(one, (reps, reps))[:size, :size])
    distance.flags.writeable = False
    return distance
