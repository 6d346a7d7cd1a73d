"""The bot's side of the fair queue (`albumify.fairqueue`): the per-guild queued cap, queueing
a job, and the feeder loop.

The global cap is the quota gate's (`albumify.quotas`, counting `FairQueue.queued`). The
guild's share is read on the queue's Redis after the quota reservation on the state Redis
(which may be another host), so a refused request gives its reservation back. Two requests
that arrive together may both see room for one: the cap can be passed by the few requests
admitted at the same instant, never by a burst.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from albumify.edits import EditJob
from albumify.fairqueue import FairQueue
from albumify.schema import CoverJob

log = logging.getLogger(__name__)


async def queue_refusal(fair: FairQueue, guild_id: int) -> str | None:
    """The member's refusal when the guild's share of the line is full, else None."""
    waiting = await asyncio.to_thread(fair.guild_waiting, guild_id)
    if waiting >= fair.limits.guild_queue_cap:
        return (
            f"This server already has {waiting} covers waiting in line. "
            "Try again once some of them are done."
        )
    return None


def queue_job(
    fair: FairQueue, job: CoverJob | EditJob, *, function: str, at_front: bool, **options: Any
) -> None:
    """Queue a job (synchronous: call in a thread). An `at_front` job (an edit) goes straight
    to the front of RQ's queue; a cover waits for its guild's turn, then RQ's queue is topped
    up. `options` are RQ's job options (`timeout`, `retry`, TTLs, …)."""
    payload = job.to_dict()
    if at_front:
        timeout = options.pop("timeout")
        fair.queue.enqueue(function, payload, at_front=True, job_timeout=timeout, **options)
        return
    fair.submit(function, payload, guild_id=job.guild_id, priority=goes_first(job), **options)
    fair.feed()


def goes_first(job: CoverJob | EditJob) -> bool:
    """Re-rolls and picked faces: the member already has a cover and waits on its remake.
    (Edits skip the turns altogether: `Intake.submit` puts them at RQ's front.)"""
    return isinstance(job, CoverJob) and (job.rerolled_from is not None or job.picked_face)


async def feed_forever(
    fair: Callable[[], FairQueue],
    *,
    interval: float,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> None:
    """Top RQ's queue up from the fair queue every `interval` seconds (every bot process may:
    each move is atomic). Workers feed too, before each job they take. `fair` is read at each
    round: the bot builds its queue in `setup_hook`."""
    while True:
        try:
            await asyncio.to_thread(fair().feed)
        except Exception as err:  # Redis away: the next round tries again
            log.warning("fair queue feed failed: %s", type(err).__name__)
        await sleep(interval)
