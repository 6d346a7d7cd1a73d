"""Worker footprint: loading, peak RSS, and RSS growth over many jobs.

A fresh interpreter loads every model and the index and makes one cover; its peak RSS is the
worker's footprint, for the classic and the neural backends (random official-format weights).
Cold worker vs warm job, end to end with real processes, is `bench_coldstart`'s. Growth = RSS
after N jobs (1,000 in the full run) minus RSS after the first 15. Weights loading: read whole
vs memory-mapped.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from bench.report import EXAMPLE, Table

COLD_SCRIPT = """
import json, resource, sys, time; t = time.perf_counter()
from pathlib import Path
from albumify.settings import Settings
from worker.pipeline import Pipeline, CoverOptions
from imaging.photo import encode_cover
settings = Settings(weights_dir=Path(sys.argv[1]))
p = Pipeline.load(settings, backend=sys.argv[2], device="cpu")
loaded = time.perf_counter() - t
encode_cover(p.make_cover(sys.argv[3], CoverOptions(size=512)).image, "jpeg")
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"first_cover": time.perf_counter() - t, "load": loaded, "peak_mib": peak}))
"""


def fresh_worker(weights: Path, backend: str, cache: Path | None = None) -> dict[str, float]:
    """A new process: seconds to load, to the first cover, and peak RSS.

    ``cache``: a private starter library (the neural one gains ResNet vectors, which the
    shared one must not); None = the usual one.
    """
    env = {**os.environ, **({"ALBUMIFY_CACHE": str(cache)} if cache else {})}
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", COLD_SCRIPT, str(weights), backend, str(EXAMPLE)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return {**result, "wall": time.perf_counter() - started}


def weights_load_times(weights: Path, repeat: int) -> dict[str, tuple[float, float]]:
    """torch.load of the pSp and ResNet50 files, read whole vs mmap (page cache warm)."""
    from bench.bench_psp import time_interleaved
    from models.weights import PSP_FFHQ, RESNET50

    def load(mmap: bool) -> Callable[[], object]:
        files = (weights / PSP_FFHQ, weights / RESNET50)
        return lambda: [torch.load(f, weights_only=True, mmap=mmap) for f in files]

    return time_interleaved({"read whole": load(False), "mmap": load(True)}, repeat=repeat)


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(quick: bool = False, jobs: int | None = None) -> Table:
    from bench.bench_neural import write_random_weights
    from imaging.photo import encode_cover
    from worker.pipeline import CoverOptions, Pipeline

    jobs = jobs or (60 if quick else 1000)
    with tempfile.TemporaryDirectory(prefix="albumify-bench-") as tmp:
        weights, cache = Path(tmp) / "weights", Path(tmp) / "cache"
        weights.mkdir()
        write_random_weights(weights)
        classic = fresh_worker(weights, "classic")
        fresh_worker(weights, "neural", cache)  # untimed: adds the library's ResNet vectors
        neural = fresh_worker(weights, "neural", cache)
        loads = weights_load_times(weights, repeat=3 if quick else 5)

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

    table = Table(
        "Worker: loading and memory (CPU, 512 px covers; neural = random official weights)",
        ["measure", "value", "ratio"],
    )
    table.add(
        "classic: load models + index, one cover (in a fresh interpreter)",
        f"{classic['first_cover'] * 1000:.0f} ms (loading {classic['load'] * 1000:.0f} ms)",
        "1.00× (baseline)",
    )
    table.add(
        "neural: load models + index, one cover (in a fresh interpreter)",
        f"{neural['first_cover'] * 1000:.0f} ms (loading {neural['load'] * 1000:.0f} ms)",
        f"{neural['first_cover'] / classic['first_cover']:.1f}× classic",
    )
    table.add(
        f"classic: median job in a loaded worker (of {jobs})",
        f"{warm * 1000:.0f} ms",
        "",
    )
    for name in ("read whole", "mmap"):
        median = loads[name][0]
        table.add(
            f"torch.load pSp + ResNet50 files, {name}",
            f"{median * 1000:.0f} ms",
            f"{median / loads['read whole'][0]:.2f}× read whole",
        )
    table.add("peak RSS, classic worker (load + one cover)", f"{classic['peak_mib']:.0f} MiB", "")
    table.add(
        "peak RSS, neural worker (load + one cover)",
        f"{neural['peak_mib']:.0f} MiB",
        f"{neural['peak_mib'] / classic['peak_mib']:.1f}× classic",
    )
    table.add(
        f"RSS growth over {jobs} classic jobs (after the first 15)",
        f"{growth:+.1f} MiB",
        f"{growth / settled:+.1%} of settled RSS",
    )
    return table


if __name__ == "__main__":
    jobs = int(sys.argv[1]) if len(sys.argv) > 1 else None
    print(run(jobs=jobs).markdown())
