"""A cover's layers: everything the models made, kept so lettering can change without them.

The pipeline's expensive stages (faces, matching, cut-out, face styling) end in a `Scene`'s
inputs: the library cover's art at cover size, the member's photo with the styled face, the
person's matte, and a few facts. `CoverLayers` holds those plus the layout family that was
chosen; `render` is the one place a cover is finished (layout compositing, lettering,
Parental Advisory), used both by the pipeline and by an edit, so an edit draws exactly what
a fresh cover with the same options would (up to the layers' encoding).

Encoded for Redis (`encode`/`decode`): the art and the photo as JPEG (4:4:4, the film grain
and the type are drawn after, so nothing sharp is lost), the matte as an 8-bit greyscale PNG
(lossless, and mostly flat so it compresses to a few KiB), and the rest as JSON.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from imaging.layouts import Palette, PhotoFacts, Scene, compose_family
from imaging.typography import draw_advisory, draw_type

LAYERS_VERSION = 1
ART_QUALITY = 92
PHOTO_QUALITY = 90


@dataclass
class CoverLayers:
    """What `render` needs to finish a cover; nothing in it depends on the lettering."""

    art: np.ndarray
    """The matched library cover at cover size (RGB uint8, square)."""
    photo: np.ndarray
    """The member's working photo with the styled face (RGB uint8)."""
    alpha: np.ndarray | None
    """The person's matte at the photo's size (float32 in [0, 1]); None: no face found."""
    face_box: tuple[float, float, float, float] | None
    style: dict[str, Any]
    placement: tuple[float, float, float, float]
    facts: PhotoFacts
    palette: Palette
    family: str
    """The layout family chosen for the cover (imaging.layouts.FAMILIES)."""
    seed: int
    """The request's seed: the layout's randomness (grain, angles) and the type's."""
    meta: dict[str, Any] = field(default_factory=dict)
    """What the caller keeps beside (genre, library id, the message's embed…): JSON only."""

    def scene(self) -> Scene:
        return Scene(
            art=self.art,
            photo=self.photo,
            alpha=self.alpha,
            face_box=self.face_box,
            style=self.style,
            placement=self.placement,
            facts=self.facts,
            rng=np.random.default_rng(self.seed),
            palette=self.palette,
        )


def render(layers: CoverLayers, lettering: tuple[str, str] | None, advisory: bool) -> Image.Image:
    """The finished cover: the family's composition, then (artist, title), then the label."""
    composed = compose_family(layers.family, layers.scene())
    image = Image.fromarray(composed.art)
    if lettering is not None:
        image = draw_type(image, *lettering, composed.block, layers.seed)
    if advisory:
        image = draw_advisory(image, composed.free_corner)
    return image


# -- encoding ----------------------------------------------------------------------------


def _jpeg(array: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "JPEG", quality=quality, subsampling=0)
    return buffer.getvalue()


def _png_matte(alpha: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    matte = np.clip(alpha * 255 + 0.5, 0, 255).astype(np.uint8)
    Image.fromarray(matte, "L").save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def _pixels(data: bytes, mode: str) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.array(image.convert(mode))  # writable: a family may draw on what it gets


def meta_json(layers: CoverLayers) -> str:
    """The `meta` field: everything but the pixels (an edit rewrites only this)."""
    meta = {
        "version": LAYERS_VERSION,
        "face_box": list(layers.face_box) if layers.face_box is not None else None,
        "style": layers.style,
        "placement": list(layers.placement),
        "facts": {
            "person": layers.facts.person,
            "whole_photo_ok": layers.facts.whole_photo_ok,
            "face_share": layers.facts.face_share,
        },
        "palette": {
            "dark": list(layers.palette.dark),
            "light": list(layers.palette.light),
            "accent": list(layers.palette.accent),
        },
        "family": layers.family,
        "seed": layers.seed,
        "extra": layers.meta,
    }
    return json.dumps(meta, ensure_ascii=False)


def encode(layers: CoverLayers) -> dict[str, bytes]:
    """Hash fields for Redis: `art`, `photo`, `alpha` (absent without a matte), `meta`."""
    fields = {
        "art": _jpeg(layers.art, ART_QUALITY),
        "photo": _jpeg(layers.photo, PHOTO_QUALITY),
        "meta": meta_json(layers).encode(),
    }
    if layers.alpha is not None:
        fields["alpha"] = _png_matte(layers.alpha)
    return fields


def decode_meta(raw: bytes | str) -> dict[str, Any]:
    """The JSON field alone (the bot reads it to pre-fill the edit form)."""
    return json.loads(raw)


def decode(fields: dict[Any, Any]) -> CoverLayers:
    """Back from `encode`'s hash (keys bytes or str). Raises ValueError when incomplete."""
    get = {k.decode() if isinstance(k, bytes) else k: v for k, v in fields.items()}
    if not {"art", "photo", "meta"} <= set(get):
        raise ValueError("the cover's layers are incomplete")
    meta = decode_meta(get["meta"])
    if meta.get("version") != LAYERS_VERSION:
        raise ValueError(f"layers version {meta.get('version')!r}, expected {LAYERS_VERSION}")
    alpha = None
    if "alpha" in get:
        alpha = _pixels(get["alpha"], "L").astype(np.float32) / 255
    facts = meta["facts"]

    def colour(name: str) -> tuple[int, int, int]:
        r, g, b = meta["palette"][name]
        return (int(r), int(g), int(b))

    box = meta["face_box"]
    return CoverLayers(
        art=_pixels(get["art"], "RGB"),
        photo=_pixels(get["photo"], "RGB"),
        alpha=alpha,
        face_box=tuple(box) if box is not None else None,  # type: ignore[arg-type]
        style=meta["style"],
        placement=tuple(meta["placement"]),  # type: ignore[arg-type]
        facts=PhotoFacts(
            person=bool(facts["person"]),
            whole_photo_ok=bool(facts["whole_photo_ok"]),
            face_share=float(facts["face_share"]),
        ),
        palette=Palette(dark=colour("dark"), light=colour("light"), accent=colour("accent")),
        family=meta["family"],
        seed=int(meta["seed"]),
        meta=meta.get("extra") or {},
    )
