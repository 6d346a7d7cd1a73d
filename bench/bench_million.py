"""A million covers: top-10 search with re-roll exclusions at 1,000,000 × 2048, in one run.

Opt-in (it writes ~5 GB to a temporary directory, holds ~8 GB resident and takes many
minutes): `python -m bench.bench_million [--rows N]`, or set ALBUMIFY_BENCH_MILLION=1 for
`python -m bench`, which otherwise prints only how to run it.

Data: `CLUSTERS` Gaussian cluster centres plus noise, ReLU'd (non-negative like pooled
ResNet50 features) and L2-normalised, generated deterministically in blocks straight into an
index written by `IndexWriter` (float16, memory-mapped; the float32 matrix never exists).
Queries are new points from the same distribution. Truth is the exact top-30 over the stored
vectors (chunked float32 products); "re-roll" excludes each query's exact top-10 (the covers
already shown) and expects exact ranks 11–20.

Every candidate proposes `RERANK_DEPTH` (+ excluded) rows from the PCA-reduced vectors and
the product's `VectorSearcher` re-scores them exactly from the float16 memory map, so the
rows differ only in how candidates are found: today's full PCA scan (the baseline), faiss
IVF-Flat (ours, the index's approximate-search file, measured through `CoverIndex.search`
in a fresh process for its resident memory), faiss IVF-PQ, faiss HNSW and usearch HNSW.
Full 2048-d structures are left out: a float32 copy is the 8 GB this design avoids.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.report import Table
from index.ann import TRAIN_ROWS_PER_LIST, AnnIndex, list_count
from index.library import CoverIndex, CoverRecord, IndexWriter
from index.search import VectorSearcher
from models.vectors import l2_normalise

ROWS, DIM, CLUSTERS, TOP, QUERIES = 1_000_000, 2048, 4096, 10, 200
ENV = "ALBUMIFY_BENCH_MILLION"
EMBEDDER = "bench-2048"
_BLOCK = 16_384


class ClusteredVectors:
    """A deterministic [rows, dim] source read by slices: block b is always the same numbers
    (seeded by its number), so nothing needs the whole matrix in memory."""

    def __init__(self, rows: int, dim: int = DIM, seed: int = 0):
        self.shape = (rows, dim)
        self.seed = seed
        self.centres = np.random.default_rng(seed).standard_normal((CLUSTERS, dim), np.float32)
        self._cached: tuple[int, np.ndarray] | None = None

    def block(self, number: int, rows: int = _BLOCK, stream: int = 0) -> np.ndarray:
        rng = np.random.default_rng((self.seed, stream, number))
        out = self.centres[rng.integers(0, CLUSTERS, rows)]
        out += 0.8 * rng.standard_normal(out.shape, np.float32)
        return l2_normalise(np.maximum(out, 0))

    def __getitem__(self, rows: slice) -> np.ndarray:
        start, stop, _ = rows.indices(self.shape[0])
        parts = []
        while start < stop:
            number, offset = divmod(start, _BLOCK)
            if self._cached is None or self._cached[0] != number:
                self._cached = (number, self.block(number))
            part = self._cached[1][offset : offset + stop - start]
            parts.append(part)
            start += len(part)
        return np.concatenate(parts) if parts else np.zeros((0, self.shape[1]), np.float32)

    def queries(self, count: int) -> np.ndarray:
        return self.block(0, count, stream=1)


def rss() -> dict[str, float]:
    """This process's resident memory in GB: anonymous, file-backed (mapped index files)."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("RssAnon", "RssFile", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024**2
    return fields


def exact_truth(vectors: np.ndarray, queries: np.ndarray, depth: int = 30) -> np.ndarray:
    """Exact top-`depth` rows per query ([Q, depth], best first), in float32 chunks."""
    best_rows = np.zeros((len(queries), 0), np.int64)
    best_scores = np.zeros((len(queries), 0), np.float32)
    for start in range(0, vectors.shape[0], _BLOCK):
        scores = queries @ np.asarray(vectors[start : start + _BLOCK], np.float32).T
        rows = np.broadcast_to(np.arange(start, start + scores.shape[1]), scores.shape)
        scores = np.concatenate([best_scores, scores], 1)
        rows = np.concatenate([best_rows, rows], 1)
        keep = np.argpartition(-scores, depth - 1, axis=1)[:, :depth]
        best_scores = np.take_along_axis(scores, keep, 1)
        best_rows = np.take_along_axis(rows, keep, 1)
    order = np.argsort(-best_scores, axis=1, kind="stable")
    return np.take_along_axis(best_rows, order, 1)


