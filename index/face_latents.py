"""Each library cover's face as a pSp W+ latent, computed once when the index is built.

A request then encodes only the member's face and mixes it with the stored latent; covers
without a usable face keep a row of NaN, and the face stage mixes with the average face.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from index.library import CoverIndex, IndexWriter

N_STYLES, STYLE_DIM = 18, 512


def encode_cover_faces(
    index: CoverIndex, psp: Any, batch_size: int = 8, progress: bool = True
) -> tuple[np.ndarray, int]:
    """W+ [N, 18, 512] for the index (existing rows kept); returns it and how many were new."""
    import torch

    from models.align import align_face

    latents = np.full((len(index), N_STYLES, STYLE_DIM), np.nan, dtype=np.float32)
    stored = index.wplus()
    if stored is not None and len(stored) == len(index):
        latents[:] = stored
    todo = [
        row
        for row, record in enumerate(index.records)
        if record.face is not None and not np.isfinite(latents[row]).all()
    ]
    with tqdm(total=len(todo), unit="face", desc="encode cover faces", file=sys.stderr,
              disable=not progress) as bar:  # fmt: skip
        for start in range(0, len(todo), batch_size):
            rows = todo[start : start + batch_size]
            crops = []
            for row in rows:
                record = index.records[row]
                with Image.open(index.cover_path(record)) as image:
                    rgb = np.asarray(image.convert("RGB"))
                scale = np.array([rgb.shape[1] / record.width, rgb.shape[0] / record.height])
                landmarks = np.asarray(record.face.landmarks, dtype=np.float64) * scale
                crops.append(align_face(rgb, landmarks, size=256).image)
            batch = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 127.5 - 1
            latents[rows] = psp.encode(batch).cpu().numpy()
            bar.update(len(rows))
    return latents, len(todo)


def add_face_latents(index_dir: str | Path, psp: Any, progress: bool = True) -> int:
    """Store W+ for every cover with a face that lacks one; returns how many were encoded."""
    index = CoverIndex.load(index_dir)
    latents, added = encode_cover_faces(index, psp, progress=progress)
    if added == 0:
        return 0
    IndexWriter.rewrite(index, wplus=latents)
    return added
