"""Decoding members' photos safely and encoding finished covers.

Everything a member uploads passes through `decode_photo` first: it refuses what we cannot or
should not decode with a message the member can read, and hands the pipeline a plain RGB
image that is no larger than it needs.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from albumify.errors import BadInput

SUPPORTED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "MPO"}
MIN_SIDE = 32
MAX_ASPECT = 10
"""Longer side over shorter side: beyond this it is a banner or a crafted header, not a photo
(and the face detector has nothing to scan once the long side is scaled down)."""
DEFAULT_MAX_PIXELS = 50_000_000
WORKING_SIDE = 1280
"""Decode large photos down to this long side: the member fills at most ~800 px of a 1024 px
cover, and every later stage costs in proportion to the pixels it is handed."""

_SUPPORTED_TEXT = "JPEG, PNG, WebP, GIF, BMP or TIFF"


@dataclass
class Photo:
    image: Image.Image
    """RGB, EXIF orientation applied, long side at most WORKING_SIDE."""
    source_size: tuple[int, int]
    source_format: str
    notes: list[str] = field(default_factory=list)

    def array(self) -> np.ndarray:
        return np.asarray(self.image)


def _sniff_unsupported(head: bytes) -> str | None:
    """Name formats members commonly send that Pillow cannot read, for a specific message."""
    if head[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftyphevc", b"ftypavif"):
        kind = "AVIF" if b"avif" in head[4:12] else "HEIC"
        return f"{kind} photos aren't supported yet: please send a JPEG or PNG."
    stripped = head.lstrip().lower()
    if stripped.startswith((b"<svg", b"<?xml")) and b"svg" in head.lower():
        return "SVG drawings can't be albumified: please send a photo (JPEG or PNG)."
    if stripped.startswith((b"<!doctype html", b"<html")):
        return "That file is a web page, not an image: please send a photo (JPEG or PNG)."
    return None


def decode_photo(
    data: bytes | str | os.PathLike[str],
    max_pixels: int = DEFAULT_MAX_PIXELS,
    working_side: int = WORKING_SIDE,
) -> Photo:
    """Decode bytes or a path into an RGB `Photo`, or raise `BadInput` saying why not."""
    if not isinstance(data, bytes | bytearray):
        try:
            data = Path(data).read_bytes()
        except OSError as exc:
            raise BadInput(f"Can't read {data}: {exc.strerror or exc}") from exc
    if not data:
        raise BadInput("That file is empty (0 bytes).")
    if (message := _sniff_unsupported(bytes(data[:64]))) is not None:
        raise BadInput(message)

    try:
        with warnings.catch_warnings():
            # Pillow warns from 89 MP and refuses from 179 MP. Our own, lower limit decides
            # "too large"; only what Pillow refuses outright is called a bomb.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            fmt = image.format or "?"
            if fmt not in SUPPORTED_FORMATS:
                raise BadInput(f"{fmt} images aren't supported: please send a {_SUPPORTED_TEXT}.")
            width, height = image.size
            if width * height > max_pixels:
                raise BadInput(
                    f"That image is too large ({width}×{height}, {width * height / 1e6:.0f} MP); "
                    f"the limit is {max_pixels / 1e6:.0f} MP."
                )
            if min(width, height) < MIN_SIDE:
                raise BadInput(
                    f"That image is too small ({width}×{height}); "
                    f"send one at least {MIN_SIDE}×{MIN_SIDE} pixels."
                )
            if max(width, height) > MAX_ASPECT * min(width, height):
                raise BadInput(
                    f"That image is too long and thin ({width}×{height}); "
                    f"send a photo at most {MAX_ASPECT}:1."
                )
            notes: list[str] = []
            if getattr(image, "is_animated", False):
                image.seek(0)
                notes.append("animated image: used its first frame")
            if fmt == "JPEG":
                # Draft mode decodes at 1/2, 1/4 or 1/8 scale inside libjpeg: the big speed win.
                image.draft("RGB", (working_side, working_side))
            image.load()
            image = ImageOps.exif_transpose(image) or image
            rgb = _to_rgb(image)
    except BadInput:
        raise
    except Image.DecompressionBombError as exc:
        raise BadInput("That image looks like a decompression bomb and was refused.") from exc
    except UnidentifiedImageError as exc:
        raise BadInput(f"That file isn't an image we can read: send a {_SUPPORTED_TEXT}.") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise BadInput("That image is truncated or corrupt and can't be read.") from exc

    if max(rgb.size) > working_side:
        rgb.thumbnail((working_side, working_side), Image.Resampling.LANCZOS, reducing_gap=2.0)
    return Photo(image=rgb, source_size=(width, height), source_format=fmt, notes=notes)


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any mode → RGB: transparency over a neutral grey, 16-bit and float rescaled."""
    mode = image.mode
    if mode in {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}:
        array = np.asarray(image, dtype=np.float32)
        low, high = float(array.min()), float(array.max())
        scale = 255.0 / (high - low) if high > low else 0.0
        grey = ((array - low) * scale).clip(0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if mode in {"LA", "PA"}:
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        background = Image.new("RGBA", image.size, (128, 128, 128, 255))
        return Image.alpha_composite(background, image).convert("RGB")
    if image.mode == "RGB":
        return image.copy()
    return image.convert("RGB")


def encode_kept_photo(photo: Photo, max_bytes: int) -> bytes:
    """The validated working image as a JPEG of at most `max_bytes`: what a re-roll decodes
    (the upload itself may be 25 MiB and is never kept)."""
    return encode_cover(photo.image, "jpeg", max_bytes=max_bytes)


_FORMATS = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "webp": "WEBP"}


def encode_cover(image: Image.Image, fmt: str = "png", max_bytes: int | None = None) -> bytes:
    """Encode a cover; if it exceeds `max_bytes`, fall back to smaller JPEGs until it fits."""
    fmt = fmt.lower()
    if fmt not in _FORMATS:
        raise ValueError(f"unknown format {fmt!r}: use png, jpeg or webp")
    data = _encode(image, _FORMATS[fmt], quality=95 if fmt in {"jpeg", "jpg"} else 92)
    if max_bytes is None or len(data) <= max_bytes:
        return data
    candidate = image
    for quality in (90, 82, 74, 66, 58, 50):
        data = _encode(candidate, "JPEG", quality=quality)
        if len(data) <= max_bytes:
            return data
    while len(data) > max_bytes and min(candidate.size) > 64:
        candidate = candidate.resize((candidate.width * 3 // 4, candidate.height * 3 // 4))
        data = _encode(candidate, "JPEG", quality=70)
    if len(data) > max_bytes:
        raise ValueError(f"cannot fit the cover into {max_bytes} bytes")
    return data


def _encode(image: Image.Image, pil_format: str, quality: int) -> bytes:
    buffer = io.BytesIO()
    options: dict[str, object] = {}
    if pil_format == "JPEG":
        # 4:4:4: chroma subsampling smears coloured lettering. No optimize/progressive: they
        # cost 6× the encode time (~40 ms at 1024 px) for 7 % fewer bytes.
        options = {"quality": quality, "subsampling": 0}
    elif pil_format == "WEBP":
        options = {"quality": quality, "method": 4}
    elif pil_format == "PNG":
        options = {"compress_level": 6}
    image.convert("RGB").save(buffer, pil_format, **options)
    return buffer.getvalue()
