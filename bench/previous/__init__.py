"""The embedded default as it was before issue 15 (MTCNN faces, GrabCut cut-out), rebuilt from
the backends the registry keeps, so benchmarks measure today's pipeline against it in the same
run on the same machine.

In this process: `use_previous_backends()`. In a process a benchmark starts (a worker): put
this folder on its PYTHONPATH (`PREVIOUS_PYTHONPATH`); its `sitecustomize` does the same at
interpreter start-up.
"""

from __future__ import annotations

import os
from pathlib import Path

PREVIOUS = {"faces": ("mtcnn",), "cutout": ("grabcut", "oval")}
"""Stage → the backends the embedded default ran before issue 15."""
PREVIOUS_PYTHONPATH = os.pathsep.join(
    str(folder) for folder in (Path(__file__).resolve().parent, Path(__file__).resolve().parents[2])
)
"""This folder (its `sitecustomize`) and the checkout (what that imports)."""


def use_previous_backends() -> None:
    """Point the registry's faces and cut-out chains at the pre-#15 backends (this process)."""
    from models import backends

    known = {
        backend.name: backend
        for chains in (backends.REGISTRY, backends.ALTERNATIVES)
        for chain in chains.values()
        for backend in chain
    }
    for stage, names in PREVIOUS.items():
        backends.REGISTRY[stage] = tuple(known[name] for name in names)