class GraphCandidates:
    """faiss or usearch HNSW over the centred PCA vectors, as `VectorSearcher.ann`."""

    def __init__(self, search: Callable[[np.ndarray, int], np.ndarray], centre: np.ndarray):
        self._search = search
        self.centre = centre

    def candidates(self, projected_query: np.ndarray, depth: int) -> np.ndarray:
        rows = self._search((projected_query - self.centre).astype(np.float32), depth)
        return rows[rows >= 0].astype(np.int64)


def build_candidates(
    reduced: np.ndarray, centre: np.ndarray, workdir: Path, hnsw_rows: int
) -> dict[str, tuple[Any, float, int]]:
    """name → (candidates object, build seconds, bytes on disk)."""
    import faiss
    from usearch.index import Index as UsearchIndex

    built: dict[str, tuple[Any, float, int]] = {}
    rows, dim = reduced.shape
    nlist = list_count(rows)

    start = time.perf_counter()
    pq = faiss.IndexIVFPQ(faiss.IndexFlatL2(dim), dim, nlist, 32, 8, faiss.METRIC_INNER_PRODUCT)
    train = min(rows, TRAIN_ROWS_PER_LIST * nlist)
    take = np.sort(np.random.default_rng(0).choice(rows, train, replace=False))
    pq.train(np.ascontiguousarray(reduced[take]))
    for chunk in range(0, rows, 65_536):
        pq.add(np.ascontiguousarray(reduced[chunk : chunk + 65_536]))
    seconds = time.perf_counter() - start
    faiss.write_index(pq, str(workdir / "ivfpq.faiss"))
    built["faiss IVF-PQ (32 B/row) on PCA-128, nprobe 48"] = (
        AnnIndex(pq, centre, 48),
        seconds,
        (workdir / "ivfpq.faiss").stat().st_size,
    )

    if hnsw_rows >= rows:
        start = time.perf_counter()
        hnsw = faiss.IndexHNSWFlat(dim, 32)
        hnsw.hnsw.efConstruction = 80
        for chunk in range(0, rows, 65_536):
            hnsw.add(np.ascontiguousarray(reduced[chunk : chunk + 65_536]) - centre)
        seconds = time.perf_counter() - start
        hnsw.hnsw.efSearch = 384
        faiss.write_index(hnsw, str(workdir / "hnsw.faiss"))

        def faiss_hnsw(query: np.ndarray, depth: int) -> np.ndarray:
            return hnsw.search(query[None, :], depth)[1][0]

        built["faiss HNSW32 on PCA-128 (efSearch 384)"] = (
            GraphCandidates(faiss_hnsw, centre), seconds,
            (workdir / "hnsw.faiss").stat().st_size)  # fmt: skip

        start = time.perf_counter()
        graph = UsearchIndex(ndim=dim, metric="l2sq", dtype="f16", connectivity=16,
                             expansion_add=128, expansion_search=384)  # fmt: skip
        for chunk in range(0, rows, 65_536):
            block = np.ascontiguousarray(reduced[chunk : chunk + 65_536]) - centre
            graph.add(np.arange(chunk, chunk + len(block)), block, threads=2)
        seconds = time.perf_counter() - start
        graph.save(str(workdir / "hnsw.usearch"))

        def usearch_hnsw(query: np.ndarray, depth: int) -> np.ndarray:
            return np.asarray(graph.search(query, depth, threads=1).keys)

        built["usearch HNSW16 f16 on PCA-128 (expansion 384)"] = (
            GraphCandidates(usearch_hnsw, centre), seconds,
            (workdir / "hnsw.usearch").stat().st_size)  # fmt: skip
    return built


def timed(
    searchers: dict[str, Callable[[np.ndarray, np.ndarray | None], np.ndarray]],
    queries: np.ndarray,
    shown: np.ndarray,
) -> tuple[dict[str, list[float]], dict[str, list]]:
    """Per-query seconds and results; methods take turns per query (shared CPU), each query
    once plain and once as a re-roll excluding `shown[i]`."""
    for search in searchers.values():
        search(queries[0], None)  # first touch of maps and lazy caches
    times: dict[str, list[float]] = {name: [] for name in searchers}
    found: dict[str, list] = {name: [] for name in searchers}
    for i, query in enumerate(queries):
        for skip in (None, shown[i]):
            for name, search in searchers.items():
                start = time.perf_counter()
                rows = search(query, skip)
                times[name].append(time.perf_counter() - start)
                found[name].append(rows)
    return times, found


