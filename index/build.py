"""Building an index from folders of covers, appending to one, and adding an embedder.

A build scans files in batches: decode (unreadable files are reported and skipped), pHash
(near-duplicates of a kept cover are skipped), face detection (covers without a usable face
are skipped unless asked to keep them), then one embedder call per batch for every embedder.
Each finished batch is committed to `INDEX/.build/` (vector shards first, then the batch's
JSON record, written atomically), so an interrupted build resumes where it stopped. The final
index is written by `IndexWriter` (a new generation, manifest swapped last) and the work
directory is removed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from albumify.errors import BadInput, MissingAsset
from index.library import (
    CoverIndex,
    CoverRecord,
    FaceRecord,
    IndexWriter,
    _atomic_save_npy,
    _atomic_write_text,
    carried_manifest_keys,
)
from index.phash import (
    DEFAULT_MAX_DISTANCE,
    NearDuplicateFilter,
    colour_signature,
    from_hex,
    phash,
    to_hex,
)
from index.sources import SourceImage, discover
from index.style import placement_for_face, typography_style
from models.backends import available_embedders
from models.embedder import Embedder

WORK_DIR = ".build"
DECODE_SIDE = 1024
DETECT_FACE_PX = 28
"""Faces are searched for on a copy where a `--min-face` face is this many pixels: MTCNN
finds faces down to 20 px, and a smaller image is a faster detection."""
"""Covers are decoded to at most this long side: enough for faces and every embedder."""


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


@dataclass
class _Scanned:
    source: SourceImage
    status: str
    """kept | duplicate | no_face | unreadable | already"""
    reason: str = ""
    record: CoverRecord | None = None
    image: np.ndarray | None = None
    phash: str | None = None
    colour: list[int] | None = None
    """Hash and colour of every decoded file, so a resumed build dedups as a fresh one."""


class _Scanner:
    """Decides, file by file, whether a cover goes into the index and describes it."""

    def __init__(self, options: BuildOptions, detector: Any, known: NearDuplicateFilter):
        self.options = options
        self.detector = detector
        self.known = known

    def scan(self, source: SourceImage) -> _Scanned:
        from imaging.photo import decode_photo
        from models.faces import main_face

        try:
            photo = decode_photo(source.path, working_side=DECODE_SIDE)
        except BadInput as exc:
            return _Scanned(source, "unreadable", str(exc))
        rgb = photo.array()
        value, colour = phash(rgb), colour_signature(rgb)
        original = self.known.find(value, colour)
        if original is not None:
            return _Scanned(
                source,
                "duplicate",
                f"near-duplicate of {original}",
                phash=to_hex(value),
                colour=colour,
            )
        self.known.add(value, str(source.path), colour)

        height, width = rgb.shape[:2]
        to_source = max(photo.source_size) / max(width, height)
        faces = [
            f
            for f in self._detect(rgb, to_source)
            if min(f.width, f.height) * to_source >= self.options.min_face
        ]
        face = main_face(faces, (width, height))
        if face is None and not self.options.keep_faceless:
            return _Scanned(source, "no_face", "no usable face", phash=to_hex(value), colour=colour)
        face_record = None
        if face is not None:
            face_record = FaceRecord(
                box=[round(v * to_source, 2) for v in face.box],
                landmarks=[[round(float(v) * to_source, 2) for v in p] for p in face.landmarks],
                score=round(face.score, 4),
            )
        record = CoverRecord(
            library_id=library_id_for(source.path),
            path=str(source.path),
            width=round(width * to_source),
            height=round(height * to_source),
            genre=source.genre,
            artist=source.artist,
            title=source.title,
            face=face_record,
            phash=to_hex(value),
            colour=colour,
            placement=placement_for_face(face.box if face else None, width, height),
            style=typography_style(rgb, face.box if face else None, source.genre),
        )
        return _Scanned(
            source, "kept", record=record, image=rgb, phash=to_hex(value), colour=colour
        )

    def _detect(self, rgb: np.ndarray, to_source: float) -> list[Any]:
        """Faces in `rgb`'s pixels, detected on a copy shrunk so that the smallest usable face
        is about `DETECT_FACE_PX`: MTCNN's image pyramid costs in proportion to the area."""
        from models.faces import Face

        if self.detector is None:
            return []
        scale = min(1.0, DETECT_FACE_PX * to_source / self.options.min_face)
        if scale >= 0.95:
            return self.detector.detect(rgb)
        height, width = rgb.shape[:2]
        small = cv2.resize(
            rgb, (max(1, round(width * scale)), max(1, round(height * scale))),
            interpolation=cv2.INTER_AREA,
        )  # fmt: skip
        return [
            Face(tuple(v / scale for v in f.box), f.landmarks / scale, f.score)
            for f in self.detector.detect(small)
        ]


