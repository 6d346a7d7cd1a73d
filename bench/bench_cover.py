"""Embedded-default cover time for a 12 MP photo on this machine (target: warm median ≤ 1 s).

Baseline measured in the same run: the same pipeline fed a photo decoded at full resolution
(no JPEG draft mode, no working-size reduction), which is what a naive decoder would do.
"""

from __future__ import annotations

import io
import statistics
import time

import numpy as np
from PIL import Image

from bench.report import EXAMPLE, Table, add_stage_rows, timed_request
from imaging.photo import Photo, encode_cover
from worker.pipeline import CoverOptions, Pipeline


def twelve_megapixel_jpeg() -> bytes:
    """The example portrait upscaled into a 4000×3000 frame: a 12 MP phone photo."""
    portrait = Image.open(EXAMPLE).convert("RGB").resize((2600, 2600), Image.Resampling.BICUBIC)
    canvas = Image.new("RGB", (4000, 3000), (30, 34, 40))
    canvas.paste(portrait, (700, 400))
    noise = np.random.default_rng(0).normal(0, 6, (3000, 4000, 1))
    noisy = np.clip(np.asarray(canvas, np.float32) + noise, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noisy).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def full_resolution_photo(data: bytes) -> Photo:
    """What a naive decoder hands the pipeline: every one of the 12 million pixels."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return Photo(image=image.convert("RGB"), source_size=image.size, source_format="JPEG")


def run(repeats: int = 5) -> Table:
    data = twelve_megapixel_jpeg()
    options = CoverOptions(title="Mission Control", artist="Eileen Collins", advisory=True)
    cold_start = time.perf_counter()
    pipeline = Pipeline.load(backend="classic")
    encode_cover(pipeline.make_cover(data, options).image, "png")
    cold = time.perf_counter() - cold_start

    ours = [timed_request(pipeline, data, options) for _ in range(repeats)]
    naive = [timed_request(pipeline, full_resolution_photo(data), options) for _ in range(repeats)]
    median = statistics.median(t for t, _ in ours)
    baseline = statistics.median(t for t, _ in naive)

    table = Table(
        "Embedded default: 12 MP JPEG → 1024 px cover (CPU)", ["measure", "time", "vs baseline"]
    )
    table.add("baseline: full-resolution decode + pipeline", f"{baseline * 1000:.0f} ms", "1.00×")
    table.add("ours, warm median", f"{median * 1000:.0f} ms", f"{baseline / median:.2f}× faster")
    table.add(
        "ours, cold (load models + first cover)",
        f"{cold * 1000:.0f} ms",
        f"warm is {cold / median:.1f}× faster than cold",
    )
    add_stage_rows(table, [t for _, t in ours], median, "of total")
    table.add("target", "≤ 1000 ms", "met" if median <= 1.0 else "NOT met")
    return table


if __name__ == "__main__":
    print(run().markdown())
