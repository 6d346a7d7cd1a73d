"""The approximate-search file (index/ann.py) in the index manifest, on a small clustered set.

Small and fast: 24k × 512 (the smallest index that gets PCA vectors) with the file forced on
by `ALBUMIFY_ANN_MIN_ROWS`; speed at a million rows is `bench/bench_million.py`'s business.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from index import ann, library
from index.library import MANIFEST, CoverIndex, CoverRecord, IndexWriter
from models.vectors import l2_normalise

pytest.importorskip("faiss")

ROWS, DIM, CLUSTERS, EMBEDDER = 24_000, 512, 120, "clustered-v1"


def clustered(rows: int, seed: int) -> np.ndarray:
    """Non-negative, L2-normalised points around `CLUSTERS` centres (like pooled features)."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).standard_normal((CLUSTERS, DIM), np.float32)
    points = centres[rng.integers(0, CLUSTERS, rows)]
    points += 0.8 * rng.standard_normal(points.shape, np.float32)
    return l2_normalise(np.maximum(points, 0))


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    return clustered(ROWS, seed=0)


@pytest.fixture(scope="module")
def queries() -> np.ndarray:
    return clustered(40, seed=1)


def write_index(root: Path, vectors: np.ndarray, ann_min_rows: str = "1") -> CoverIndex:
    records = [CoverRecord(f"c{i}", f"/covers/{i}.jpg", 400, 400) for i in range(len(vectors))]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ALBUMIFY_ANN_MIN_ROWS", ann_min_rows)
        IndexWriter(root).write(records, {EMBEDDER: (vectors, "1")})
    return CoverIndex.load(root)


@pytest.fixture(scope="module")
def ann_index(tmp_path_factory, vectors) -> CoverIndex:
    return write_index(tmp_path_factory.mktemp("ann"), vectors)


def exact_top(index: CoverIndex, query: np.ndarray, k: int, skip: set[int] = frozenset()):
    scores = np.asarray(index.vectors(EMBEDDER), np.float32) @ query
    order = [int(r) for r in np.argsort(-scores, kind="stable") if int(r) not in skip]
    return order[:k]


def test_the_file_round_trips_through_the_manifest(ann_index):
    entry = ann_index.manifest["embedders"][EMBEDDER]["search"]["ann"]
    assert entry["method"] == ann.METHOD
    assert (ann_index.root / entry["file"]).is_file()
    assert entry["nlist"] == ann.list_count(ROWS)
    assert (
        len(entry["centre"]) == ann_index.manifest["embedders"][EMBEDDER]["search"]["reduced_dim"]
    )
    searcher = ann_index.searcher(EMBEDDER)
    assert searcher.method == "ivf-rerank"
    assert searcher.ann.rows == ROWS
    assert searcher.ann.nprobe == entry["nprobe"]


def test_below_the_threshold_an_index_gets_no_file(tmp_path, vectors):
    index = write_index(tmp_path, vectors, ann_min_rows=str(ROWS + 1))
    assert "ann" not in index.manifest["embedders"][EMBEDDER]["search"]
    assert not list(tmp_path.glob("*.faiss"))
    assert index.searcher(EMBEDDER).method == "pca-rerank"


def test_an_index_without_the_file_searches_exactly_as_before(tmp_path, vectors, queries):
    """An old index (no "ann" entry) and one whose entry this version does not know: both
    load and give the PCA scan's results, the same rows as an index written without it."""
    old = write_index(tmp_path / "old", vectors, ann_min_rows=str(ROWS + 1))
    new_root = tmp_path / "new"
    write_index(new_root, vectors)
    manifest = json.loads((new_root / MANIFEST).read_text())
    manifest["embedders"][EMBEDDER]["search"]["ann"]["method"] = "some-future-structure"
    (new_root / MANIFEST).write_text(json.dumps(manifest))
    unknown = CoverIndex.load(new_root)
    assert unknown.searcher(EMBEDDER).method == "pca-rerank"
    for query in queries[:10]:
        expected = [h.row for h in old.search(query, EMBEDDER, k=10)]
        assert [h.row for h in unknown.search(query, EMBEDDER, k=10)] == expected


def test_without_faiss_the_file_is_skipped(tmp_path, vectors, queries, monkeypatch):
    """A reader without faiss scans instead; a writer without it writes no file."""
    with_file = write_index(tmp_path / "with", vectors)
    monkeypatch.setitem(sys.modules, "faiss", None)  # `import faiss` now fails
    reader = CoverIndex.load(with_file.root)
    assert reader.searcher(EMBEDDER).method == "pca-rerank"
    assert reader.search(queries[0], EMBEDDER, k=10)
    written = write_index(tmp_path / "without", vectors)
    assert "ann" not in written.manifest["embedders"][EMBEDDER]["search"]


def test_search_finds_the_exact_top_10(ann_index, queries):
    """Recall@10 against exact search on the stored vectors: ≥ 0.95 required (this set
    gives 1.0: every query's neighbours are in the lists it scans)."""
    found = [
        len({h.row for h in ann_index.search(q, EMBEDDER, k=10)} & set(exact_top(ann_index, q, 10)))
        / 10
        for q in queries
    ]
    assert np.mean(found) >= 0.95, np.mean(found)


