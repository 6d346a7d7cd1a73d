"""Cover lettering: artist and title in a style that fits the template, and the PA label.

Display faces come from `fontpkg-*` packages (all SIL OFL); NanumGothic (OFL, shipped by
`koreanize-matplotlib`) covers Hangul and anything else the display face lacks.
"""

from __future__ import annotations

import functools
import importlib.util
import random
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw, ImageFont

DISPLAY_FONTS = {
    "anton": ("anton", 400),
    "bebas-neue": ("bebas-neue", 400),
    "oswald": ("oswald", 700),
    "playfair-display": ("playfair-display", 800),
    "archivo-black": ("archivo-black", 400),
    "space-grotesk": ("space-grotesk", 700),
}
DEFAULT_FONT = "anton"
CONDENSED = {"anton", "bebas-neue", "oswald"}


@functools.cache
def _font_file(key: str) -> Path:
    import fontpkg

    family, weight = DISPLAY_FONTS.get(key, DISPLAY_FONTS[DEFAULT_FONT])
    return Path(fontpkg.select_file(fontpkg.family(family), weight, "normal", True).path)


@functools.cache
def _fallback_file(bold: bool = True) -> Path:
    # Locate the package without importing it: importing it reconfigures matplotlib.
    spec = importlib.util.find_spec("koreanize_matplotlib")
    if spec is None or spec.origin is None:
        raise RuntimeError("koreanize-matplotlib (NanumGothic) is not installed")
    fonts = Path(spec.origin).parent / "fonts"
    return fonts / ("NanumGothicExtraBold.ttf" if bold else "NanumGothic.ttf")


@functools.cache
def _codepoints(path: Path) -> frozenset[int]:
    with TTFont(path, lazy=True) as font:
        return frozenset(font.getBestCmap() or {})


@functools.cache
def _truetype(path: Path, size: int, weight: int | None) -> ImageFont.FreeTypeFont:
    font = ImageFont.truetype(str(path), size)
    if weight is not None:
        try:
            axes = font.get_variation_axes()
        except OSError:
            return font
        font.set_variation_by_axes(
            [
                float(weight)
                if str(a.get("name", "")).lower() in {"weight", "wght", "b'weight'"}
                else float(a["default"])
                for a in axes
            ]
        )
    return font


def font_for(text: str, key: str, size: int) -> ImageFont.FreeTypeFont:
    """The template's face when it has every glyph, else NanumGothic (Hangul and more)."""
    path = _font_file(key)
    needed = {ord(c) for c in text if not c.isspace()}
    if needed <= _codepoints(path):
        weight = DISPLAY_FONTS.get(key, DISPLAY_FONTS[DEFAULT_FONT])[1]
        return _truetype(path, size, weight)
    return _truetype(_fallback_file(), size, None)


def clean_text(text: str | None, max_chars: int) -> str:
    """Member text: printable, one line, at most `max_chars` characters."""
    if not text:
        return ""
    # Whitespace (newlines, tabs) becomes single spaces; other control characters go.
    text = " ".join(unicodedata.normalize("NFC", text).split())
    text = "".join(c for c in text if unicodedata.category(c)[0] != "C")
    return text[:max_chars].strip()


@dataclass(frozen=True)
class TypeStyle:
    font: str = DEFAULT_FONT
    layout: str = "top"
    """top, bottom, top-left, bottom-left."""
    text_colour: tuple[int, int, int] = (255, 255, 255)

    @classmethod
    def from_record(cls, style: dict) -> TypeStyle:
        colour = style.get("text_colour", "#ffffff")
        if isinstance(colour, str):
            code = colour.lstrip("#")
            colour = tuple(int(code[i : i + 2], 16) for i in (0, 2, 4))
        return cls(
            font=style.get("font", DEFAULT_FONT),
            layout=style.get("layout", "top"),
            text_colour=tuple(colour),
        )


