"""The model stages on a GPU: batch-1 latency (one member's job) and batched throughput.

    python -m bench.bench_gpu [--quick]   (CUDA only: elsewhere it says so and returns)

pSp (encode one 256 px face to W+, generate at 256 px: the face stage's model time) and
ResNet50 (one 224 px crop), random official-format weights. Each runs as a worker can run
it: eager fp32 (the default, and the baseline every ratio is against), eager with bf16
autocast, `torch.compile` and `torch.compile` with CUDA graphs (`ALBUMIFY_COMPILE`). Timed
with CUDA events after a warm-up, median of the repeats, all cases round-robin in one run.
The bf16 rows say how far their output is from fp32's (a cover must not change visibly).
The whole face stage (align, encode, mix, generate, paste back) is timed on the example
photo too, and batch sizes show what batching queued jobs could buy.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from bench.report import EXAMPLE, Table

ASTRONAUT_LANDMARKS = np.array(
    [[205.0, 101.7], [246.8, 103.7], [224.7, 129.0], [201.7, 139.2], [245.3, 141.9]],
    dtype=np.float32,
)
"""MTCNN's five points on the example photo (512 px), measured once: the bench needs no
face detector on the GPU machine."""
MODES = ("eager fp32", "eager bf16", "compile", "cudagraphs")


def cuda_median_ms(cases: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Median milliseconds per case, timed with CUDA events, cases interleaved."""
    for call in cases.values():  # warm-up: kernels chosen, graphs recorded
        for _ in range(3):
            call()
    torch.cuda.synchronize()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeat):
        for name, call in cases.items():
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            call()
            end.record()
            end.synchronize()
            times[name].append(start.elapsed_time(end))
    return {name: statistics.median(values) for name, values in times.items()}


def load_psp(checkpoint: Path, mode: str):  # -> models.psp.PSP
    from models.compile import compile_module
    from models.psp import PSP

    amp = torch.bfloat16 if mode == "eager bf16" else None
    psp = PSP.from_checkpoint(checkpoint, "cuda", amp_dtype=amp)
    if mode in ("compile", "cudagraphs"):
        psp.clone_outputs = mode == "cudagraphs"
        x = torch.zeros(1, 3, 256, 256, device="cuda")
        compile_module(psp.encoder, mode, psp.device, lambda: psp.encode(x), "pSp encoder")
        w = psp.encode(x)
        compile_module(
            psp.decoder, mode, psp.device, lambda: psp.generate(w, size=256), "pSp generator"
        )
    return psp


def load_resnet(weights: Path, mode: str):  # -> torch.nn.Module
    from models.compile import compile_module
    from models.embedder import ResNetEmbedder

    model = ResNetEmbedder.load(weights, "cuda").model
    if mode == "eager bf16":
        model = copy.deepcopy(model).to(torch.bfloat16)
    if mode in ("compile", "cudagraphs"):
        x = torch.zeros(1, 3, 224, 224, device="cuda").to(memory_format=torch.channels_last)
        compile_module(model, mode, torch.device("cuda"), lambda: _embed(model, x), "ResNet50")
    return model


