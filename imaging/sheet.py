"""Contact sheets: covers in a grid, one row per photo, re-rolls across, for review."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image

GAP_SHARE = 0.04
"""Space between covers, as a share of a cover's side."""
BACKGROUND = (18, 18, 20)


def contact_sheet(rows: Sequence[Sequence[Image.Image]], tile: int) -> Image.Image:
    """Each row's covers scaled to `tile` px and laid out left to right on a dark ground."""
    gap = max(2, round(tile * GAP_SHARE))
    columns = max((len(row) for row in rows), default=0)
    width = columns * tile + (columns + 1) * gap
    height = len(rows) * tile + (len(rows) + 1) * gap
    sheet = Image.new("RGB", (max(width, 1), max(height, 1)), BACKGROUND)
    for r, row in enumerate(rows):
        for c, cover in enumerate(row):
            if cover.size != (tile, tile):
                cover = cover.resize((tile, tile), Image.Resampling.LANCZOS)
            sheet.paste(cover.convert("RGB"), (gap + c * (tile + gap), gap + r * (tile + gap)))
    return sheet


def sheet_size(photos: int, covers_per_row: int, tile: int) -> tuple[int, int]:
    """The (width, height) `contact_sheet` gives for this many rows and columns."""
    gap = max(2, round(tile * GAP_SHARE))
    return (
        covers_per_row * tile + (covers_per_row + 1) * gap,
        photos * tile + (photos + 1) * gap,
    )
