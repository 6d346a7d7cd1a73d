"""Building an index from folders of covers, or appending to one.

A build scans files in batches (`index.scan`: decode, pHash, face, description), then makes
one embedder call per batch for every embedder. Each finished batch is committed to
`INDEX/.build/` (`index.workdir`), so an interrupted build resumes where it stopped. The final
index is written by `IndexWriter` (a new generation, manifest swapped last) and the work
directory is removed. Adding an embedder to an index is `index.embedding.add_embedder`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from albumify.errors import BadInput, MissingAsset
from index.embedding import embed
from index.library import CoverIndex, CoverRecord, IndexWriter, carried_manifest_keys
from index.phash import DEFAULT_MAX_DISTANCE, NearDuplicateFilter, from_hex
from index.scan import Scanned, Scanner
from index.sources import discover
from index.workdir import Batch, WorkDir
from models.backends import available_embedders
from models.embedder import Embedder


@dataclass
class BuildOptions:
    min_face: int = 40
    """Smallest usable face, in the cover's pixels (the shorter side of the face box)."""
    genre_from_folders: bool = False
    keep_faceless: bool = False
    """Keep covers without a usable face (no face record; a default placement region)."""
    max_duplicate_distance: int = DEFAULT_MAX_DISTANCE
    batch_size: int = 32


@dataclass
class BuildReport:
    index_dir: Path
    scanned: int = 0
    """Files looked at by this run and by the interrupted runs it resumed."""
    kept: int = 0
    duplicates: int = 0
    without_face: int = 0
    already_indexed: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    resumed_files: int = 0
    total_covers: int = 0

    def summary(self) -> str:
        lines = [
            f"Index {self.index_dir}: {self.total_covers} covers "
            f"({self.kept} added from {self.scanned} files"
            + (f", {self.resumed_files} from an interrupted run" if self.resumed_files else "")
            + ")",
            f"  skipped: {self.duplicates} near-duplicates, {self.without_face} without a usable "
            f"face, {len(self.unreadable)} unreadable"
            + (f", {self.already_indexed} already indexed" if self.already_indexed else ""),
        ]
        lines += [f"  unreadable: {path}: {reason}" for path, reason in self.unreadable]
        return "\n".join(lines)


def build_index(
    sources: Sequence[str | Path],
    index_dir: str | Path,
    options: BuildOptions | None = None,
    embedders: Sequence[Embedder] | None = None,
    detector: Any = None,
    append: bool = False,
    on_batch: Callable[[int], None] | None = None,
    progress: bool = True,
) -> BuildReport:
    """Build (or, with `append`, extend) the index at `index_dir` from `sources`.

    `detector` defaults to MTCNN; `on_batch(n)` runs after batch n is committed (tests use it
    to simulate an interruption).
    """
    options = options or BuildOptions()
    index_dir = Path(index_dir).expanduser().resolve()
    existing = CoverIndex.load(index_dir) if append else None
    if embedders is None:
        embedders = available_embedders()
    if existing is not None:
        embedders = _embedders_for(existing, embedders)
    if not embedders:
        raise MissingAsset("No embedder is available to build the index with.")
    if detector is None:
        from models.faces import FaceDetector

        detector = FaceDetector(min_face=1)  # the scanner applies options.min_face itself

    fingerprint = {
        "mode": "append" if append else "build",
        "generation": existing.manifest.get("generation") if existing else None,
        "sources": [str(Path(s).expanduser().resolve()) for s in sources],
        "options": {k: v for k, v in asdict(options).items() if k != "batch_size"},
        "embedders": {e.name: e.version for e in embedders},
    }
    found = list(discover(sources, options.genre_from_folders, skip_dirs=[index_dir]))
    index_dir.mkdir(parents=True, exist_ok=True)
    work = WorkDir(index_dir, fingerprint)
    report = BuildReport(index_dir)

    known = NearDuplicateFilter(options.max_duplicate_distance)
    indexed_paths: set[str] = set()
    if existing is not None:
        for record in existing.records:
            if record.phash:
                known.add(from_hex(record.phash), str(existing.cover_path(record)), record.colour)
            indexed_paths.add(str(existing.cover_path(record)))

    kept_records: list[CoverRecord] = []
    kept_vectors: dict[str, list[np.ndarray]] = {e.name: [] for e in embedders}
    batches_done = work.batches()
    done_paths = _restore(batches_done, report, known, kept_records, kept_vectors)

    todo = [s for s in found if str(s.path) not in done_paths]
    scanner = Scanner(options.min_face, options.keep_faceless, detector, known)
    batch_number = len(batches_done)
    bar = tqdm(
        total=len(todo) + len(done_paths),
        initial=len(done_paths),
        unit="cover",
        desc="index build",
        file=sys.stderr,
        disable=not progress,
    )
    try:
        for start in range(0, len(todo), options.batch_size):
            scanned = []
            for source in todo[start : start + options.batch_size]:
                if str(source.path) in indexed_paths:
                    scanned.append(Scanned(source, "already", "already in the index"))
                else:
                    scanned.append(scanner.scan(source))
            kept = [s for s in scanned if s.status == "kept"]
            images = [s.image for s in kept]
            vectors = {e.name: embed(e, images) for e in embedders}
            entries = [s.entry() for s in scanned]
            work.commit(batch_number, entries, vectors)
            for entry in entries:
                _count(report, entry)
            kept_records.extend(s.record for s in kept if s.record is not None)
            for name, array in vectors.items():
                kept_vectors[name].append(array)
            bar.update(len(scanned))
            if on_batch is not None:
                on_batch(batch_number)
            batch_number += 1
    finally:
        bar.close()

    if existing is None and not kept_records:
        raise BadInput(
            "No usable covers found: "
            + report.summary().split("\n", 1)[-1].strip()
            + ("" if options.keep_faceless else " (keep face-less covers with --keep-faceless)")
        )
    last_build = {
        "mode": fingerprint["mode"],
        "sources": fingerprint["sources"],
        "options": fingerprint["options"],
        "scanned": report.scanned,
        "kept": report.kept,
        "duplicates": report.duplicates,
        "without_face": report.without_face,
        "unreadable": len(report.unreadable),
    }
    _write(index_dir, existing, kept_records, kept_vectors, embedders, last_build)
    work.remove()
    report.total_covers = len(kept_records) + (len(existing) if existing is not None else 0)
    return report


