"""Cold worker vs warm job, as a member sees them, with real processes (issue 10: ≥ 10×).

A member's job is waiting in the queue when `albumify worker` starts. Cold = from that exec to
the cover's upload arriving at the loopback Discord: interpreter, imports, weights, index, the
warm-up pass, then the job. Warm = the next jobs on the same worker, from the interaction to
the upload (the bot's ack and the queue included, so the ratio errs low).

Two colds, alternating, each against its own warm jobs:
- cold node: the worker's files (stdlib, site-packages, weights, cover library) evicted from
  the OS page cache first (`bench.pagecache`), as on a freshly booted or newly scaled node;
- restart: the same files still in RAM, as when a crashed worker restarts on a busy host.

Backends: the embedded default; the embedded default as it was before issue 15 (MTCNN faces
and GrabCut, which import torch: `bench.previous`), to hold today's cold classic worker to
≤ 0.6× of it in the same run; and neural with random official-format weights, its cover
library prepared beforehand the way `albumify index build` prepares a real one. This process
never imports torch, so eviction can drop torch's libraries (`python -m bench` runs it first);
what eviction could not drop is reported. 1024 px covers, one worker using every core.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.pagecache import evict, python_files, resident_bytes
from bench.previous import PREVIOUS_PYTHONPATH
from bench.report import EXAMPLE, Table
from devtools.fakediscord.stack import Stack

ROOT = Path(__file__).resolve().parent.parent
TARGET = 10.0
COLD_TARGET = 0.6
"""Issue 15: a cold classic worker (exec → first cover) in at most this share of the time
the pre-#15 embedded default took, measured in the same run."""
BACKENDS = {
    "classic": "embedded default",
    "previous": "embedded default before #15",
    "neural": "neural (random official weights)",
}
PREPARE = """
import sys
from pathlib import Path
from albumify.settings import Settings
from bench.bench_neural import write_random_weights
from worker.pipeline import Pipeline
weights = Path(sys.argv[1])
weights.mkdir()
write_random_weights(weights)
Pipeline.load(Settings(weights_dir=weights), backend="neural", device="cpu")
"""
"""Random weights, and the starter library's ResNet vectors (what `index build` would add)."""
STARTUP_LOG = re.compile(
    r"start-up took ([\d.]+) s \(interpreter and imports ([\d.]+) s, "
    r"loading ([\d.]+) s, warm-up ([\d.]+) s\)"
)


def prepare(directory: Path) -> dict[str, str]:
    weights, cache = directory / "weights", directory / "cache"
    env = {**os.environ, "ALBUMIFY_CACHE": str(cache), "YOLO_OFFLINE": "1"}
    subprocess.run([sys.executable, "-c", PREPARE, str(weights)], cwd=ROOT, env=env, check=True)
    return {"ALBUMIFY_WEIGHTS": str(weights), "ALBUMIFY_CACHE": str(cache)}


def ask_for_cover(stack: Stack, n: int) -> object:
    fake = stack.fake
    member = fake.add_member(f"member{n}")
    photo = fake.upload(f"photo{n}.png", EXAMPLE.read_bytes())
    return fake.slash("albumify", member, {"image": photo})


def upload_time(stack: Stack, interaction: object, timeout: float = 600) -> float:
    """time.monotonic() when the interaction's cover arrived at the fake."""
    fake = stack.fake
    fake.wait_until(
        lambda: (m := fake.response_to(interaction)) is not None and bool(m.attachments),
        "the cover",
        timeout,
    )
    token = interaction.token  # type: ignore[attr-defined]
    uploads = [r for r in fake.calls("PATCH", "/messages/@original") if r.files and token in r.path]
    return uploads[-1].at


def one_worker(stack: Stack, name: str, first: int, warm_jobs: int) -> dict[str, object]:
    """Start a worker for a waiting job; then time ``warm_jobs`` more, one at a time."""
    waiting = ask_for_cover(stack, first)
    stack.fake.wait_until(lambda: waiting.acknowledged, "the ack", 30)  # type: ignore[attr-defined]
    started = time.monotonic()
    stack.start_worker(name)
    cold = upload_time(stack, waiting) - started
    warm = []
    for n in range(first + 1, first + 1 + warm_jobs):
        interaction = ask_for_cover(stack, n)
        warm.append(upload_time(stack, interaction) - interaction.sent_at)  # type: ignore[attr-defined]
    stack.wait_idle(timeout=120)
    log = stack.log(name)
    stack.stop_process(name)
    startup = STARTUP_LOG.search(log)
    return {
        "cold": cold,
        "warm": statistics.median(warm),
        "startup": tuple(map(float, startup.groups())) if startup else None,
    }