def library_id_for(path: Path) -> str:
    """Stable across rebuilds (re-roll exclusions stay valid): derived from the cover's path."""
    return "c" + hashlib.sha1(str(path).encode("utf-8")).hexdigest()[:15]


class _WorkDir:
    """`INDEX/.build/`: committed batches of an unfinished build (see the module docstring)."""

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

    def batches(self) -> list[tuple[list[dict[str, Any]], dict[str, np.ndarray]]]:
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
    work = _WorkDir(index_dir, fingerprint)
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
    scanner = _Scanner(options, detector, known)
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
                    scanned.append(_Scanned(source, "already", "already in the index"))
                else:
                    scanned.append(scanner.scan(source))
            kept = [s for s in scanned if s.status == "kept"]
            images = [s.image for s in kept]
            vectors = {e.name: _embed(e, images) for e in embedders}
            entries = [_work_entry(s) for s in scanned]
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
    batches: list[tuple[list[dict[str, Any]], dict[str, np.ndarray]]],
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


def _work_entry(scanned: _Scanned) -> dict[str, Any]:
    return {
        "path": str(scanned.source.path),
        "status": scanned.status,
        "reason": scanned.reason,
        "record": asdict(scanned.record) if scanned.record else None,
        "phash": scanned.phash,
        "colour": scanned.colour,
    }


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


def _embed(embedder: Embedder, images: list[Any]) -> np.ndarray:
    if not images:
        return np.zeros((0, embedder.dim), dtype=np.float16)
    return np.asarray(embedder(images), dtype=np.float32).astype(np.float16)


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


def add_embedder(
    index_dir: str | Path,
    embedder: Embedder,
    batch_size: int = 32,
    progress: bool = True,
) -> int:
    """Compute `embedder`'s vectors for every cover of the index; returns covers embedded."""
    from imaging.photo import decode_photo

    index = CoverIndex.load(index_dir)
    if index.has_embedder(embedder.name):
        return 0
    chunks: list[np.ndarray] = []
    unreadable: list[str] = []
    records = index.records
    with tqdm(
        total=len(records),
        unit="cover",
        desc=f"embed {embedder.name}",
        file=sys.stderr,
        disable=not progress,
    ) as bar:
        for start in range(0, len(records), batch_size):
            images = []
            for record in records[start : start + batch_size]:
                try:
                    images.append(decode_photo(index.cover_path(record), working_side=DECODE_SIDE))
                except BadInput:
                    unreadable.append(str(index.cover_path(record)))
            if not unreadable:
                chunks.append(_embed(embedder, [p.image for p in images]))
            bar.update(len(images))
    if unreadable:
        raise MissingAsset(
            f"{len(unreadable)} covers of {index.root} can no longer be read (e.g. "
            f"{unreadable[0]}): rebuild the index with: albumify index build SRC -o {index.root}"
        )
    new = np.concatenate(chunks) if chunks else np.zeros((0, embedder.dim), dtype=np.float16)
    IndexWriter.rewrite(index, {embedder.name: (new, embedder.version)})
    return len(records)


def describe_index(index_dir: str | Path) -> str:
    """A short human summary for `albumify index info`."""
    index = CoverIndex.load(index_dir)
    manifest = index.manifest
    with_face = sum(1 for r in index.records if r.face is not None)
    lines = [
        f"Index {index.root} ({manifest.get('kind', 'library')}, generation "
        f"{manifest.get('generation')}, format {manifest.get('format_version')})",
        f"  covers: {len(index)} ({with_face} with a face, {len(index) - with_face} without)",
        "  embedders:",
    ]
    for name, info in index.embedders.items():
        search = (info.get("search") or {}).get("method", "exact")
        lines.append(f"    {name} v{info['version']}: {info['dim']}-d, search {search}")
    if not index.embedders:
        lines.append("    none")
    genres = index.genres()
    no_genre = len(index) - sum(genres.values())
    shown = ", ".join(f"{g} {n}" for g, n in list(genres.items())[:20])
    more = f", … {len(genres) - 20} more" if len(genres) > 20 else ""
    lines.append(f"  genres ({len(genres)}): {shown or 'none'}{more}")
    if no_genre:
        lines.append(f"  without genre: {no_genre}")
    if last := manifest.get("last_build"):
        lines.append(
            f"  last {last['mode']}: {last['kept']} kept of {last['scanned']} files "
            f"({last['duplicates']} near-duplicates, {last['without_face']} without a face, "
            f"{last['unreadable']} unreadable)"
        )
    if (index.root / WORK_DIR).exists():
        lines.append(f"  an interrupted build is pending in {index.root / WORK_DIR}")
    return "\n".join(lines)


__all__ = ["BuildOptions", "BuildReport", "add_embedder", "build_index", "describe_index"]
