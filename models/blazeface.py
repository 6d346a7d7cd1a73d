"""BlazeFace (MediaPipe's face detector) under LiteRT: faces and the same 5 landmarks as MTCNN.

The model sees the photo letterboxed into a square (`full_range_sparse`: 192 px, faces up to
about 5 m away; `short_range`: 128 px, selfie distance), pixels in [-1, 1]. It scores a fixed
grid of SSD anchors; each hit carries a box and 6 keypoints (the subject's right eye, left
eye, nose tip, mouth centre, right and left ear) as offsets from its anchor, and overlapping
hits are merged by score-weighted averaging. These facts are MediaPipe's graph configs
(`modules/face_detection/*.pbtxt`, `SsdAnchorsCalculator`, `TensorsToDetectionsCalculator`).

MTCNN's 5 landmarks are the eyes, the nose and the two mouth corners, image-left first; the
mouth corners are derived from the mouth centre along the eye line at the proportion of the
standard 5-point face template, so `models.align` (which uses the eyes and the mouth's
midpoint) and indexes built with MTCNN stay valid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from models.faces import Face
from models.litert import LiteRTModel, square_window

MOUTH_HALF_WIDTH = 0.414
"""Half the mouth's width over the eye distance in the 5-point template (ArcFace's
112×112 reference points: mouth corners 29.2 px apart, eyes 35.2 px)."""


@dataclass(frozen=True)
class Variant:
    file: str
    side: int
    strides: tuple[int, ...]
    interpolated_anchors: bool
    min_score: float


FULL_RANGE = Variant("face_detection_full_range_sparse.tflite", 192, (4,), False, 0.6)
SHORT_RANGE = Variant("face_detection_short_range.tflite", 128, (8, 16, 16, 16), True, 0.5)
NMS_IOU = 0.3
CONTAINED = 0.6
"""A hit with this share of its box inside a kept face is part of that face."""
TILE_ABOVE = 2
"""Also look in the photo's quarters when its long side is over this many model inputs."""
TILE_SHARE = 0.6
"""Each quarter's share of the photo's width and height (they overlap by a fifth)."""


def anchor_centres(variant: Variant) -> np.ndarray:
    """[N, 2] anchor centres in [0, 1], in the model's output order (fixed-size anchors)."""
    groups, start = [], 0
    while start < len(variant.strides):
        stride = variant.strides[start]
        same = 1
        while start + same < len(variant.strides) and variant.strides[start + same] == stride:
            same += 1
        per_cell = same * (2 if variant.interpolated_anchors else 1)
        cells = math.ceil(variant.side / stride)
        ys, xs = np.mgrid[0:cells, 0:cells]
        centres = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], -1).reshape(-1, 2)
        groups.append(np.repeat(centres, per_cell, axis=0))
        start += same
    return np.concatenate(groups).astype(np.float32)


def weighted_nms(
    boxes: np.ndarray, points: np.ndarray, scores: np.ndarray, iou: float
) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """MediaPipe's WEIGHTED suppression: each kept face is the score-weighted mean of the
    hits that overlap the best remaining one, and keeps the best one's score. A hit lying
    mostly inside the kept one (a part of the face, seen from a photo's quarter) is dropped."""
    order = np.argsort(-scores)
    kept = []
    while len(order):
        best = order[0]
        x0 = np.maximum(boxes[best, 0], boxes[order, 0])
        y0 = np.maximum(boxes[best, 1], boxes[order, 1])
        x1 = np.minimum(boxes[best, 2], boxes[order, 2])
        y1 = np.minimum(boxes[best, 3], boxes[order, 3])
        inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        overlap = inter / np.maximum(area[best] + area[order] - inter, 1e-9)
        group = order[overlap > iou]
        weights = scores[group][:, None]
        box = (boxes[group] * weights).sum(0) / weights.sum()
        pts = (points[group] * weights[:, :, None]).sum(0) / weights.sum()
        kept.append((box, pts, float(scores[best])))
        inside = inter / np.maximum(area[order], 1e-9) > CONTAINED
        order = order[(overlap <= iou) & ~inside]
    return kept


