"""The generated starter library: procedural cover templates, no copyrighted art.

Each template is a recipe (background layers, palette, texture, placement region and type
style) rendered deterministically from its own seed. The library is written in the ordinary
index format on first use and extended when a new embedder becomes available, so the rest of
the product never needs to know it was generated.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from index.library import MANIFEST, CoverIndex, CoverRecord, IndexWriter

STARTER_VERSION = "1"
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
}


def _t(tid, genre, title, layers, palette, placement, font, layout, text, **kw) -> Template:
    return Template(
        tid,
        genre,
        title,
        tuple(layers.split()),
        tuple(palette.split()),
        placement,
        font,
        layout,
        text,
        **kw,
    )


CENTRE = (0.14, 0.22, 0.86, 1.0)
LOW = (0.1, 0.3, 0.9, 1.0)
LEFT = (0.02, 0.25, 0.62, 1.0)
RIGHT = (0.38, 0.25, 0.98, 1.0)
SMALL = (0.25, 0.35, 0.75, 0.9)

TEMPLATES: tuple[Template, ...] = (
    # rap: dark, hard light, big condensed type
    _t(
        "rap-01",
        "rap",
        "Concrete Crown",
        "radial-glow smoke",
        "#0d0d0f #5a1a1a #c0392b",
        CENTRE,
        "anton",
        "top",
        "#f5f5f5",
        grain=0.05,
        vignette=0.6,
    ),
    _t(
        "rap-02",
        "rap",
        "Gold Teeth",
        "vertical-gradient halftone",
        "#111111 #3b2f0b #d4af37",
        LOW,
        "bebas-neue",
        "bottom",
        "#d4af37",
        grain=0.04,
        vignette=0.5,
    ),
    _t(
        "rap-03",
        "rap",
        "Block Party",
        "diagonal-gradient grunge",
        "#1c1c1c #4b4b4b #e74c3c",
        RIGHT,
        "archivo-black",
        "top-left",
        "#ffffff",
        grain=0.06,
    ),
    _t(
        "rap-04",
        "rap",
        "Night Shift",
        "radial-glow bokeh",
        "#050510 #1b2a4a #6c5ce7 #00cec9",
        CENTRE,
        "anton",
        "bottom",
        "#ffffff",
        vignette=0.5,
    ),
    # rock: grit, red and black, scratched
    _t(
        "rock-01",
        "rock",
        "Amplifier",
        "vertical-gradient grunge",
        "#2b0000 #000000 #ff2a2a",
        CENTRE,
        "oswald",
        "top",
        "#ff2a2a",
        grain=0.07,
        vignette=0.6,
    ),
    _t(
        "rock-02",
        "rock",
        "Loud Hours",
        "smoke grunge",
        "#1a1a1a #3d3d3d #bdbdbd",
        LEFT,
        "bebas-neue",
        "top",
        "#f0e6d2",
        grain=0.08,
    ),
    _t(
        "rock-03",
        "rock",
        "Wildfire",
        "radial-glow smoke",
        "#120400 #ff6a00 #ffd000",
        LOW,
        "anton",
        "top",
        "#fff4d6",
        grain=0.05,
        vignette=0.55,
    ),
    _t(
        "rock-04",
        "rock",
        "Static",
        "diagonal-gradient halftone grunge",
        "#0b132b #1c2541 #5bc0be",
        RIGHT,
        "oswald",
        "bottom-left",
        "#ffffff",
        grain=0.06,
    ),
    # folk: paper, warm earth, serif
    _t(
        "folk-01",
        "folk",
        "Wildflower Road",
        "vertical-gradient paper",
        "#e8dcc2 #b08d57 #6b4f2a",
        SMALL,
        "playfair-display",
        "top",
        "#3e2c1c",
        grain=0.03,
        vignette=0.35,
    ),
    _t(
        "folk-02",
        "folk",
        "Kitchen Songs",
        "diagonal-gradient paper rings",
        "#f3e9d2 #c6a477 #7d5a3c",
        CENTRE,
        "playfair-display",
        "bottom",
        "#4a3222",
    ),
    _t(
        "folk-03",
        "folk",
        "Pine & Smoke",
        "smoke paper",
        "#dfe6d8 #7f9172 #34402c",
        LOW,
        "playfair-display",
        "top",
        "#22301c",
        vignette=0.4,
    ),
    _t(
        "folk-04",
        "folk",
        "Harvest Moon",
        "radial-glow paper",
        "#2e2416 #e0a85a #f6e7c1",
        SMALL,
        "playfair-display",
        "bottom",
        "#f6e7c1",
        vignette=0.5,
    ),
    # electro: neon, grids, geometric sans
    _t(
        "electro-01",
        "electro",
        "Afterglow",
        "vertical-gradient synth-grid",
        "#1a0033 #ff2e88 #00f0ff",
        CENTRE,
        "space-grotesk",
        "top",
        "#00f0ff",
        grain=0.02,
    ),
    _t(
        "electro-02",
        "electro",
        "Pulse Width",
        "radial-glow rings",
        "#000000 #2d00f7 #f20089",
        CENTRE,
        "space-grotesk",
        "bottom",
        "#ffffff",
        grain=0.02,
        vignette=0.4,
    ),
    _t(
        "electro-03",
        "electro",
        "Low Pass",
        "diagonal-gradient halftone",
        "#03071e #370617 #00b4d8",
        RIGHT,
        "archivo-black",
        "top-left",
        "#caf0f8",
    ),
    _t(
        "electro-04",
        "electro",
        "Sequencer",
        "vertical-gradient synth-grid bokeh",
        "#10002b #7b2cbf #ffbd00",
        LOW,
        "space-grotesk",
        "top",
        "#ffbd00",
    ),
    # disco: sunbursts, warm glam, glow
    _t(
        "disco-01",
        "disco",
        "Mirrorball",
        "radial-glow sunburst",
        "#3a0ca3 #f72585 #ffd166",
        CENTRE,
        "playfair-display",
        "top",
        "#ffd166",
        vignette=0.3,
    ),
    _t(
        "disco-02",
        "disco",
        "Saturday Fever",
        "vertical-gradient sunburst bokeh",
        "#ff7b00 #ffb700 #ff006e",
        LOW,
        "archivo-black",
        "top",
        "#ffffff",
    ),
    _t(
        "disco-03",
        "disco",
        "Velvet Rope",
        "radial-glow bokeh",
        "#240046 #c77dff #ffd6ff",
        CENTRE,
        "playfair-display",
        "bottom",
        "#ffd6ff",
    ),
    _t(
        "disco-04",
        "disco",
        "Funk Machine",
        "diagonal-gradient sunburst halftone",
        "#9d0208 #f48c06 #ffba08",
        RIGHT,
        "bebas-neue",
        "top-left",
        "#fff3b0",
    ),
    # jazz: modernist blocks, blue and cream
    _t(
        "jazz-01",
        "jazz",
        "Blue Hour",
        "vertical-gradient blocks",
        "#0b3c5d #1d2731 #d9b310 #f1e9da",
        LEFT,
        "oswald",
        "top",
        "#f1e9da",
        grain=0.04,
    ),
    _t(
        "jazz-02",
        "jazz",
        "Late Set",
        "smoke rings",
        "#101820 #2c3e50 #f2aa4c",
        CENTRE,
        "playfair-display",
        "bottom",
        "#f2aa4c",
        vignette=0.55,
    ),
    _t(
        "jazz-03",
        "jazz",
        "Quartet in Blue",
        "diagonal-gradient blocks halftone",
        "#003049 #d62828 #fcbf49 #eae2b7",
        RIGHT,
        "bebas-neue",
        "top-left",
        "#eae2b7",
    ),
    _t(
        "jazz-04",
        "jazz",
        "Smoke Rings",
        "radial-glow smoke",
        "#0a0a0a #3a3a3a #b8860b",
        SMALL,
        "playfair-display",
        "top",
        "#e5c07b",
        vignette=0.6,
    ),
    # k-pop: pastel, glossy, bokeh
    _t(
        "kpop-01",
        "kpop",
        "Sugar Rush",
        "diagonal-gradient bokeh",
        "#ffafcc #bde0fe #a2d2ff #ffc8dd",
        CENTRE,
        "space-grotesk",
        "top",
        "#ffffff",
        grain=0.01,
        vignette=0.1,
    ),
    _t(
        "kpop-02",
        "kpop",
        "Starlight Diary",
        "radial-glow bokeh",
        "#cdb4db #ffc8dd #ffafcc #ffffff",
        LOW,
        "archivo-black",
        "bottom",
        "#5e2b7e",
        grain=0.01,
        vignette=0.1,
    ),
    _t(
        "kpop-03",
        "kpop",
        "Bubblegum Signal",
        "vertical-gradient halftone",
        "#ff99c8 #fcf6bd #a9def9",
        RIGHT,
        "space-grotesk",
        "top-left",
        "#3d348b",
        grain=0.01,
    ),
    _t(
        "kpop-04",
        "kpop",
        "Neon Heart",
        "vertical-gradient rings bokeh",
        "#22223b #f72585 #4cc9f0",
        CENTRE,
        "bebas-neue",
        "top",
        "#ffffff",
        vignette=0.2,
    ),
    # punk: xerox, stark, cut-up
    _t(
        "punk-01",
        "punk",
        "No Future Tonight",
        "vertical-gradient grunge halftone",
        "#f4f1de #e07a5f #000000",
        CENTRE,
        "archivo-black",
        "top",
        "#000000",
        grain=0.09,
    ),
    _t(
        "punk-02",
        "punk",
        "Safety Pin",
        "stripes grunge",
        "#f9f871 #ff006e #000000",
        LEFT,
        "anton",
        "top",
        "#000000",
        grain=0.08,
        vignette=0.2,
    ),
    _t(
        "punk-03",
        "punk",
        "Riot Grrrl",
        "diagonal-gradient stripes halftone",
        "#ff5d8f #000000 #ffffff",
        RIGHT,
        "bebas-neue",
        "bottom-left",
        "#ffffff",
        grain=0.07,
    ),
    _t(
        "punk-04",
        "punk",
        "Photocopy",
        "smoke grunge",
        "#dddddd #777777 #111111",
        CENTRE,
        "anton",
        "bottom",
        "#111111",
        grain=0.1,
        vignette=0.3,
    ),
    # soul: warm brown, orange, serif
    _t(
        "soul-01",
        "soul",
        "Sweet Sunday",
        "radial-glow rings",
        "#3d1e0f #e76f51 #f4a261",
        CENTRE,
        "playfair-display",
        "top",
        "#fefae0",
        vignette=0.45,
    ),
    _t(
        "soul-02",
        "soul",
        "Golden Hour",
        "vertical-gradient sunburst paper",
        "#f4a261 #e76f51 #264653",
        LOW,
        "oswald",
        "top",
        "#264653",
    ),
    _t(
        "soul-03",
        "soul",
        "Velvet Groove",
        "diagonal-gradient smoke",
        "#2b0f0e #7a2e2e #e9c46a",
        RIGHT,
        "playfair-display",
        "top-left",
        "#e9c46a",
        vignette=0.5,
    ),
    _t(
        "soul-04",
        "soul",
        "Heatwave",
        "radial-glow halftone",
        "#6a040f #dc2f02 #ffba08",
        SMALL,
        "archivo-black",
        "bottom",
        "#fff3b0",
    ),
)


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


def template_record(template: Template, path: str, size: int = RENDER_SIZE) -> CoverRecord:
    return CoverRecord(
        library_id=f"starter:{template.template_id}",
        path=path,
        width=size,
        height=size,
        genre=template.genre,
        artist="Albumify Starter Library",
        title=template.title,
        face=None,
        placement=list(template.placement),
        style={
            "font": template.font,
            "layout": template.layout,
            "text_colour": template.text_colour,
            "grain": template.grain,
        },
    )


def build_starter_index(out_dir: Path, embedders: Sequence[Any]) -> Path:
    """Render every template and write the index; built in a temp dir then moved into place."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".starter-", dir=out_dir.parent))
    try:
        (work / "covers").mkdir()
        records, images = [], []
        for template in TEMPLATES:
            image = render_template(template)
            relative = f"covers/{template.template_id}.jpg"
            Image.fromarray(image).save(work / relative, quality=93)
            records.append(template_record(template, relative))
            images.append(cv2.resize(image, (256, 256), interpolation=cv2.INTER_AREA))
        vectors = {e.name: (e(images), e.version) for e in embedders}
        IndexWriter(work, kind="starter").write(
            records, vectors, extra={"starter_version": STARTER_VERSION}
        )
        if out_dir.exists():
            shutil.rmtree(out_dir, ignore_errors=True)
        try:
            os.replace(work, out_dir)
        except OSError:
            # Another process finished first; its index is as good as ours.
            if not (out_dir / MANIFEST).exists():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out_dir


def ensure_starter_index(out_dir: Path, embedders: Sequence[Any]) -> CoverIndex:
    """Load the starter library, building it or adding a new embedder's vectors if needed."""
    manifest_path = out_dir / MANIFEST
    current: dict[str, Any] = {}
    if manifest_path.exists():
        try:
            current = json.loads(manifest_path.read_text("utf-8"))
        except ValueError:
            current = {}
    if current.get("starter_version") != STARTER_VERSION:
        build_starter_index(out_dir, embedders)
        return CoverIndex.load(out_dir)
    index = CoverIndex.load(out_dir)
    missing = [e for e in embedders if not index.has_embedder(e.name)]
    if missing:
        images = [
            cv2.resize(
                np.asarray(Image.open(index.cover_path(r)).convert("RGB")),
                (256, 256),
                interpolation=cv2.INTER_AREA,
            )
            for r in index.records
        ]
        IndexWriter.rewrite(index, {e.name: (e(images), e.version) for e in missing})
        index = CoverIndex.load(out_dir)
    return index
