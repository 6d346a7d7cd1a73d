"""Real worker processes for fault tests, and enqueueing exactly the way the bot does."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer

from albumify.schema import CoverJob
from albumify.settings import Limits, Settings
from bot.cover.intake import CoverRequest, Intake

ROOT = Path(__file__).resolve().parents[2]
BOT_TOKEN = "bot-token-Zx9-secret"
FINAL_STATES = {"finished", "failed", "canceled", "stopped"}


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll until `predicate()` is truthy; the timeout is a safety net, not an assertion."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def worker_env(redis_url: str, api_base: str, **extra: str) -> dict[str, str]:
    env = dict(
        os.environ,
        REDIS_URL=redis_url,
        DISCORD_TOKEN=BOT_TOKEN,
        DISCORD_API_BASE=api_base,
        ALBUMIFY_CDN_HOSTS="127.0.0.1",
        ALBUMIFY_COVER_SIZE="256",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class WorkerProcess:
    """`python -m tests.support.worker_main`: the real worker loop with a test pipeline."""

    def __init__(self, env: dict[str, str], name: str, log_dir: Path) -> None:
        self.name = name
        self.stderr_path = log_dir / f"{name}.stderr"
        self.stdout_path = log_dir / f"{name}.stdout"
        self._stderr = self.stderr_path.open("wb")
        self._stdout = self.stdout_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.worker_main", "--name", name],
            cwd=ROOT,
            env=env,
            stdout=self._stdout,
            stderr=self._stderr,
        )
        self.pid = self.process.pid
        self._descendants: set[int] = set()

    def alive(self) -> bool:
        return self.process.poll() is None

    def logs(self) -> str:
        return self.stderr_path.read_text(errors="replace") + self.stdout_path.read_text(
            errors="replace"
        )

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def children(self) -> set[int]:
        """Processes this worker started (RQ's scheduler), remembered for clean-up."""
        found: set[int] = set()
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{self.pid}/task").iterdir():
                text = (task / "children").read_text().split()
                found.update(int(pid) for pid in text)
        self._descendants |= found
        return found

    def signal(self, signum: int) -> None:
        self.children()
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired as exc:  # say what the worker is doing
            self.process.send_signal(signal.SIGUSR1)  # worker_main dumps every thread's stack
            time.sleep(1)
            raise AssertionError(f"{self.name} still running:\n{self.logs()[-8000:]}") from exc

    def stop(self) -> None:
        """SIGTERM (warm shutdown), then SIGKILL as a safety net; reap what it started."""
        self.children()
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        for pid in self._descendants:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        self._stderr.close()
        self._stdout.close()


QUICK_MAINTENANCE = {
    "ALBUMIFY_MAINTENANCE_INTERVAL": "1",
    "ALBUMIFY_ABANDONED_GRACE": "1",
    "ALBUMIFY_HEARTBEAT_TTL": "3",
}
"""A dead worker's job is found within seconds: a maintenance pass every second, 1 s grace."""


class Workers:
    """Worker processes for one test (`workers("name", **env)` starts one); `stop()` stops
    every one of them and reaps what they started."""

    def __init__(self, redis_url: str, api_base: str, log_dir: Path, **defaults: str) -> None:
        self.redis_url, self.api_base, self.log_dir = redis_url, api_base, log_dir
        self.defaults = {**QUICK_MAINTENANCE, **defaults}
        self.started: list[WorkerProcess] = []

    def __call__(self, name: str, **env: str) -> WorkerProcess:
        values = worker_env(self.redis_url, self.api_base, **{**self.defaults, **env})
        worker = WorkerProcess(values, name, self.log_dir)
        self.started.append(worker)
        return worker

    def stop(self) -> None:
        for worker in self.started:
            worker.stop()


def fault_settings(redis_url: str, job_timeout_s: int) -> Settings:
    """What the bot enqueues with in the fault tests: a short job timeout, a roomy quota."""
    return Settings(
        redis_url=redis_url,
        cdn_hosts=("127.0.0.1",),
        cdn_hosts_explicit=True,
        limits=Limits(job_timeout_s=job_timeout_s, guild_quota=1000),
    )


def bot_queue(connection: Any, settings: Settings) -> Queue:
    return Queue(settings.queue_name, connection=connection, serializer=JSONSerializer)


def enqueue_like_the_bot(
    redis_url: str,
    queue: Queue,
    settings: Settings,
    requests: Iterable[CoverRequest],
    *,
    response_message_id: int | None = 4,
) -> list[CoverJob]:
    """admit + enqueue through `bot.cover.intake.Intake`, as the cog does for each request."""

    async def main() -> list[CoverJob]:
        client = aioredis.Redis.from_url(redis_url, decode_responses=True)
        try:
            intake = Intake(client, queue, settings)
            jobs = []
            for request in requests:
                admission = await intake.admit(request)
                assert admission.ok, admission.message
                jobs.append(
                    await intake.enqueue(
                        request, admission, response_message_id=response_message_id
                    )
                )
            return jobs
        finally:
            await client.aclose()

    return asyncio.run(main())


def job_status(connection: Any, job_id: str) -> str:
    job = Job.fetch(job_id, connection=connection, serializer=JSONSerializer)
    status = job.get_status(refresh=True)
    return getattr(status, "value", str(status))


def answers(fake_rest: Any, application_id: int, token: str) -> list[Any]:
    """Final answers to one request: edits that set embeds (result or notice), not progress."""
    edits = fake_rest.calls("PATCH", f"/webhooks/{application_id}/{token}/messages/@original")
    return [e for e in edits if e.payload is not None and "embeds" in e.payload]
