"""MediaPipe's small models, run by Google's LiteRT runtime: real weights that ship in a wheel.

The `mediapipe==0.10.21` wheel holds the `.tflite` files (Apache-2.0). It is installed with
`--no-deps` and never imported: its `__init__` pulls in dependencies that clash with ours
(numpy < 2, the GUI OpenCV), and so does `importlib.resources.files("mediapipe")`, so the
files are found through the installed distribution's record instead.
"""

from __future__ import annotations

import importlib.metadata
import os
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from albumify.errors import MissingAsset

MEDIAPIPE = "mediapipe==0.10.21"
"""The release that still ships the model files (1.x releases no longer do)."""
INSTALL_HINT = f"install it with: pip install --no-deps {MEDIAPIPE}"
MAX_THREADS = 4
"""These models take milliseconds: more threads than this only add synchronisation."""


def mediapipe_file(relative: str) -> Path:
    """`mediapipe/modules/<relative>` from the installed wheel, without importing mediapipe."""
    try:
        distribution = importlib.metadata.distribution("mediapipe")
    except importlib.metadata.PackageNotFoundError as exc:
        raise MissingAsset(f"the MediaPipe model files are not installed: {INSTALL_HINT}") from exc
    path = Path(str(distribution.locate_file(f"mediapipe/modules/{relative}")))
    if not path.is_file():
        raise MissingAsset(
            f"mediapipe {distribution.version} has no modules/{relative}: {INSTALL_HINT}"
        )
    return path


def default_threads() -> int:
    """The cores this process may use (its affinity where the OS has one), at most 4."""
    affinity = getattr(os, "sched_getaffinity", None)
    cores = len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)
    return max(1, min(MAX_THREADS, cores))


class LiteRTModel:
    """One `.tflite` model with a single input: `model(tensor) -> [outputs...]`.

    LiteRT interpreters are not thread-safe, so each thread gets its own (created on its
    first call; the worker runs jobs on one thread, tests and benches may use several).
    """

    def __init__(self, path: Path, threads: int | None = None):
        self.path = path
        self.threads = threads or default_threads()
        self._local = threading.local()
        interpreter = self._interpreter()  # fail at load, not on the first photo
        self.input_shape = tuple(int(n) for n in interpreter.get_input_details()[0]["shape"])
        self.output_shapes = [
            tuple(int(n) for n in d["shape"][1:]) for d in interpreter.get_output_details()
        ]
        """Each output's shape without the batch axis."""

    @classmethod
    def from_mediapipe(cls, relative: str, threads: int | None = None) -> LiteRTModel:
        return cls(mediapipe_file(relative), threads)

    def _interpreter(self) -> Any:
        interpreter = getattr(self._local, "interpreter", None)
        if interpreter is None:
            from ai_edge_litert.interpreter import Interpreter

            try:
                interpreter = Interpreter(model_path=str(self.path), num_threads=self.threads)
                interpreter.allocate_tensors()
            except (RuntimeError, ValueError) as exc:
                raise MissingAsset(f"{self.path} is not a usable LiteRT model ({exc})") from exc
            self._local.interpreter = interpreter
        return interpreter

    def __call__(self, tensor: np.ndarray) -> list[np.ndarray]:
        """Run one input (without the batch axis); the outputs, batch axis dropped, copied."""
        interpreter = self._interpreter()
        batch = np.ascontiguousarray(tensor, dtype=np.float32)[None]
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], batch)
        interpreter.invoke()
        return [interpreter.get_tensor(d["index"])[0] for d in interpreter.get_output_details()]


def square_window(
    image: np.ndarray, centre: tuple[float, float], side: float, out: int
) -> tuple[np.ndarray, np.ndarray]:
    """The `side`-px square around `centre`, resampled to `out`×`out` (black outside the
    photo, as MediaPipe pads a region of interest), and the 2×3 map photo → window."""
    scale = out / side
    matrix = np.array(
        [
            [scale, 0.0, (side / 2 - centre[0]) * scale],
            [0.0, scale, (side / 2 - centre[1]) * scale],
        ]
    )
    if scale < 0.5:  # shrink most of the way with area averaging first: no aliasing
        pre = max(1, int(1 / scale) // 2 * 2) / 2
        height, width = image.shape[:2]
        small = cv2.resize(
            image,
            (max(1, round(width / pre)), max(1, round(height / pre))),
            interpolation=cv2.INTER_AREA,
        )
        fx, fy = small.shape[1] / width, small.shape[0] / height
        window = cv2.warpAffine(
            small, matrix @ np.diag([1 / fx, 1 / fy, 1.0]), (out, out), flags=cv2.INTER_LINEAR
        )
    else:
        window = cv2.warpAffine(image, matrix, (out, out), flags=cv2.INTER_LINEAR)
    return window, matrix