def recalls(found: list, truth: np.ndarray) -> tuple[float, float]:
    """(recall@10 plain, recall@10 on re-roll vs exact ranks 11–20)."""
    plain = [len(set(found[2 * i]) & set(truth[i, :TOP])) / TOP for i in range(len(truth))]
    reroll = [
        len(set(found[2 * i + 1]) & set(truth[i, TOP : 2 * TOP])) / TOP for i in range(len(truth))
    ]
    return float(np.mean(plain)), float(np.mean(reroll))


def serve(index_dir: str, queries_file: str) -> None:
    """Child process: load the index like a worker, search every query (plain and re-roll),
    print latencies and resident memory as JSON."""
    import faiss

    faiss.omp_set_num_threads(1)
    payload = np.load(queries_file)
    queries, shown = payload[:, :DIM].astype(np.float32), payload[:, DIM:].astype(np.int64)
    start = time.perf_counter()
    index = CoverIndex.load(index_dir)
    searcher = index.searcher(EMBEDDER)
    load_s = time.perf_counter() - start
    ids = [[index.records[r].library_id for r in rows] for rows in shown]
    index.search(queries[0], EMBEDDER, k=TOP)
    times, found = [], []
    for query, exclude in zip(queries, ids, strict=True):
        for skip in ((), exclude):
            start = time.perf_counter()
            hits = index.search(query, EMBEDDER, k=TOP, exclude=skip)
            times.append(time.perf_counter() - start)
            found.append([h.row for h in hits])
    print(json.dumps({"times": times, "found": found, "rss": rss(), "load_s": load_s,
                      "method": searcher.method}))  # fmt: skip


