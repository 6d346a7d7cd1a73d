"""64-bit DCT perceptual hash: the same cover re-encoded, resized or lightly retouched hashes
to within a few bits, so a library scraped from several sources keeps one copy of each.

pHash sees only grey structure: two covers from one template in different colours (a series,
a plain gradient) hash alike. A 12-number colour signature (mean RGB of each quadrant) keeps
them apart: a near-duplicate must match in both."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

HASH_SIDE = 32
"""The image is reduced to 32×32 grey before the DCT; the hash keeps its 8×8 lowest bands."""
DEFAULT_MAX_DISTANCE = 6
"""Hamming distance at or below which two covers count as the same cover (of 64 bits)."""
COLOUR_TOLERANCE = 24
"""Largest difference of any quadrant's mean R, G or B (0–255) between two duplicates;
re-encoding and resizing move these by 1–3."""


def phash(image: np.ndarray | Image.Image) -> int:
    """The 64-bit pHash of an RGB image: bit i = DCT coefficient i above the median."""
    rgb = np.asarray(image.convert("RGB")) if isinstance(image, Image.Image) else image
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    small = cv2.resize(grey, (HASH_SIDE, HASH_SIDE), interpolation=cv2.INTER_AREA)
    coefficients = cv2.dct(small.astype(np.float32))[:8, :8].reshape(-1)
    # The DC term is the mean brightness: leave it out of the median so it cannot skew it.
    bits = coefficients > np.median(coefficients[1:])
    return int(np.packbits(bits).view(">u8")[0])


def colour_signature(image: np.ndarray | Image.Image) -> list[int]:
    """Mean RGB of each quadrant (top-left, top-right, bottom-left, bottom-right): 12 ints."""
    rgb = np.asarray(image.convert("RGB")) if isinstance(image, Image.Image) else image
    quadrants = cv2.resize(np.ascontiguousarray(rgb), (2, 2), interpolation=cv2.INTER_AREA)
    return [int(v) for v in quadrants.reshape(-1)]


def to_hex(value: int) -> str:
    return f"{value:016x}"


def from_hex(text: str) -> int:
    return int(text, 16)


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


class NearDuplicateFilter:
    """Remembers covers and answers "is this a near-duplicate of one seen before?"

    Hashes live in one uint64 array, so each check is a vectorised XOR + popcount: fast
    enough for libraries of tens of thousands of covers without a BK-tree. Covers stored
    without a colour signature (older indexes) are matched by hash alone.
    """

    def __init__(
        self, max_distance: int = DEFAULT_MAX_DISTANCE, colour_tolerance: int = COLOUR_TOLERANCE
    ):
        self.max_distance = max_distance
        self.colour_tolerance = colour_tolerance
        self._hashes = np.zeros(1024, dtype=np.uint64)
        self._colours = np.full((1024, 12), -1, dtype=np.int16)
        self._owners: list[str] = []

    def __len__(self) -> int:
        return len(self._owners)

    def find(self, value: int, colour: list[int] | None = None) -> str | None:
        """The owner (e.g. a path) of a stored cover within `max_distance` bits and, where
        both have a colour signature, within `colour_tolerance`; the closest if several."""
        count = len(self._owners)
        if not count:
            return None
        distances = _popcount(self._hashes[:count] ^ np.uint64(value))
        close = np.flatnonzero(distances <= self.max_distance)
        if colour is not None and len(close):
            stored = self._colours[close]
            unknown = stored[:, 0] < 0
            difference = np.abs(stored - np.asarray(colour, dtype=np.int16)).max(axis=1)
            close = close[unknown | (difference <= self.colour_tolerance)]
        if not len(close):
            return None
        return self._owners[int(close[np.argmin(distances[close])])]

    def add(self, value: int, owner: str, colour: list[int] | None = None) -> None:
        count = len(self._owners)
        if count == len(self._hashes):
            self._hashes = np.concatenate([self._hashes, np.zeros_like(self._hashes)])
            self._colours = np.concatenate([self._colours, np.full_like(self._colours, -1)])
        self._hashes[count] = np.uint64(value)
        if colour is not None:
            self._colours[count] = colour
        self._owners.append(owner)


_BYTE_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def _popcount(values: np.ndarray) -> np.ndarray:
    """Set bits per uint64 (numpy ≥ 2 has a ufunc; pyproject allows numpy 1.26)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(values)
    return _BYTE_POPCOUNT[values.view(np.uint8)].reshape(-1, 8).sum(axis=1)
