"""Queue depth and worker health, for `/albumify-status` and a periodic log line.

Reads Redis only (no RQ registry cleanup runs from the bot): the queue's length, RQ's started /
scheduled (retries waiting) / failed registries, and the workers' heartbeat keys
(`keys.worker_heartbeat`, written by `albumify worker`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from rq import Queue
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

from albumify import keys

log = logging.getLogger(__name__)

LOG_INTERVAL_S = 60.0


@dataclass(frozen=True)
class QueueStatus:
    queued: int
    running: int
    retrying: int
    failed: int
    workers: int

    def line(self) -> str:
        return (
            f"queue depth {self.queued} waiting, {self.running} running, "
            f"{self.retrying} waiting to retry, {self.failed} failed; "
            f"{self.workers} worker{'s' if self.workers != 1 else ''} alive"
        )


async def queue_status(redis: Any, queue: Queue) -> QueueStatus:
    """`redis` is the bot's asyncio client; `queue` the RQ queue the bot enqueues into."""

    def counts() -> tuple[int, int, int, int]:
        connection = queue.connection
        registries = (StartedJobRegistry, ScheduledJobRegistry, FailedJobRegistry)
        running, retrying, failed = (
            int(connection.zcard(registry(queue=queue).key)) for registry in registries
        )
        return int(connection.llen(queue.key)), running, retrying, failed

    queued, running, retrying, failed = await asyncio.to_thread(counts)
    workers = 0
    async for _ in redis.scan_iter(match=keys.WORKER_HEARTBEATS, count=100):
        workers += 1
    return QueueStatus(queued, running, retrying, failed, workers)


async def log_status_forever(
    status: Callable[[], Awaitable[QueueStatus]],
    *,
    interval: float = LOG_INTERVAL_S,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> None:
    """Log the queue depth every `interval` seconds (warn when no worker is alive)."""
    while True:
        try:
            current = await status()
        except Exception as err:  # Redis away: say so and keep going
            log.warning("queue status unavailable: %s", type(err).__name__)
        else:
            level = logging.WARNING if current.workers == 0 and current.queued else logging.INFO
            log.log(level, "%s", current.line())
        await sleep(interval)