def run(quick: bool = False, rows: int | None = None, hnsw_rows: int = ROWS) -> list[Table | str]:
    if rows is None and not os.environ.get(ENV):
        return [
            "### A million covers\n\nSkipped: needs ~8 GB of RAM, ~5 GB of disk and many "
            f"minutes. Run `python -m bench.bench_million` (or set {ENV}=1).\n"
        ]
    import faiss

    rows = rows or (100_000 if quick else ROWS)
    faiss.omp_set_num_threads(2)
    source = ClusteredVectors(rows)
    queries = source.queries(QUERIES if not quick else 50)
    with tempfile.TemporaryDirectory(prefix="albumify-bench-million-") as tmp:
        index_dir = Path(tmp) / "index"
        records = [CoverRecord(f"c{i}", f"/covers/{i}.jpg", 400, 400) for i in range(rows)]
        saved = os.environ.get("ALBUMIFY_ANN_MIN_ROWS")
        os.environ["ALBUMIFY_ANN_MIN_ROWS"] = "1"  # this index gets the file at any size
        start = time.perf_counter()
        IndexWriter(index_dir).write(records, {EMBEDDER: (source, "1")})
        write_s = time.perf_counter() - start
        if saved is None:
            os.environ.pop("ALBUMIFY_ANN_MIN_ROWS")
        else:
            os.environ["ALBUMIFY_ANN_MIN_ROWS"] = saved
        del records
        index = CoverIndex.load(index_dir)
        entry = index.embedders[EMBEDDER]
        sizes = {p.name: p.stat().st_size for p in index_dir.iterdir()}
        ours_searcher = index.searcher(EMBEDDER)
        vectors, reduced, basis = ours_searcher.vectors, ours_searcher.reduced, ours_searcher.basis
        centre = ours_searcher.ann.centre
        start = time.perf_counter()
        truth = exact_truth(vectors, queries)
        truth_s = time.perf_counter() - start
        shown = truth[:, :TOP]

        # ANN build time alone, for the table (the write above also built it).
        start = time.perf_counter()
        AnnIndex.build(np.asarray(reduced), centre)
        ivf_build_s = time.perf_counter() - start
        others = build_candidates(np.asarray(reduced), centre, Path(tmp), hnsw_rows)
        faiss.omp_set_num_threads(1)

        def using(candidates: Any) -> Callable[[np.ndarray, np.ndarray | None], np.ndarray]:
            searcher = VectorSearcher(vectors, reduced, basis, ann=candidates)
            return lambda q, skip: searcher.top_k(q, TOP, skip_rows=skip)[0]

        searchers = {"baseline": using(None), "ours (in-process)": using(ours_searcher.ann)}
        searchers.update({name: using(built[0]) for name, built in others.items()})
        times, found = timed(searchers, queries, shown)
        bench_rss = rss()

        payload = Path(tmp) / "queries.npy"
        np.save(payload, np.concatenate([queries, shown.astype(np.float32)], 1))
        child = subprocess.run(
            [sys.executable, "-m", "bench.bench_million", "--serve", str(index_dir), str(payload)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        served = json.loads(child.stdout.strip().splitlines()[-1])

    table = Table(
        f"A million covers: {rows:,} × {DIM} clustered vectors ({CLUSTERS:,} clusters), "
        f"top-{TOP} with re-roll exclusions, one query at a time on one thread",
        ["search", "p50", "p95", "vs baseline (p50)", f"recall@{TOP}", "re-roll recall",
         "build", "disk"],
    )  # fmt: skip
    base = statistics.median(times["baseline"])

    def add(name: str, seconds: list[float], result: list, build: str, disk: str) -> None:
        plain, reroll = recalls(result, truth)
        p50, p95 = statistics.median(seconds), float(np.percentile(seconds, 95))
        ratio = f"{base / p50:.2f}× faster" if p50 <= base else f"{p50 / base:.2f}× slower"
        if seconds is times["baseline"]:
            ratio = "1.00×"
        table.add(name, f"{p50 * 1e3:.1f} ms", f"{p95 * 1e3:.1f} ms", ratio,
                  f"{plain:.3f}", f"{reroll:.3f}", build, disk)  # fmt: skip

    gb = 1024**3
    reduced_file, ann_file = entry["search"]["reduced"], entry["search"]["ann"]["file"]
    exact_ms = truth_s / len(queries) * 1e3
    table.add("exact (truth): batched float32 products over the float16 map",
              f"{exact_ms:.0f} ms/query amortised", "–", "–", "1.000", "1.000", "–",
              f"{sizes[entry['file']] / gb:.2f} GB")  # fmt: skip
    add("baseline: today's PCA-128 scan + exact re-rank of 256", times["baseline"],
        found["baseline"], "(in index write)", f"{sizes[reduced_file] / gb:.2f} GB")  # fmt: skip
    add(f"**ours: faiss IVF-Flat on PCA-128 ({entry['search']['ann']['nlist']} lists, nprobe "
        f"{entry['search']['ann']['nprobe']}) + exact re-rank, CoverIndex.search, own process**",
        served["times"], served["found"], f"{ivf_build_s:.0f} s",
        f"{sizes[ann_file] / gb:.2f} GB")  # fmt: skip
    add("ours, same structure in the bench process", times["ours (in-process)"],
        found["ours (in-process)"], f"{ivf_build_s:.0f} s", "")  # fmt: skip
    for name, (_, seconds, disk) in others.items():
        add(name, times[name], found[name], f"{seconds:.0f} s", f"{disk / gb:.2f} GB")
    if hnsw_rows < rows:
        table.add(f"HNSW (faiss, usearch): not built at {rows:,} (see the README)", *["–"] * 7)
    rss_ours = served["rss"]
    table.add(
        f"resident memory, ours in its own process: {rss_ours['RssAnon']:.2f} GB anonymous "
        f"(records, IVF lists) + {rss_ours['RssFile']:.2f} GB of the mapped float16 vectors "
        f"(page cache: shared by a host's workers, reclaimable); load {served['load_s']:.0f} s. "
        f"Bench process: {bench_rss['RssAnon']:.2f} GB anon + {bench_rss['RssFile']:.2f} GB "
        f"file, peak {bench_rss['VmHWM']:.2f} GB. "
        f"Index write incl. PCA and IVF: {write_s:.0f} s; {len(queries)} queries × 2",
        *[""] * 7,
    )
    table.add("target for ours", "≤ 20 ms", "", "", "≥ 0.95", "", "", "")
    return [table]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_million")
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--hnsw-rows", type=int, default=ROWS,
                        help="build the HNSW candidates only up to this many rows")  # fmt: skip
    parser.add_argument("--serve", nargs=2, metavar=("INDEX", "QUERIES"), help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.serve:
        serve(*options.serve)
        return 0
    for table in run(rows=options.rows, hnsw_rows=options.hnsw_rows):
        print(table if isinstance(table, str) else table.markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
