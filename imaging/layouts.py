"""Layout families: the ways a cover is composed, each with its own type placement.

A cover is the matched library cover's art, the member's photo (face already styled) and, when
a face was found, the person's matte. A family decides what goes where and returns the art and
the box its lettering is set in (imaging.typography.TypeBlock):

    cutout     the person cut out and standing on the cover's art (type top or bottom)
    fullbleed  the whole photo graded to the cover's palette, type over a dark scrim
    duotone    the person (or the photo) in two of the cover's colours on halftone dots
    band       a bold block of colour carrying huge type; the picture above it
    framed     a bordered print lying on the art; the title written on the print's margin
    sticker    a hype sticker carrying the title; artist small in an inset frame
    tiles      four tinted copies of the photo, pop-art style (photos without a face only)

`choose_family` picks one from the cover's style (its `families` hint, else its genre) and the
photo (is there a person, is the whole photo safe to show, how large is the face), seeded.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from imaging import compose
from imaging.typography import TypeBlock

Colour = tuple[int, int, int]

GENRE_FAMILIES: dict[str, tuple[str, ...]] = {
    "rap": ("band", "fullbleed", "duotone", "cutout"),
    "hip-hop": ("band", "fullbleed", "duotone", "cutout"),
    "rock": ("duotone", "framed", "band", "cutout"),
    "metal": ("duotone", "band", "cutout"),
    "punk": ("tiles", "duotone", "sticker", "band"),
    "folk": ("framed", "fullbleed", "cutout"),
    "country": ("framed", "fullbleed", "cutout"),
    "electro": ("duotone", "sticker", "cutout", "fullbleed"),
    "electronic": ("duotone", "sticker", "cutout", "fullbleed"),
    "disco": ("sticker", "cutout", "tiles", "band"),
    "pop": ("sticker", "cutout", "fullbleed"),
    "k-pop": ("sticker", "cutout", "fullbleed", "framed"),
    "jazz": ("band", "framed", "duotone"),
    "soul": ("framed", "fullbleed", "cutout", "band"),
}
"""Families that suit a genre, best first; every family stays possible, less often."""


@dataclass(frozen=True)
class Palette:
    dark: Colour
    light: Colour
    accent: Colour

    @classmethod
    def of(cls, art: np.ndarray) -> Palette:
        """Dark, light and most saturated colours of the art, pushed apart enough to read."""
        small = cv2.resize(art, (32, 32), interpolation=cv2.INTER_AREA).reshape(-1, 3)
        lab = cv2.cvtColor(small[None], cv2.COLOR_RGB2LAB)[0].astype(np.float32)
        lightness = lab[:, 0]
        chroma = np.hypot(lab[:, 1] - 128, lab[:, 2] - 128)
        dark = small[lightness <= np.percentile(lightness, 15)].mean(0)
        light = small[lightness >= np.percentile(lightness, 85)].mean(0)
        vivid = chroma >= np.percentile(chroma, 90)
        accent = small[vivid].mean(0)
        if chroma[vivid].mean() < 18:  # a grey cover: a warm accent opposite its darkness
            accent = np.array([228, 66, 48] if lightness.mean() < 128 else [24, 60, 170], float)
        return cls(
            dark=_with_lightness(dark, high=70),
            light=_with_lightness(light, low=200),
            accent=_with_lightness(_saturated(accent), low=70, high=215),
        )


def _with_lightness(rgb: np.ndarray, low: int = 0, high: int = 255) -> Colour:
    lab = cv2.cvtColor(np.clip(rgb, 0, 255).astype(np.uint8).reshape(1, 1, 3), cv2.COLOR_RGB2LAB)
    lab[0, 0, 0] = np.clip(lab[0, 0, 0], low, high)
    out = cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)[0, 0]
    return (int(out[0]), int(out[1]), int(out[2]))


def _saturated(rgb: np.ndarray, floor: int = 150) -> np.ndarray:
    hsv = cv2.cvtColor(np.clip(rgb, 0, 255).astype(np.uint8).reshape(1, 1, 3), cv2.COLOR_RGB2HSV)
    hsv[0, 0, 1] = max(int(hsv[0, 0, 1]), floor)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def luminance(colour: Colour) -> float:
    return 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]


def ink_on(background: Colour, palette: Palette) -> Colour:
    """The palette colour (or white/black) that reads best on `background`."""
    candidates = [palette.light, palette.dark, palette.accent, (250, 248, 240), (16, 16, 16)]
    return max(candidates, key=lambda c: abs(luminance(c) - luminance(background)))


@dataclass(frozen=True)
class PhotoFacts:
    """What the layout choice needs to know about the member's photo."""

    person: bool
    """A face was found and the person was cut out (a matte exists)."""
    whole_photo_ok: bool
    """The whole photo may be shown: no face, or exactly one (no neighbour half in frame)."""
    face_share: float = 0.0
    """Face height over the photo's height (small: a far-away face)."""


