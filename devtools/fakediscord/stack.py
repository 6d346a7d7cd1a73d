"""Start the whole thing for real: redis-server, the fake Discord, `albumify bot`, a worker.

Used by the end-to-end tests (once per module), `bench.bench_e2e` and `albumify demo`. The bot
and the worker are the production entry points (`python -m albumify bot`, `python -m albumify
worker`) pointed at the fake through the documented environment variables.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import redis
from rq import Queue, Worker
from rq.serializers import JSONSerializer

from albumify import keys
from albumify.connections import sync_redis
from devtools.fakediscord.server import FakeDiscord
from devtools.redis_server import RedisProcess

SOURCE = Path(__file__).resolve().parents[2]
CHECKOUT = SOURCE if (SOURCE / "pyproject.toml").is_file() else None
"""The source checkout this code was imported from; None when it is installed.

`python -m` looks in its working directory first, so processes started in the checkout run
this same code (not another copy the interpreter has installed); an installed package needs
no such help, and its processes start in the stack's own directory.
"""

FAST_LIMITS = {
    "ALBUMIFY_COVER_SIZE": "256",
    "ALBUMIFY_PROGRESS_INTERVAL": "0.2",
    # Many members and requests in a few minutes: quotas would refuse them.
    "ALBUMIFY_MEMBER_QUOTA": "1000",
    "ALBUMIFY_GUILD_QUOTA": "10000",
    "ALBUMIFY_QUEUE_CAP": "10000",
    "ALBUMIFY_GUILD_QUEUE_CAP": "10000",
}
"""Small covers and frequent progress edits keep the scenarios quick; quotas are raised."""


class Stack:
    """Processes for one run; `stop()` ends exactly the processes it started."""

    def __init__(self, extra_env: dict[str, str] | None = None) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="albumify-e2e-"))
        self.extra_env = {**FAST_LIMITS, **(extra_env or {})}
        self.fake = FakeDiscord()
        self.redis_url = ""
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.redis_server: RedisProcess | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(
        self,
        *,
        timeout: float = 120.0,
        worker: bool = True,
        bots: dict[str, dict[str, str]] | None = None,
    ) -> Stack:
        """``worker=False``: no worker yet (a cold-start benchmark starts its own).
        ``bots``: bot processes by name with their own settings (e.g. each its
        `ALBUMIFY_SHARDS`) instead of the one `bot`; ready once every shard identified."""
        try:
            self.fake.start()
            self._start_redis()
            if worker:
                self.start_worker()
            if bots is None:
                self.start_bot()
            for name, env in (bots or {}).items():
                self.start_bot(name, env)
            self.wait_ready(timeout, worker=worker)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_redis(self) -> None:
        self.redis_server = RedisProcess(self.directory).start()
        self.redis_url = self.redis_server.url

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.fake.environment())
        env.update(self.extra_env)
        env["REDIS_URL"] = self.redis_url
        env.setdefault("YOLO_OFFLINE", "1")
        # The machine is shared: torch's intra-op threads thrash under load (MTCNN goes
        # from ~10 ms to over a second), and one worker keeps one core busy anyway.
        env.setdefault("OMP_NUM_THREADS", "1")
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _spawn(self, name: str, *args: str, env: dict[str, str] | None = None) -> None:
        log = open(self.directory / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "albumify", *args],
            cwd=CHECKOUT or self.directory,
            env={**self.environment(), **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def start_bot(self, name: str = "bot", env: dict[str, str] | None = None) -> None:
        """`albumify bot`; another `name` starts a second bot process beside the first;
        `env` is this process's own settings (e.g. `ALBUMIFY_SHARDS`)."""
        self._spawn(name, "bot", env=env)

    def start_worker(self, name: str = "worker") -> None:
        self._spawn(name, "worker", "--name", f"e2e-{name}-{os.getpid()}")

    def wait_ready(self, timeout: float = 120.0, *, worker: bool = True) -> None:
        """The bot has synced commands and identified (every shard `GET /gateway/bot`
        recommends); a worker has loaded its pipeline."""
        deadline = time.monotonic() + timeout
        client = self.redis()
        try:
            shards = set(range(self.fake.shard_count))
            while not (
                self.fake.connected
                and self.fake.connected_shards() >= shards
                and self.fake.commands
                and (Worker.count(client) or not worker)
            ):
                self.check_alive()
                if time.monotonic() > deadline:
                    raise RuntimeError("the stack did not get ready:\n" + self.logs())
                time.sleep(0.1)
        finally:
            client.close()

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n" + self.logs())

    def stop_process(self, name: str) -> None:
        """Ask one process to end the way its supervisor would (SIGINT bot, SIGTERM worker)."""
        process = self.processes.get(name)
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT if name.startswith("bot") else signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def stop(self) -> None:
        for name in ("bot", *[n for n in self.processes if n != "bot"]):
            self.stop_process(name)
        if self.redis_server is not None:
            self.redis_server.stop()
        with contextlib.suppress(Exception):
            self.fake.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    # -- helpers ---------------------------------------------------------------------------

    def redis(self) -> redis.Redis:
        return sync_redis(self.redis_url)  # a redis:// or a redis+sentinel:// URL

    def queue(self, client: redis.Redis) -> Queue:
        return Queue("albumify", connection=client, serializer=JSONSerializer)

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Until no job is queued or running (every edit anyone would make has been made)."""
        client = self.redis()
        try:
            deadline = time.monotonic() + timeout
            queue = self.queue(client)
            waiting = keys.fair_pending(queue.name)  # new covers waiting for their guild's turn
            while queue.count or queue.started_job_registry.count or client.zcard(waiting):
                if time.monotonic() > deadline:
                    raise RuntimeError("the queue did not drain:\n" + self.logs())
                time.sleep(0.05)
        finally:
            client.close()

    @contextlib.contextmanager
    def scenario(self) -> Iterator[FakeDiscord]:
        """One scenario from a clean start (`reset`); afterwards every process is still up and
        the bot made no protocol mistake the real Discord would have refused."""
        self.reset()
        yield self.fake
        self.check_alive()
        assert self.fake.protocol_errors == [], self.fake.protocol_errors

    def reset(self) -> None:
        """Between scenarios: an idle queue, no app state, a fresh fake conversation (the
        bot processes keep their leader leases and IDENTIFY windows)."""
        self.wait_idle()
        client = self.redis()
        try:
            # The bot processes' own coordination (leases, IDENTIFY pacing) is not app state.
            kept = (b"albumify:leader:", b"albumify:gateway:")
            names = [n for n in client.scan_iter("albumify:*") if not n.startswith(kept)]
            if names:
                client.delete(*names)
        finally:
            client.close()
        self.fake.reset()

    def log(self, name: str) -> str:
        path = self.directory / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def logs(self, tail: int = 3000) -> str:
        return "\n".join(f"--- {name}.log ---\n{self.log(name)[-tail:]}" for name in self.processes)