MIN_TYPE_PX = 6
"""Type shrinks this far before it would leave its box (small covers: the contact sheet)."""
WRAP_BELOW = 0.55


def _fit(
    draw: ImageDraw.ImageDraw, text: str, key: str, max_width: int, max_size: int
) -> ImageFont.FreeTypeFont:
    size = max_size
    while size > MIN_TYPE_PX:
        font = font_for(text, key, size)
        left, _, right, _ = draw.textbbox((0, 0), text, font=font)
        if right - left <= max_width:
            return font
        size = max(MIN_TYPE_PX, int(size * 0.9))
    return font_for(text, key, size)


def _balanced_split(text: str) -> tuple[str, str] | None:
    """Two lines of about the same length, split at the space nearest the middle."""
    spaces = [i for i, c in enumerate(text) if c == " "]
    if not spaces:
        return None
    cut = min(spaces, key=lambda i: abs(i - len(text) / 2))
    return text[:cut], text[cut + 1 :]


def _lines(draw: ImageDraw.ImageDraw, text: str, key: str, width: int, wanted_px: int) -> list[str]:
    """A line that would have to shrink below `WRAP_BELOW` of its size to fit goes on two."""
    font = _fit(draw, text, key, width, wanted_px)
    split = _balanced_split(text)
    if split is None or font.size >= wanted_px * WRAP_BELOW:
        return [text]
    return list(split)


def _shadow_colour(colour: tuple[int, int, int]) -> tuple[int, int, int, int]:
    luminance = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
    return (0, 0, 0, 150) if luminance > 110 else (255, 255, 255, 110)


@dataclass(frozen=True)
class TypeBlock:
    """Where and how a layout sets the artist and title: a box on the cover and a voice."""

    box: tuple[int, int, int, int]
    """x0, y0, x1, y1 in cover pixels: every glyph stays inside it."""
    font: str = DEFAULT_FONT
    colour: tuple[int, int, int] = (255, 255, 255)
    align: str = "center"
    """left, center or right."""
    anchor: str = "top"
    """top, middle or bottom: where the stack of lines sits in the box."""
    artist_size: float = 0.15
    """Largest artist type, as a fraction of the cover's width (shrunk to fit the box)."""
    title_size: float = 0.075
    upper: bool | None = None
    """Capitals; None: by the font (condensed and black faces are set in capitals)."""
    shadow: bool = True
    title_first: bool = False
    """Title above the artist (the title is then the large line)."""


def _upper(block: TypeBlock) -> bool:
    if block.upper is not None:
        return block.upper
    return block.font in CONDENSED or block.font == "archivo-black"


