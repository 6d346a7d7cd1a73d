"""Search over indexes written from planted vectors: nearest neighbour, re-roll exclusions,
genre filter, and the reduced + re-rank path that large indexes get."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index import search as index_search
from index.library import CoverIndex, CoverRecord, IndexWriter
from models.vectors import l2_normalise

GENRES = ("rock", "Jazz", "pop", None)


def write_index(root: Path, vectors: np.ndarray, name: str = "test-v1") -> CoverIndex:
    records = [
        CoverRecord(f"cover-{i}", f"/covers/{i}.jpg", 300, 300, genre=GENRES[i % len(GENRES)])
        for i in range(len(vectors))
    ]
    IndexWriter(root).write(records, {name: (vectors, "1")})
    return CoverIndex.load(root)


def clustered(rows: int, dim: int, clusters: int, seed: int = 0) -> np.ndarray:
    """Non-negative clustered vectors, like pooled CNN features."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    vectors = centres[rng.integers(0, clusters, rows)]
    vectors += 0.8 * rng.standard_normal((rows, dim)).astype(np.float32)
    return l2_normalise(np.maximum(vectors, 0))


def exact_ranking(index: CoverIndex, query: np.ndarray, name: str = "test-v1") -> np.ndarray:
    scores = np.asarray(index.vectors(name), dtype=np.float32) @ l2_normalise(query)
    return np.argsort(-scores, kind="stable")


@pytest.fixture
def small(tmp_path: Path) -> CoverIndex:
    return write_index(tmp_path / "idx", clustered(400, 64, 10))


def test_planted_nearest_neighbour_comes_first(small: CoverIndex) -> None:
    target = small.vectors("test-v1")[123].astype(np.float32)
    query = target + 0.02 * np.random.default_rng(1).standard_normal(64)
    hits = small.search(query, "test-v1", k=5)
    assert [h.row for h in hits] == list(exact_ranking(small, query)[:5])
    assert hits[0].row == 123 and hits[0].record.library_id == "cover-123"
    assert hits[0].similarity > 0.99 and hits[0].similarity >= hits[1].similarity


def test_reroll_walks_down_the_ranking_without_repeats(small: CoverIndex) -> None:
    query = small.vectors("test-v1")[7].astype(np.float32)
    shown: list[str] = []
    for _ in range(6):
        hit = small.search(query, "test-v1", k=1, exclude=shown)[0]
        assert hit.record.library_id not in shown
        shown.append(hit.record.library_id)
    expected = [f"cover-{row}" for row in exact_ranking(small, query)[:6]]
    assert shown == expected
    # Unknown ids (a cover removed by a rebuild) are ignored rather than an error.
    assert small.search(query, "test-v1", k=1, exclude=["gone"])[0].row == 7


def test_genre_filter_is_case_insensitive_and_combines_with_exclusions(
    small: CoverIndex,
) -> None:
    query = small.vectors("test-v1")[0].astype(np.float32)  # cover-0 is rock
    hits = small.search(query, "test-v1", k=10, genre="JAZZ")
    assert len(hits) == 10 and {h.record.genre for h in hits} == {"Jazz"}
    ranking = [r for r in exact_ranking(small, query) if r % len(GENRES) == 1]
    assert [h.row for h in hits] == ranking[:10]
    rerolled = small.search(query, "test-v1", k=3, genre="jazz", exclude=["cover-0", "cover-1"])
    assert "cover-1" not in {h.record.library_id for h in rerolled}
    assert small.search(query, "test-v1", genre="polka") == []
    assert small.genres() == {"jazz": 100, "pop": 100, "rock": 100}


def test_k_larger_than_what_is_left(small: CoverIndex) -> None:
    query = np.ones(64)
    rock = [r.library_id for r in small.records if r.genre == "rock"]
    hits = small.search(query, "test-v1", k=5, genre="rock", exclude=rock[:-2])
    assert sorted(h.record.library_id for h in hits) == sorted(rock[-2:])
    everything = [r.library_id for r in small.records]
    assert small.search(query, "test-v1", k=5, exclude=everything) == []


def test_wrong_query_width_is_an_error(small: CoverIndex) -> None:
    with pytest.raises(ValueError, match="dim 32"):
        small.search(np.ones(32), "test-v1")


def test_small_indexes_search_exactly(small: CoverIndex) -> None:
    assert small.searcher("test-v1").method == "exact"
    assert "search" not in small.embedders["test-v1"]


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> CoverIndex:
    rows = index_search.REDUCED_MIN_ROWS
    root = tmp_path_factory.mktemp("large") / "idx"
    return write_index(root, clustered(rows, index_search.REDUCED_MIN_DIM, 400, seed=3))


def test_large_indexes_get_the_reduced_search_files(large: CoverIndex) -> None:
    entry = large.embedders["test-v1"]
    assert entry["search"]["method"] == "pca-rerank"
    assert (large.root / entry["search"]["reduced"]).is_file()
    assert large.searcher("test-v1").method == "pca-rerank"
    vectors = large.vectors("test-v1")
    assert vectors.dtype == np.float16 and vectors.shape == (len(large), 512)


def test_reduced_search_matches_exact_search(large: CoverIndex) -> None:
    rng = np.random.default_rng(5)
    recalls = []
    for row in rng.integers(0, len(large), 20):
        query = large.vectors("test-v1")[row].astype(np.float32)
        query += 0.05 * rng.standard_normal(query.shape).astype(np.float32)
        hits = large.search(query, "test-v1", k=10)
        exact = exact_ranking(large, query)[:10]
        assert hits[0].row == exact[0] == row
        recalls.append(len({h.row for h in hits} & set(exact)) / 10)
        # Similarities are exact (re-ranked from the stored vectors), not approximations.
        stored = np.asarray(large.vectors("test-v1")[hits[0].row], dtype=np.float32)
        assert hits[0].similarity == pytest.approx(float(stored @ l2_normalise(query)), abs=1e-5)
    assert np.mean(recalls) >= 0.95


def test_reduced_search_honours_exclusions_and_genre(large: CoverIndex) -> None:
    query = large.vectors("test-v1")[42].astype(np.float32)
    first = large.search(query, "test-v1", k=3)
    assert first[0].row == 42
    again = large.search(query, "test-v1", k=3, exclude=[h.record.library_id for h in first])
    assert not {h.row for h in first} & {h.row for h in again}
    pop = large.search(query, "test-v1", k=5, genre="pop")
    assert len(pop) == 5 and {h.record.genre for h in pop} == {"pop"}
    # k beyond the re-rank depth still returns k distinct covers, best first.
    many = large.search(query, "test-v1", k=index_search.RERANK_DEPTH + 50)
    assert len({h.row for h in many}) == index_search.RERANK_DEPTH + 50
    similarities = [h.similarity for h in many]
    assert similarities == sorted(similarities, reverse=True)


def test_rewriting_removes_the_previous_generation(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(index_search, "REDUCED_MIN_ROWS", 50)
    monkeypatch.setattr(index_search, "REDUCED_MIN_DIM", 16)
    vectors = clustered(300, 32, 5)
    write_index(tmp_path / "idx", vectors)
    index = write_index(tmp_path / "idx", vectors[:200])
    names = sorted(p.name for p in (tmp_path / "idx").iterdir())
    assert names == [
        "covers.2.jsonl",
        "manifest.json",
        "vectors.test-v1.2.npy",
        "vectors.test-v1.basis.2.npy",
        "vectors.test-v1.reduced.2.npy",
    ]
    assert len(index) == 200 and index.searcher("test-v1").method == "pca-rerank"
