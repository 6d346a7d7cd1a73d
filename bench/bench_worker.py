"""Worker economics: cold start vs warm job, peak RSS, and RSS growth over many jobs.

Cold = a fresh process that imports, loads every model and the index, and makes one cover
(what a worker that loaded models per job would pay each time). Warm = the median job of a
worker that keeps its models. Growth = RSS after N jobs minus RSS after the first few.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.report import Table

EXAMPLE = Path("examples/astronaut.png")
COLD_SCRIPT = """
import time; t = time.perf_counter()
from worker.pipeline import Pipeline, CoverOptions
from worker.photo import encode_cover
p = Pipeline.load(backend="classic")
encode_cover(p.make_cover("examples/astronaut.png", CoverOptions(size=512)).image, "jpeg")
print(time.perf_counter() - t)
"""


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(quick: bool = False, jobs: int | None = None) -> Table:
    from worker.photo import encode_cover
    from worker.pipeline import CoverOptions, Pipeline

    jobs = jobs or (60 if quick else 300)
    started = time.perf_counter()
    cold = float(
        subprocess.run(
            [sys.executable, "-c", COLD_SCRIPT], capture_output=True, text=True, check=True
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    cold_wall = time.perf_counter() - started

    pipeline = Pipeline.load(backend="classic")
    photo = EXAMPLE.read_bytes()
    options = CoverOptions(size=512)
    times, rss = [], []
    for i in range(jobs):
        start = time.perf_counter()
        result = pipeline.make_cover(photo, CoverOptions(size=512, seed=i) if i % 2 else options)
        encode_cover(result.image, "jpeg")
        times.append(time.perf_counter() - start)
        rss.append(rss_mib())
    warm = statistics.median(times)
    settled = statistics.median(rss[5:15])
    growth = rss[-1] - settled
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    table = Table(
        "Worker: cold vs warm, memory (CPU, classic backends, 512 px covers)",
        ["measure", "value", "ratio"],
    )
    table.add(
        "cold: new process, load models, one cover",
        f"{cold * 1000:.0f} ms ({cold_wall:.1f} s with interpreter start)",
        "1.00× (baseline)",
    )
    table.add(
        "warm: median job in a loaded worker",
        f"{warm * 1000:.0f} ms",
        f"{cold / warm:.1f}× faster than cold",
    )
    table.add("peak RSS of the worker process", f"{peak:.0f} MiB", "")
    table.add(
        f"RSS growth over {jobs} jobs (after the first 15)",
        f"{growth:+.1f} MiB",
        f"{growth / settled:+.1%} of settled RSS",
    )
    return table


if __name__ == "__main__":
    jobs = int(sys.argv[1]) if len(sys.argv) > 1 else None
    print(run(jobs=jobs).markdown())
