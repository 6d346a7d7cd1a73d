"""Embedded-default cover time for a 12 MP photo on this machine (issue 15: warm median ≤ 0.57×
the pipeline before it, which ran MTCNN faces and a GrabCut cut-out).

Both are measured in the same run, interleaved photo by photo so the machine's load falls on
both alike: today's pipeline, and the same pipeline with the faces and cut-out stages put
back to the pre-#15 backends (`bench.previous`). A third row keeps the older baseline: the
pipeline fed a photo decoded at full resolution (no JPEG draft mode, no working-size
reduction), which is what a naive decoder would do.
"""

from __future__ import annotations

import io
import statistics
import time

import numpy as np
from PIL import Image

from bench.report import EXAMPLE, Table, add_stage_rows, timed_request
from imaging.photo import Photo, encode_cover
from models.backends import ALTERNATIVES, REGISTRY, LoadContext
from worker.pipeline import CoverOptions, Pipeline

TARGET = 0.57
"""Issue 15: today's warm median over the pre-#15 pipeline's, measured in the same run."""


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


def previous_pipeline(pipeline: Pipeline) -> Pipeline:
    """`pipeline`'s index and stages, with the faces and cut-out stages as before #15."""
    from dataclasses import replace

    from bench.previous import PREVIOUS

    context = LoadContext(None, "cpu")
    known = {b.name: b for chains in (REGISTRY, ALTERNATIVES) for c in chains.values() for b in c}
    (detector,) = (known[name].load(context) for name in PREVIOUS["faces"])
    segmenters = tuple(known[name].load(context) for name in PREVIOUS["cutout"])
    stages = replace(pipeline.stages, detector=detector, segmenters=segmenters)
    return Pipeline(pipeline.index, stages, pipeline.limits)


def run(repeats: int = 7) -> Table:
    data = twelve_megapixel_jpeg()
    options = CoverOptions(title="Mission Control", artist="Eileen Collins", advisory=True)
    cold_start = time.perf_counter()
    pipeline = Pipeline.load(backend="classic")
    encode_cover(pipeline.make_cover(data, options).image, "png")
    cold = time.perf_counter() - cold_start
    before = previous_pipeline(pipeline)
    timed_request(before, data, options)  # its first cover pays for lazy initialisation

    ours, previous, naive = [], [], []
    for _ in range(repeats):
        ours.append(timed_request(pipeline, data, options))
        previous.append(timed_request(before, data, options))
        naive.append(timed_request(pipeline, full_resolution_photo(data), options))
    median = statistics.median(t for t, _ in ours)
    baseline = statistics.median(t for t, _ in previous)
    naive_median = statistics.median(t for t, _ in naive)
    used = pipeline.make_cover(data, options).backends

    table = Table(
        "Embedded default: 12 MP JPEG → 1024 px cover (CPU, warm medians of "
        f"{repeats}, interleaved)",
        ["measure", "time", "vs before #15"],
    )
    table.add(
        "before #15: MTCNN faces + GrabCut cut-out (same code otherwise)",
        f"{baseline * 1000:.0f} ms",
        "1.00×",
    )
    table.add(
        f"ours: {used['faces']} faces + {used['cutout']} cut-out, warm median",
        f"{median * 1000:.0f} ms",
        f"{median / baseline:.2f}×",
    )
    table.add(
        "ours fed a full-resolution decode (the naive-decoder baseline)",
        f"{naive_median * 1000:.0f} ms",
        f"{naive_median / baseline:.2f}×",
    )
    table.add(
        "ours, cold (load models + first cover)",
        f"{cold * 1000:.0f} ms",
        f"warm is {cold / median:.1f}× faster than cold",
    )
    add_stage_rows(table, [t for _, t in ours], median, "of ours")
    add_stage_rows(table, [t for _, t in previous], baseline, "of before #15", label="before")
    ratio = median / baseline
    table.add(
        f"target ≤ {TARGET}× before #15", f"{ratio:.2f}×", "met" if ratio <= TARGET else "NOT met"
    )
    return table


if __name__ == "__main__":
    print(run().markdown())
