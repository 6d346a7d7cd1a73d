"""Fairness benchmark: how long a quiet guild waits behind another guild's burst.

`python -m bench.bench_fairness` starts a private redis-server and, in the same run, for each
worker count W: W simulated workers (threads that take jobs the way RQ's worker does,
`Queue.dequeue_any`, and "make" each in a fixed time) are idle; guild A submits 200 covers at
once, guild B 5 right after (the guild quota and queued cap raised). B's wait to start is
measured in jobs (other jobs started between its submission and its start) and in seconds:

- FIFO: the old path, `Queue.enqueue` straight into RQ's list;
- fair: `albumify.fairqueue` (what the bot does now): the jobs wait per guild and the feeder
  moves them into RQ round-robin, one per live worker at most waiting there; the workers
  feed before each dequeue as `AlbumifyWorker` does.

The bound printed beside it is the documented one for B's first job: b·W + G − 1 other jobs
(b = `fair_buffer_per_worker`, G = 2 guilds).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import redis
from rq import Queue
from rq.exceptions import DequeueTimeout
from rq.serializers import JSONSerializer

from albumify.fairqueue import FairQueue
from albumify.settings import Limits
from bench.report import Table
from devtools.redis_server import RedisProcess

A, B = 1001, 2002
A_JOBS, B_JOBS = 200, 5
JOB_S = 0.02
"""How long a simulated worker takes per job (a fast fake: only the order matters)."""
WORKER_COUNTS = (2, 8)
FUNCTION = "worker.job.make_cover"
LIMITS = Limits(queue_cap=10_000, guild_queue_cap=10_000, guild_quota=10_000)


@dataclass
class Waits:
    jobs: list[int]
    seconds: list[float]


class Workers:
    """W threads that dequeue like RQ's worker; each start is numbered in one sequence."""

    def __init__(self, queue: Queue, count: int, fair: FairQueue | None) -> None:
        self.queue, self.fair = queue, fair
        self.started: dict[str, tuple[int, float]] = {}
        self.sequence = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._work, daemon=True) for _ in range(count)]

    def _work(self) -> None:
        connection = redis.Redis(connection_pool=self.queue.connection.connection_pool)
        queue = Queue(self.queue.name, connection=connection, serializer=JSONSerializer)
        fair = FairQueue(queue, LIMITS) if self.fair is not None else None
        while not self.stop.is_set():
            if fair is not None:
                fair.feed()
            try:
                found = Queue.dequeue_any(
                    [queue], 1, connection=connection, serializer=JSONSerializer
                )
            except DequeueTimeout:
                continue
            if found is None:
                continue
            job, _ = found
            with self.lock:
                self.started[job.id] = (self.sequence, time.perf_counter())
                self.sequence += 1
            time.sleep(JOB_S)

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def wait_for(self, job_ids: list[str], timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not all(job_id in self.started for job_id in job_ids):
            if time.monotonic() > deadline:
                raise RuntimeError("the simulated workers did not start every job")
            time.sleep(0.01)
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=10)


def _scenario(url: str, workers: int, *, fair: bool) -> Waits:
    connection = redis.Redis.from_url(url)
    connection.flushdb()
    queue = Queue("albumify", connection=connection, serializer=JSONSerializer)
    fair_queue = FairQueue(queue, LIMITS) if fair else None
    # The live workers the feeder sizes RQ's buffer by (RQ registers real ones here).
    connection.sadd("rq:workers:albumify", *(f"rq:worker:bench-{n}" for n in range(workers)))
    running = Workers(queue, workers, fair_queue)
    running.start()

    def submit(guild: int, name: str) -> None:
        payload = {"guild_id": guild}
        if fair_queue is None:
            queue.enqueue(FUNCTION, payload, job_id=name)
        else:
            fair_queue.submit(FUNCTION, payload, guild_id=guild, priority=False, job_id=name)
            fair_queue.feed()  # as `Intake.submit` does

    for n in range(A_JOBS):
        submit(A, f"a{n}")
    submitted: dict[str, tuple[int, float]] = {}
    for n in range(B_JOBS):
        with running.lock:
            mark = (running.sequence, time.perf_counter())
        submit(B, f"b{n}")
        submitted[f"b{n}"] = mark
    names = [*submitted, *(f"a{n}" for n in range(A_JOBS))]
    running.wait_for(names)
    connection.close()
    return Waits(
        jobs=[running.started[name][0] - submitted[name][0] for name in submitted],
        seconds=[running.started[name][1] - submitted[name][1] for name in submitted],
    )


def run() -> Table:
    table = Table(
        f"Fairness: guild A queues {A_JOBS} covers at once, guild B {B_JOBS} right after "
        f"(simulated workers, {JOB_S * 1000:.0f} ms a job, local Redis)",
        [
            "workers",
            "queue",
            "B waits, jobs (p50 / max)",
            "B waits, s (p50 / max)",
            "B's first: jobs / bound",
            "FIFO ÷ fair (p50 s)",
        ],
    )
    with tempfile.TemporaryDirectory(prefix="bench-fair-") as directory:
        server = RedisProcess(Path(directory)).start()
        try:
            for workers in WORKER_COUNTS:
                fifo = _scenario(server.url, workers, fair=False)
                fair = _scenario(server.url, workers, fair=True)
                bound = max(1, LIMITS.fair_buffer_per_worker) * workers + 2 - 1
                ratio = statistics.median(fifo.seconds) / statistics.median(fair.seconds)
                for name, waits in (("FIFO (before)", fifo), ("fair (now)", fair)):
                    table.add(
                        workers,
                        name,
                        f"{statistics.median(waits.jobs):.0f} / {max(waits.jobs)}",
                        f"{statistics.median(waits.seconds):.3f} / {max(waits.seconds):.3f}",
                        f"{waits.jobs[0]} / {bound}" if waits is fair else f"{waits.jobs[0]} / —",
                        f"{ratio:.0f}×" if waits is fair else "",
                    )
        finally:
            server.stop()
    return table


if __name__ == "__main__":
    started = time.perf_counter()
    print(run().markdown())
    print(f"({time.perf_counter() - started:.1f} s)", file=sys.stderr)
