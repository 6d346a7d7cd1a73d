"""Face detection with 5 landmarks: MTCNN, whose weights ship inside the facenet-pytorch wheel."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    import torch

DETECT_SIDE = 640
"""Detect on a copy whose long side is at most this: MTCNN's pyramid cost grows with area."""
MTCNN_MIN_SIDE = 24
"""MTCNN's smallest scale (12 px net, 20 px faces) needs this much image."""
OFF_CENTRE_WEIGHT = 0.8
"""How much a face's distance from the middle (over the half diagonal) discounts its area:
on crops made around one of several players (bench/bench_faces.py) 0.8 picks the player
with both detectors; 0.6 let BlazeFace's larger box of a neighbour in a corner win."""


@dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]
    """x0, y0, x1, y1 in the image's pixels."""
    landmarks: np.ndarray
    """[5, 2] float32: left eye, right eye, nose, left and right mouth corners."""
    score: float

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def centre(self) -> tuple[float, float]:
        return ((self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2)


class Detector(Protocol):
    """What the faces stage runs: MTCNN here, BlazeFace in `models.blazeface`."""

    name: str

    def detect(self, image: np.ndarray | Image.Image) -> list[Face]: ...

    def __call__(self, images: Sequence[np.ndarray | Image.Image]) -> list[list[Face]]: ...


def prominence(face: Face, image_size: tuple[int, int]) -> float:
    """How much a person would call this face the subject: large and near the centre."""
    width, height = image_size
    half_diagonal = math.hypot(width, height) / 2
    cx, cy = face.centre
    off_centre = math.hypot(cx - width / 2, cy - height / 2) / half_diagonal
    return face.width * face.height * (1.0 - OFF_CENTRE_WEIGHT * off_centre)


def by_prominence(faces: Sequence[Face], image_size: tuple[int, int]) -> list[Face]:
    """The faces most prominent first: face 1 is `main_face`, and the numbered preview and
    a cover built on "face N" count them in this order. Ties go to the box nearer the top
    left, so the order never depends on the detector's output order."""
    return sorted(faces, key=lambda face: (-prominence(face, image_size), face.box))


def main_face(faces: Sequence[Face], image_size: tuple[int, int]) -> Face | None:
    """The face a person would call the subject: large and near the centre."""
    ordered = by_prominence(faces, image_size)
    return ordered[0] if ordered else None


class FaceDetector:
    """Batched MTCNN. Faces smaller than `min_face` px (in the original image) are ignored."""

    name = "mtcnn"

    def __init__(
        self, device: torch.device | str = "cpu", min_face: int = 40, threshold: float = 0.92
    ):
        import torch  # MTCNN alone needs torch: the rest of this module is torch-free
        from facenet_pytorch import MTCNN

        self.device = torch.device(device)
        self.min_face = min_face
        self.threshold = threshold
        self._mtcnn = MTCNN(
            keep_all=True,
            device=self.device,
            min_face_size=20,
            post_process=False,
            select_largest=False,
        )

    @classmethod
    def load(cls, weights_dir: object = None, device: torch.device | str = "cpu") -> FaceDetector:
        return cls(device=device)

    def __call__(self, images: Sequence[np.ndarray | Image.Image]) -> list[list[Face]]:
        return [self.detect(image) for image in images]

    def detect(self, image: np.ndarray | Image.Image) -> list[Face]:
        import torch

        with torch.inference_mode():
            return self._detect(image)

    def _detect(self, image: np.ndarray | Image.Image) -> list[Face]:
        pil = image if isinstance(image, Image.Image) else Image.fromarray(image)
        scale = min(1.0, DETECT_SIDE / max(pil.size))
        small = (
            pil
            if scale == 1.0
            else pil.resize(
                (max(1, round(pil.width * scale)), max(1, round(pil.height * scale))),
                Image.Resampling.BILINEAR,
            )
        )
        if min(small.size) < MTCNN_MIN_SIDE:  # MTCNN's image pyramid would be empty
            return []
        boxes, scores, points = self._mtcnn.detect(small, landmarks=True)
        if boxes is None:
            return []
        faces = []
        for box, score, landmarks in zip(boxes, scores, points, strict=True):
            if score is None or score < self.threshold:
                continue
            box = np.asarray(box, dtype=np.float32) / scale
            x0, y0 = max(0.0, float(box[0])), max(0.0, float(box[1]))
            x1, y1 = min(float(pil.width), float(box[2])), min(float(pil.height), float(box[3]))
            if min(x1 - x0, y1 - y0) < self.min_face:
                continue
            faces.append(
                Face(
                    (x0, y0, x1, y1), np.asarray(landmarks, dtype=np.float32) / scale, float(score)
                )
            )
        return faces