def measure(backend: str, files: dict[str, str], rounds: int, warm_jobs: int) -> dict[str, object]:
    roots = [*python_files(), *(Path(f) for f in files.values() if Path(f).exists())]
    stack = Stack(
        {
            **files,
            "ALBUMIFY_BACKEND": backend,
            "ALBUMIFY_COVER_SIZE": "1024",
            "ALBUMIFY_PROGRESS_INTERVAL": "2",
            "OMP_NUM_THREADS": str(os.cpu_count() or 1),
        }
    ).start(worker=False)
    runs: dict[str, list[dict[str, object]]] = {"cold node": [], "restart": []}
    left: list[float] = []
    total = 0
    try:
        for r in range(rounds):
            for kind in runs:
                if kind == "cold node":
                    total = evict(roots)
                    left.append(resident_bytes(roots) or 0)
                first = (r * 2 + (kind == "restart")) * (warm_jobs + 1)
                runs[kind].append(one_worker(stack, f"{kind[0]}{r}", first, warm_jobs))
    finally:
        stack.stop()
    return {"runs": runs, "evicted": total, "left": max(left, default=0)}


def run(quick: bool = False) -> Table:
    rounds, warm_jobs = (1, 3) if quick else (2, 5)
    with tempfile.TemporaryDirectory(prefix="albumify-bench-") as tmp:
        files = prepare(Path(tmp))
        cache = {"ALBUMIFY_CACHE": files["ALBUMIFY_CACHE"]}
        results = {
            "classic": measure("classic", cache, rounds, warm_jobs),
            "previous": measure(
                "classic", {**cache, "PYTHONPATH": PREVIOUS_PYTHONPATH}, rounds, warm_jobs
            ),
            "neural": measure("neural", files, rounds, warm_jobs),
        }

    table = Table(
        f"Cold worker vs warm job (real processes, loopback Discord, 1024 px, median of {rounds})",
        ["measure", *BACKENDS.values()],
    )

    def row(label: str, value: object) -> None:
        table.add(label, *(value(results[b]) for b in BACKENDS))  # type: ignore[operator]

    def median(result: dict, kind: str, key: str) -> float:
        return statistics.median(run[key] for run in result["runs"][kind])

    row(
        f"warm job: interaction → cover upload (median of {warm_jobs} per worker)",
        lambda r: f"{median(r, 'restart', 'warm') * 1000:.0f} ms",
    )
    for kind, what in (
        ("cold node", "files evicted from the page cache"),
        ("restart", "files in the page cache"),
    ):
        row(
            f"cold worker, {kind}: exec → first cover upload ({what})",
            lambda r, k=kind: f"{median(r, k, 'cold'):.1f} s",
        )
        row(
            f"  of which start-up logged by the worker ({kind})",
            lambda r, k=kind: _startup(r["runs"][k]),
        )
        row(
            f"  warm job is faster than a cold worker by ({kind}; target ≥ {TARGET:.0f}×)",
            lambda r, k=kind: _ratio(r["runs"][k]),
        )
    for kind in ("cold node", "restart"):
        ours, before = (median(results[b], kind, "cold") for b in ("classic", "previous"))
        ratio = ours / before
        verdict = "met" if ratio <= COLD_TARGET else "NOT met"
        table.add(
            f"cold classic worker ({kind}) vs before #15 (target ≤ {COLD_TARGET}×)",
            f"{ratio:.2f}× ({verdict})",
            "1.00×",
            "",
        )
    row(
        "page cache the eviction could not drop (mapped by running processes)",
        lambda r: f"{r['left'] / 2**20:.0f} of {r['evicted'] / 2**20:.0f} MiB",
    )
    return table


def _ratio(runs: list[dict]) -> str:
    ratio = statistics.median(r["cold"] / r["warm"] for r in runs)
    return f"{ratio:.1f}× ({'met' if ratio >= TARGET else 'NOT met'})"


def _startup(runs: list[dict]) -> str:
    logged = [r["startup"] for r in runs if r["startup"]]
    if not logged:
        return "not logged"
    total, imports, loading, warm_up = (statistics.median(x) for x in zip(*logged, strict=True))
    return f"{total:.1f} s (imports {imports:.1f}, loading {loading:.1f}, warm-up {warm_up:.1f})"


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv).markdown())
