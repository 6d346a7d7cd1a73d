"""`INDEX/.build/`: the committed batches of an unfinished build, so a rerun resumes.

Each finished batch is committed with its vector shards first, then its JSON record (written
atomically), so a batch is either whole or absent. `state.json` fingerprints the build: the
leftovers of another build (other sources, options or embedders) are thrown away.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from index.library import _atomic_save_npy, _atomic_write_text

WORK_DIR = ".build"

Batch = tuple[list[dict[str, Any]], dict[str, np.ndarray]]
"""A committed batch: one entry per file scanned (`Scanned.entry`), vectors per embedder."""


class WorkDir:
    def __init__(self, index_dir: Path, fingerprint: dict[str, Any]):
        self.path = index_dir / WORK_DIR
        state = self.path / "state.json"
        if self.path.exists():
            try:
                same = json.loads(state.read_text("utf-8")) == fingerprint
            except (OSError, ValueError):
                same = False
            if not same:  # another build's leftovers: its batches would not fit this one
                shutil.rmtree(self.path)
        if not self.path.exists():
            self.path.mkdir(parents=True)
            _atomic_write_text(state, json.dumps(fingerprint, sort_keys=True))

    def batches(self) -> list[Batch]:
        done = []
        for meta_path in sorted(self.path.glob("batch-*.json")):
            entries = json.loads(meta_path.read_text("utf-8"))
            stem = meta_path.name[: -len(".json")]
            vectors = {
                name: np.load(self.path / f"{stem}.{name}.npy") for name in entries["embedders"]
            }
            done.append((entries["files"], vectors))
        return done

    def commit(
        self, number: int, files: list[dict[str, Any]], vectors: dict[str, np.ndarray]
    ) -> None:
        stem = f"batch-{number:06d}"
        for name, array in vectors.items():
            _atomic_save_npy(self.path / f"{stem}.{name}.npy", array)
        payload = {"files": files, "embedders": sorted(vectors)}
        _atomic_write_text(self.path / f"{stem}.json", json.dumps(payload, ensure_ascii=False))

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
