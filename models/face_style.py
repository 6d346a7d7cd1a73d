"""Face style: make the member look like they belong on the matched cover.

`ColourStyler` is the embedded default (Lab colour statistics, no weights). The neural twin,
pSp style mixing, has the same call: `styler(member, alpha, face, cover, cover_index_row)`.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from models.faces import Face
from worker.compose import alpha_bbox, lab_statistics, transfer_colour


class FaceStyler(Protocol):
    name: str

    def __call__(
        self,
        member: np.ndarray,
        alpha: np.ndarray,
        face: Face,
        cover: np.ndarray,
        cover_row: int | None,
    ) -> np.ndarray: ...


class ColourStyler:
    """AdaIN in Lab from the cover's palette onto the member's cutout."""

    name = "lab-adain"

    def __init__(self, strength: tuple[float, float, float] = (0.35, 0.65, 0.65)):
        self.strength = strength

    @classmethod
    def load(cls, weights_dir: object = None, device: object = None) -> ColourStyler:
        return cls()

    def __call__(
        self,
        member: np.ndarray,
        alpha: np.ndarray,
        face: Face,
        cover: np.ndarray,
        cover_row: int | None = None,
    ) -> np.ndarray:
        box = alpha_bbox(alpha, threshold=0.01)
        if box is None:
            return member
        # Only the cutout is shown: restyle its bounding box, not the whole photo.
        x0, y0, x1, y1 = box
        out = member.copy()
        out[y0:y1, x0:x1] = transfer_colour(
            member[y0:y1, x0:x1], lab_statistics(cover), self.strength, mask=alpha[y0:y1, x0:x1]
        )
        return out
