"""Benchmark the pure-PyTorch pSp generator/encoder on CPU (prints a markdown table).

    python -m bench.bench_psp [--repeat N] [--skip-encoder]

Every ratio is against a baseline measured in the same run: the naive op path
(``fast_ops=False``: the published semantics -- grouped conv over the batch, zero-insertion
``upfirdn2d``), the full 1024 px run, and a big ``torch.mm`` for the fp32 peak. FLOPs are
counted by ``torch.utils.flop_counter.FlopCounterMode`` on the ops actually executed
(convs and matmuls; the cheap elementwise ops are not counted). Random weights: speed does
not depend on the values. Only prints; the tests never assert timings.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from models.psp.encoder import GradualStyleEncoder
from models.psp.generator import Generator
from models.psp.op import make_kernel, upfirdn2d_fast, upfirdn2d_naive

Row = tuple[str, float, float, float | None, str]  # name, median s, best s, GFLOP, note


def time_interleaved(
    cases: dict[str, Callable[[], object]], repeat: int
) -> dict[str, tuple[float, float]]:
    """(median, best) wall seconds per case, running the cases round-robin.

    Round-robin (after a warm-up round that builds oneDNN primitives) means a burst of load
    from other processes hits every case alike, so same-run ratios stay meaningful.
    """
    for fn in cases.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeat):
        for name, fn in cases.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: (statistics.median(t), min(t)) for name, t in times.items()}


def count_gflop(fn: Callable[[], object]) -> float:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() / 1e9


MM_N = 4096
MM_CASE = f"fp32 peak: torch.mm {MM_N}²"


def mm_case() -> Callable[[], object]:
    """A big square matmul: the practical fp32 peak of this CPU with these threads."""
    a, b = torch.randn(MM_N, MM_N), torch.randn(MM_N, MM_N)
    return lambda: torch.mm(a, b)


def upsample_conv_ops(cin: int, cout: int, res_in: int) -> dict[str, Callable[[], object]]:
    """One upsampling StyledConv's conv (batch 1) done three ways."""
    x = torch.randn(1, cin, res_in, res_in)
    w = torch.randn(cout, cin, 3, 3) / (cin * 9) ** 0.5
    blur = make_kernel([1, 3, 3, 1]) * 4
    w_fused = F.conv_transpose2d(w.reshape(-1, 1, 3, 3), blur[None, None]).reshape(cout, cin, 6, 6)
    xc = x.contiguous(memory_format=torch.channels_last)
    dw = blur.expand(cout, 1, 4, 4)

    def naive() -> object:  # published: transposed conv, then zero-insertion upfirdn2d blur
        return upfirdn2d_naive(F.conv_transpose2d(x, w.transpose(0, 1), stride=2), blur, pad=(1, 1))

    def fused_6x6() -> object:  # blur folded into the weight: one 6x6 transposed conv
        return F.conv_transpose2d(xc, w_fused.transpose(0, 1), stride=2, padding=2)

    def ours() -> object:  # transposed conv 3x3 + fixed depthwise blur, channels_last
        y = F.conv_transpose2d(xc, w.transpose(0, 1), stride=2)
        return F.conv2d(y, dw, padding=1, groups=cout)

    return {"naive (convT + upfirdn2d)": naive, "fused 6x6 convT": fused_6x6, "ours": ours}