@dataclass
class Scene:
    """Everything a family draws with, at the cover's size."""

    art: np.ndarray
    photo: np.ndarray
    alpha: np.ndarray | None
    face_box: tuple[float, float, float, float] | None
    style: dict
    """The library cover's typography hints (imaging.typography.TypeStyle keys, `families`)."""
    placement: tuple[float, float, float, float]
    """Where the library cover wants a person (fractions of the cover)."""
    facts: PhotoFacts
    rng: np.random.Generator
    palette: Palette

    @property
    def size(self) -> int:
        return self.art.shape[0]

    def type_block(self, box: tuple[float, float, float, float], **kwargs) -> TypeBlock:
        """A TypeBlock in cover pixels from fractions, in the cover's own face by default."""
        s = self.size
        kwargs.setdefault("font", self.style.get("font", "anton"))
        return TypeBlock(box=tuple(int(v * s) for v in box), **kwargs)


@dataclass(frozen=True)
class Composed:
    art: np.ndarray
    block: TypeBlock
    free_corner: str = "bottom-right"
    """Where the Parental Advisory label goes without covering the type."""


Family = Callable[[Scene], Composed]


# -- shared pieces ------------------------------------------------------------------------


def photo_square(scene: Scene, side_px: int, face_at: float = 0.4) -> np.ndarray:
    """The photo cropped square around the face (at `face_at` of the height), or the middle."""
    photo = scene.photo
    height, width = photo.shape[:2]
    side = min(height, width)
    if scene.face_box is None:
        return compose.square_crop(photo, side_px)
    x0, y0, x1, y1 = scene.face_box
    side = int(min(side, max(x1 - x0, y1 - y0) * 7))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left = int(np.clip(cx - side / 2, 0, width - side))
    top = int(np.clip(cy - face_at * side, 0, height - side))
    crop = photo[top : top + side, left : left + side]
    interpolation = cv2.INTER_AREA if side > side_px else cv2.INTER_CUBIC
    return cv2.resize(crop, (side_px, side_px), interpolation=interpolation)


