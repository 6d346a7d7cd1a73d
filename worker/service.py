"""The worker process: an RQ SimpleWorker that loads the pipeline once and keeps it.

SimpleWorker runs jobs in its own process, so models loaded at start stay loaded (a forking
worker would reload them per job, and CUDA does not survive a fork). SIGTERM is RQ's warm
shutdown: the current job finishes, then the process exits.

Faults (see docs/operating.md):
- a killed worker's job stays in RQ's StartedJobRegistry until `job_timeout + abandoned
  grace` has passed; the next maintenance pass of any worker (every
  `Limits.maintenance_interval_s`) retries it (`Retry(max=2)`), so it runs again elsewhere;
- health: `keys.worker_heartbeat(name)` (TTL `Limits.heartbeat_ttl_s`) is refreshed by a
  thread every third of its TTL, while idle and during long jobs; a missing key means the
  worker is dead or cut off from Redis. The same beat scores the worker in `keys.WORKERS`
  (when its heartbeat lapses), which is what `/albumify-status` counts;
- a job's final failure (its last attempt raised, its worker died on it, its payload is of
  another schema version) is answered to the member by `worker.failures`;
- Redis restarts: RQ retries its blocking dequeue itself, but a connection error anywhere
  else ends `work()`; `run()` then waits for Redis and starts a new worker loop in the same
  process (the models stay loaded);
- a Sentinel fail-over (`redis+sentinel://` URL): the client asks the sentinels for the primary
  again on each retry, so a blocking dequeue (RQ 3 uses BLMOVE) or a job's Redis call that
  met the dead primary reaches the promoted replica; a demoted primary's READONLY answer does
  the same (tests/test_e2e_sentinel.py);
- Redis full (`maxmemory`, noeviction): writes are refused, which ends `work()` too; `run()`
  waits (backing off) until Redis takes writes again, then starts a new loop.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import redis
from redis import Redis
from rq import Queue, SimpleWorker
from rq.exceptions import StopRequested
from rq.job import Job
from rq.serializers import JSONSerializer

from albumify import keys, logs
from albumify.connections import sync_redis, worker_state_redis
from albumify.fairqueue import FairQueue
from albumify.migrations import migrate
from albumify.settings import Settings
from worker import job as job_module
from worker.failures import answer_final_failure

log = logging.getLogger(__name__)

RECONNECT_MAX_WAIT_S = 30.0


def process_age_s() -> float:
    """Seconds since this process was started (interpreter start-up and imports included);
    0.0 where /proc is missing."""
    try:
        since_boot = float(Path("/proc/uptime").read_text().split()[0])
        stat = Path("/proc/self/stat").read_text()
        # Field 22 (starttime, in clock ticks since boot) counts from after the ")" that ends
        # the command name, which may itself contain spaces.
        started_ticks = int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return 0.0
    return max(0.0, since_boot - started_ticks / os.sysconf("SC_CLK_TCK"))


class HealthBeat:
    """Refreshes the worker's heartbeat key from a thread (the main thread runs the jobs)."""

    def __init__(self, worker: AlbumifyWorker, ttl_s: int) -> None:
        self.worker = worker
        self.ttl_s = max(1, int(ttl_s))
        self.interval_s = max(0.2, self.ttl_s / 3)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="albumify-heartbeat", daemon=True)

    def start(self) -> None:
        self.beat()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def beat(self) -> None:
        worker = self.worker
        try:
            state = worker.get_state()
            state_name = getattr(state, "value", str(state))
        except Exception:
            state_name = "?"
        value = json.dumps(
            {
                "pid": os.getpid(),
                "state": state_name,
                "job_id": worker.current_job_id,
                "at": time.time(),
            }
        )
        now = time.time()
        pipe = worker.connection.pipeline(transaction=False)
        pipe.set(keys.worker_heartbeat(worker.name), value, ex=self.ttl_s)
        pipe.zadd(keys.WORKERS, {worker.name: now + self.ttl_s})
        pipe.zremrangebyscore(keys.WORKERS, "-inf", now)  # workers that died without a word
        try:
            pipe.execute()
        except redis.RedisError as err:
            log.warning("heartbeat not sent: %s", type(err).__name__)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.beat()


