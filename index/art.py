"""Procedural cover art: small background layers, and the template recipe they render.

A template (the starter library's are data: index/starter_templates.toml) names its layers,
palette and finish; `render_template` draws it from the template's own seed, so the same
template always gives the same pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

RENDER_SIZE = 1024

Colour = tuple[int, int, int]


def _hex(code: str) -> Colour:
    code = code.lstrip("#")
    return (int(code[0:2], 16), int(code[2:4], 16), int(code[4:6], 16))


@dataclass(frozen=True)
class Template:
    template_id: str
    genre: str
    title: str
    layers: tuple[str, ...]
    palette: tuple[str, ...]
    placement: tuple[float, float, float, float]
    font: str
    layout: str
    text_colour: str
    grain: float = 0.03
    vignette: float = 0.3
    families: tuple[str, ...] = ()
    """Layout families that suit this cover, best first (imaging.layouts); () = by genre."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def colours(self) -> list[Colour]:
        return [_hex(c) for c in self.palette]

    @property
    def seed(self) -> int:
        return int.from_bytes(self.template_id.encode()[:8].ljust(8, b"\0"), "little") % 2**32


# -- background layers -------------------------------------------------------------------
# Each layer takes the canvas (float32 [S, S, 3], 0..255), the palette and an RNG, and
# returns the new canvas. They are small on purpose: templates are combinations of them.

Layer = Callable[[np.ndarray, list[Colour], np.random.Generator], np.ndarray]


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / (size - 1)
    return xs, ys


def _mix(a: Colour, b: Colour, t: np.ndarray) -> np.ndarray:
    a_arr, b_arr = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return a_arr + (b_arr - a_arr) * t[..., None]


def layer_vertical_gradient(canvas, palette, rng):
    _, ys = _grid(canvas.shape[0])
    return _mix(palette[0], palette[1], ys)


def layer_diagonal_gradient(canvas, palette, rng):
    xs, ys = _grid(canvas.shape[0])
    return _mix(palette[0], palette[1], (xs + ys) / 2)


def layer_radial_glow(canvas, palette, rng):
    xs, ys = _grid(canvas.shape[0])
    cx, cy = rng.uniform(0.3, 0.7), rng.uniform(0.25, 0.55)
    r = np.sqrt((xs - cx) ** 2 + (ys - cy) ** 2)
    return _mix(palette[1], palette[0], np.clip(r / 0.75, 0, 1))


def value_noise(size: int, rng: np.random.Generator, octaves: int = 5) -> np.ndarray:
    """Fractal value noise in [0, 1]: smooth random grids upsampled and summed."""
    total = np.zeros((size, size), np.float32)
    amplitude, weight = 1.0, 0.0
    for octave in range(octaves):
        cells = 2 ** (octave + 2)
        grid = rng.random((cells, cells)).astype(np.float32)
        total += amplitude * cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)
        weight += amplitude
        amplitude *= 0.5
    total /= weight
    return (total - total.min()) / max(float(total.max() - total.min()), 1e-6)


def layer_smoke(canvas, palette, rng):
    noise = value_noise(canvas.shape[0], rng)
    return canvas * 0.45 + _mix(palette[0], palette[2 % len(palette)], noise**1.5) * 0.55


def layer_halftone(canvas, palette, rng):
    size = canvas.shape[0]
    step = int(rng.integers(18, 30))
    xs, ys = np.mgrid[0:size, 0:size].astype(np.float32)
    _, gy = _grid(size)
    cell_x, cell_y = (xs % step) - step / 2, (ys % step) - step / 2
    radius = step * 0.5 * (0.15 + 0.85 * gy)
    dots = (cell_x**2 + cell_y**2) < radius**2
    ink = np.asarray(palette[-1], np.float32)
    out = canvas.copy()
    out[dots] = out[dots] * 0.35 + ink * 0.65
    return out


def layer_sunburst(canvas, palette, rng):
    size = canvas.shape[0]
    xs, ys = _grid(size)
    angle = np.arctan2(ys - 0.62, xs - 0.5)
    rays = int(rng.integers(14, 26))
    stripes = (np.floor((angle + np.pi) / (2 * np.pi) * rays * 2) % 2).astype(np.float32)
    return canvas * (1 - 0.35 * stripes[..., None]) + np.asarray(palette[1], np.float32) * (
        0.35 * stripes[..., None]
    )