def grade(image: np.ndarray, art: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """Move the photo's colours toward the cover's and give it a gentle S-curve."""
    mix = (0.3 * strength, 0.6 * strength, 0.6 * strength)
    graded = compose.transfer_colour(image, compose.lab_statistics(art), mix)
    levels = np.arange(256, dtype=np.float32) / 255
    curve = levels - 0.05 * np.sin(2 * np.pi * levels)
    table = np.clip((0.04 + 0.94 * curve) * 255, 0, 255).astype(np.uint8)
    return cv2.LUT(graded, table)


def duotone(image: np.ndarray, dark: Colour, light: Colour) -> np.ndarray:
    """Lightness stretched (2–98th percentile) and mapped from `dark` to `light`.

    Each output colour is a function of the grey byte, so the mapping is a 256-entry table
    applied with one lookup (a per-pixel float pipeline cost ~45 ms at 1024 px; an edit
    re-draws it)."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    low, high = compose.byte_percentiles(grey, (2, 98))
    levels = np.arange(256, dtype=np.float32)
    t = np.clip((levels - low) / max(high - low, 1.0), 0, 1)[:, None] ** 1.25
    table = np.asarray(dark, np.float32) * (1 - t) + np.asarray(light, np.float32) * t
    lut = table.astype(np.uint8).reshape(256, 1, 3)
    return cv2.LUT(cv2.merge([grey, grey, grey]), lut)


def halftone(
    size: int, ink: Colour, paper: np.ndarray, density: np.ndarray, cell: int
) -> np.ndarray:
    """Dots of `ink` on `paper` whose radius follows `density` (0–1, at any resolution)."""
    cells = cv2.resize(density.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    radius = cv2.sqrt(np.clip(cells, 0, 1)) * np.float32(cell * 0.62)
    dots = np.clip(radius - compose.cell_distance(size, cell) + np.float32(0.5), 0, 1)
    ink_plane = np.empty_like(paper, dtype=np.float32)
    ink_plane[:] = ink
    out = cv2.add(paper.astype(np.float32), cv2.multiply(ink_plane - paper, cv2.merge([dots] * 3)))
    return out.astype(np.uint8)


def place_subject(
    scene: Scene,
    background: np.ndarray,
    subject: np.ndarray,
    region: tuple[float, float, float, float],
    shadow: bool = True,
) -> np.ndarray:
    """The person fitted into `region` and composited with a shadow and light wrap."""
    assert scene.alpha is not None
    fitted, matte = compose.fit_into_region(subject, scene.alpha, scene.size, region)
    if shadow:
        background = compose.drop_shadow(background, matte, offset=max(2, scene.size // 90))
    return compose.blend(background, fitted, matte)


def scrim(image: np.ndarray, top: float, bottom: float, strength: float = 0.75) -> np.ndarray:
    """Darken rows from `top` to `bottom` (fractions), fading in: type reads over a photo."""
    size = image.shape[0]
    rows = np.linspace(0, 1, size, dtype=np.float32)
    span = max(bottom - top, 1e-3)
    fade = np.clip((rows - top) / span, 0, 1) if bottom > top else np.zeros_like(rows)
    if top > bottom:  # a scrim at the top: dark at row 0
        fade = np.clip((top - rows) / (top - bottom), 0, 1)
    gain = 1 - strength * fade[:, None, None] ** 1.3
    return (image.astype(np.float32) * gain).astype(np.uint8)


def _finish(scene: Scene, art: np.ndarray, grain: float | None = None) -> np.ndarray:
    amount = float(scene.style.get("grain", 0.02)) * 0.6 if grain is None else grain
    return compose.add_grain(art, amount, scene.rng)


# -- the families ----------------------------------------------------------------------------


def cutout(scene: Scene) -> Composed:
    """Today's cover: the person on the art in the cover's placement region."""
    from imaging.typography import TypeStyle

    art = place_subject(scene, scene.art, scene.photo, scene.placement)
    style = TypeStyle.from_record(scene.style)
    top = style.layout.startswith("top")
    left = style.layout.endswith("left")
    box = (0.06, 0.06, 0.68 if left else 0.94, 0.94)
    block = scene.type_block(
        box,
        colour=style.text_colour,
        align="left" if left else "center",
        anchor="top" if top else "bottom",
    )
    return Composed(_finish(scene, art), block, "bottom-right" if top else "top-right")


def fullbleed(scene: Scene) -> Composed:
    """The whole photo graded to the cover, the art's light over it, type on a dark scrim."""
    size = scene.size
    photo = grade(photo_square(scene, size, face_at=0.36), scene.art)
    art_light = compose.wide_blur(scene.art, size / 60) / 255
    screen = 255 - (255 - photo.astype(np.float32)) * (1 - 0.35 * art_light)
    art = scrim(compose.vignette(screen.astype(np.uint8), 0.35), 0.55, 1.0, 0.8)
    block = scene.type_block(
        (0.07, 0.6, 0.8, 0.93), colour=(250, 248, 240), align="left", anchor="bottom",
        artist_size=0.13, title_size=0.06,
    )  # fmt: skip
    return Composed(_finish(scene, art), block, "top-right")


def duotone_family(scene: Scene) -> Composed:
    """The person (or the photo) in two of the cover's colours, risograph-style dots."""
    size, palette = scene.size, scene.palette
    ink = _with_lightness(np.asarray(palette.dark, float), high=28)
    light = _with_lightness(np.asarray(palette.light, float), low=225)
    cell = max(5, size // int(scene.rng.integers(56, 84)))
    paper = np.empty((size, size, 3), np.float32)
    paper[:] = palette.accent
    if scene.facts.person:
        texture = cv2.cvtColor(scene.art, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255
        ground = halftone(size, ink, paper, 0.08 + 0.3 * (1 - texture), cell)
        toned = duotone(scene.photo, ink, light)
        art = place_subject(scene, ground, toned, (0.04, 0.24, 0.96, 1.0), shadow=False)
    else:
        photo = duotone(photo_square(scene, size), palette.accent, light)
        density = 1 - cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255
        art = halftone(size, ink, photo.astype(np.float32), density**1.2, cell)
    art = np.array(art)  # a solid header in the paper's colour: the type never sits on dots
    art[: int(size * 0.25)] = np.asarray(palette.accent, art.dtype)
    block = scene.type_block(
        (0.05, 0.04, 0.95, 0.23), colour=ink_on(palette.accent, palette), align="center",
        anchor="top", artist_size=0.2, title_size=0.06, upper=True, shadow=False,
    )  # fmt: skip
    return Composed(_finish(scene, art, 0.015), block, "bottom-right")


def band(scene: Scene) -> Composed:
    """A solid block of the cover's colour carrying huge type; the picture above it."""
    size, palette = scene.size, scene.palette
    at_top = scene.rng.random() < 0.3
    depth = 0.3
    colour = palette.accent if scene.rng.random() < 0.6 else palette.dark
    if scene.facts.person:
        region = (0.08, depth + 0.02, 0.92, 1.0) if at_top else (0.08, 0.04, 0.92, 1 - depth)
        picture = place_subject(scene, scene.art, scene.photo, region)
    else:
        picture = grade(photo_square(scene, size), scene.art)
    art = picture.copy()
    edge = int(size * depth)
    rows = slice(0, edge) if at_top else slice(size - edge, size)
    art[rows] = colour
    rule = max(2, size // 128)
    line = slice(edge, edge + rule) if at_top else slice(size - edge - rule, size - edge)
    art[line] = ink_on(colour, palette)
    box = (0.06, 0.03, 0.94, depth - 0.03) if at_top else (0.06, 1 - depth + 0.03, 0.94, 0.97)
    block = scene.type_block(
        box, colour=ink_on(colour, palette), align="left", anchor="middle",
        artist_size=0.17, title_size=0.055, upper=True, shadow=False,
    )  # fmt: skip
    return Composed(_finish(scene, art), block, "top-right" if not at_top else "bottom-right")


def framed(scene: Scene) -> Composed:
    """A bordered print lying on the art at a slight angle; title on the print's margin."""
    size, palette = scene.size, scene.palette
    side = int(size * 0.56)
    border, margin = int(size * 0.03), int(size * 0.12)
    if scene.facts.whole_photo_ok:
        picture = grade(photo_square(scene, side), scene.art, 0.7)
    else:  # a studio portrait: the person on a plain backdrop
        backdrop = np.empty((size, size, 3), np.uint8)
        backdrop[:] = _with_lightness(np.asarray(palette.light, float) * 0.85, 150, 215)
        backdrop = compose.vignette(backdrop, 0.5)
        portrait = place_subject(scene, backdrop, scene.photo, (0.1, 0.12, 0.9, 1.0))
        picture = cv2.resize(portrait, (side, side), interpolation=cv2.INTER_AREA)
    paper = (246, 242, 232)
    print_h, print_w = side + border + margin, side + 2 * border
    card = np.empty((print_h, print_w, 3), np.uint8)
    card[:] = paper
    card[border : border + side, border : border + side] = picture
    background = compose.vignette(cv2.GaussianBlur(scene.art, (0, 0), size / 300), 0.4)
    angle = float(scene.rng.uniform(-4, 4))
    canvas = np.zeros((size, size, 3), np.uint8)
    mask = np.zeros((size, size), np.float32)
    x0, y0 = (size - print_w) // 2, int(size * 0.22)
    canvas[y0 : y0 + print_h, x0 : x0 + print_w] = card
    mask[y0 : y0 + print_h, x0 : x0 + print_w] = 1
    turn = cv2.getRotationMatrix2D((size / 2, y0 + print_h / 2), angle, 1.0)
    canvas = cv2.warpAffine(canvas, turn, (size, size), flags=cv2.INTER_LINEAR)
    mask = cv2.warpAffine(mask, turn, (size, size), flags=cv2.INTER_LINEAR)
    art = compose.blend(compose.drop_shadow(background, mask, size // 60, 0.55), canvas, mask, 0)
    ink = ink_on(tuple(int(c) for c in background[: int(size * 0.2)].mean((0, 1))), palette)
    block = scene.type_block(
        (0.08, 0.04, 0.92, 0.21), colour=ink, align="center", anchor="middle",
        artist_size=0.12, title_size=0.055,
    )  # fmt: skip
    return Composed(_finish(scene, art, 0.012), block, "bottom-right")


def sticker(scene: Scene) -> Composed:
    """A hype sticker carrying the title; the artist small in an inset frame line."""
    size, palette = scene.size, scene.palette
    if scene.facts.whole_photo_ok:
        art = grade(photo_square(scene, size, face_at=0.42), scene.art)
    else:
        art = place_subject(scene, scene.art, scene.photo, (0.1, 0.14, 0.9, 1.0))
    inset, line = int(size * 0.035), max(2, size // 200)
    frame_colour = palette.light
    cv2.rectangle(art, (inset, inset), (size - inset, size - inset), frame_colour, line)
    radius = int(size * 0.16)
    left = scene.rng.random() < 0.5
    centre = (inset + radius + size // 40 if left else size - inset - radius - size // 40,
              size - inset - radius - size // 40)  # fmt: skip
    ring = max(3, size // 90)
    cv2.circle(art, (centre[0] + ring, centre[1] + ring), radius, (0, 0, 0), -1, cv2.LINE_AA)
    cv2.circle(art, centre, radius, palette.accent, -1, cv2.LINE_AA)
    cv2.circle(art, centre, radius - ring, ink_on(palette.accent, palette), line, cv2.LINE_AA)
    r = radius / size
    cx, cy = centre[0] / size, centre[1] / size
    block = scene.type_block(
        (cx - r * 0.72, cy - r * 0.62, cx + r * 0.72, cy + r * 0.62),
        colour=ink_on(palette.accent, palette), align="center", anchor="middle",
        artist_size=0.045, title_size=0.03, title_first=True, shadow=False,
    )  # fmt: skip
    return Composed(_finish(scene, art), block, "top-right" if left else "top-left")


def tiles(scene: Scene) -> Composed:
    """Four copies of the photo, each toned in another pair of the cover's colours."""
    size, palette = scene.size, scene.palette
    half = size // 2
    photo = photo_square(scene, half)
    colours = [palette.dark, palette.accent, palette.light, (250, 248, 240), (20, 20, 24)]
    pairs = [(colours[i], colours[j]) for i, j in ((0, 2), (0, 1), (4, 1), (1, 3))]
    order = scene.rng.permutation(4)
    art = np.zeros((size, size, 3), np.uint8)
    for slot, pick in enumerate(order):
        dark, light = pairs[pick]
        y, x = (slot // 2) * half, (slot % 2) * half
        art[y : y + half, x : x + half] = duotone(photo, dark, light)
    strip = slice(int(size * 0.4), int(size * 0.6))
    art[strip] = (250, 248, 240)
    block = scene.type_block(
        (0.05, 0.41, 0.95, 0.59), colour=(18, 18, 22), align="center", anchor="middle",
        artist_size=0.12, title_size=0.05, shadow=False, upper=True,
    )  # fmt: skip
    return Composed(_finish(scene, art, 0.015), block, "bottom-right")


@dataclass(frozen=True)
class FamilySpec:
    draw: Family
    needs_person: bool = False
    needs_whole_photo: bool = False
    only_without_face: bool = False

    def fits(self, facts: PhotoFacts) -> bool:
        if self.needs_person and not facts.person:
            return False
        if self.needs_whole_photo and not facts.whole_photo_ok:
            return False
        return not (self.only_without_face and facts.person)


FAMILIES: dict[str, FamilySpec] = {
    "cutout": FamilySpec(cutout, needs_person=True),
    "fullbleed": FamilySpec(fullbleed, needs_whole_photo=True),
    "duotone": FamilySpec(duotone_family),
    "band": FamilySpec(band),
    "framed": FamilySpec(framed),
    "sticker": FamilySpec(sticker),
    "tiles": FamilySpec(tiles, needs_whole_photo=True, only_without_face=True),
}


def family_weights(style: dict, genre: str | None, facts: PhotoFacts) -> dict[str, float]:
    """How likely each family is for this cover and photo (0 = impossible)."""
    hinted = style.get("families") or _genre_families(genre)
    weights = {}
    for name, spec in FAMILIES.items():
        if not spec.fits(facts):
            continue
        rank = hinted.index(name) if name in hinted else None
        weights[name] = 0.35 if rank is None else 3.0 / (1 + 0.6 * rank)
    if facts.person and facts.face_share < 0.12:
        # A far-away face: blowing the cut-out up shows its blur; show the scene instead.
        for name in ("cutout", "duotone"):
            if name in weights:
                weights[name] *= 0.3
    return weights


def _genre_families(genre: str | None) -> tuple[str, ...]:
    key = (genre or "").strip().lower()
    if key in GENRE_FAMILIES:
        return GENRE_FAMILIES[key]
    return next((f for g, f in GENRE_FAMILIES.items() if g in key), ())


def choose_family(style: dict, genre: str | None, facts: PhotoFacts, seed: int) -> str:
    weights = family_weights(style, genre, facts)
    names = sorted(weights)
    return random.Random(f"family:{seed}").choices(names, [weights[n] for n in names])[0]


def compose_family(name: str, scene: Scene) -> Composed:
    return FAMILIES[name].draw(scene)


def face_share(box: tuple[float, float, float, float] | None, photo_height: int) -> float:
    return 0.0 if box is None else (box[3] - box[1]) / max(photo_height, 1)


def seed_for_family(seed: int, shown: int) -> int:
    """Re-rolls (more covers shown) may move to another family; the same request may not."""
    return seed * 1_000_003 + shown