def test_re_roll_exclusions_are_honoured(ann_index, queries):
    """Excluded covers never come back, and the next-best ones do (over-fetch, filter)."""
    recalls = []
    for query in queries:
        first = [h.record.library_id for h in ann_index.search(query, EMBEDDER, k=10)]
        hits = ann_index.search(query, EMBEDDER, k=10, exclude=first)
        assert len(hits) == 10
        assert not {h.record.library_id for h in hits} & set(first)
        shown_rows = {int(i[1:]) for i in first}
        expected = exact_top(ann_index, query, 10, skip=shown_rows)
        recalls.append(len({h.row for h in hits} & set(expected)) / 10)
    assert np.mean(recalls) >= 0.95, np.mean(recalls)


def test_a_large_exclusion_list_falls_back_to_the_scan(ann_index, queries):
    """When the over-fetched candidates are all excluded the search still answers."""
    searcher = ann_index.searcher(EMBEDDER)
    skip = np.arange(ROWS - 5, dtype=np.int64)  # all but the last 5 covers shown
    rows, _ = searcher.top_k(queries[0], 10, skip_rows=skip)
    assert sorted(rows.tolist()) == list(range(ROWS - 5, ROWS))


def test_results_are_deterministic(tmp_path, ann_index, vectors, queries):
    """Two builds of the same vectors, and two loads, give the same rows in the same order."""
    again = write_index(tmp_path, vectors)
    reloaded = CoverIndex.load(ann_index.root)
    for query in queries[:10]:
        rows = [h.row for h in ann_index.search(query, EMBEDDER, k=10)]
        assert [h.row for h in again.search(query, EMBEDDER, k=10)] == rows
        assert [h.row for h in reloaded.search(query, EMBEDDER, k=10)] == rows


def test_a_new_generation_removes_the_old_file(tmp_path, vectors):
    first = write_index(tmp_path, vectors)
    old_file = first.manifest["embedders"][EMBEDDER]["search"]["ann"]["file"]
    second = write_index(tmp_path, vectors)
    new_file = second.manifest["embedders"][EMBEDDER]["search"]["ann"]["file"]
    assert new_file != old_file
    assert (tmp_path / new_file).is_file()
    assert not (tmp_path / old_file).exists()


def test_index_info_names_the_file(ann_index):
    from index.info import describe_index

    assert f"search pca-rerank + {ann.METHOD}" in describe_index(ann_index.root)


def test_faiss_is_installed_on_workers_only():
    """The worker image installs the `search` extra; the bot image never gets faiss."""
    root = Path(__file__).resolve().parents[1]
    assert (
        'pip install --no-cache-dir ".[search]"' in (root / "docker/worker.Dockerfile").read_text()
    )
    assert "faiss" not in (root / "docker/bot.Dockerfile").read_text()
    assert '"faiss-cpu' in (root / "pyproject.toml").read_text()


def test_large_vector_files_are_written_in_chunks_with_the_same_bytes(ann_index, vectors):
    """Above one chunk the float16 file is written piecewise (a 1M × 2048 float32 copy would
    be 8 GB); it holds exactly what a whole-array conversion would."""
    assert ROWS > library._WRITE_CHUNK_ROWS
    stored = np.load(ann_index.root / ann_index.embedders[EMBEDDER]["file"])
    assert stored.dtype == np.float16
    assert np.array_equal(stored, l2_normalise(vectors).astype(np.float16))


def test_the_threshold_setting(monkeypatch):
    from albumify.errors import ConfigError
    from albumify.settings import DEFAULT_ANN_MIN_ROWS, ann_min_rows
    from index.search import wants_ann

    monkeypatch.delenv("ALBUMIFY_ANN_MIN_ROWS", raising=False)
    assert ann_min_rows() == DEFAULT_ANN_MIN_ROWS
    assert not wants_ann(DEFAULT_ANN_MIN_ROWS - 1, 2048)
    assert wants_ann(DEFAULT_ANN_MIN_ROWS, 2048)
    assert not wants_ann(DEFAULT_ANN_MIN_ROWS, 196)  # narrow descriptors are scanned
    monkeypatch.setenv("ALBUMIFY_ANN_MIN_ROWS", "50000")
    assert wants_ann(50_000, 2048)
    for bad in ("0", "many"):
        monkeypatch.setenv("ALBUMIFY_ANN_MIN_ROWS", bad)
        with pytest.raises(ConfigError, match="ALBUMIFY_ANN_MIN_ROWS"):
            ann_min_rows()


def test_match_uses_the_file_and_moves_away_from_shown_covers(ann_index, queries):
    """The cover choice (`match`) takes its candidates from the file too; a re-roll never
    returns a cover already shown."""
    shown: list[str] = []
    for seed in range(3):
        hit = ann_index.match(queries[0], EMBEDDER, exclude=shown, seed=seed)
        assert hit is not None and hit.record.library_id not in shown
        shown.append(hit.record.library_id)
    assert len(set(shown)) == 3
