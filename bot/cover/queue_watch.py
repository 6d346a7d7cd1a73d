"""Show a queued job's position in its deferred response until a worker picks it up.

The bot edits only while the job is queued: once started, the worker owns the message
(it shows stages and the result). Edits go out at most every `interval` seconds and only
when the text changes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from albumify.progress import Throttle, stage_text

log = logging.getLogger(__name__)

QUEUED_STATES = frozenset({"queued", "scheduled", "deferred"})


async def watch_queue(
    job_state: Callable[[], Awaitable[tuple[str, int | None]]],
    edit: Callable[[str], Awaitable[object]],
    *,
    interval: float,
    max_seconds: float = 14 * 60,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    clock: Callable[[], float] | None = None,
) -> int:
    """Poll the job and edit the message while it waits. Returns how many edits were made."""
    loop_clock = clock or asyncio.get_running_loop().time
    throttle = Throttle(interval, loop_clock)
    deadline = loop_clock() + max_seconds
    edits = 0
    task = asyncio.current_task()
    while loop_clock() < deadline:
        if task is not None and task.cancelling():
            # Python 3.11's wait_for (used by redis-py) can swallow a cancellation that
            # races a finishing command: stop anyway, or shutdown waits on this loop.
            raise asyncio.CancelledError
        status, position = await job_state()
        if status not in QUEUED_STATES:
            break
        text = stage_text("queued", position=position)
        if throttle.should_send(text):
            try:
                await edit(text)
                edits += 1
            except Exception as err:  # a failed cosmetic edit must not kill the watcher
                log.info("queue edit failed: %s", err)
        await sleep(interval / 2)
    return edits