def layer_synth_grid(canvas, palette, rng):
    size = canvas.shape[0]
    xs, ys = _grid(size)
    horizon = 0.62
    out = canvas.copy()
    # Sun: a disc with horizontal cuts, above the horizon.
    sun = ((xs - 0.5) ** 2 + (ys - 0.42) ** 2) < 0.22**2
    cuts = (np.sin(ys * 120) > 0.4 * (1 - (ys - 0.2) * 2.5)) | (ys < 0.4)
    sun_mask = sun & cuts & (ys < horizon)
    out[sun_mask] = _mix(palette[2], palette[1], np.clip((ys - 0.2) / 0.4, 0, 1))[sun_mask]
    ground = ys > horizon
    depth = np.where(ground, (ys - horizon) / (1 - horizon), 0)
    lines_h = np.abs(np.sin(np.pi * 8 / np.maximum(depth, 1e-3) ** 0.5)) < 0.12
    lines_v = np.abs(((xs - 0.5) / np.maximum(depth, 1e-3) * 6) % 1 - 0.5) < 0.04
    grid = ground & (lines_h | lines_v)
    out[ground] = out[ground] * 0.35
    out[grid] = np.asarray(palette[2], np.float32)
    return out


def layer_stripes(canvas, palette, rng):
    size = canvas.shape[0]
    out = canvas.copy()
    count = int(rng.integers(3, 6))
    edges = np.sort(rng.uniform(0.05, 0.95, count * 2))
    for i in range(count):
        a, b = int(edges[2 * i] * size), int(edges[2 * i + 1] * size)
        colour = np.asarray(palette[(i % (len(palette) - 1)) + 1], np.float32)
        if rng.random() < 0.5:
            out[a:b, :] = out[a:b, :] * 0.2 + colour * 0.8
        else:
            out[:, a:b] = out[:, a:b] * 0.2 + colour * 0.8
    return out


def layer_rings(canvas, palette, rng):
    xs, ys = _grid(canvas.shape[0])
    cx, cy = rng.uniform(0.35, 0.65), rng.uniform(0.3, 0.6)
    r = np.sqrt((xs - cx) ** 2 + (ys - cy) ** 2)
    ring = (np.sin(r * rng.uniform(40, 80)) > 0.6).astype(np.float32)[..., None]
    return canvas * (1 - 0.25 * ring) + np.asarray(palette[-1], np.float32) * 0.25 * ring


def layer_bokeh(canvas, palette, rng):
    size = canvas.shape[0]
    glow = np.zeros((size, size, 3), np.float32)
    for _ in range(int(rng.integers(25, 45))):
        centre = (int(rng.uniform(0, size)), int(rng.uniform(0, size)))
        radius = int(rng.uniform(0.02, 0.09) * size)
        colour = palette[int(rng.integers(1, len(palette)))]
        cv2.circle(glow, centre, radius, tuple(float(c) for c in colour), -1, cv2.LINE_AA)
    glow = cv2.GaussianBlur(glow, (0, 0), sigmaX=size / 200)
    return np.clip(canvas + glow * 0.45, 0, 255)


def layer_paper(canvas, palette, rng):
    size = canvas.shape[0]
    fibres = value_noise(size, rng, octaves=6)
    speckle = rng.random((size, size)).astype(np.float32)
    texture = 0.9 + 0.1 * fibres - 0.06 * (speckle > 0.995)
    return canvas * texture[..., None]


def layer_grunge(canvas, palette, rng):
    size = canvas.shape[0]
    out = canvas.copy()
    dirt = value_noise(size, rng, octaves=6)
    out *= (0.75 + 0.25 * dirt)[..., None]
    scratches = np.zeros((size, size), np.float32)
    for _ in range(int(rng.integers(40, 80))):
        x0, y0 = rng.uniform(0, size, 2)
        length, angle = rng.uniform(0.05, 0.4) * size, rng.uniform(-0.3, 0.3) + np.pi / 2
        x1, y1 = x0 + length * np.cos(angle), y0 + length * np.sin(angle)
        cv2.line(scratches, (int(x0), int(y0)), (int(x1), int(y1)), 1.0, 1, cv2.LINE_AA)
    return np.clip(out + scratches[..., None] * 90, 0, 255)


