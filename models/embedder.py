"""Image embedders for cover similarity, each producing L2-normalised vectors.

The classic descriptor needs no weights and is always available; neural embedders live beside
it behind the same interface (`name`, `version`, `dim`, batched `__call__`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Protocol

import cv2
import numpy as np
from PIL import Image

from index.library import l2_normalise


class Embedder(Protocol):
    name: str
    version: str
    dim: int

    def __call__(self, images: Sequence[np.ndarray | Image.Image]) -> np.ndarray:
        """RGB images → float32 [B, dim], rows L2-normalised."""
        ...


def _rgb_array(image: np.ndarray | Image.Image, side: int) -> np.ndarray:
    if isinstance(image, Image.Image):
        image = np.asarray(image.convert("RGB"))
    return cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)


class ClassicEmbedder:
    """Colour, layout and texture in one vector: what makes two covers look alike at a glance.

    - colour: a soft Lab histogram (4 L × 6 a × 6 b bins), square-rooted (Hellinger);
    - layout: mean Lab of a 4×4 grid, so "dark top, bright bottom" matches;
    - texture: gradient-orientation histograms of a 2×2 grid plus edge density, so flat
      posters and busy photographs separate.
    Blocks are normalised separately and weighted before the final normalisation.
    """

    name = "classic-v1"
    version = "1"
    side = 96
    _weights: ClassVar[dict[str, float]] = {"colour": 1.0, "layout": 0.8, "texture": 0.6}

    def __init__(self) -> None:
        self.dim = 4 * 6 * 6 + 4 * 4 * 3 + 2 * 2 * 8 + 4

    @classmethod
    def load(cls, weights_dir: object = None, device: object = None) -> ClassicEmbedder:
        return cls()

    def __call__(self, images: Sequence[np.ndarray | Image.Image]) -> np.ndarray:
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._describe(_rgb_array(image, self.side)) for image in images])

    def _describe(self, rgb: np.ndarray) -> np.ndarray:
        lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
        colour = cv2.calcHist(
            [lab.astype(np.uint8)], [0, 1, 2], None, [4, 6, 6], [0, 256, 0, 256, 0, 256]
        ).reshape(-1)
        colour = np.sqrt(colour / max(colour.sum(), 1.0))

        grid = cv2.resize(lab, (4, 4), interpolation=cv2.INTER_AREA).reshape(-1) / 255.0
        layout = grid - grid.mean()

        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
        gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
        magnitude = np.hypot(gx, gy)
        orientation = (np.arctan2(gy, gx) % np.pi) / np.pi * 8
        bins = np.minimum(orientation.astype(np.int32), 7)
        half = self.side // 2
        texture_blocks = []
        for y in (0, half):
            for x in (0, half):
                cell_bins = bins[y : y + half, x : x + half].reshape(-1)
                cell_mag = magnitude[y : y + half, x : x + half].reshape(-1)
                texture_blocks.append(np.bincount(cell_bins, weights=cell_mag, minlength=8))
        texture = np.sqrt(np.concatenate(texture_blocks))
        edge_density = np.array(
            [(magnitude > t).mean() for t in (0.05, 0.15, 0.3, 0.5)], dtype=np.float32
        )
        texture = np.concatenate([l2_normalise(texture), edge_density])

        blocks = [
            self._weights["colour"] * l2_normalise(colour),
            self._weights["layout"] * l2_normalise(layout),
            self._weights["texture"] * l2_normalise(texture),
        ]
        return l2_normalise(np.concatenate(blocks).astype(np.float32))
