"""Batch 1 vs 8 for the model stages on this machine: photos/s and per-photo latency.

What batching queued jobs could buy (README, Performance): pSp encode + generate at 256 px
and ResNet50 on 224 px crops, model time only (preprocessing excluded), random official-format
weights, both batch sizes round-robin in the same run. GPU numbers (targets: batch-1 stages
≤ 20 ms, ≥ 200 photos/s batched on an H100) need a GPU; none was lent to this task.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

from bench.bench_psp import time_interleaved
from bench.report import Table

BATCHES = (1, 8)


def psp_cases(weights: Path) -> dict[int, Callable[[], object]]:
    from models.psp import PSP
    from models.weights import PSP_FFHQ
    from tests.psp_checkpoint import save_checkpoint

    save_checkpoint(weights / PSP_FFHQ)
    psp = PSP.from_checkpoint(weights / PSP_FFHQ)

    def case(batch: int) -> Callable[[], object]:
        x = torch.rand(batch, 3, 256, 256) * 2 - 1
        return lambda: psp.generate(psp.encode(x), size=256)

    return {batch: case(batch) for batch in BATCHES}


def resnet_cases(weights: Path) -> dict[int, Callable[[], object]]:
    from torchvision.models import resnet50

    from models.embedder import ResNetEmbedder

    torch.save(resnet50(weights=None).state_dict(), weights / ResNetEmbedder.weights_file)
    model = ResNetEmbedder.load(weights, "cpu").model

    def case(batch: int) -> Callable[[], object]:
        x = torch.randn(batch, 3, 224, 224)

        def embed() -> object:
            with torch.inference_mode():
                return model(x)

        return embed

    return {batch: case(batch) for batch in BATCHES}


def run(quick: bool = False) -> Table:
    repeat = 3 if quick else 5
    table = Table(
        f"Model stages, batch 1 vs 8 (CPU, {torch.get_num_threads()} threads, fp32, random"
        " weights; GPU not measured: none lent)",
        ["stage", "batch", "per batch", "per photo", "photos/s", "vs batch 1"],
    )
    with tempfile.TemporaryDirectory(prefix="albumify-bench-") as tmp:
        torch.manual_seed(0)
        for label, build in (
            ("pSp encode + generate 256 px", psp_cases),
            ("ResNet50 embed 224 px", resnet_cases),
        ):
            cases = build(Path(tmp))
            times = time_interleaved({str(b): fn for b, fn in cases.items()}, repeat=repeat)
            single = times["1"][0]
            for batch in BATCHES:
                median = times[str(batch)][0]
                per_photo = median / batch
                table.add(
                    label,
                    batch,
                    f"{median * 1000:.0f} ms",
                    f"{per_photo * 1000:.0f} ms",
                    f"{1 / per_photo:.2f}",
                    f"{single / per_photo:.2f}×",
                )
    for target in ("batch-1 model stages ≤ 20 ms (H100)", "≥ 200 photos/s batched (H100)"):
        table.add(f"target: {target}", "", "not measured: no GPU lent to this task", "", "", "")
    return table


if __name__ == "__main__":
    print(run().markdown())
