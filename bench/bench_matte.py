"""The person matte's edge on real photos (tests/photos.py): guided filter vs plain resize,
and what each part of the cut-out costs, measured in the same run.

- Known edges: each person's hard matte (today's, thresholded) is composited onto other real
  photos, so the true edge of the new picture is known exactly; each variant's matte of it
  is scored by its error in a band around that edge (mean |alpha - truth|, lower is better)
  and by IoU. The truth comes from our own matte, but the picture's edge is wherever it is:
  a variant is scored on finding it, not on agreeing with itself.
- Real photos, no truth: the share of the matte's edge (alpha = 0.5 at the compositing
  resolution) lying within 2 px of an image edge (Canny), higher is better.
"""

from __future__ import annotations

import statistics
import time

import cv2
import numpy as np

from bench.report import Table
from models.blazeface import BlazeFaceDetector
from models.faces import main_face
from models.matte import EDGES, SelfieMatte
from models.segmenter import GrabCutSegmenter
from tests.photos import PHOTOS, Kind, read_source

BACKGROUNDS = ("coffee", "cat", "rocket")


def boundary(mask: np.ndarray) -> np.ndarray:
    hard = mask.astype(np.uint8)
    return (
        cv2.dilate(hard, np.ones((3, 3), np.uint8)) - cv2.erode(hard, np.ones((3, 3), np.uint8))
    ) > 0


def band_error(alpha: np.ndarray, truth: np.ndarray, width: int) -> float:
    band = cv2.dilate(boundary(truth).astype(np.uint8), np.ones((2 * width + 1,) * 2, np.uint8)) > 0
    return float(np.abs(alpha[band] - truth[band]).mean())


def iou(alpha: np.ndarray, truth: np.ndarray) -> float:
    a = alpha > 0.5
    return float((a & truth).sum() / max(1, (a | truth).sum()))


def edge_alignment(rgb: np.ndarray, alpha: np.ndarray) -> float:
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(cv2.GaussianBlur(grey, (3, 3), 0), 40, 120)
    near_edge = cv2.dilate(edges, np.ones((5, 5), np.uint8)) > 0
    rim = boundary(alpha > 0.5)
    return float(near_edge[rim].mean()) if rim.any() else 0.0


def run() -> Table:
    detector = BlazeFaceDetector()
    mattes = {edge: SelfieMatte(edge=edge) for edge in EDGES}
    people = [p for p in PHOTOS if p.kind in (Kind.PORTRAIT, Kind.NEIGHBOURS, Kind.SMALL_FACE)]
    backgrounds = [np.asarray(p.image()) for p in PHOTOS if p.name in BACKGROUNDS]
    errors: dict[str, list[float]] = {e: [] for e in EDGES}
    ious: dict[str, list[float]] = {e: [] for e in EDGES}
    aligned: dict[str, list[float]] = {e: [] for e in EDGES}
    times: dict[str, list[float]] = {e: [] for e in EDGES}
    for n, photo in enumerate(people):
        rgb = np.asarray(photo.image())
        faces = detector.detect(rgb)
        face = main_face(faces, (rgb.shape[1], rgb.shape[0]))
        if face is None:
            continue
        others = [f for f in faces if f is not face]
        truth_alpha = mattes["guided"](rgb, face, others)
        if truth_alpha is None:
            continue
        truth = truth_alpha > 0.5
        background = cv2.resize(backgrounds[n % len(backgrounds)], (rgb.shape[1], rgb.shape[0]))
        composite = np.where(truth[..., None], rgb, background)
        width = max(2, round(face.width * 0.08))
        for edge, matte in mattes.items():
            start = time.perf_counter()
            alpha = matte(rgb, face, others)
            times[edge].append(time.perf_counter() - start)
            if alpha is not None:
                aligned[edge].append(edge_alignment(rgb, alpha))
            on_new = matte(composite, face, others)
            if on_new is not None:
                errors[edge].append(band_error(on_new, truth.astype(np.float32), width))
                ious[edge].append(iou(on_new, truth))

    table = Table(
        f"Person matte edge: guided filter vs resize ({len(people)} real photos)",
        ["measure", *EDGES],
    )
    table.add(
        "known edge (person on another photo): mean abs(alpha − truth) in the edge band",
        *(f"{statistics.mean(errors[e]):.3f}" for e in EDGES),
    )
    table.add(
        "known edge: IoU with the truth",
        *(f"{statistics.mean(ious[e]):.3f}" for e in EDGES),
    )
    table.add(
        "real photos: share of the matte's edge on an image edge (±2 px)",
        *(f"{statistics.mean(aligned[e]):.0%}" for e in EDGES),
    )
    table.add(
        "time per matte (median, both models + post-processing)",
        *(f"{statistics.median(times[e]) * 1000:.1f} ms" for e in EDGES),
    )
    table.add("", "", "")
    parts = _parts(mattes["guided"], detector)
    for label, seconds in parts.items():
        table.add(f"  part: {label}", f"{seconds * 1000:.1f} ms", "")
    return table


def _parts(matte: SelfieMatte, detector: BlazeFaceDetector, repeats: int = 5) -> dict[str, float]:
    """Median time of each part of one cut-out of the example photo, and GrabCut's."""
    rgb = np.asarray(read_source(PHOTOS[0].source))
    face = main_face(detector.detect(rgb), (rgb.shape[1], rgb.shape[0]))
    assert face is not None
    window = np.zeros((256, 256, 3), np.float32)
    runs: dict[str, list[float]] = {}

    def timed(label: str, call: object) -> None:
        start = time.perf_counter()
        call()  # type: ignore[operator]
        runs.setdefault(label, []).append(time.perf_counter() - start)

    for _ in range(repeats):
        timed("selfie model (256×256)", lambda: matte.selfie(window))
        timed("pose model (256×256, its person mask)", lambda: matte.pose(window))
        timed("whole selfie cut-out (models + neighbours + edge)", lambda: matte(rgb, face, []))
        timed("GrabCut cut-out (before #15)", lambda: GrabCutSegmenter()(rgb, face))
    return {label: statistics.median(values) for label, values in runs.items()}


if __name__ == "__main__":
    print(run().markdown())
