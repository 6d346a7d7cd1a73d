"""Device choice (CUDA when present, CPU otherwise) and weight loading shared by every model."""

from __future__ import annotations

import contextlib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch


def pick_device(requested: str | None = None) -> torch.device:
    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@contextlib.contextmanager
def autocast_for(device: torch.device) -> Iterator[None]:
    """bf16 autocast on GPUs that have it, fp16 on older ones; plain fp32 on the CPU."""
    if device.type != "cuda":
        yield
        return
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    with torch.autocast("cuda", dtype=dtype):
        yield


def load_weights_only(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(weights_only=True)``, memory-mapped when the format allows it.

    Mapped, the tensors are views of the page-cached file rather than a private copy read
    in full first: loading is cheaper and workers on one host share the weights' pages.
    Files in the legacy (torch < 1.6, non-zip) format cannot be mapped and are read whole.
    """
    mmap = zipfile.is_zipfile(path)
    return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)


@contextlib.contextmanager
def keep_torch_threads() -> Iterator[None]:
    """Undo a library's ``torch.set_num_threads`` once its call returns.

    ultralytics' ``select_device`` sets torch to ``min(8, cores - 1)`` threads on every CPU
    predict: process-wide, so after the first YOLO cutout pSp and ResNet50 ran on one thread
    of a 2-core machine (the face stage ~2x slower) and on at most 8 of a big one.
    """
    threads = torch.get_num_threads()
    try:
        yield
    finally:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
