"""NudeNet's nudity detector (`320n.onnx`) under onnxruntime: real weights that ship in a wheel.

The `nudenet==3.4.2` wheel holds the model file. It is installed with `--no-deps` and never
imported (its module imports OpenCV's DNN helpers we do not need); the file is found through
the installed distribution instead. Its licence: the wheel's metadata says MIT, the LICENSE
file inside it is AGPL-3.0 — we treat it as AGPL-3.0 (as this project is).

The facts below are nudenet's own (`nudenet/nudenet.py` of that release); the code is ours:
- input `images` float32 [batch, 3, 320, 320], RGB in [0, 1]; the photo is padded with black
  on the right or at the bottom to a square, then resized to 320 (content at the top left);
- output `output0` [batch, 4 + 18, 2100], YOLOv8's layout: per anchor a box (centre x, centre
  y, width, height in input pixels) and one score per class (already in [0, 1], no
  objectness); nudenet keeps anchors whose best class scores ≥ 0.2, then NMS at IoU 0.45;
- the 18 classes in `LABELS` order.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from albumify.errors import MissingAsset
from models.litert import default_threads

NUDENET = "nudenet==3.4.2"
INSTALL_HINT = f"install it with: pip install --no-deps {NUDENET} onnxruntime"
MODEL_FILE = "nudenet/320n.onnx"
INPUT_SIDE = 320

LABELS: tuple[str, ...] = (
    "FEMALE_GENITALIA_COVERED",
    "FACE_FEMALE",
    "BUTTOCKS_EXPOSED",
    "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_BREAST_EXPOSED",
    "ANUS_EXPOSED",
    "FEET_EXPOSED",
    "BELLY_COVERED",
    "FEET_COVERED",
    "ARMPITS_COVERED",
    "ARMPITS_EXPOSED",
    "FACE_MALE",
    "BELLY_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "ANUS_COVERED",
    "FEMALE_BREAST_COVERED",
    "BUTTOCKS_COVERED",
)
"""The detector's classes in the order of its score rows (nudenet's `__labels`)."""

MIN_SCORE = 0.2
"""Anchors below this best-class score are not detections (nudenet's cut-off)."""
NMS_IOU = 0.45


def model_file() -> Path:
    """`nudenet/320n.onnx` from the installed wheel, without importing nudenet."""
    try:
        distribution = importlib.metadata.distribution("nudenet")
    except importlib.metadata.PackageNotFoundError as exc:
        raise MissingAsset(f"the NudeNet model file is not installed: {INSTALL_HINT}") from exc
    path = Path(str(distribution.locate_file(MODEL_FILE)))
    if not path.is_file():
        raise MissingAsset(f"nudenet {distribution.version} has no {MODEL_FILE}: {INSTALL_HINT}")
    return path


@dataclass(frozen=True)
class Detection:
    label: str
    score: float
    box: tuple[float, float, float, float]
    """(x0, y0, x1, y1) in the photo's pixels, clipped to it."""


def letterbox(rgb: np.ndarray, side: int = INPUT_SIDE) -> tuple[np.ndarray, float]:
    """The model's input [1, 3, side, side] float32 in [0, 1], and the photo → input scale.

    The photo is scaled so its long side is `side` and placed at the top left of a black
    square, which is what nudenet's pad-then-resize amounts to.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an RGB image [H, W, 3], got shape {rgb.shape}")
    height, width = rgb.shape[:2]
    scale = side / max(height, width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    shrinking = scale < 1
    resized = cv2.resize(
        np.ascontiguousarray(rgb, dtype=np.uint8),
        (new_w, new_h),
        interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR,
    )
    square = np.zeros((side, side, 3), np.float32)
    square[:new_h, :new_w] = resized.astype(np.float32) / 255.0
    return square.transpose(2, 0, 1)[None], scale


def _iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    x0 = np.maximum(box[0], others[:, 0])
    y0 = np.maximum(box[1], others[:, 1])
    x1 = np.minimum(box[2], others[:, 2])
    y1 = np.minimum(box[3], others[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def decode(
    output: np.ndarray, scale: float, size: tuple[int, int], min_score: float = MIN_SCORE
) -> list[Detection]:
    """YOLOv8 output [4 + classes, anchors] of one photo → its detections, best first.

    Each anchor counts for its best class (as nudenet does); greedy NMS across classes.
    """
    rows = output.T  # [anchors, 4 + classes]
    scores = rows[:, 4:]
    best = scores.argmax(axis=1)
    best_score = scores[np.arange(len(rows)), best]
    keep = best_score >= min_score
    if not keep.any():
        return []
    centre, extent = rows[keep, :2], rows[keep, 2:4]
    boxes = np.concatenate([centre - extent / 2, centre + extent / 2], axis=1) / scale
    width, height = size
    boxes = np.clip(boxes, 0, [width, height, width, height])
    labels, kept_scores = best[keep], best_score[keep]
    order = np.argsort(-kept_scores, kind="stable")
    found: list[Detection] = []
    while len(order):
        first = order[0]
        found.append(
            Detection(
                LABELS[int(labels[first])],
                float(kept_scores[first]),
                tuple(float(v) for v in boxes[first]),  # type: ignore[arg-type]
            )
        )
        rest = order[1:]
        order = rest[_iou(boxes[first], boxes[rest]) < NMS_IOU]
    return found


class NudityDetector:
    """NudeNet's 320n detector: load once (`load`), then one photo per call.

    `scores(rgb)` is each class's highest score anywhere in the photo (what a yes/no safety
    check needs); `detect(rgb)` gives boxes too.
    """

    name = "nudenet-320n"

    def __init__(self, path: Path, threads: int | None = None) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # One photo at a time, ~55 ms: a few intra-op threads, no inter-op parallelism.
        options.intra_op_num_threads = threads or default_threads()
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # warnings about unused initialisers are noise
        try:
            self.session: Any = onnxruntime.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own types for a broken file
            raise MissingAsset(f"{path} is not a usable ONNX model ({exc})") from exc
        self.input_name = self.session.get_inputs()[0].name
        self.path = path

    @classmethod
    def load(cls, threads: int | None = None) -> NudityDetector:
        try:
            import onnxruntime  # noqa: F401
        except ImportError as exc:
            raise MissingAsset(f"onnxruntime is not installed: {INSTALL_HINT}") from exc
        return cls(model_file(), threads)

    def raw(self, rgb: np.ndarray) -> tuple[np.ndarray, float]:
        """The model's output for one photo [4 + 18, anchors], and the photo → input scale."""
        tensor, scale = letterbox(rgb)
        (output,) = self.session.run(None, {self.input_name: tensor})
        return output[0], scale

    def scores(self, rgb: np.ndarray) -> dict[str, float]:
        """Each class's highest score over the whole photo, in [0, 1]."""
        output, _ = self.raw(rgb)
        best = output[4:].max(axis=1)
        return {label: float(score) for label, score in zip(LABELS, best, strict=True)}

    def detect(self, rgb: np.ndarray, min_score: float = MIN_SCORE) -> list[Detection]:
        output, scale = self.raw(rgb)
        return decode(output, scale, (rgb.shape[1], rgb.shape[0]), min_score)

    def warm_up(self) -> None:
        """One run on a blank photo: onnxruntime's first call allocates its buffers."""
        self.scores(np.zeros((INPUT_SIDE, INPUT_SIDE, 3), np.uint8))
