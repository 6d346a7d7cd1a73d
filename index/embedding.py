"""Cover vectors: one embedder over a batch of covers, or over every cover of an index.

`add_embedder` is `albumify index add INDEX --embedder NAME`: an index gains the vectors of an
embedder that became available after it was built (a new generation; the rest carried over).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from albumify.errors import BadInput, MissingAsset
from index.library import CoverIndex, IndexWriter
from index.scan import DECODE_SIDE
from models.embedder import Embedder


def embed(embedder: Embedder, images: Sequence[Any]) -> np.ndarray:
    """float16 [len(images), dim]: how an index stores vectors."""
    if not images:
        return np.zeros((0, embedder.dim), dtype=np.float16)
    return np.asarray(embedder(images), dtype=np.float32).astype(np.float16)


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
                chunks.append(embed(embedder, [p.image for p in images]))
            bar.update(len(images))
    if unreadable:
        raise MissingAsset(
            f"{len(unreadable)} covers of {index.root} can no longer be read (e.g. "
            f"{unreadable[0]}): rebuild the index with: albumify index build SRC -o {index.root}"
        )
    new = np.concatenate(chunks) if chunks else np.zeros((0, embedder.dim), dtype=np.float16)
    IndexWriter.rewrite(index, {embedder.name: (new, embedder.version)})
    return len(records)
