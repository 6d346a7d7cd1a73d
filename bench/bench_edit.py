"""Edit after generation (issue 17, item 3): an edit's worker time vs a full re-run.

The 12 MP photo of `bench_cover` becomes a 1024 px cover on the embedded default; the cover's
layers are encoded as the worker keeps them in Redis. Per repeat (each with another seed, so
the layout families vary), interleaved: the full pipeline again (decode, faces, matching,
cut-out, face, composing, JPEG for Discord), and an edit with a new title and Parental
Advisory (decode the kept layers, re-composite, letter, JPEG for Discord). Not counted in
either: Redis and Discord round trips. Target: an edit ≤ 150 ms on the 2-core CPU.
"""

from __future__ import annotations

import statistics
import time

from albumify.edits import EditJob
from albumify.settings import Limits
from bench.bench_cover import twelve_megapixel_jpeg
from bench.report import Table
from imaging.layers import decode, encode
from imaging.photo import encode_cover
from worker.edit import reletter
from worker.pipeline import CoverOptions, Pipeline

TARGET_S = 0.150


def _edit_job() -> EditJob:
    return EditJob(
        job_id="bench-edit",
        result_id="bench",
        guild_id=1,
        channel_id=1,
        requester_id=1,
        message_id=1,
        photo_author_id=1,
        title="Another Title Entirely",
        artist="Eileen Collins",
        advisory=True,
    )


def run(repeats: int = 15) -> Table:
    data = twelve_megapixel_jpeg()
    limits = Limits()
    pipeline = Pipeline.load(backend="classic")
    pipeline.warm_up()
    job = _edit_job()
    full, edits, sizes, families = [], [], [], []
    parts: dict[str, list[float]] = {"decode layers": [], "composite + letter": [], "JPEG": []}
    for seed in range(repeats):
        options = CoverOptions(title="Mission Control", artist="Eileen Collins", seed=seed)
        start = time.perf_counter()
        result = pipeline.make_cover(data, options)
        encode_cover(result.image, "jpeg", max_bytes=limits.upload_limit_bytes)
        full.append(time.perf_counter() - start)
        assert result.layers is not None
        result.layers.meta = {"genre": result.record.genre, "library_id": result.record.library_id}
        fields = encode(result.layers)  # done by the cover job, not the edit
        sizes.append(sum(len(v) for v in fields.values()))
        families.append(result.layers.family)

        start = time.perf_counter()
        layers = decode(fields)
        decoded = time.perf_counter()
        image, _ = reletter(layers, job, limits)
        drawn = time.perf_counter()
        encode_cover(image, "jpeg", max_bytes=limits.upload_limit_bytes)
        done = time.perf_counter()
        edits.append(done - start)
        parts["decode layers"].append(decoded - start)
        parts["composite + letter"].append(drawn - decoded)
        parts["JPEG"].append(done - drawn)

    full_median, edit_median = statistics.median(full), statistics.median(edits)
    table = Table(
        "Edit after generation: 12 MP JPEG → 1024 px cover, embedded default (CPU, medians of "
        f"{repeats} seeds, interleaved; families: {', '.join(sorted(set(families)))})",
        ["measure", "time", "vs full re-run"],
    )
    table.add("full re-run of the pipeline (+ JPEG)", f"{full_median * 1000:.0f} ms", "1.00×")
    table.add(
        "edit from the kept layers (+ JPEG), median",
        f"{edit_median * 1000:.0f} ms",
        f"{edit_median / full_median:.2f}×",
    )
    slowest = families[edits.index(max(edits))]
    table.add(
        f"edit, slowest seed ({slowest} layout)",
        f"{max(edits) * 1000:.0f} ms",
        f"{max(edits) / full_median:.2f}×",
    )
    for name, times in parts.items():
        table.add(f"  edit: {name}", f"{statistics.median(times) * 1000:.0f} ms", "")
    table.add(
        "layers kept in Redis per cover (median)", f"{statistics.median(sizes) / 1024:.0f} KiB", ""
    )
    verdict = "met" if edit_median <= TARGET_S else "NOT met"
    table.add(f"target: edit ≤ {TARGET_S * 1000:.0f} ms", f"{edit_median * 1000:.0f} ms", verdict)
    return table


if __name__ == "__main__":
    print(run().markdown())
