"""The neural pipeline on this machine: per-stage times of a whole request, cold vs warm.

Weights are random but in the official formats (no downloads here), which costs exactly
what the published weights cost. The cover's W+ is cached (starter templates mix with the
average face; real libraries store W+ at index build), the generator stops at 256 px, and the
photo is the 12 MP JPEG of `bench_cover`. Baseline in the same run: the embedded default.
Cold start vs warm job is `bench_coldstart`'s (real worker processes).
"""

from __future__ import annotations

import os
import statistics
import tempfile
from pathlib import Path

import torch

from bench.bench_cover import twelve_megapixel_jpeg
from bench.report import Table, add_stage_rows, timed_request


def write_random_weights(weights: Path) -> None:
    from torchvision.models import resnet50

    from models.segmenter import import_yolo
    from models.weights import PSP_FFHQ, RESNET50, YOLO_SEG
    from tests.psp_checkpoint import save_checkpoint

    torch.manual_seed(0)
    torch.save(resnet50(weights=None).state_dict(), weights / RESNET50)
    import_yolo()("yolo11n-seg.yaml").save(weights / YOLO_SEG)
    save_checkpoint(weights / PSP_FFHQ)


def run(quick: bool = False) -> Table:
    from albumify.settings import Settings
    from worker.pipeline import CoverOptions, Pipeline

    repeats = 3 if quick else 5
    photo = twelve_megapixel_jpeg()
    options = CoverOptions(title="Mission Control", artist="Eileen Collins")
    with tempfile.TemporaryDirectory(prefix="albumify-bench-") as tmp:
        weights, cache = Path(tmp) / "weights", Path(tmp) / "cache"
        weights.mkdir()
        write_random_weights(weights)
        os.environ["ALBUMIFY_CACHE"] = str(cache)

        def timed(pipeline: Pipeline) -> tuple[float, dict[str, float]]:
            return timed_request(pipeline, photo, options)

        settings = Settings(weights_dir=weights)
        neural = Pipeline.load(settings, backend="neural", device="cpu")
        timed(neural)
        runs = [timed(neural) for _ in range(repeats)]
        classic = Pipeline.load(settings, backend="classic", device="cpu")
        timed(classic)
        baseline = statistics.median(timed(classic)[0] for _ in range(repeats))

    warm = statistics.median(t for t, _ in runs)
    table = Table(
        "Neural request (CPU, random weights, cached cover W+, generator at 256 px)",
        ["measure", "time", "ratio"],
    )
    table.add("baseline: embedded default, same photo", f"{baseline * 1000:.0f} ms", "1.00×")
    table.add("neural, warm median", f"{warm * 1000:.0f} ms", f"{warm / baseline:.2f}× baseline")
    add_stage_rows(table, [t for _, t in runs], warm, "of warm")
    table.add("target (issue 10)", "≤ 3500 ms", "met" if warm <= 3.5 else "NOT met")
    return table


if __name__ == "__main__":
    print(run().markdown())
