"""Test images generated at test time: the odd inputs members send, and faces to find."""

from __future__ import annotations

import functools
import io
from pathlib import Path

import numpy as np
from PIL import Image

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "astronaut.png"


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def gradient(width: int = 320, height: int = 240) -> Image.Image:
    ys, xs = np.mgrid[0:height, 0:width]
    rgb = np.stack([xs * 255 // width, ys * 255 // height, (xs + ys) * 127 // (width + height)], -1)
    return Image.fromarray(rgb.astype(np.uint8))


def astronaut() -> Image.Image:
    return Image.open(EXAMPLE).convert("RGB")


def group_photo() -> Image.Image:
    """The astronaut large in the middle and small copies in two corners."""
    canvas = Image.new("RGB", (900, 700), (40, 44, 52))
    main = astronaut().resize((420, 420))
    small = astronaut().crop((150, 40, 300, 200)).resize((110, 117))
    canvas.paste(main, (240, 200))
    canvas.paste(small, (10, 10))
    canvas.paste(small, (770, 10))
    return canvas


def exif_rotated(orientation: int) -> bytes:
    image = gradient(300, 200)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(image, "JPEG", exif=exif.tobytes())


@functools.cache
def bad_inputs() -> dict[str, bytes]:
    """Inputs that must be refused, each with a specific message."""
    png = encode(gradient(), "PNG")
    jpeg = encode(gradient(), "JPEG")
    return {
        "zero-bytes": b"",
        "truncated-jpeg": jpeg[: len(jpeg) // 3],
        "truncated-png": png[: len(png) // 2],
        "text": b"hello, this is not a picture\n" * 20,
        "html": b"<!DOCTYPE html><html><body><img src=x></body></html>",
        "svg": b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>',
        "heic": b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64,
        "tiny-8x8": encode(Image.new("RGB", (8, 8), "red"), "PNG"),
        "bomb": encode(Image.new("1", (20000, 20000)), "PNG"),
        "too-large-60mp": encode(Image.new("L", (8000, 7500)), "PNG"),
    }


@functools.cache
def odd_but_fine_inputs() -> dict[str, bytes]:
    """Unusual formats and modes that must decode to a usable RGB photo."""
    rgba = gradient().convert("RGBA")
    rgba.putalpha(128)
    palette = gradient().convert("P", palette=Image.Palette.ADAPTIVE)
    palette.info["transparency"] = 0
    frames = [gradient(), Image.new("RGB", (320, 240), "blue")]
    sixteen = Image.fromarray((np.arange(240 * 320).reshape(240, 320) % 65535).astype(np.uint16))
    return {
        "cmyk-jpeg": encode(gradient().convert("CMYK"), "JPEG"),
        "16-bit-png": encode(sixteen, "PNG"),
        "palette-transparency": encode(palette, "PNG", transparency=0),
        "rgba-png": encode(rgba, "PNG"),
        "la-png": encode(gradient().convert("LA"), "PNG"),
        "grey-jpeg": encode(gradient().convert("L"), "JPEG"),
        "animated-gif": encode(frames[0], "GIF", save_all=True, append_images=frames[1:]),
        "animated-webp": encode(frames[0], "WEBP", save_all=True, append_images=frames[1:]),
        "bmp": encode(gradient(), "BMP"),
        "tiff": encode(gradient(), "TIFF"),
        "webp": encode(gradient(), "WEBP"),
    }
