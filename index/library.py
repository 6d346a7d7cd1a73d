"""The index directory format (a contract: other tools read and write it).

    INDEX/
      manifest.json            format version, embedders (name, version, dim, file), counts,
                               and the names of the current metadata / W+ files
      covers.<gen>.jsonl       one JSON object per library cover, in vector row order
      vectors.<embedder>.<gen>.npy   float16 [N, dim], L2-normalised, memory-mappable
      wplus.<gen>.npy          optional float16 [N, 18, 512]: each cover's pSp W+ (NaN = none)
      vectors.<embedder>.reduced.<gen>.npy, vectors.<embedder>.basis.<gen>.npy
                               large indexes only: the search accelerator (see index.search),
                               listed under the embedder's "search" entry in the manifest
      vectors.<embedder>.ann.<gen>.faiss
                               very large indexes only, optional: the approximate-search file
                               (see index.ann), the "ann" entry inside "search"; readers that
                               do not know it (or lack faiss) scan the reduced vectors instead
      covers/                  images of generated covers (real libraries point at their files)

Every write goes to new file names and the manifest is replaced last with `os.replace`, so a
crash mid-write leaves the previous index readable; files the manifest no longer names are
removed afterwards.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from albumify.errors import MissingAsset
from index.ann import load_entry as load_ann_file
from index.ann import write_file as write_ann_file
from index.search import (
    HubnessScorer,
    VectorSearcher,
    choose,
    fit_projection,
    project,
    wants_ann,
    wants_reduced,
)
from models.vectors import l2_normalise

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_WRITE_CHUNK_ROWS = 16_384


@dataclass
class FaceRecord:
    box: list[float]
    """x0, y0, x1, y1 in the cover's pixels."""
    landmarks: list[list[float]]
    """Five (x, y) points: left eye, right eye, nose, left and right mouth corners."""
    score: float = 1.0


