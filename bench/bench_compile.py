"""``ALBUMIFY_COMPILE=compile`` vs eager on this machine: compile time and steady-state speed.

Two copies of each model from the same random official-format weights (mmap-loaded, so the
copies share pages): one stays eager, one is compiled at batch 1 exactly as a worker does at
start-up (`PSPStyler.compile`, `ResNetEmbedder.compile`); then both run round-robin in the
same run. Compilation starts from an empty inductor cache, as in a fresh worker container
(``TORCHINDUCTOR_CACHE_DIR`` unset there; a persisted cache would shorten later starts).
Break-even = how many jobs the compile time takes to pay back. CUDA graphs
(``cudagraphs``) need a GPU and are not measured here.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from bench.bench_psp import time_interleaved
from bench.report import Table


def psp_stylers(weights: Path) -> tuple[object, object, float]:
    """(eager styler, compiled styler, compile seconds) for the face stage."""
    from models.face_style import PSPStyler
    from models.weights import PSP_FFHQ
    from tests.psp_checkpoint import save_checkpoint

    save_checkpoint(weights / PSP_FFHQ)
    eager = PSPStyler.load(weights / PSP_FFHQ)
    compiled = PSPStyler.load(weights / PSP_FFHQ)
    started = time.perf_counter()
    compiled.compile("compile")
    return eager, compiled, time.perf_counter() - started


def resnet_embedders(weights: Path) -> tuple[object, object, float]:
    """(eager embedder, compiled embedder, compile seconds) for the matching stage."""
    from torchvision.models import resnet50

    from models.embedder import ResNetEmbedder

    torch.save(resnet50(weights=None).state_dict(), weights / ResNetEmbedder.weights_file)
    eager = ResNetEmbedder.load(weights, "cpu")
    compiled = ResNetEmbedder.load(weights, "cpu")
    started = time.perf_counter()
    compiled.compile("compile")
    return eager, compiled, time.perf_counter() - started


def face_stage(styler: object) -> Callable[[], object]:
    x = torch.zeros(1, 3, 256, 256)
    return lambda: styler.psp.generate(styler.psp.encode(x), size=256)


def embed_stage(embedder: object) -> Callable[[], object]:
    crop = [np.full((224, 224, 3), 128, np.uint8)]
    return lambda: embedder(crop)


def run(quick: bool = False) -> Table:
    from models.compile import is_compiled

    repeat = 3 if quick else 7
    table = Table(
        f"torch.compile vs eager (CPU, {torch.get_num_threads()} threads, batch 1, empty compile"
        " cache; same run, round-robin)",
        ["model", "eager median", "compiled median", "speed-up", "compile time", "break-even"],
    )
    with tempfile.TemporaryDirectory(prefix="albumify-bench-") as tmp:
        weights = Path(tmp)
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(weights / "inductor-cache")
        torch.manual_seed(0)
        for label, build, stage, part in (
            ("pSp encode + generate 256 px", psp_stylers, face_stage, "psp"),
            ("ResNet50 embed (224 px crop)", resnet_embedders, embed_stage, "model"),
        ):
            eager, compiled, compile_s = build(weights)
            module = getattr(compiled, part)
            module = getattr(module, "decoder", module)
            if not is_compiled(module):
                table.add(label, "", "", "compile failed: eager", f"{compile_s:.1f} s", "")
                continue
            times = time_interleaved(
                {"eager": stage(eager), "compiled": stage(compiled)}, repeat=repeat
            )
            eager_s, compiled_s = times["eager"][0], times["compiled"][0]
            saved = eager_s - compiled_s
            break_even = f"{compile_s / saved:.0f} jobs" if saved > 0 else "never"
            table.add(
                label,
                f"{eager_s * 1000:.0f} ms",
                f"{compiled_s * 1000:.0f} ms",
                f"{eager_s / compiled_s:.2f}×",
                f"{compile_s:.1f} s",
                break_even,
            )
            del eager, compiled
    table.add("CUDA graphs (cudagraphs)", "not measured: no GPU lent to this task", "", "", "", "")
    return table


if __name__ == "__main__":
    print(run().markdown())