def five_landmarks(keypoints: np.ndarray) -> np.ndarray:
    """BlazeFace's 6 keypoints → MTCNN's 5: eyes image-left first, nose, mouth corners."""
    right_eye, left_eye, nose, mouth = keypoints[:4]
    eyes = sorted((right_eye, left_eye), key=lambda p: p[0])
    across = (eyes[1] - eyes[0]) * MOUTH_HALF_WIDTH
    return np.stack([eyes[0], eyes[1], nose, mouth - across, mouth + across]).astype(np.float32)


class BlazeFaceDetector:
    """Faces with 5 landmarks; the same call and `Face`s as `models.faces.FaceDetector`."""

    name = "blazeface"

    def __init__(self, variant: Variant = FULL_RANGE, min_face: int = 40):
        self.variant = variant
        self.min_face = min_face
        self.model = LiteRTModel.from_mediapipe(f"face_detection/{variant.file}")
        self.anchors = anchor_centres(variant)
        if self.model.output_shapes[0][:2] != (len(self.anchors), 16):
            raise ValueError(f"{variant.file}: its outputs do not match {variant}'s anchors")

    @classmethod
    def load(cls, weights_dir: object = None, device: object = None) -> BlazeFaceDetector:
        return cls()

    def __call__(self, images: Sequence[np.ndarray | Image.Image]) -> list[list[Face]]:
        return [self.detect(image) for image in images]

    def detect(self, image: np.ndarray | Image.Image) -> list[Face]:
        """Faces in the whole photo and, when it is large, in four overlapping quarters:
        192 px shrinks the faces of a group photo below what the model finds."""
        rgb = np.asarray(image.convert("RGB")) if isinstance(image, Image.Image) else image
        height, width = rgb.shape[:2]
        windows = [(0, 0, width, height)]
        if max(width, height) > TILE_ABOVE * self.variant.side:
            tile_w, tile_h = round(width * TILE_SHARE), round(height * TILE_SHARE)
            windows += [
                (x0, y0, x0 + tile_w, y0 + tile_h)
                for y0 in (0, height - tile_h)
                for x0 in (0, width - tile_w)
            ]
        hits = [self._hits(rgb, window) for window in windows]
        boxes, points, scores = (np.concatenate(parts) for parts in zip(*hits, strict=True))
        faces = []
        for box, keypoints, score in weighted_nms(boxes, points, scores, NMS_IOU):
            x0, y0 = max(0.0, float(box[0])), max(0.0, float(box[1]))
            x1, y1 = min(float(width), float(box[2])), min(float(height), float(box[3]))
            if min(x1 - x0, y1 - y0) >= self.min_face:
                faces.append(Face((x0, y0, x1, y1), five_landmarks(keypoints), score))
        return faces

    def _hits(
        self, rgb: np.ndarray, window: tuple[int, int, int, int]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes [N, 4], keypoints [N, 6, 2] (photo px) and scores of one window's hits."""
        x0, y0, x1, y1 = window
        side = self.variant.side
        centre = ((x0 + x1) / 2, (y0 + y1) / 2)
        pixels, matrix = square_window(rgb, centre, max(x1 - x0, y1 - y0), side)
        raw, logits = self.model(pixels.astype(np.float32) / 127.5 - 1.0)
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits[:, 0], -30, 30)))
        hit = scores >= self.variant.min_score
        raw, anchors = raw[hit] / side, self.anchors[hit]
        # Window [0, 1] → photo px: the inverse of `matrix` (a scale and a shift).
        scale, shift = side / matrix[0, 0], -matrix[:, 2] / matrix[0, 0]
        centres, sizes = raw[:, :2] + anchors, raw[:, 2:4]
        boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], 1) * scale
        boxes += np.tile(shift, 2)
        points = (raw[:, 4:].reshape(-1, 6, 2) + anchors[:, None]) * scale + shift
        return boxes, points, scores[hit]


def draw_faces(image: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
    """The faces' boxes and landmarks drawn on a copy (for looking at detections)."""
    out = image.copy()
    for face in faces:
        x0, y0, x1, y1 = (round(v) for v in face.box)
        cv2.rectangle(out, (x0, y0), (x1, y1), (0, 255, 0), 2)
        for x, y in face.landmarks:
            cv2.circle(out, (round(float(x)), round(float(y))), 3, (255, 0, 0), -1)
    return out