@dataclass
class CoverRecord:
    library_id: str
    path: str
    """Relative to the index directory, or absolute for covers left where they were found."""
    width: int
    height: int
    genre: str | None = None
    artist: str | None = None
    title: str | None = None
    face: FaceRecord | None = None
    phash: str = ""
    colour: list[int] | None = None
    """Mean RGB of each quadrant (12 ints): tells apart covers whose pHash alone matches."""
    placement: list[float] = field(default_factory=lambda: [0.2, 0.2, 0.8, 0.95])
    """Where a member's cutout goes, as fractions x0, y0, x1, y1 of the cover."""
    style: dict[str, Any] = field(default_factory=dict)
    """Typography hints: font, colours, layout (see imaging.typography)."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> CoverRecord:
        data = json.loads(line)
        face = data.pop("face", None)
        return cls(face=FaceRecord(**face) if face else None, **data)


@dataclass(frozen=True)
class SearchHit:
    record: CoverRecord
    row: int
    similarity: float
    """Cosine similarity of the photo and the cover."""
    score: float | None = None
    """`match` only: the hubness-reduced score the cover was chosen by."""
    best_score: float | None = None
    """`match` only: the best score any cover had (the margin is `best_score - score`)."""


class CoverIndex:
    """A read-only view of an index directory; vectors are memory-mapped on first use."""

    def __init__(self, root: Path, manifest: dict[str, Any], records: list[CoverRecord]):
        self.root = root
        self.manifest = manifest
        self.records = records
        self._vectors: dict[str, np.ndarray] = {}
        self._searchers: dict[str, VectorSearcher] = {}
        self._scorers: dict[str, HubnessScorer] = {}
        self._wplus: np.ndarray | None = None
        self._row_by_id: dict[str, int] | None = None
        self._rows_by_genre: dict[str, np.ndarray] | None = None

    # -- loading -------------------------------------------------------------------------
    @classmethod
    def load(cls, root: str | os.PathLike[str]) -> CoverIndex:
        root = Path(root)
        manifest_path = root / MANIFEST
        if not manifest_path.is_file():
            if root.is_dir() and any(_looks_like_image(p) for p in root.iterdir()):
                raise MissingAsset(
                    f"{root} is a folder of images, not a cover index. "
                    f"Build one first: albumify index build {root} -o INDEX"
                )
            raise MissingAsset(
                f"No cover index at {root} (no {MANIFEST}). "
                "Build one with: albumify index build SRC -o INDEX"
            )
        try:
            manifest = json.loads(manifest_path.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise MissingAsset(f"The index manifest {manifest_path} is unreadable: {exc}") from exc
        version = manifest.get("format_version")
        if version != FORMAT_VERSION:
            raise MissingAsset(
                f"Index {root} has format version {version}; this Albumify reads version "
                f"{FORMAT_VERSION}. Rebuild it with: albumify index build"
            )
        meta_path = root / manifest["metadata"]
        try:
            with meta_path.open(encoding="utf-8") as fh:
                records = [CoverRecord.from_json(line) for line in fh if line.strip()]
        except (OSError, ValueError, TypeError) as exc:
            raise MissingAsset(f"Index metadata {meta_path} is unreadable: {exc}") from exc
        if len(records) != manifest["counts"]["covers"]:
            raise MissingAsset(
                f"Index {root} is inconsistent: manifest says {manifest['counts']['covers']} "
                f"covers, metadata has {len(records)}. Rebuild it."
            )
        return cls(root, manifest, records)

    # -- vectors -------------------------------------------------------------------------
    @property
    def embedders(self) -> dict[str, dict[str, Any]]:
        return self.manifest.get("embedders", {})

    def has_embedder(self, name: str) -> bool:
        return name in self.embedders

    def vectors(self, embedder: str) -> np.ndarray:
        if embedder not in self.embedders:
            have = ", ".join(sorted(self.embedders)) or "none"
            raise MissingAsset(
                f"Index {self.root} has no vectors for embedder '{embedder}' (it has: {have}). "
                f"Add them with: albumify index add {self.root} --embedder {embedder}"
            )
        if embedder not in self._vectors:
            info = self.embedders[embedder]
            path = self.root / info["file"]
            try:
                array = np.load(path, mmap_mode="r")
            except (OSError, ValueError) as exc:
                raise MissingAsset(f"Index vectors {path} are unreadable: {exc}") from exc
            if array.shape != (len(self.records), info["dim"]):
                raise MissingAsset(
                    f"Index vectors {path} have shape {array.shape}, expected "
                    f"({len(self.records)}, {info['dim']}). Rebuild the index."
                )
            self._vectors[embedder] = array
        return self._vectors[embedder]

    def wplus(self) -> np.ndarray | None:
        """Each cover's W+ [N, 18, 512] (rows of NaN where a cover has none), if stored."""
        name = self.manifest.get("wplus")
        if not name:
            return None
        if self._wplus is None:
            self._wplus = np.load(self.root / name, mmap_mode="r")
        return self._wplus

    def searcher(self, embedder: str) -> VectorSearcher:
        """The search path for `embedder`: exact, or reduced + re-rank when the index has it."""
        if embedder not in self._searchers:
            vectors = self.vectors(embedder)
            accel = self.embedders[embedder].get("search")
            reduced = basis = ann = None
            if accel and accel.get("method") == "pca-rerank":
                try:
                    reduced = np.load(self.root / accel["reduced"], mmap_mode="r")
                    basis = np.load(self.root / accel["basis"])
                except (OSError, ValueError) as exc:
                    raise MissingAsset(
                        f"Index search files for '{embedder}' are unreadable: {exc}. Rebuild it."
                    ) from exc
                if reduced.shape[0] != len(self.records) or basis.shape[0] != vectors.shape[1]:
                    raise MissingAsset(f"Index search files for '{embedder}' are inconsistent.")
                ann = load_ann_file(self.root, embedder, accel.get("ann"), len(self.records))
            self._searchers[embedder] = VectorSearcher(vectors, reduced, basis, ann=ann)
        return self._searchers[embedder]

    # -- search --------------------------------------------------------------------------
    def search(
        self,
        query: np.ndarray,
        embedder: str,
        k: int = 5,
        exclude: Iterable[str] = (),
        genre: str | None = None,
    ) -> list[SearchHit]:
        """Cosine top-k; `exclude` holds library ids already shown (re-roll = next best).

        `genre` matches case-insensitively; an unknown genre matches nothing.
        """
        searcher = self.searcher(embedder)
        query = l2_normalise(np.asarray(query, dtype=np.float32).reshape(-1))
        if query.shape[0] != searcher.vectors.shape[1]:
            raise ValueError(
                f"query has dim {query.shape[0]}, index has {searcher.vectors.shape[1]}"
            )
        skip = self._rows(exclude)
        keep = None
        if genre:
            keep = self._genre_map().get(genre.strip().lower(), np.zeros(0, dtype=np.int64))
        rows, similarities = searcher.top_k(query, k, skip_rows=skip, keep_rows=keep)
        return [
            SearchHit(self.records[row], int(row), float(sim))
            for row, sim in zip(rows, similarities, strict=True)
        ]

    def match(
        self, query: np.ndarray, embedder: str, exclude: Iterable[str] = (), seed: int = 0
    ) -> SearchHit | None:
        """The cover for a photo: the best hubness-reduced score, near-ties broken by `seed`,
        away from the covers in `exclude` (a re-roll); None when every cover was excluded."""
        searcher = self.searcher(embedder)
        query = l2_normalise(np.asarray(query, dtype=np.float32).reshape(-1))
        if embedder not in self._scorers:
            self._scorers[embedder] = HubnessScorer.fit(searcher.vectors, searcher.reduced)
        chosen = choose(searcher, self._scorers[embedder], query, seed, self._rows(exclude))
        if chosen is None:
            return None
        similarity = float(np.asarray(searcher.vectors[chosen.row], np.float32) @ query)
        return SearchHit(
            self.records[chosen.row], chosen.row, similarity, chosen.score, chosen.best_score
        )

    def _rows(self, library_ids: Iterable[str]) -> np.ndarray:
        row_by_id = self._id_map()
        ids = set(library_ids)
        return np.fromiter((row_by_id[i] for i in ids if i in row_by_id), dtype=np.int64)

    def genres(self) -> dict[str, int]:
        """Cover count per genre (lower-cased), most common first."""
        counts = {genre: len(rows) for genre, rows in self._genre_map().items()}
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))

    def _id_map(self) -> dict[str, int]:
        if self._row_by_id is None:
            self._row_by_id = {r.library_id: row for row, r in enumerate(self.records)}
        return self._row_by_id

    def _genre_map(self) -> dict[str, np.ndarray]:
        if self._rows_by_genre is None:
            rows: dict[str, list[int]] = {}
            for row, record in enumerate(self.records):
                if record.genre:
                    rows.setdefault(record.genre.strip().lower(), []).append(row)
            self._rows_by_genre = {g: np.asarray(r, dtype=np.int64) for g, r in rows.items()}
        return self._rows_by_genre

    # -- covers --------------------------------------------------------------------------
    def cover_path(self, record: CoverRecord) -> Path:
        path = Path(record.path)
        return path if path.is_absolute() else self.root / path

    def by_id(self, library_id: str) -> CoverRecord:
        return self.records[self._id_map()[library_id]]

    def __len__(self) -> int:
        return len(self.records)


