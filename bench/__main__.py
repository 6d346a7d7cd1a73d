"""`python -m bench` / `albumify bench`: run every benchmark and print one markdown report."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from bench.report import machine

SUITE = (
    "bench.bench_coldstart",  # first: this process must not have mapped torch yet
    "bench.bench_cover",
    "bench.bench_edit",
    "bench.bench_faces",
    "bench.bench_matte",
    "bench.bench_safety",
    "bench.bench_worker",
    "bench.bench_neural",
    "bench.bench_psp",
    "bench.bench_batch",
    "bench.bench_gpu",
    "bench.bench_compile",
    "bench.bench_index",
    "bench.bench_million",  # opt-in: ALBUMIFY_BENCH_MILLION=1 (GBs, many minutes)
    "bench.bench_variety",
    "bench.bench_leaderboard",
    "bench.bench_sizing",
    "bench.bench_fairness",
    "bench.bench_e2e",
)


def main_from_args(args: argparse.Namespace) -> int:
    sections = []
    for name in SUITE:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        print(f"running {name} …", file=sys.stderr)
        result = (
            module.run(quick=args.quick)
            if "quick" in module.run.__code__.co_varnames
            else module.run()
        )
        tables = result if isinstance(result, list) else [result]
        sections += [t if isinstance(t, str) else t.markdown() for t in tables]
    report = "\n".join([f"## Albumify benchmarks\n\nMachine: {machine()}\n", *sections])
    print(report)
    if args.output:
        Path(args.output).write_text(report, encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("-o", "--output")
    return main_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
