"""Finding cover images in source folders and what is known about each (genre, artist, title).

Known facts come, in order of trust, from a sidecar CSV (`covers.csv` or `metadata.csv` in
the image's folder or any folder above it up to the source root, columns file|path, artist,
title, genre), from the file name ("Artist - Title.jpg") and, with `genre_from_folders`, from
the first folder below the source root (the Kaggle "images labeled/<genre>/" layout).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from albumify.errors import UsageError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
SIDECAR_NAMES = ("covers.csv", "metadata.csv")


@dataclass(frozen=True)
class SourceImage:
    path: Path
    """Absolute: library covers stay where they are and the index points at them."""
    genre: str | None = None
    artist: str | None = None
    title: str | None = None


def discover(
    sources: Iterable[str | os.PathLike[str]],
    genre_from_folders: bool = False,
    skip_dirs: Iterable[Path] = (),
) -> Iterator[SourceImage]:
    """Every image file under `sources` (files or folders), in a stable sorted order."""
    skip = {Path(p).resolve() for p in skip_dirs}
    seen: set[Path] = set()
    for source in sources:
        root = Path(source).expanduser().resolve()
        if not root.exists():
            raise UsageError(f"Source {source} does not exist.")
        if root.is_file():
            candidates = [(root, root.parent)]
        else:
            # Sorted by path, not walk order: which of two duplicates is kept stays predictable.
            paths = sorted(_walk_images(root, skip), key=lambda p: p.relative_to(root).parts)
            candidates = [(path, root) for path in paths]
        sidecars: dict[Path, dict[str, dict[str, str]]] = {}
        for path, base in candidates:
            if path in seen:
                continue
            seen.add(path)
            yield _describe(path, base, genre_from_folders, sidecars)


def _walk_images(root: Path, skip: set[Path]) -> Iterator[Path]:
    for folder, dirnames, filenames in os.walk(root):
        here = Path(folder)
        # Hidden folders hold our own work files (an index's .build/) and tool clutter.
        dirnames[:] = sorted(
            d for d in dirnames if not d.startswith(".") and (here / d).resolve() not in skip
        )
        for name in sorted(filenames):
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES:
                yield here / name


def _describe(
    path: Path,
    base: Path,
    genre_from_folders: bool,
    sidecars: dict[Path, dict[str, dict[str, str]]],
) -> SourceImage:
    facts: dict[str, str] = {}
    if genre_from_folders and path.parent != base:
        facts["genre"] = path.relative_to(base).parts[0]
    artist, title = parse_file_name(path)
    if artist:
        facts["artist"] = artist
    if title:
        facts["title"] = title
    folder = path.parent
    while True:
        rows = sidecars.get(folder)
        if rows is None:
            rows = sidecars[folder] = read_sidecar(folder)
        row = rows.get(path.relative_to(folder).as_posix()) or rows.get(path.name)
        if row:
            facts.update({k: v for k, v in row.items() if v})
            break
        if folder == base or folder.parent == folder:
            break
        folder = folder.parent
    return SourceImage(path, facts.get("genre"), facts.get("artist"), facts.get("title"))


def parse_file_name(path: Path) -> tuple[str | None, str | None]:
    """ "Artist - Title.jpg" → (artist, title); anything else → (None, None)."""
    artist, sep, title = path.stem.partition(" - ")
    if not sep or not artist.strip() or not title.strip():
        return None, None
    return artist.strip(), title.strip()


def read_sidecar(folder: Path) -> dict[str, dict[str, str]]:
    """Rows of the folder's covers.csv / metadata.csv keyed by file (relative path or name)."""
    for name in SIDECAR_NAMES:
        path = folder / name
        if not path.is_file():
            continue
        rows: dict[str, dict[str, str]] = {}
        with path.open(encoding="utf-8-sig", newline="") as fh:
            for raw in csv.DictReader(fh):
                row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
                key = row.get("file") or row.get("path")
                if key:
                    rows[Path(key).as_posix()] = {
                        field: row.get(field, "") for field in ("artist", "title", "genre")
                    }
        return rows
    return {}