class IndexWriter:
    """Writes a whole index generation; the manifest swap makes it visible atomically."""

    def __init__(self, root: str | os.PathLike[str], kind: str = "library"):
        self.root = Path(root)
        self.kind = kind

    @classmethod
    def rewrite(
        cls,
        index: CoverIndex,
        add_vectors: dict[str, tuple[np.ndarray, str]] | None = None,
        wplus: np.ndarray | None = None,
    ) -> Path:
        """A new generation of `index` with more vectors and/or W+; the rest carried over."""
        vectors = {
            name: (np.asarray(index.vectors(name)), info["version"])
            for name, info in index.embedders.items()
        }
        vectors.update(add_vectors or {})
        writer = cls(index.root, kind=index.manifest.get("kind", "library"))
        return writer.write(
            index.records,
            vectors,
            index.wplus() if wplus is None else wplus,
            carried_manifest_keys(index.manifest),
        )

    def write(
        self,
        records: Sequence[CoverRecord],
        vectors: dict[str, tuple[np.ndarray, str]],
        wplus: np.ndarray | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Path:
        """`vectors` maps embedder name → (array [N, dim], embedder version)."""
        self.root.mkdir(parents=True, exist_ok=True)
        generation = self._next_generation()
        manifest: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "generation": generation,
            "metadata": f"covers.{generation}.jsonl",
            "embedders": {},
            "counts": {
                "covers": len(records),
                "with_face": sum(1 for r in records if r.face is not None),
            },
        }
        _atomic_write_text(
            self.root / manifest["metadata"], "".join(r.to_json() + "\n" for r in records)
        )
        for name, (source, version) in vectors.items():
            if source.shape[0] != len(records):
                raise ValueError(f"{name}: {source.shape[0]} vectors for {len(records)} covers")
            file = f"vectors.{name}.{generation}.npy"
            array = _atomic_save_unit_f16(self.root / file, source)
            manifest["embedders"][name] = {
                "file": file,
                "version": version,
                "dim": int(array.shape[1]),
                "dtype": "float16",
            }
            if wants_reduced(*array.shape):
                manifest["embedders"][name]["search"] = self._write_reduced(name, array, generation)
        if wplus is not None:
            file = f"wplus.{generation}.npy"
            _atomic_save_npy(self.root / file, np.asarray(wplus, dtype=np.float16))
            manifest["wplus"] = file
        manifest.update(extra or {})
        _atomic_write_text(self.root / MANIFEST, json.dumps(manifest, indent=2) + "\n")
        self._remove_stale(manifest)
        return self.root

    def _write_reduced(self, name: str, array: np.ndarray, generation: int) -> dict[str, Any]:
        """The search accelerator of a large index (see index.search), same generation."""
        mean, basis = fit_projection(array)
        reduced_file = f"vectors.{name}.reduced.{generation}.npy"
        basis_file = f"vectors.{name}.basis.{generation}.npy"
        reduced = project(array, mean, basis)
        _atomic_save_npy(self.root / reduced_file, reduced)
        _atomic_save_npy(self.root / basis_file, basis)
        entry: dict[str, Any] = {
            "method": "pca-rerank",
            "reduced": reduced_file,
            "basis": basis_file,
            "reduced_dim": int(basis.shape[1]),
        }
        if wants_ann(*array.shape):
            ann_name = f"vectors.{name}.ann.{generation}.faiss"
            ann = write_ann_file(self.root / ann_name, reduced, mean @ basis)
            if ann is not None:
                entry["ann"] = ann
        return entry

    def _next_generation(self) -> int:
        try:
            current = json.loads((self.root / MANIFEST).read_text("utf-8"))
            return int(current.get("generation", 0)) + 1
        except (OSError, ValueError):
            return 1

    def _remove_stale(self, manifest: dict[str, Any]) -> None:
        live = {manifest["metadata"], MANIFEST}
        for info in manifest["embedders"].values():
            live.add(info["file"])
            search = info.get("search") or {}
            live.update(search[key] for key in ("reduced", "basis") if key in search)
            if search.get("ann"):
                live.add(search["ann"]["file"])
        if manifest.get("wplus"):
            live.add(manifest["wplus"])
        for path in self.root.iterdir():
            generated = path.name.startswith(("covers.", "vectors.", "wplus."))
            if path.is_file() and generated and path.name not in live:
                path.unlink(missing_ok=True)