def _embed(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        out = model(x.to(next(model.parameters()).dtype))
    return out.clone()  # a CUDA graph's output buffer is reused by the next replay


def _psp_call(psp, x: torch.Tensor) -> Callable[[], torch.Tensor]:
    return lambda: psp.generate(psp.encode(x), size=256)


def _difference(a: torch.Tensor, b: torch.Tensor) -> str:
    """Largest absolute difference of two outputs, in units of the fp32 output's range."""
    a, b = a.float(), b.float()
    return f"largest Δ {((a - b).abs().max() / (a.max() - a.min())).item():.1%} of range"


def batch_one(table: Table, psps: dict, resnets: dict, repeat: int) -> None:
    face = torch.rand(1, 3, 256, 256, device="cuda") * 2 - 1
    crop = torch.randn(1, 3, 224, 224, device="cuda").to(memory_format=torch.channels_last)
    cases = {f"pSp · {m}": _psp_call(psps[m], face) for m in MODES}
    cases |= {f"ResNet50 · {m}": (lambda m=m: _embed(resnets[m], crop)) for m in MODES}
    times = cuda_median_ms(cases, repeat)
    outputs = {name: call() for name, call in cases.items()}
    for model in ("pSp", "ResNet50"):
        base = times[f"{model} · eager fp32"]
        for mode in MODES:
            name = f"{model} · {mode}"
            note = "baseline" if mode == "eager fp32" else f"{base / times[name]:.2f}× faster"
            if mode == "eager bf16":
                note += "; " + _difference(outputs[f"{model} · eager fp32"], outputs[name])
            table.add(name, f"{times[name]:.2f} ms", note)


def batched(table: Table, psps: dict, resnets: dict, repeat: int) -> None:
    for model, sizes in (("pSp", (1, 8, 32)), ("ResNet50", (1, 32, 128))):
        for mode in ("eager fp32", "eager bf16"):
            cases = {}
            for size in sizes:
                if model == "pSp":
                    x = torch.rand(size, 3, 256, 256, device="cuda") * 2 - 1
                    cases[size] = _psp_call(psps[mode], x)
                else:
                    x = torch.randn(size, 3, 224, 224, device="cuda")
                    x = x.to(memory_format=torch.channels_last)
                    cases[size] = lambda x=x, m=mode: _embed(resnets[m], x)
            times = cuda_median_ms({str(s): c for s, c in cases.items()}, repeat)
            for size in sizes:
                per_second = size / (times[str(size)] / 1000)
                table.add(
                    f"{model} · {mode} · batch {size}",
                    f"{times[str(size)]:.1f} ms",
                    f"{per_second:.0f}/s ({per_second / (1000 / times['1']):.1f}× batch 1)",
                )


def face_stage(table: Table, psps: dict, repeat: int) -> None:
    """The face stage as a job runs it (CPU align and paste included), eager vs CUDA graphs."""
    from PIL import Image

    from models.face_style import PSPStyler
    from models.faces import Face

    photo = np.asarray(Image.open(EXAMPLE).convert("RGB"))
    face = Face((181.0, 62.2, 267.7, 172.1), ASTRONAUT_LANDMARKS, 0.99)
    alpha = np.ones(photo.shape[:2], np.float32)
    cover = np.zeros((256, 256, 3), np.uint8)
    stylers = {mode: PSPStyler(psps[mode]) for mode in ("eager fp32", "cudagraphs")}
    cases = {m: (lambda s=s: s(photo, alpha, face, cover)) for m, s in stylers.items()}
    times = cuda_median_ms(cases, repeat)
    base = times["eager fp32"]
    for mode, ms in times.items():
        note = "baseline" if mode == "eager fp32" else f"{base / ms:.2f}× faster"
        table.add(f"face stage (align → pSp → paste) · {mode}", f"{ms:.1f} ms", note)


def run(quick: bool = False) -> Table:
    title = "Model stages on the GPU (random official-format weights)"
    table = Table(title, ["case", "time", "vs"])
    if not torch.cuda.is_available():
        table.add("no CUDA device here", "not measured", "")
        return table
    from torchvision.models import resnet50

    from models.embedder import ResNetEmbedder
    from models.weights import PSP_FFHQ
    from tests.psp_checkpoint import save_checkpoint

    repeat = 10 if quick else 30
    table.title += f" — {torch.cuda.get_device_name(0)}, torch {torch.__version__}"
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp)
        save_checkpoint(weights / PSP_FFHQ)
        torch.save(resnet50(weights=None).state_dict(), weights / ResNetEmbedder.weights_file)
        psps = {mode: load_psp(weights / PSP_FFHQ, mode) for mode in MODES}
        resnets = {mode: load_resnet(weights, mode) for mode in MODES}
        batch_one(table, psps, resnets, repeat)
        batched(table, psps, resnets, repeat)
        face_stage(table, psps, repeat)
    return table


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true")
    print(run(quick=parser.parse_args().quick).markdown())
