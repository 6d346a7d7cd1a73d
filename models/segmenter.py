"""Person cutout: a soft alpha matte of the member, seeded by their face.

`GrabCutSegmenter` (OpenCV, no weights) is the embedded default's fallback, after the
MediaPipe person matte (`models.matte`). `YoloSegmenter` (ultralytics YOLO-seg, person class)
lives beside it with the same call: `segmenter(image, face, others) -> alpha float32 [H, W]
in [0, 1]`, or None when it finds no person (the pipeline then falls back, per photo, down to
`OvalMatte`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Self

import cv2
import numpy as np

from albumify.errors import MissingAsset
from models.faces import Face
from models.weights import YOLO_SEG, missing_hint, resolve

if TYPE_CHECKING:
    import torch

WORK_SIDE = 320
"""GrabCut runs on a copy this size: its graph cut is the slow part, and edges are refined
at full resolution afterwards."""
CONVERGED = 0.005
"""GrabCut stops iterating once an iteration moves at most this share of the person's pixels:
on a busy photo each iteration costs ~200 ms, and after one that settled the rest barely move
the matte (IoU >= 0.99 with all four on the example photos)."""


class Segmenter(Protocol):
    """`segmenter(image, face, others)`: the matte of the person holding `face`; `others` are
    the photo's other faces (neighbours to leave out)."""

    name: str

    def __call__(
        self, image: np.ndarray, face: Face | None, others: Sequence[Face] = ()
    ) -> np.ndarray | None: ...


class FaceSeededMatte:
    """A segmenter that starts from the member's face, so a photo without one has no matte.
    Its weights, if any, ship inside a package: `load` just makes one."""

    name: str

    @classmethod
    def load(cls, weights_dir: object = None, device: object = None) -> Self:
        return cls()

    def __call__(
        self, image: np.ndarray, face: Face | None, others: Sequence[Face] = ()
    ) -> np.ndarray | None:
        return None if face is None else self.cut(image, face, others)

    def cut(self, image: np.ndarray, face: Face, others: Sequence[Face]) -> np.ndarray | None:
        """The matte of the person holding `face` (float32 [H, W] in [0, 1]), or None."""
        raise NotImplementedError


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


class OvalMatte(FaceSeededMatte):
    """A head-and-shoulders oval under the face: the cutout's last resort, which never fails
    when there is a face (the other segmenters can find no person)."""

    name = "oval"

    def cut(self, image: np.ndarray, face: Face, others: Sequence[Face]) -> np.ndarray:
        height, width = image.shape[:2]
        mask = np.zeros((height, width), np.float32)
        cx, cy = face.centre
        axes = (int(face.width * 1.3), int(face.height * 1.9))
        cv2.ellipse(mask, (int(cx), int(cy + face.height * 0.6)), axes, 0, 0, 360, 1.0, -1)
        return feather(mask, radius=face.width * 0.15)