def layer_blocks(canvas, palette, rng):
    """Big flat colour blocks, the modernist jazz-label look."""
    size = canvas.shape[0]
    out = canvas.copy()
    for i in range(int(rng.integers(2, 4))):
        x0, y0 = (rng.uniform(0, 0.6, 2) * size).astype(int)
        w, h = (rng.uniform(0.25, 0.55, 2) * size).astype(int)
        out[y0 : y0 + h, x0 : x0 + w] = palette[(i % (len(palette) - 1)) + 1]
    return out


def layer_mesh(canvas, palette, rng):
    """A mesh gradient: soft blobs of every palette colour melting into each other."""
    size = canvas.shape[0]
    xs, ys = _grid(size)
    total = np.full((size, size), 1e-3, np.float32)
    colour = np.zeros((size, size, 3), np.float32)
    for i in range(int(rng.integers(4, 7))):
        cx, cy = rng.uniform(-0.1, 1.1, 2)
        reach = rng.uniform(0.15, 0.35)
        weight = np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * reach**2)) ** 3
        colour += weight[..., None] * np.asarray(palette[i % len(palette)], np.float32)
        total += weight
    return canvas * 0.15 + colour / total[..., None] * 0.85


def layer_landscape(canvas, palette, rng):
    """Hills in receding layers under a sky gradient, with a low sun: quiet, photographic."""
    size = canvas.shape[0]
    xs, ys = _grid(size)
    out = _mix(palette[-1], palette[0], np.clip(ys * 1.4, 0, 1))
    sun = np.exp(-((xs - rng.uniform(0.25, 0.75)) ** 2 + (ys - 0.45) ** 2) / 0.004)
    out += sun[..., None] * 60
    ridges = int(rng.integers(3, 6))
    for i in range(ridges):
        depth = (i + 1) / ridges
        noise = cv2.resize(rng.random((1, 8)).astype(np.float32), (size, 1), cv2.INTER_CUBIC)[0]
        horizon = 0.5 + 0.35 * depth - 0.12 * noise
        land = ys > horizon[None, :]
        tone = _mix(palette[-1], palette[0], np.full((size, size), 0.35 + 0.65 * depth))
        haze = 0.55 * (1 - depth)
        out = np.where(land[..., None], tone * (1 - haze) + out * haze, out)
    return out


def layer_marble(canvas, palette, rng):
    """Fluid paint: bands of two colours warped by noise, like marbled paper."""
    size = canvas.shape[0]
    xs, ys = _grid(size)
    warp = value_noise(size, rng, octaves=4) * 6 + value_noise(size, rng, octaves=3) * 3
    bands = 0.5 + 0.5 * np.sin((xs * 3 + ys * 5 + warp) * np.pi)
    colour = _mix(palette[1 % len(palette)], palette[-1], bands**2)
    return canvas * 0.3 + colour * 0.7


def layer_shapes(canvas, palette, rng):
    """Bauhaus geometry: a big disc, a triangle and a bar in flat palette colours."""
    size = canvas.shape[0]
    out = canvas.copy()
    colours = [tuple(float(c) for c in palette[i % len(palette)]) for i in range(1, 4)]
    centre = (int(rng.uniform(0.25, 0.75) * size), int(rng.uniform(0.25, 0.6) * size))
    cv2.circle(out, centre, int(rng.uniform(0.18, 0.3) * size), colours[0], -1, cv2.LINE_AA)
    points = (rng.uniform(0.05, 0.95, (3, 2)) * size).astype(np.int32)
    cv2.fillPoly(out, [points], colours[1], cv2.LINE_AA)
    y = int(rng.uniform(0.6, 0.85) * size)
    out[y : y + int(size * 0.05)] = colours[2]
    return out


def layer_light_leak(canvas, palette, rng):
    """Film light leaks: warm glows bleeding in from an edge."""
    size = canvas.shape[0]
    xs, ys = _grid(size)
    edge = rng.integers(4)
    distance = [xs, 1 - xs, ys, 1 - ys][edge]
    glow = np.exp(-distance / rng.uniform(0.12, 0.25)) * (0.6 + 0.4 * value_noise(size, rng, 3))
    leak = np.asarray(palette[-1], np.float32) * 0.6 + np.array([255, 120, 40], np.float32) * 0.4
    return canvas + glow[..., None] * (leak - canvas * 0.4) * 0.8


