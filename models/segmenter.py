"""Person cutout: a soft alpha matte of the member, seeded by their face.

`GrabCutSegmenter` is the embedded default (OpenCV, no weights). A neural segmenter lives
beside it with the same call: `segmenter(image, face) -> alpha float32 [H, W] in [0, 1]`,
or None when it finds no person (the pipeline then falls back, per photo).
"""

from __future__ import annotations

from typing import Protocol

import cv2
import numpy as np

from models.faces import Face

WORK_SIDE = 320
"""GrabCut runs on a copy this size: its graph cut is the slow part, and edges are refined
at full resolution afterwards."""


class Segmenter(Protocol):
    name: str

    def __call__(self, image: np.ndarray, face: Face | None) -> np.ndarray | None: ...


def person_box(face: Face, width: int, height: int) -> tuple[int, int, int, int]:
    """Where a person whose face is `face` probably is: head, shoulders and torso below."""
    fw, fh = face.width, face.height
    cx = (face.box[0] + face.box[2]) / 2
    x0 = max(0, int(cx - 1.8 * fw))
    x1 = min(width, int(cx + 1.8 * fw))
    y0 = max(0, int(face.box[1] - 0.6 * fh))
    y1 = height
    return x0, y0, x1, y1


def feather(mask: np.ndarray, radius: float) -> np.ndarray:
    """Soft edges: blur a hard matte so composites don't look cut with scissors."""
    radius = max(1, round(radius))
    size = 2 * radius + 1
    return np.clip(cv2.GaussianBlur(mask.astype(np.float32), (size, size), radius / 2), 0, 1)


class GrabCutSegmenter:
    name = "grabcut"

    def __init__(self, iterations: int = 4):
        self.iterations = iterations

    @classmethod
    def load(cls, weights_dir: object = None, device: object = None) -> GrabCutSegmenter:
        return cls()

    def __call__(self, image: np.ndarray, face: Face | None) -> np.ndarray | None:
        if face is None:
            return None
        height, width = image.shape[:2]
        scale = min(1.0, WORK_SIDE / max(height, width))
        small = cv2.resize(
            image,
            (max(1, round(width * scale)), max(1, round(height * scale))),
            interpolation=cv2.INTER_AREA,
        )
        sh, sw = small.shape[:2]
        mask = np.full((sh, sw), cv2.GC_BGD, np.uint8)
        x0, y0, x1, y1 = (int(v * scale) for v in person_box(face, width, height))
        mask[y0:y1, x0:x1] = cv2.GC_PR_BGD
        # The torso column under the face is probably the person; the face itself surely is.
        fx0, fy0, fx1, fy1 = (v * scale for v in face.box)
        fw, fh = fx1 - fx0, fy1 - fy0
        tx0, tx1 = int(fx0 - 0.3 * fw), int(fx1 + 0.3 * fw)
        mask[int(fy0) : y1, max(0, tx0) : min(sw, tx1)] = cv2.GC_PR_FGD
        mask[_span(fy0 + 0.15 * fh, fy1 - 0.05 * fh), _span(fx0 + 0.15 * fw, fx1 - 0.15 * fw)] = (
            cv2.GC_FGD
        )
        # The chest just below the chin is the person too, whatever colour their clothes are.
        chest_bottom = min(sh, fy1 + 1.6 * fh)
        mask[_span(fy1 + 0.3 * fh, chest_bottom), _span(fx0 + 0.1 * fw, fx1 - 0.1 * fw)] = (
            cv2.GC_FGD
        )
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
        # GrabCut seeds its colour models with k-means on OpenCV's global RNG: reset it so
        # the same photo always gives the same cutout (and the same seed the same bytes).
        cv2.setRNGSeed(0)
        try:
            cv2.grabCut(bgr, mask, None, bgd, fgd, self.iterations, cv2.GC_INIT_WITH_MASK)
        except cv2.error:
            return None
        hard = np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)
        hard = _keep_component_with(hard, (int((fx0 + fx1) / 2), int((fy0 + fy1) / 2)))
        if hard.sum() < 0.5 * fw * fh:
            return None
        hard = cv2.morphologyEx(hard, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
        alpha = cv2.resize(hard.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
        return feather(alpha, radius=max(2.0, face.width * 0.04))


def _span(start: float, stop: float) -> slice:
    return slice(max(0, int(start)), max(0, int(stop)))


def _keep_component_with(mask: np.ndarray, point: tuple[int, int]) -> np.ndarray:
    """Drop islands: keep the connected region that holds the face (or the largest)."""
    count, labels = cv2.connectedComponents(mask, connectivity=8)
    if count <= 2:
        return mask
    x = min(max(point[0], 0), mask.shape[1] - 1)
    y = min(max(point[1], 0), mask.shape[0] - 1)
    label = labels[y, x]
    if label == 0:
        sizes = np.bincount(labels.reshape(-1))[1:]
        label = int(np.argmax(sizes)) + 1
    return (labels == label).astype(np.uint8)