class GrabCutSegmenter(FaceSeededMatte):
    name = "grabcut"

    def __init__(self, iterations: int = 4, converged: float = CONVERGED):
        self.iterations = iterations
        self.converged = converged

    def cut(self, image: np.ndarray, face: Face, others: Sequence[Face]) -> np.ndarray | None:
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
        for other in others:  # a neighbour's face is surely not the member
            ox0, oy0, ox1, oy1 = (v * scale for v in other.box)
            if ox1 < fx0 or ox0 > fx1 or oy1 < fy0 or oy0 > fy1:
                mask[_span(oy0, oy1), _span(ox0, ox1)] = cv2.GC_BGD
        bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
        try:
            self._cut(bgr, mask)
        except cv2.error:
            return None
        hard = np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)
        hard = _keep_component_with(hard, (int((fx0 + fx1) / 2), int((fy0 + fy1) / 2)))
        if hard.sum() < 0.5 * fw * fh:
            return None
        hard = cv2.morphologyEx(hard, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
        alpha = cv2.resize(hard.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
        return feather(alpha, radius=max(2.0, face.width * 0.04))

    def _cut(self, bgr: np.ndarray, mask: np.ndarray) -> None:
        """GrabCut `mask` in place, one iteration per call so it can stop once settled.

        Each call goes on from the colour models the previous one left, so n calls of one
        iteration label exactly as one call of n; each extra call costs ~3 ms (edge weights).
        """
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        # GrabCut seeds its colour models with k-means on OpenCV's global RNG: reset it so
        # the same photo always gives the same cutout (and the same seed the same bytes).
        cv2.setRNGSeed(0)
        cv2.grabCut(bgr, mask, None, bgd, fgd, min(1, self.iterations), cv2.GC_INIT_WITH_MASK)
        person = mask & 1  # GC_FGD and GC_PR_FGD are the odd labels
        for _ in range(self.iterations - 1):
            cv2.grabCut(bgr, mask, None, bgd, fgd, 1, cv2.GC_EVAL)
            previous, person = person, mask & 1
            moved = np.count_nonzero(person != previous)
            if moved <= self.converged * max(1, np.count_nonzero(person)):
                break


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


COCO_PERSON = 0


def choose_person(
    masks: np.ndarray, boxes: np.ndarray, face_centre: tuple[float, float] | None
) -> int | None:
    """Which detected person is the member: the one whose mask holds the face centre, else the
    one whose box does, else the largest. Ties go to the larger mask (the nearer person).

    masks: bool/float [N, H, W] at the image's resolution; boxes: [N, 4] x0, y0, x1, y1.
    Returns an index into them, or None when there is no person with any pixels.
    """
    if len(masks) == 0:
        return None
    areas = (masks > 0.5).reshape(len(masks), -1).sum(axis=1)
    if areas.max() == 0:
        return None
    candidates = np.arange(len(masks))
    if face_centre is not None:
        height, width = masks.shape[1:]
        x, y = face_centre
        px = min(max(int(x), 0), width - 1)
        py = min(max(int(y), 0), height - 1)
        in_mask = candidates[masks[:, py, px] > 0.5]
        in_box = candidates[
            (boxes[:, 0] <= x) & (x <= boxes[:, 2]) & (boxes[:, 1] <= y) & (y <= boxes[:, 3])
        ]
        in_box = in_box[areas[in_box] > 0]
        if len(in_mask):
            candidates = in_mask
        elif len(in_box):
            candidates = in_box
    return int(candidates[np.argmax(areas[candidates])])


def import_yolo() -> Any:
    """`ultralytics.YOLO`, imported so that it cannot reach the network or change PIL.

    - YOLO_OFFLINE: otherwise ultralytics checks for updates, may pip-install packages it
      misses and reports errors to Sentry (a worker handling members' photos must not);
    - importing ultralytics replaces `PIL.Image.open` with a wrapper that, on any file Pillow
      can't identify, pip-installs pi-heif and raises ModuleNotFoundError offline. Our photo
      decoder relies on UnidentifiedImageError for "bad input" (exit 3), so we put PIL's own
      function back. We hand ultralytics arrays, never files, so it doesn't need the wrapper.
    """
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from PIL import Image
    from ultralytics import YOLO

    if getattr(Image.open, "__module__", "") == "ultralytics.utils.patches":
        from ultralytics.utils import patches

        Image.open = patches._image_open
    return YOLO


def _half_precision_option() -> dict[str, Any]:
    """fp16 inference on GPUs: ultralytics 8.4 spells it `quantize=16`, 8.3 `half=True`."""
    from ultralytics.cfg import DEFAULT_CFG_DICT

    return {"quantize": 16} if "quantize" in DEFAULT_CFG_DICT else {"half": True}


class YoloSegmenter:
    """Ultralytics YOLO-seg restricted to people, with masks at the photo's full resolution.

    The checkpoint is a pickle, so it is loaded only through ultralytics and only from a file
    we checked is present: ultralytics downloads any weights name it cannot find, and the
    worker must never reach the network for that.
    """

    name = "yolo11n-seg"
    weights_file = YOLO_SEG

    def __init__(
        self,
        model: Any,
        device: torch.device,
        conf: float = 0.25,
        imgsz: int = 640,
    ):
        self.model = model
        self.device = device
        self.conf = conf
        self.imgsz = imgsz
        self._precision = _half_precision_option() if device.type == "cuda" else {}

    @classmethod
    def load(
        cls, weights_dir: Path | str, device: torch.device | str | None = None, **options: Any
    ) -> YoloSegmenter:
        from models.device import pick_device

        path = resolve(cls.weights_file, weights_dir)
        if path is None:
            raise MissingAsset(
                f"the {cls.name} segmenter needs {cls.weights_file} in {weights_dir}: "
                + missing_hint([cls.weights_file], weights_dir)
            )
        YOLO = import_yolo()
        try:
            model = YOLO(str(path), task="segment")
        except Exception as exc:
            raise MissingAsset(
                f"{path} is not an ultralytics checkpoint ({exc}); delete it and "
                + missing_hint([cls.weights_file], Path(path).parent)
            ) from exc
        if model.task != "segment":
            raise MissingAsset(
                f"{path} is a YOLO {model.task} model, not a segmentation one; "
                + missing_hint([cls.weights_file], Path(path).parent)
            )
        return cls(model, pick_device(str(device) if device is not None else None), **options)

    def __call__(
        self, image: np.ndarray, face: Face | None, others: Sequence[Face] = ()
    ) -> np.ndarray | None:
        height, width = image.shape[:2]
        masks, boxes = self.people(image)
        chosen = choose_person(masks, boxes, face.centre if face is not None else None)
        if chosen is None:
            return None
        hard = (masks[chosen] > 0.5).astype(np.float32)
        radius = face.width * 0.04 if face is not None else 0.004 * max(height, width)
        return feather(hard, radius=max(2.0, radius))

    def people(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Person masks float32 [N, H, W] at the image's size and their boxes [N, 4]."""
        from models.device import keep_torch_threads

        height, width = image.shape[:2]
        bgr = np.ascontiguousarray(image[:, :, ::-1])  # ultralytics reads arrays as OpenCV BGR
        with keep_torch_threads():
            result = self.model.predict(
                bgr,
                classes=[COCO_PERSON],
                conf=self.conf,
                imgsz=self.imgsz,
                retina_masks=True,  # masks at the original resolution, not the 160 px prototype
                device=str(self.device),
                verbose=False,
                **self._precision,
            )[0]
        if result.masks is None or len(result.masks) == 0:
            return np.zeros((0, height, width), np.float32), np.zeros((0, 4), np.float32)
        masks = result.masks.data.float().cpu().numpy()
        if masks.shape[1:] != (height, width):
            masks = np.stack(
                [cv2.resize(m, (width, height), interpolation=cv2.INTER_LINEAR) for m in masks]
            )
        boxes = result.boxes.xyxy.float().cpu().numpy()
        return masks, boxes