def _restore(
    batches: list[Batch],
    report: BuildReport,
    known: NearDuplicateFilter,
    kept_records: list[CoverRecord],
    kept_vectors: dict[str, list[np.ndarray]],
) -> set[str]:
    """Take over the committed batches of an interrupted run; returns the paths they cover."""
    done: set[str] = set()
    for files, vectors in batches:
        for entry in files:
            done.add(entry["path"])
            _count(report, entry)
            if entry["status"] in ("kept", "no_face"):
                known.add(from_hex(entry["phash"]), entry["path"], entry["colour"])
            if entry["status"] == "kept":
                kept_records.append(CoverRecord.from_json(json.dumps(entry["record"])))
        for name, array in vectors.items():
            kept_vectors[name].append(array)
    report.resumed_files = len(done)
    return done


def _count(report: BuildReport, entry: dict[str, Any]) -> None:
    report.scanned += 1
    status = entry["status"]
    if status == "kept":
        report.kept += 1
    elif status == "duplicate":
        report.duplicates += 1
    elif status == "no_face":
        report.without_face += 1
    elif status == "already":
        report.already_indexed += 1
    else:
        report.unreadable.append((entry["path"], entry["reason"]))


def _embedders_for(existing: CoverIndex, available: Sequence[Embedder]) -> list[Embedder]:
    """New covers need vectors for every embedder the index already has, and only those."""
    by_name = {e.name: e for e in available}
    missing = [name for name in existing.embedders if name not in by_name]
    if missing:
        raise MissingAsset(
            f"Index {existing.root} has vectors for {', '.join(missing)}, which is not "
            "available here (its weights are missing): new covers could not be searched with "
            "it. Put the weights in ALBUMIFY_WEIGHTS and retry."
        )
    return [by_name[name] for name in existing.embedders]


def _write(
    index_dir: Path,
    existing: CoverIndex | None,
    records: list[CoverRecord],
    vectors: dict[str, list[np.ndarray]],
    embedders: Sequence[Embedder],
    last_build: dict[str, Any],
) -> None:
    arrays = {
        e.name: np.concatenate(vectors[e.name]) if vectors[e.name] else np.zeros((0, e.dim))
        for e in embedders
    }
    versions = {e.name: e.version for e in embedders}
    wplus = None
    kind = "library"
    extra: dict[str, Any] = {}
    if existing is not None:
        kind = existing.manifest.get("kind", kind)
        extra = carried_manifest_keys(existing.manifest)
        arrays = {name: np.concatenate([existing.vectors(name), a]) for name, a in arrays.items()}
        versions = {name: existing.embedders[name]["version"] for name in arrays}
        old_wplus = existing.wplus()
        if old_wplus is not None:
            pad = np.full((len(records), *old_wplus.shape[1:]), np.nan, dtype=np.float16)
            wplus = np.concatenate([np.asarray(old_wplus), pad])
        records = [*existing.records, *records]
    extra["last_build"] = last_build
    IndexWriter(index_dir, kind=kind).write(
        records, {name: (a, versions[name]) for name, a in arrays.items()}, wplus, extra
    )


__all__ = ["BuildOptions", "BuildReport", "build_index"]
