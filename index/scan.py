"""Scanning one file for the index: decode, de-duplicate, find its face, describe it.

`Scanner.scan` decides, file by file, whether a cover goes into the index: unreadable files
are reported, near-duplicates of a kept cover (pHash + colour) skipped, covers without a usable
face skipped unless asked to keep them; a kept cover comes back with its record and pixels.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from albumify.errors import BadInput
from index.library import CoverRecord, FaceRecord
from index.phash import NearDuplicateFilter, colour_signature, phash, to_hex
from index.sources import SourceImage
from index.style import placement_for_face, typography_style

DECODE_SIDE = 1024
"""Covers are decoded to at most this long side: enough for faces and every embedder."""
DETECT_FACE_PX = 28
"""Faces are searched for on a copy where a `--min-face` face is this many pixels: MTCNN
finds faces down to 20 px, and a smaller image is a faster detection."""


@dataclass
class Scanned:
    source: SourceImage
    status: str
    """kept | duplicate | no_face | unreadable | already"""
    reason: str = ""
    record: CoverRecord | None = None
    image: np.ndarray | None = None
    phash: str | None = None
    colour: list[int] | None = None
    """Hash and colour of every decoded file, so a resumed build dedups as a fresh one."""

    def entry(self) -> dict[str, Any]:
        """How the work dir remembers this file (see index.workdir)."""
        return {
            "path": str(self.source.path),
            "status": self.status,
            "reason": self.reason,
            "record": asdict(self.record) if self.record else None,
            "phash": self.phash,
            "colour": self.colour,
        }


class Scanner:
    """Decides, file by file, whether a cover goes into the index and describes it."""

    def __init__(
        self, min_face: int, keep_faceless: bool, detector: Any, known: NearDuplicateFilter
    ):
        self.min_face = min_face
        """Smallest usable face, in the cover's pixels (the shorter side of the face box)."""
        self.keep_faceless = keep_faceless
        self.detector = detector
        self.known = known

    def scan(self, source: SourceImage) -> Scanned:
        from imaging.photo import decode_photo
        from models.faces import main_face

        try:
            photo = decode_photo(source.path, working_side=DECODE_SIDE)
        except BadInput as exc:
            return Scanned(source, "unreadable", str(exc))
        rgb = photo.array()
        value, colour = phash(rgb), colour_signature(rgb)
        original = self.known.find(value, colour)
        if original is not None:
            return Scanned(
                source,
                "duplicate",
                f"near-duplicate of {original}",
                phash=to_hex(value),
                colour=colour,
            )
        self.known.add(value, str(source.path), colour)

        height, width = rgb.shape[:2]
        to_source = max(photo.source_size) / max(width, height)
        faces = [
            f
            for f in self._detect(rgb, to_source)
            if min(f.width, f.height) * to_source >= self.min_face
        ]
        face = main_face(faces, (width, height))
        if face is None and not self.keep_faceless:
            return Scanned(source, "no_face", "no usable face", phash=to_hex(value), colour=colour)
        face_record = None
        if face is not None:
            face_record = FaceRecord(
                box=[round(v * to_source, 2) for v in face.box],
                landmarks=[[round(float(v) * to_source, 2) for v in p] for p in face.landmarks],
                score=round(face.score, 4),
            )
        record = CoverRecord(
            library_id=library_id_for(source.path),
            path=str(source.path),
            width=round(width * to_source),
            height=round(height * to_source),
            genre=source.genre,
            artist=source.artist,
            title=source.title,
            face=face_record,
            phash=to_hex(value),
            colour=colour,
            placement=placement_for_face(face.box if face else None, width, height),
            style=typography_style(rgb, face.box if face else None, source.genre),
        )
        return Scanned(source, "kept", record=record, image=rgb, phash=to_hex(value), colour=colour)

    def _detect(self, rgb: np.ndarray, to_source: float) -> list[Any]:
        """Faces in `rgb`'s pixels, detected on a copy shrunk so that the smallest usable face
        is about `DETECT_FACE_PX`: MTCNN's image pyramid costs in proportion to the area."""
        from models.faces import Face

        if self.detector is None:
            return []
        scale = min(1.0, DETECT_FACE_PX * to_source / self.min_face)
        if scale >= 0.95:
            return self.detector.detect(rgb)
        height, width = rgb.shape[:2]
        small = cv2.resize(
            rgb, (max(1, round(width * scale)), max(1, round(height * scale))),
            interpolation=cv2.INTER_AREA,
        )  # fmt: skip
        return [
            Face(tuple(v / scale for v in f.box), f.landmarks / scale, f.score)
            for f in self.detector.detect(small)
        ]


def library_id_for(path: Path) -> str:
    """Stable across rebuilds (re-roll exclusions stay valid): derived from the cover's path."""
    return "c" + hashlib.sha1(str(path).encode("utf-8")).hexdigest()[:15]
