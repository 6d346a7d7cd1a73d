"""Top-k cosine search over one embedder's vectors, exact for small indexes, two-stage for large.

A search over N×dim float vectors is memory-bound: it reads every vector once. For large
indexes of wide vectors (ResNet50: 2048-d) we also store each vector projected onto the
index's top principal components (`REDUCED_DIM` = 128 float32 numbers: 16× fewer bytes to
read than a 2048-d fp32 scan) and search those first; the best `RERANK_DEPTH` candidates are
then re-scored exactly from the float16 vectors. Image embeddings have a fast-decaying
spectrum, so the projection keeps the neighbourhoods and the exact re-ranking fixes their
order (`python -m bench.bench_index` measures latency and recall@10 against exact search).

At a million covers the reduced scan itself is the cost (512 MB per query), so very large
indexes also get an approximate-search file (`index.ann`: an inverted file over the reduced
vectors, `wants_ann`) that proposes the candidates instead; the exact re-ranking is the same.

The writer decides which indexes get the reduced copy (`wants_reduced`) and the file, so the
choice of search path is made once per index, not per query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from index.ann import AnnIndex

REDUCED_MIN_ROWS = 20_000
"""Below this many covers exact search takes a few milliseconds: no reduced copy."""
REDUCED_MIN_DIM = 512
"""Narrow descriptors (the classic one is 196-d) are already cheap to scan."""
REDUCED_DIM = 128
RERANK_DEPTH = 256
"""Candidates from the reduced scan re-scored exactly (recall@10 in the benchmark: 1.000 at
100k × 2048; the tests check ≥ 0.95 at 20k × 512)."""
PCA_SAMPLE_ROWS = 20_000
_CHUNK_ROWS = 16_384


def wants_reduced(rows: int, dim: int) -> bool:
    return rows >= REDUCED_MIN_ROWS and dim >= REDUCED_MIN_DIM


def wants_ann(rows: int, dim: int) -> bool:
    """Whether a written index gets the approximate-search file (`ALBUMIFY_ANN_MIN_ROWS`)."""
    from albumify.settings import ann_min_rows

    return wants_reduced(rows, dim) and rows >= ann_min_rows()


def fit_projection(
    vectors: np.ndarray, reduced_dim: int = REDUCED_DIM, sample_rows: int = PCA_SAMPLE_ROWS
) -> tuple[np.ndarray, np.ndarray]:
    """PCA from a sample of rows: (mean [dim], basis [dim, reduced_dim]), both float32."""
    rows = vectors.shape[0]
    rng = np.random.default_rng(0)
    take = np.sort(rng.choice(rows, size=min(rows, sample_rows), replace=False))
    sample = np.asarray(vectors[take], dtype=np.float32)
    mean = sample.mean(axis=0)
    sample -= mean
    covariance = sample.T @ sample
    _, eigenvectors = np.linalg.eigh(covariance)  # ascending eigenvalues
    basis = eigenvectors[:, ::-1][:, :reduced_dim]
    return mean.astype(np.float32), np.ascontiguousarray(basis, dtype=np.float32)


def project(vectors: np.ndarray, mean: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Rows of `vectors` in the reduced space, float32 [N, reduced_dim], chunked for memory."""
    out = np.empty((vectors.shape[0], basis.shape[1]), dtype=np.float32)
    for start in range(0, vectors.shape[0], _CHUNK_ROWS):
        chunk = np.asarray(vectors[start : start + _CHUNK_ROWS], dtype=np.float32)
        out[start : start + len(chunk)] = (chunk - mean) @ basis
    return out


