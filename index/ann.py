"""The approximate-search file of a very large index: an inverted file over the PCA vectors.

At a million 2048-d covers even the PCA-reduced scan of `index.search` reads 512 MB per query
(~50 ms on one core). An inverted file (faiss `IndexIVFFlat`) clusters the reduced vectors
into `nlist` lists around k-means centroids; a query scans only its `nprobe` nearest lists
(~1% of the rows) for the best `depth` candidates, which `VectorSearcher` then re-scores
exactly from the float16 vectors, as the PCA path does. `python -m bench.bench_million`
compares it with the PCA scan, IVF-PQ, HNSW (faiss and usearch) at 1M × 2048 in one run.

faiss (`faiss-cpu`, MIT) is a worker-side optional dependency: without it an index is written
without this file, and an index that has one is searched the PCA way (same results as before
the file existed, slower). The file is optional in the manifest, so older readers and older
indexes are unaffected.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from albumify.errors import MissingAsset

log = logging.getLogger(__name__)

METHOD = "faiss-ivf-flat"
"""The manifest's name for this file's structure (`search.ann.method`)."""
NPROBE = 48
"""Lists scanned per query: recall@10 ≥ 0.99 at 1M in the benchmark (see the README)."""
TRAIN_ROWS_PER_LIST = 40
"""k-means sample per list (faiss warns below 39): 163,840 rows for 4,096 lists."""


def available() -> bool:
    """Whether faiss is installed (the worker image has it; a bot never needs it)."""
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def write_file(path: Path, reduced: np.ndarray, centre: np.ndarray) -> dict[str, Any] | None:
    """Build the file for `reduced` at `path` (written beside it, renamed over it) and return
    its manifest entry; None, with a warning, when faiss is not installed."""
    if not available():
        log.warning("faiss is not installed: %s is not written (searches scan instead)", path)
        return None
    ann = AnnIndex.build(reduced, centre)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        ann.save(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return ann.manifest_entry(path.name)


def load_entry(
    root: Path, embedder: str, entry: dict[str, Any] | None, rows: int
) -> AnnIndex | None:
    """The manifest's optional file; None (scan the reduced vectors) when the index has none,
    one of a kind this Albumify does not know, or faiss is not installed."""
    if not entry or entry.get("method") != METHOD:
        return None
    path = root / entry["file"]
    try:
        ann = AnnIndex.load(path, entry)
    except (OSError, RuntimeError, KeyError, ValueError) as exc:
        raise MissingAsset(
            f"Index search file {path} for '{embedder}' is unreadable: {exc}. Rebuild it."
        ) from exc
    if ann is not None and ann.rows != rows:
        raise MissingAsset(f"Index search file {path} for '{embedder}' is inconsistent.")
    return ann


def list_count(rows: int) -> int:
    """~4·√N lists (the usual IVF rule): 4,096 at 1M rows, at least 1."""
    return max(1, min(rows // 39, 2 ** round(math.log2(4 * math.sqrt(max(rows, 1))))))


@dataclass
class AnnIndex:
    """An IVF-Flat over centred PCA vectors: `candidates` gives rows to re-score exactly."""

    index: Any
    """faiss.IndexIVFFlat (inner product within lists, L2 to choose them)."""
    centre: np.ndarray
    """float32 [reduced_dim]: the projected library mean, subtracted from a projected query so
    it lands in the frame the lists were clustered in."""
    nprobe: int = NPROBE

    def __post_init__(self) -> None:
        self.nprobe = min(self.nprobe, int(self.index.nlist))
        self.index.nprobe = self.nprobe  # search_preassigned expects this many lists

    @classmethod
    def build(
        cls, reduced: np.ndarray, centre: np.ndarray, nlist: int | None = None, seed: int = 0
    ) -> AnnIndex:
        """Cluster and fill from `reduced` [N, d] (centred PCA vectors; may be a memory map)."""
        import faiss

        rows, dim = reduced.shape
        nlist = nlist or list_count(rows)
        quantizer = faiss.IndexFlatL2(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = seed
        rng = np.random.default_rng(seed)
        take = np.sort(rng.choice(rows, size=min(rows, TRAIN_ROWS_PER_LIST * nlist), replace=False))
        index.train(np.ascontiguousarray(reduced[take], dtype=np.float32))
        for start in range(0, rows, 65_536):
            index.add(np.ascontiguousarray(reduced[start : start + 65_536], dtype=np.float32))
        return cls(index, np.asarray(centre, np.float32))

    def save(self, path: Path) -> None:
        import faiss

        faiss.write_index(self.index, str(path))

    @classmethod
    def load(cls, path: Path, entry: dict[str, Any]) -> AnnIndex | None:
        """The file named by a manifest entry, or None when faiss is missing (PCA search)."""
        try:
            import faiss
        except ImportError:
            log.warning("faiss is not installed: %s is searched without its ANN file", path)
            return None
        index = faiss.read_index(str(path))
        return cls(index, np.asarray(entry["centre"], np.float32), int(entry.get("nprobe", NPROBE)))

    def manifest_entry(self, file: str) -> dict[str, Any]:
        return {
            "method": METHOD,
            "file": file,
            "nlist": int(self.index.nlist),
            "nprobe": self.nprobe,
            "centre": [float(x) for x in self.centre],
        }

    @property
    def rows(self) -> int:
        return int(self.index.ntotal)

    def candidates(self, projected_query: np.ndarray, depth: int) -> np.ndarray:
        """Up to `depth` rows by reduced inner product, best first (int64).

        `projected_query` is `query @ basis` (uncentred), the PCA path's query: its inner
        product with a row ranks rows as the PCA scan does. The lists to scan are chosen with
        the centred query, the frame the centroids were clustered in.
        """
        query = np.ascontiguousarray(projected_query, dtype=np.float32)[None, :]
        distances, lists = self.index.quantizer.search(query - self.centre, self.nprobe)
        _, rows = self.index.search_preassigned(query, depth, lists, distances)
        rows = rows[0]
        return rows[rows >= 0]
