"""Test images generated at test time: the odd inputs members send, and faces to find."""

from __future__ import annotations

import functools
import io
from pathlib import Path

import numpy as np
from PIL import Image

EXAMPLE = Path(__file__).resolve().parent.parent / "devtools" / "data" / "astronaut.png"


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


def twenty_faces(side: int = 1024) -> Image.Image:
    """A cover-sized photo holding twenty faces (a 5×4 grid of the astronaut's face)."""
    canvas = Image.new("RGB", (side, side), (30, 30, 36))
    face = astronaut().crop((150, 40, 300, 200))
    cell_w, cell_h = side // 5, side // 4
    tile = face.resize((cell_w - 8, cell_h - 8))
    for row in range(4):
        for col in range(5):
            canvas.paste(tile, (col * cell_w + 4, row * cell_h + 4))
    return canvas


def gif_js_polyglot() -> bytes:
    """A GIF that is also JavaScript: the screen width bytes open a comment (`GIF89a/*`)."""
    gif = bytearray(encode(gradient(160, 120).convert("P"), "GIF"))
    gif[6:8] = b"/*"  # logical screen width 0x2a2f: huge but still a GIF header
    return bytes(gif) + b"*/=1;alert(document.domain);//"


def apng() -> bytes:
    frames = [gradient(), Image.new("RGB", (320, 240), "green")]
    return encode(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=100)


def zip_bytes() -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("payload.txt", "not an image\n" * 100)
    return buffer.getvalue()


@functools.cache
def more_bad_inputs() -> dict[str, bytes]:
    """More inputs that must be refused (beyond `bad_inputs`)."""
    return {
        "one-by-one": encode(Image.new("RGB", (1, 1), "white"), "PNG"),
        "100-megapixel": encode(Image.new("1", (10_000, 10_000)), "PNG"),
        "html-named-jpg": b"<html><head><title>photo.jpg</title></head><body>x</body></html>",
        "zip": zip_bytes(),
        "random-bytes": np.random.default_rng(7).integers(0, 256, 4096, np.uint8).tobytes(),
    }


@functools.cache
def more_fine_inputs() -> dict[str, bytes]:
    """More odd inputs that must become covers (beyond `odd_but_fine_inputs`)."""
    jpeg = encode(astronaut(), "JPEG", quality=85)
    i16 = Image.fromarray((np.arange(200 * 300).reshape(200, 300) * 7 % 65535).astype(np.uint16))
    inputs = {
        "jpeg-with-zip-appended": jpeg + zip_bytes(),
        "jpeg-with-html-appended": jpeg + b"<html><script>alert(1)</script></html>",
        "png-with-html-appended": encode(gradient(), "PNG") + b"<script>alert(1)</script>",
        "apng": apng(),
        "p-mode-png": encode(gradient().convert("P"), "PNG"),
        "i16-mode-png": encode(i16.convert("I;16"), "PNG"),
        "twenty-faces": encode(twenty_faces(), "JPEG", quality=88),
    }
    for orientation in range(1, 9):
        inputs[f"exif-orientation-{orientation}"] = exif_rotated(orientation)
    return inputs


EITHER_INPUTS = {"gif-js-polyglot": gif_js_polyglot}
"""Inputs that may become a cover or a specific refusal, never a crash or a generic error."""
