"""A contact sheet of the cut-outs: every real photo (tests/photos.py), its matte over a
checkerboard, which cut-out made it and how many faces the detector finds in it.

    python -m bench.matte_sheet /tmp/mattes.png [--detector blazeface|mtcnn]

For looking at, as a member would: a neighbour's face or arm in a cut-out, a blob of
background, a rectangle for a small face are visible here at once.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from models.backends import REGISTRY, LoadContext
from models.faces import main_face
from tests.photos import PHOTOS

TILE = 300


def checkerboard(height: int, width: int, cell: int = 12) -> np.ndarray:
    ys, xs = np.indices((height, width))
    light = ((ys // cell + xs // cell) % 2).astype(np.float32)
    return (150 + 60 * light)[..., None].repeat(3, axis=2)


def over_checkerboard(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    board = checkerboard(*alpha.shape)
    out = rgb.astype(np.float32) * alpha[..., None] + board * (1 - alpha[..., None])
    return out.astype(np.uint8)


def thumbnail(rgb: np.ndarray) -> Image.Image:
    image = Image.fromarray(rgb)
    image.thumbnail((TILE, TILE))
    return image


def render(out: Path, detector_name: str = "blazeface") -> list[str]:
    context = LoadContext(None, "cpu")
    detector = next(b for b in REGISTRY["faces"] if b.name == detector_name).load(context)
    chain = [b.load(context) for b in REGISTRY["cutout"] if b.weights_file is None]
    lines, rows = [], []
    for photo in PHOTOS:
        rgb = np.asarray(photo.image())
        faces = detector.detect(rgb)
        face = main_face(faces, (rgb.shape[1], rgb.shape[0]))
        used, alpha = "no face", np.zeros(rgb.shape[:2], np.float32)
        if face is not None:
            others = [f for f in faces if f is not face]
            for segmenter in chain:
                found = segmenter(rgb, face, others)
                if found is not None:
                    used, alpha = segmenter.name, found
                    break
        cut = over_checkerboard(rgb, alpha)
        in_cut = len(detector.detect(cut)) if face is not None else 0
        label = f"{photo.name}: {used}, {len(faces)} faces in photo, {in_cut} in cut-out"
        lines.append(label)
        rows.append((thumbnail(rgb), thumbnail(cut), label))
    columns = 3
    sheet = Image.new("RGB", (columns * 2 * TILE, -(-len(rows) // columns) * (TILE + 24)), "white")
    draw = ImageDraw.Draw(sheet)
    for n, (photo_tile, cut_tile, label) in enumerate(rows):
        x, y = (n % columns) * 2 * TILE, (n // columns) * (TILE + 24)
        sheet.paste(photo_tile, (x, y))
        sheet.paste(cut_tile, (x + TILE, y))
        draw.text((x + 4, y + TILE + 4), label, fill="black")
    sheet.save(out)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.matte_sheet")
    parser.add_argument("out", type=Path)
    parser.add_argument("--detector", default="blazeface")
    args = parser.parse_args()
    print("\n".join(render(args.out, args.detector)))


if __name__ == "__main__":
    main()