def report(rep: int = 5, skip_encoder: bool = False) -> str:
    """Every case, round-robin, as markdown (ops table, then the ratios against targets)."""
    torch.manual_seed(0)
    lines: list[str] = []
    out = lines.append

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    out(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{platform.processor() or platform.machine()}, load avg {load:.2f} at start"
    )
    gen = Generator().eval().requires_grad_(False)
    w1 = torch.randn(1, gen.n_latent, 512)
    w4 = torch.randn(4, gen.n_latent, 512)
    cl = torch.channels_last

    def run(w: torch.Tensor, size: int, fast: bool) -> Callable[[], object]:
        def fn() -> object:
            gen.set_fast_ops(fast)
            with torch.inference_mode():
                return gen(w, size=size, memory_format=cl if fast else torch.contiguous_format)

        return fn

    groups: list[tuple[dict[str, Callable[[], object]], bool, bool]] = []  # cases, flops, vs 1st
    groups.append(
        (
            {
                MM_CASE: mm_case(),  # interleaved with the generator: same load
                "generator 256, ours": run(w1, 256, True),
                "generator 512, ours": run(w1, 512, True),
                "generator 1024, ours": run(w1, 1024, True),
                "generator 256, naive ops": run(w1, 256, False),
                "generator 1024, naive ops": run(w1, 1024, False),
                "generator 256 x batch 4, ours": run(w4, 256, True),
                "generator 256 x batch 4, naive ops": run(w4, 256, False),
            },
            True,
            False,
        )
    )
    for (cin, cout, res_in), label in (((512, 512, 32), "64 px"), ((64, 32, 512), "1024 px")):
        ops = upsample_conv_ops(cin, cout, res_in)
        groups.append(
            ({f"op: upsampling conv {cin}->{cout} @ {label}, {k}": v for k, v in ops.items()}, 1, 1)
        )

    skip = torch.randn(1, 3, 512, 512)
    kernel = make_kernel([1, 3, 3, 1]) * 4
    groups.append(
        (
            {
                "op: RGB skip upsample 512->1024, naive": lambda: upfirdn2d_naive(
                    skip, kernel, up=2, pad=(2, 1)
                ),
                "op: RGB skip upsample 512->1024, ours (depthwise convT)": lambda: upfirdn2d_fast(
                    skip, kernel, up=2, pad=(2, 1)
                ),
            },
            False,
            True,
        )
    )

    act = torch.randn(1, 32, 1024, 1024)
    bias, noise, nw = torch.randn(32), torch.randn(1, 1, 1024, 1024), torch.randn(1)

    def act_naive() -> object:  # NoiseInjection then FusedLeakyReLU module, new tensors
        y = act + nw * noise
        return F.leaky_relu(y + bias.view(1, -1, 1, 1), 0.2) * 2**0.5

    def act_ours() -> object:  # bias rides in the conv, gain in the next weights; in place
        y = act.clone()  # stands in for the conv output we own (clone cost included)
        return F.leaky_relu_(y.add_(nw * noise), 0.2)

    groups.append(
        (
            {
                "op: noise + bias + lrelu 32x1024², naive": act_naive,
                "op: noise + bias + lrelu 32x1024², ours (in place)": act_ours,
            },
            False,
            True,
        )
    )

    if not skip_encoder:
        enc = GradualStyleEncoder().eval().requires_grad_(False)
        x = torch.rand(1, 3, 256, 256) * 2 - 1

        def run_enc(fmt: torch.memory_format) -> Callable[[], object]:
            xin = x.contiguous(memory_format=fmt)

            def fn() -> object:
                with torch.inference_mode():
                    return enc(xin)

            return fn

        groups.append(
            (
                {
                    "encoder 256 px batch 1, NCHW (used on CPU)": run_enc(torch.contiguous_format),
                    "encoder 256 px batch 1, channels_last": run_enc(cl),
                },
                True,
                True,
            )
        )

    rows: list[Row] = []
    results: dict[str, tuple[float, float, float]] = {}
    peak = 0.0
    for cases, with_flops, vs_first in groups:
        timed = time_interleaved(cases, rep)
        for name, (med, best) in timed.items():
            gflop = count_gflop(cases[name]) if with_flops else None
            first_best = next(iter(timed.values()))[1]
            note = f"{first_best / best:.2f}x vs first (best)" if vs_first else ""
            rows.append((name, med, best, gflop, note))
            results[name] = (med, best, gflop or 0.0)
            if name == MM_CASE:
                peak = 2 * MM_N**3 / best / 1e9

    out("")
    out(f"fp32 matmul peak ({MM_CASE}, best of {rep}, same rounds): **{peak:.1f} GFLOP/s**")
    out("")
    out("| case | median ms | best ms | GFLOP | GFLOP/s (best) | % of mm peak | note |")
    out("|---|---:|---:|---:|---:|---:|---|")
    for name, med, best, gflop, note in rows:
        if gflop:
            rate = gflop / best
            flops = f"{gflop:.1f} | {rate:.0f} | {100 * rate / peak:.0f}%"
        else:
            flops = "– | – | –"
        out(f"| {name} | {med * 1e3:.1f} | {best * 1e3:.1f} | {flops} | {note} |")

    def ratio(a: str, b: str) -> str:
        return f"{results[a][1] / results[b][1]:.2f}x"  # best times: least hit by load

    ours, naive = "generator {}, ours", "generator {}, naive ops"
    med, best, gflop = results[ours.format(1024)]
    ratio_rows = [
        ("1024 ours / 256 ours (early exit)", ratio(ours.format(1024), ours.format(256)), "≥ 1.5x"),
        ("1024 naive ops / 1024 ours", ratio(naive.format(1024), ours.format(1024)), "≥ 4x"),
        ("256 naive ops / 256 ours", ratio(naive.format(256), ours.format(256)), ""),
        (
            "batch 4 @256: naive / ours",
            ratio(naive.format("256 x batch 4"), ours.format("256 x batch 4")),
            "",
        ),
        (
            "generator 1024 ours, % of mm peak (best run)",
            f"{100 * gflop / best / peak:.0f}%",
            "≥ 60%",
        ),
    ]
    out("")
    out(f"| ratio (best of {rep}, same run, interleaved) | value | target |")
    out("|---|---:|---:|")
    for label, value, target in ratio_rows:
        out(f"| {label} | {value} | {target} |")
    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    out(f"\nload avg {load_end:.2f} at end (other processes on the machine skew timings)")
    return "### pSp generator and encoder ops (CPU)\n\n" + "\n".join(lines) + "\n"


def run(quick: bool = False) -> str:
    """For ``python -m bench``: 3 rounds with ``--quick``, 5 otherwise."""
    return report(rep=3 if quick else 5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-encoder", action="store_true")
    args = parser.parse_args()
    print(report(args.repeat, args.skip_encoder))


if __name__ == "__main__":
    main()