_WRITER_KEYS = {"format_version", "kind", "generation", "metadata", "embedders", "counts", "wplus"}


def carried_manifest_keys(manifest: dict[str, Any]) -> dict[str, Any]:
    """Manifest entries other tools added (e.g. the starter library's): kept on rewrite."""
    return {k: v for k, v in manifest.items() if k not in _WRITER_KEYS}


@contextmanager
def _atomic_file(path: Path, mode: str) -> Iterator[IO[Any]]:
    """Write beside `path`, fsync, then rename over it: readers see old or new, never half."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_save_unit_f16(path: Path, vectors: np.ndarray) -> np.ndarray:
    """`vectors` L2-normalised as float16 .npy, converted in chunks (a million 2048-d rows are
    8 GB as float32: never all at once); returns the written file memory-mapped."""
    rows, dim = vectors.shape
    if rows <= _WRITE_CHUNK_ROWS:
        _atomic_save_npy(path, l2_normalise(vectors).astype(np.float16))
        return np.load(path, mmap_mode="r")
    with _atomic_file(path, "wb") as fh:
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float16)),
                  "fortran_order": False, "shape": (rows, dim)}  # fmt: skip
        np.lib.format.write_array_header_1_0(fh, header)
        for start in range(0, rows, _WRITE_CHUNK_ROWS):
            chunk = l2_normalise(vectors[start : start + _WRITE_CHUNK_ROWS])
            fh.write(np.ascontiguousarray(chunk, dtype=np.float16).tobytes())
    return np.load(path, mmap_mode="r")


def _atomic_write_text(path: Path, text: str) -> None:
    with _atomic_file(path, "w") as fh:
        fh.write(text)


def _atomic_save_npy(path: Path, array: np.ndarray) -> None:
    with _atomic_file(path, "wb") as fh:
        np.save(fh, array)


_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}


def _looks_like_image(path: Path) -> bool:
    return path.suffix.lower() in _IMAGE_SUFFIXES
