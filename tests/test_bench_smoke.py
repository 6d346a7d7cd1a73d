"""The benchmarks that drive the whole stack (bot processes, workers, Redis, the loopback
Discord) still run to the end and report every row, at small sizes. They once broke unseen
when the queue's shape changed under them. Nothing here asserts a time: the numbers are the
benchmarks' business (`python -m bench`)."""

from __future__ import annotations

import math
import re

import pytest

from bench import bench_e2e, bench_sizing
from tests.support.e2e import MARKS

pytestmark = [*MARKS, pytest.mark.timeout(600)]


def numbers(markdown: str, row: str) -> list[float]:
    """The numbers of the table row that starts with `row` (thousands separators allowed)."""
    line = next(line for line in markdown.splitlines() if line.startswith(f"| {row}"))
    cells = line.split("|")[2:]
    return [float(n.replace(",", "")) for n in re.findall(r"-?\d[\d,]*\.?\d*", " ".join(cells))]


def test_the_sizing_bench_runs_sharded_bots_and_a_populated_redis() -> None:
    covers = bench_sizing.ROUND_VOTES  # a round of votes samples this many covers
    markdown = bench_sizing.run(guilds=40, covers=covers).markdown()
    assert numbers(markdown, "guilds")[:2] == [4, 40]
    for row in (
        "ack p50 / p99, 100 `/albumify` at once, cold burst",
        "ack p50 / p99, 100 `/albumify` at once, median of 5 warm bursts",
        "votes/s, Lua vote script",
        "Redis per 100k posted covers",
    ):
        values = numbers(markdown, row)
        assert values and all(math.isfinite(v) and v > 0 for v in values), (row, values)


def test_the_end_to_end_bench_makes_covers_through_the_real_stack() -> None:
    markdown = bench_e2e.run(repeats=1).markdown()
    for row in (
        "ack latency p50 / p99, 100 at once, first burst",
        "bare pipeline: make_cover + encode_cover",
        "end to end: interaction → result upload",
    ):
        values = numbers(markdown, row)
        assert values and all(math.isfinite(v) and v > 0 for v in values), (row, values)
