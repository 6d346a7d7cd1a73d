"""64-bit DCT perceptual hash: the same cover re-encoded, resized or lightly retouched hashes
to within a few bits, so a library scraped from several sources keeps one copy of each."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

HASH_SIDE = 32
"""The image is reduced to 32×32 grey before the DCT; the hash keeps its 8×8 lowest bands."""
DEFAULT_MAX_DISTANCE = 6
"""Hamming distance at or below which two covers count as the same cover (of 64 bits)."""


def phash(image: np.ndarray | Image.Image) -> int:
    """The 64-bit pHash of an RGB image: bit i = DCT coefficient i above the median."""
    rgb = np.asarray(image.convert("RGB")) if isinstance(image, Image.Image) else image
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    small = cv2.resize(grey, (HASH_SIDE, HASH_SIDE), interpolation=cv2.INTER_AREA)
    coefficients = cv2.dct(small.astype(np.float32))[:8, :8].reshape(-1)
    # The DC term is the mean brightness: leave it out of the median so it cannot skew it.
    bits = coefficients > np.median(coefficients[1:])
    return int(np.packbits(bits).view(">u8")[0])


def to_hex(value: int) -> str:
    return f"{value:016x}"


def from_hex(text: str) -> int:
    return int(text, 16)


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


class NearDuplicateFilter:
    """Remembers hashes and answers "is this a near-duplicate of one seen before?"

    Hashes live in one uint64 array, so each check is a vectorised XOR + popcount: fast
    enough for libraries of tens of thousands of covers without a BK-tree.
    """

    def __init__(self, max_distance: int = DEFAULT_MAX_DISTANCE):
        self.max_distance = max_distance
        self._hashes = np.zeros(1024, dtype=np.uint64)
        self._owners: list[str] = []

    def __len__(self) -> int:
        return len(self._owners)

    def find(self, value: int) -> str | None:
        """The owner (e.g. a path) of a stored hash within `max_distance`, if any."""
        count = len(self._owners)
        if not count:
            return None
        distances = np.bitwise_count(self._hashes[:count] ^ np.uint64(value))
        best = int(np.argmin(distances))
        return self._owners[best] if distances[best] <= self.max_distance else None

    def add(self, value: int, owner: str) -> None:
        count = len(self._owners)
        if count == len(self._hashes):
            self._hashes = np.concatenate([self._hashes, np.zeros_like(self._hashes)])
        self._hashes[count] = np.uint64(value)
        self._owners.append(owner)