def draw_type(
    cover: Image.Image, artist: str, title: str, block: TypeBlock, seed: int
) -> Image.Image:
    """Artist and title set in `block`, the first line large; deterministic in `seed`."""
    if not artist and not title:
        return cover.convert("RGB")
    rng = random.Random(seed)
    x0, y0, x1, y1 = block.box
    width, height = max(1, x1 - x0), max(1, y1 - y0)
    layer = Image.new("RGBA", cover.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    wanted = [(artist, block.artist_size), (title, block.title_size)]
    if block.title_first:
        wanted = [(title, block.artist_size), (artist, block.title_size)]
    texts = [
        (line, size)
        for text, size in wanted
        if text
        for line in _lines(
            draw,
            text.upper() if _upper(block) else text,
            block.font,
            width,
            max(8, int(cover.width * size)),
        )
    ]
    # A small seeded nudge in spacing so two covers of one template are not identical.
    gap_share = rng.uniform(0.01, 0.025)
    shrink = 1.0
    while True:
        lines = [
            (text, _fit(draw, text, block.font, width, max(8, int(cover.width * s * shrink))))
            for text, s in texts
        ]
        boxes = [draw.textbbox((0, 0), text, font=font) for text, font in lines]
        heights = [b[3] - b[1] for b in boxes]
        gap = int(cover.width * gap_share * shrink)
        total = sum(heights) + gap * (len(lines) - 1)
        if total <= height or shrink < 0.2:
            break
        shrink *= 0.85
    if block.anchor == "bottom":
        y = y1 - total
    elif block.anchor == "middle":
        y = y0 + (height - total) // 2
    else:
        y = y0
    shadow = _shadow_colour(block.colour)
    offset = max(2, cover.width // 300)
    for (text, font), (left, top, right, _), line_height in zip(lines, boxes, heights, strict=True):
        if block.align == "left":
            x = x0 - left
        elif block.align == "right":
            x = x1 - right
        else:
            x = x0 + (width - (right - left)) // 2 - left
        if block.shadow:
            draw.text((x + offset, y - top + offset), text, font=font, fill=shadow)
        draw.text((x, y - top), text, font=font, fill=(*block.colour, 255))
        y += line_height + gap
    # Composite only where the lettering is: converting and blending the whole cover cost
    # more than drawing the text, and a transparent layer pixel leaves the cover unchanged.
    box = layer.getbbox()
    out = cover.convert("RGB")
    if box is not None:
        patch = Image.alpha_composite(cover.crop(box).convert("RGBA"), layer.crop(box))
        out.paste(patch.convert("RGB"), box[:2])
    return out


def draw_lettering(
    cover: Image.Image, artist: str, title: str, style: TypeStyle, seed: int
) -> Image.Image:
    """Artist large, title smaller, placed by the template's layout (see `draw_type`)."""
    size = cover.width
    margin = int(size * 0.06)
    left_aligned = style.layout.endswith("left")
    right = margin + int(size * 0.62) if left_aligned else size - margin
    block = TypeBlock(
        box=(margin, margin, right, size - margin),
        font=style.font,
        colour=style.text_colour,
        align="left" if left_aligned else "center",
        anchor="top" if style.layout.startswith("top") else "bottom",
    )
    return draw_type(cover, artist, title, block, seed)


def draw_advisory(cover: Image.Image, corner: str = "bottom-right") -> Image.Image:
    """The Parental Advisory label: black box, white rule, the familiar three lines."""
    size = cover.width
    width = int(size * 0.2)
    height = int(width * 0.6)
    margin = int(size * 0.035)
    x0 = size - margin - width if corner.endswith("right") else margin
    y0 = size - margin - height
    label = Image.new("RGB", (width, height), (0, 0, 0))
    draw = ImageDraw.Draw(label)
    rule = max(2, width // 60)
    band_top, band_bottom = int(height * 0.3), int(height * 0.72)
    draw.rectangle([rule, band_top, width - rule - 1, band_bottom], fill=(255, 255, 255))
    draw.rectangle([0, 0, width - 1, height - 1], outline=(255, 255, 255), width=rule)
    rows = [
        ("PARENTAL", rule * 2, band_top - rule, (255, 255, 255)),
        ("ADVISORY", band_top + rule, band_bottom - rule, (0, 0, 0)),
        ("EXPLICIT CONTENT", band_bottom + rule, height - rule * 2, (255, 255, 255)),
    ]
    for text, top, bottom, colour in rows:
        box_height = bottom - top
        font = _truetype(_font_file("archivo-black"), max(6, int(box_height * 0.9)), 400)
        left, t, right, b = draw.textbbox((0, 0), text, font=font)
        scale = min(1.0, (width - 4 * rule) / max(1, right - left))
        if scale < 1.0:
            font = _truetype(
                _font_file("archivo-black"), max(6, int(box_height * 0.9 * scale)), 400
            )
            left, t, right, b = draw.textbbox((0, 0), text, font=font)
        draw.text(
            ((width - (right - left)) // 2 - left, top + (box_height - (b - t)) // 2 - t),
            text,
            font=font,
            fill=colour,
        )
    out = cover.copy()
    out.paste(label, (x0, y0))
    return out