def layer_paint(canvas, palette, rng):
    """Thick, soft brush strokes across the canvas."""
    size = canvas.shape[0]
    out = canvas.copy()
    strokes = np.zeros_like(canvas)
    weight = np.zeros(canvas.shape[:2], np.float32)
    for _ in range(int(rng.integers(8, 16))):
        x0, y0, x1, y1 = (rng.uniform(-0.1, 1.1, 4) * size).astype(int)
        colour = tuple(float(c) for c in palette[int(rng.integers(1, len(palette)))])
        thickness = int(rng.uniform(0.03, 0.09) * size)
        cv2.line(strokes, (x0, y0), (x1, y1), colour, thickness, cv2.LINE_AA)
        cv2.line(weight, (x0, y0), (x1, y1), 1.0, thickness, cv2.LINE_AA)
    strokes = cv2.GaussianBlur(strokes, (0, 0), size / 300)
    weight = cv2.GaussianBlur(weight, (0, 0), size / 300)[..., None]
    texture = 0.85 + 0.15 * value_noise(size, rng, 6)[..., None]
    return out * (1 - weight * 0.9) + strokes * 0.9 * texture


def layer_stars(canvas, palette, rng):
    """A night sky: stars of several sizes and a faint band of haze."""
    size = canvas.shape[0]
    out = canvas.copy()
    count = int(size * size / 900)
    ys_, xs_ = rng.integers(0, size, (2, count))
    bright = 0.3 + 0.7 * rng.random(count) ** 2
    out[ys_, xs_] = np.clip(out[ys_, xs_] + (bright * 255)[:, None], 0, 255)
    haze = value_noise(size, rng, 5) ** 2
    return (
        cv2.GaussianBlur(out, (0, 0), 0.6)
        + haze[..., None] * np.asarray(palette[-1], np.float32) * 0.25
    )


def layer_checker(canvas, palette, rng):
    """A checkerboard floor in perspective under the horizon."""
    size = canvas.shape[0]
    xs, ys = _grid(size)
    horizon = rng.uniform(0.45, 0.6)
    depth = np.maximum(ys - horizon, 1e-3)
    u = (xs - 0.5) / depth
    v = 1 / depth
    tiles = ((np.floor(u * 1.5) + np.floor(v * 0.8)) % 2).astype(np.float32)
    floor = _mix(palette[-1], palette[0], tiles)
    return np.where((ys > horizon)[..., None], floor, canvas)


LAYERS: dict[str, Layer] = {
    "vertical-gradient": layer_vertical_gradient,
    "diagonal-gradient": layer_diagonal_gradient,
    "radial-glow": layer_radial_glow,
    "smoke": layer_smoke,
    "halftone": layer_halftone,
    "sunburst": layer_sunburst,
    "synth-grid": layer_synth_grid,
    "stripes": layer_stripes,
    "rings": layer_rings,
    "bokeh": layer_bokeh,
    "paper": layer_paper,
    "grunge": layer_grunge,
    "blocks": layer_blocks,
    "mesh": layer_mesh,
    "landscape": layer_landscape,
    "marble": layer_marble,
    "shapes": layer_shapes,
    "light-leak": layer_light_leak,
    "paint": layer_paint,
    "stars": layer_stars,
    "checker": layer_checker,
}


def render_template(template: Template, size: int = RENDER_SIZE) -> np.ndarray:
    """Render a template's background as RGB uint8; the same template gives the same pixels."""
    rng = np.random.default_rng(template.seed)
    palette = template.colours
    canvas = np.zeros((size, size, 3), np.float32)
    canvas[:] = palette[0]
    for name in template.layers:
        canvas = LAYERS[name](canvas, palette, rng)
    canvas = np.clip(canvas, 0, 255)
    if template.vignette:
        xs, ys = _grid(size)
        r2 = ((xs - 0.5) ** 2 + (ys - 0.5) ** 2) * 2
        canvas *= (1 - template.vignette * np.clip(r2, 0, 1) ** 1.5)[..., None]
    if template.grain:
        canvas += rng.standard_normal((size, size, 1)).astype(np.float32) * 255 * template.grain
    return np.clip(canvas, 0, 255).astype(np.uint8)
