"""`albumify index info`: a short human summary of an index."""

from __future__ import annotations

from pathlib import Path

from index.library import CoverIndex
from index.workdir import WORK_DIR


def describe_index(index_dir: str | Path) -> str:
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
        if ann := (info.get("search") or {}).get("ann"):
            search += f" + {ann['method']} ({ann['nlist']} lists, nprobe {ann['nprobe']})"
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
