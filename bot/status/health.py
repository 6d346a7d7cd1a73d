"""Queue depth and worker health, for `/albumify-status` and a periodic log line.

Reads Redis only (no RQ registry cleanup runs from the bot), in one round trip whatever the
size of the keyspace: the queue's length (RQ's list and the fair queue), RQ's started /
scheduled (retries waiting) / failed registries, and the workers whose heartbeat has not
lapsed (`keys.WORKERS`, scored by `albumify worker`'s heartbeat).
"""

from __future__ import annotations

import asyncio
import logging
import time
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
    registries = (StartedJobRegistry, ScheduledJobRegistry, FailedJobRegistry)
    pipe = redis.pipeline(transaction=False)
    pipe.llen(queue.key)
    pipe.zcard(keys.fair_pending(queue.name))  # new covers waiting for their guild's turn
    for registry in registries:  # building a registry reads nothing: it names its key
        pipe.zcard(registry(queue=queue).key)
    pipe.zcount(keys.WORKERS, f"({time.time()}", "+inf")
    in_rq, waiting, running, retrying, failed, workers = await pipe.execute()
    queued = int(in_rq) + int(waiting)
    return QueueStatus(queued, int(running), int(retrying), int(failed), int(workers))


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