@dataclass
class VectorSearcher:
    """Scores one embedder's vectors against a query; callers pass rows to skip or keep."""

    vectors: np.ndarray
    """float16 [N, dim], L2-normalised (usually a read-only memory map)."""
    reduced: np.ndarray | None = None
    """float32 [N, reduced_dim]: (v - mean) @ basis, or None for exact search."""
    basis: np.ndarray | None = None
    rerank_depth: int = RERANK_DEPTH
    ann: AnnIndex | None = None
    """The approximate-search file (needs `reduced`'s basis), or None: scan `reduced`."""

    def __post_init__(self) -> None:
        self._exact_cache: np.ndarray | None = None

    @property
    def method(self) -> str:
        if self.reduced is None:
            return "exact"
        return "pca-rerank" if self.ann is None else "ivf-rerank"

    def top_k(
        self,
        query: np.ndarray,
        k: int,
        skip_rows: np.ndarray | None = None,
        keep_rows: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Best `k` rows by cosine similarity (rows, similarities), best first.

        `query` is float32 and L2-normalised; `skip_rows` are never returned (re-roll);
        when `keep_rows` is given only those rows are candidates (genre filter).
        """
        candidates = None
        if self.ann is not None and keep_rows is None:
            candidates = self._ann_candidates(query, k, skip_rows)
        if candidates is None:
            if self.reduced is None:
                scores = self._exact_scores(query)
            else:
                scores = matvec(self.reduced, matvec(self.basis.T, query))
            depth = k if self.reduced is None else max(k, self.rerank_depth)
            candidates = _best(scores, depth, skip_rows, keep_rows)
            if self.reduced is None:
                return candidates, scores[candidates]
        return self._rerank(candidates, query, k)

    def _ann_candidates(
        self, query: np.ndarray, k: int, skip_rows: np.ndarray | None
    ) -> np.ndarray | None:
        """The ANN file's best rows, skipped ones filtered out after over-fetching by their
        count; None (scan instead) when too few remain, e.g. almost everything was shown."""
        depth = max(k, self.rerank_depth)
        skipped = 0 if skip_rows is None else len(skip_rows)
        rows = self.ann.candidates(matvec(self.basis.T, query), depth + skipped)
        if skipped:
            rows = rows[~np.isin(rows, skip_rows)]
        available = self.vectors.shape[0] - skipped
        if len(rows) < min(k, available):
            return None
        return rows[:depth]

    def _rerank(
        self, candidates: np.ndarray, query: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact cosine of the candidates from the float16 vectors; best `k`."""
        # `vectors[rows]` on a memory map reads only those rows; sort them for locality.
        rows = np.sort(candidates)
        exact = matvec(np.asarray(self.vectors[rows], dtype=np.float32), query)
        order = np.argsort(-exact, kind="stable")[:k]
        return rows[order], exact[order]

    def _exact_scores(self, query: np.ndarray) -> np.ndarray:
        """Exact scores from a float32 copy made on first use: numpy converts float16 at
        ~150 M numbers/s and has no float16 BLAS, so converting per query would cost more
        than the scan. Indexes large enough for the copy to hurt take the reduced path."""
        if self._exact_cache is None:
            vectors = self.vectors
            cache = np.empty(vectors.shape, dtype=np.float32)
            for start in range(0, vectors.shape[0], _CHUNK_ROWS):
                cache[start : start + _CHUNK_ROWS] = vectors[start : start + _CHUNK_ROWS]
            self._exact_cache = cache
        return matvec(self._exact_cache, query)


def matvec(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """`matrix @ vector` on one thread. A multi-threaded BLAS gemv waits for its slowest
    thread, and on a CPU shared with the models (or other workers) that is a whole scheduler
    time slice: 10+ ms for a product that takes 1–2 ms on one core (see the benchmark)."""
    return np.einsum("ij,j->i", matrix, vector)


def _best(
    scores: np.ndarray,
    k: int,
    skip_rows: np.ndarray | None,
    keep_rows: np.ndarray | None,
) -> np.ndarray:
    """Indices of the `k` highest scores, best first, honouring skip/keep."""
    if keep_rows is not None:
        subset = scores[keep_rows]
        if skip_rows is not None and len(skip_rows):
            subset = np.where(np.isin(keep_rows, skip_rows), -np.inf, subset)
        rows = keep_rows
    else:
        subset = scores
        if skip_rows is not None and len(skip_rows):
            subset = subset.copy()
            subset[skip_rows] = -np.inf
        rows = None
    available = len(subset) - (
        int(np.isneginf(subset).sum()) if skip_rows is not None and len(skip_rows) else 0
    )
    k = min(k, available)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    top = np.argpartition(-subset, k - 1)[:k] if k < len(subset) else np.arange(len(subset))
    top = top[np.argsort(-subset[top], kind="stable")]
    return top if rows is None else rows[top]


# -- choosing one cover: hubness-reduced scores, near-ties broken by the request's seed -----

HUB_NEIGHBOURS = 10
"""CSLS neighbourhood: a cover's penalty is half its mean similarity to its 10 nearest covers."""
HUB_REFERENCE_ROWS = 1024
"""Library rows the neighbourhoods are measured against (all of a smaller library)."""
HUB_WEIGHT = 0.5
RESCORE_ALL_ROWS = 4096
"""Up to this many covers every one is re-scored; above, the best `RERANK_DEPTH` by cosine."""
TIE_MARGIN = 0.04
"""Covers scoring within this of the best are near-ties, and the request's seed picks one.
On the centred, hubness-reduced scale; `bench.bench_variety` reports what it is in cosine."""
REROLL_DIVERSITY = 0.5
"""A re-roll's covers lose this times their similarity to the most alike cover already shown:
the next cover differs visibly, not only by a few points of similarity."""


@dataclass(frozen=True)
class HubnessScorer:
    """Scores that keep one cover from winning every photo (a hub).

    Two causes, two fixes. Descriptors share a large common component (histograms are all
    positive), so raw cosines mostly measure closeness to the library's centre: vectors are
    centred on the library mean first. And covers in dense parts of the library are near
    everything: each cover's score is lowered by half its mean similarity to its nearest
    covers (CSLS, Conneau et al. 2018), measured once per index.
    """

    mean: np.ndarray
    """float32 [dim]: the library mean the vectors are centred on."""
    penalty: np.ndarray
    """float32 [N]: HUB_WEIGHT × each cover's mean centred similarity to its neighbours."""

    @classmethod
    def fit(cls, vectors: np.ndarray, reduced: np.ndarray | None = None) -> HubnessScorer:
        rows = vectors.shape[0]
        mean = np.zeros(vectors.shape[1], np.float32)
        for start in range(0, rows, _CHUNK_ROWS):
            mean += np.asarray(vectors[start : start + _CHUNK_ROWS], np.float32).sum(0)
        mean /= max(rows, 1)
        # Large indexes measure neighbourhoods in their PCA space (already centred).
        space = reduced if reduced is not None else vectors
        shift = None if reduced is not None else mean
        rng = np.random.default_rng(0)
        take = np.sort(rng.choice(rows, size=min(rows, HUB_REFERENCE_ROWS), replace=False))
        reference = _centred_unit(np.asarray(space[take], np.float32), shift)
        k = min(HUB_NEIGHBOURS, len(take) - 1)
        if k < 1:  # a one-cover library has no neighbourhoods
            return cls(mean, np.zeros(rows, np.float32))
        position = np.full(rows, -1)
        position[take] = np.arange(len(take))
        penalty = np.zeros(rows, np.float32)
        for start in range(0, rows, _CHUNK_ROWS):
            chunk = _centred_unit(np.asarray(space[start : start + _CHUNK_ROWS], np.float32), shift)
            sims = chunk @ reference.T
            own = position[start : start + len(chunk)]
            sims[np.flatnonzero(own >= 0), own[own >= 0]] = -np.inf  # not its own neighbour
            nearest = -np.partition(-sims, k - 1, axis=1)[:, :k]
            penalty[start : start + len(chunk)] = HUB_WEIGHT * nearest.mean(1)
        return cls(mean, penalty)

    def scores(self, vectors: np.ndarray, rows: np.ndarray, query: np.ndarray) -> np.ndarray:
        """Centred cosine of `query` with each of `rows`, less each row's hub penalty."""
        candidates = _centred_unit(np.asarray(vectors[rows], np.float32), self.mean)
        centred_query = _centred_unit(query[None, :], self.mean)[0]
        return candidates @ centred_query - self.penalty[rows]

    def similarity_among(self, vectors: np.ndarray, rows: np.ndarray, others: np.ndarray):
        """Centred cosine of each of `rows` with its most alike row in `others` ([len(rows)])."""
        a = _centred_unit(np.asarray(vectors[rows], np.float32), self.mean)
        b = _centred_unit(np.asarray(vectors[np.sort(others)], np.float32), self.mean)
        return (a @ b.T).max(1)


def _centred_unit(vectors: np.ndarray, mean: np.ndarray | None) -> np.ndarray:
    if mean is not None:
        vectors = vectors - mean
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-6)


@dataclass(frozen=True)
class Choice:
    row: int
    score: float
    """The chosen cover's hubness-reduced score."""
    best_score: float
    """The best score among the candidates: `best_score - score` ≤ TIE_MARGIN."""
    ties: int
    """How many covers were near-ties (the seed chose among them)."""


def choose(
    searcher: VectorSearcher,
    scorer: HubnessScorer,
    query: np.ndarray,
    seed: int,
    skip_rows: np.ndarray | None = None,
    margin: float = TIE_MARGIN,
) -> Choice | None:
    """The cover for `query`: best hubness-reduced score, near-ties broken by `seed`.

    `skip_rows` (covers already shown) are never chosen, and the rest are pushed away from
    them, so a re-roll moves somewhere visibly different. None when nothing is left.
    """
    rows_total = searcher.vectors.shape[0]
    if rows_total <= RESCORE_ALL_ROWS:
        rows = np.arange(rows_total)
        if skip_rows is not None and len(skip_rows):
            rows = np.setdiff1d(rows, skip_rows)
    else:
        rows, _ = searcher.top_k(query, RERANK_DEPTH, skip_rows=skip_rows)
        rows = np.sort(rows)
    if not len(rows):
        return None
    scores = scorer.scores(searcher.vectors, rows, query)
    if skip_rows is not None and len(skip_rows):
        alike = scorer.similarity_among(searcher.vectors, rows, skip_rows)
        scores = scores - REROLL_DIVERSITY * np.maximum(alike, 0)
    order = np.argsort(-scores, kind="stable")
    best = float(scores[order[0]])
    ties = order[scores[order] >= best - margin]
    pick = ties[np.random.default_rng(seed).integers(len(ties))] if len(ties) > 1 else ties[0]
    return Choice(int(rows[pick]), float(scores[pick]), best, len(ties))