class AlbumifyWorker(SimpleWorker):
    """Loads the pipeline (models + index, CUDA when present) before taking the first job."""

    def __init__(self, *args: Any, settings: Settings, **kwargs: Any) -> None:
        kwargs.setdefault("serializer", JSONSerializer)
        kwargs.setdefault("log_job_description", False)
        kwargs.setdefault("maintenance_interval", settings.limits.maintenance_interval_s)
        # Run for a job that fails here, and for a dead worker's job in the maintenance pass.
        kwargs.setdefault("exception_handlers", [answer_final_failure])
        super().__init__(*args, **kwargs)
        self.settings = settings
        self.current_job_id: str | None = None
        self.shutdown_requested = False
        self.fair_queues = [FairQueue(queue, settings.limits) for queue in self.queues]

    def load_pipeline(self) -> None:
        job_module.set_pipeline(job_module.loaded_pipeline(), self.settings)
        if job_module.loaded_pipeline() is None:
            from worker.pipeline import Pipeline

            log.info("loading the pipeline")
            imports = process_age_s()
            started = time.perf_counter()
            pipeline = Pipeline.load(self.settings)
            loaded = time.perf_counter()
            warm = pipeline.warm_up()
            job_module.set_pipeline(pipeline, self.settings)
            log.info(
                "pipeline ready: start-up took %.1f s (interpreter and imports %.1f s, "
                "loading %.1f s, warm-up %.1f s); %s",
                imports + time.perf_counter() - started,
                imports,
                loaded - started,
                warm,
                ", ".join(f"{k}={v}" for k, v in pipeline.stages.names().items()),
            )
        from worker.safety import load_detector  # the content check runs before every stage

        log.info(
            "content check ready: safety=%s (threshold %.2f; skipped in age-restricted channels)",
            load_detector().name,
            self.settings.limits.nsfw_threshold,
        )

    def work(self, *args: Any, **kwargs: Any) -> bool:
        self.load_pipeline()
        beat = HealthBeat(self, self.settings.limits.heartbeat_ttl_s)
        beat.start()
        try:
            return super().work(*args, **kwargs)
        finally:
            beat.stop()
            with contextlib.suppress(redis.RedisError):
                pipe = self.connection.pipeline(transaction=False)
                pipe.delete(keys.worker_heartbeat(self.name))
                pipe.zrem(keys.WORKERS, self.name)
                pipe.execute()

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> tuple[Job, Queue] | None:
        """Top RQ's queue up from the fair queue (`albumify.fairqueue`) before taking a job:
        the next guild's turn is ready when this worker is, even with no bot running."""
        for fair in self.fair_queues:
            try:
                fair.feed()
            except redis.RedisError as err:  # RQ's own dequeue meets the fault and handles it
                log.info("fair queue feed failed: %s", type(err).__name__)
        return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)

    @property
    def dequeue_timeout(self) -> int:
        """RQ checks for maintenance only between dequeues, and an idle worker blocks for
        `worker_ttl - 15` (405 s): wake at least every maintenance interval instead, or a
        killed worker's job would wait minutes for an idle worker to notice it."""
        return max(1, min(self.worker_ttl - 15, int(self.maintenance_interval)))

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        """How long a started job may go without news before it counts as abandoned."""
        if job.timeout == -1:
            return super().get_heartbeat_ttl(job, working_time)
        grace = max(1, self.settings.limits.abandoned_grace_s)
        return int(job.timeout or self.settings.limits.job_timeout_s) + grace

    def execute_job(self, job: Job, queue: Queue) -> None:
        """Run one job with its ids on every log record (RQ's lines included)."""
        guild_id = None
        try:
            payload = job.args[0] if job.args else None
            if isinstance(payload, dict):
                guild_id = payload.get("guild_id")
        except Exception:  # unreadable data: RQ fails the job on its own
            guild_id = None
        self.current_job_id = job.id
        try:
            with logs.job_context(job.id, guild_id):
                super().execute_job(job, queue)
        finally:
            self.current_job_id = None

    def unsubscribe(self) -> None:
        """Stop the pubsub listener thread before RQ unsubscribes, not after.

        RQ sends UNSUBSCRIBE and then stops the thread; when the reply reaches the thread
        first, it goes back to waiting up to 60 s for a new subscription, and `stop()` (which
        joins without a timeout since redis-py 8.2) waits with it: a warm shutdown that
        hangs a minute after the job is done. With the thread told to stop first, the reply
        ends its loop.
        """
        if self.pubsub_thread is not None:
            self.pubsub_thread.stop(timeout=0)
        super().unsubscribe()

    def request_stop(self, signum: Any, frame: Any) -> None:
        self.shutdown_requested = True
        super().request_stop(signum, frame)


def build_worker(
    settings: Settings, *, connection: Redis, name: str | None = None
) -> AlbumifyWorker:
    queue = Queue(settings.queue_name, connection=connection, serializer=JSONSerializer)
    return AlbumifyWorker([queue], connection=connection, name=name, settings=settings)


def _wait_for_redis(connection: Redis, worker: AlbumifyWorker) -> None:
    """Until Redis answers *and takes writes*: a full Redis (`maxmemory`, noeviction) answers
    PING but refuses the registration of a new RQ loop. On the way, the ended loop's
    registration is cleared (it would make a worker of the same name refuse to start)."""
    wait = 0.5
    while not worker.shutdown_requested:
        try:
            connection.ping()
            worker.register_death()
            return
        except redis.RedisError as err:
            log.warning(
                "Redis unreachable or full (%s); retrying in %.1fs", type(err).__name__, wait
            )
            time.sleep(wait)
            wait = min(wait * 2, RECONNECT_MAX_WAIT_S)


def run(settings: Settings, *, burst: bool = False, name: str | None = None) -> int:
    """`albumify worker`: process the albumify queue until stopped (or empty, with burst).

    The RQ loop ends on a Redis fault it does not handle itself; this loop waits for Redis
    and starts it again in the same process, so the loaded models are kept.
    """
    logs.configure()
    logs.add_secret(settings.discord_token)
    level = logging.getLevelName(logging.getLogger().level)
    connection = sync_redis(settings.redis_url)
    restarts = 0
    while True:
        worker = build_worker(settings, connection=connection, name=name)
        try:
            state = worker_state_redis(settings, connection)
            migrate(state, settings.queue_name, queue_connection=connection)  # older data stays
            worker.work(burst=burst, with_scheduler=True, logging_level=level)
        except StopRequested:
            return 0
        except redis.RedisError as err:  # raised by RQ's teardown while Redis is away
            log.warning("worker loop failed: %s", type(err).__name__)
            if worker.scheduler is not None:
                worker.stop_scheduler()
        if burst or worker.shutdown_requested:
            return 0
        restarts += 1
        log.warning("worker loop ended (Redis fault?); restarting it (restart %d)", restarts)
        try:
            _wait_for_redis(connection, worker)
            if worker.shutdown_requested:
                return 0
        except StopRequested:
            return 0
        time.sleep(0.5)
