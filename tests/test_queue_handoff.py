"""The bot's 'queued' edits never land after the worker took the message over (real Redis).

Found end to end: under a burst, a queue-position edit in flight when the worker started
overwrote the worker's progress text (and could overwrite the finished cover's text).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

import pytest
import redis.asyncio as aioredis
from rq import Queue
from rq.serializers import JSONSerializer

from albumify import keys
from albumify.schema import CoverJob, PhotoRef
from albumify.settings import Settings
from bot.cover.intake import Intake
from worker.job import CoverTask

JOB_ID = "albumify-cover-42"


def cover_job() -> CoverJob:
    return CoverJob(JOB_ID, "42", 1, 2, 3, 3, PhotoRef("me.png", url="https://x/me.png"))


def run_with_intake(redis_url: str, redis_sync, body):
    async def main():
        client = aioredis.Redis.from_url(redis_url, decode_responses=True)
        queue = Queue("albumify", connection=redis_sync, serializer=JSONSerializer)
        try:
            return await body(Intake(client, queue, Settings(redis_url=redis_url)))
        finally:
            await client.aclose()

    return asyncio.run(main())


def test_queued_edit_runs_until_the_worker_takes_over(redis_url, redis_sync):
    edits: list[str] = []

    async def body(intake: Intake) -> list[bool]:
        async def edit() -> None:
            edits.append("queued")

        before = await intake.edit_while_queued(JOB_ID, edit)
        CoverTask(cover_job(), Settings(redis_url=redis_url), redis_sync, None)._take_over_message()
        after = await intake.edit_while_queued(JOB_ID, edit)
        return [before, after]

    assert run_with_intake(redis_url, redis_sync, body) == [True, False]
    assert edits == ["queued"]
    assert not redis_sync.exists(keys.queue_edit(JOB_ID))


def test_worker_waits_for_an_edit_in_flight(redis_url, redis_sync):
    events: list[str] = []
    task = CoverTask(cover_job(), Settings(redis_url=redis_url), redis_sync, None)
    worker = threading.Thread(
        target=lambda: (task._take_over_message(), events.append("worker took over"))
    )

    async def body(intake: Intake) -> bool:
        async def slow_edit() -> None:
            worker.start()  # the worker starts while this edit is on its way to Discord
            await asyncio.sleep(0.3)
            events.append("queued edit landed")

        return await intake.edit_while_queued(JOB_ID, slow_edit)

    started = time.monotonic()
    assert run_with_intake(redis_url, redis_sync, body) is True
    worker.join(10)
    assert events == ["queued edit landed", "worker took over"]
    assert time.monotonic() - started >= 0.3


def test_a_cancelled_edit_stays_cancelled_when_the_release_fails(redis_url, redis_sync):
    """A release error must not swallow the cancellation (the watcher would never stop)."""

    async def body(intake: Intake) -> None:
        async def failing_release(*args: object) -> None:
            raise ConnectionError("the client was closed")

        async def cancelled_edit() -> None:
            raise asyncio.CancelledError

        intake.redis.eval = failing_release  # type: ignore[method-assign]
        await intake.edit_while_queued(JOB_ID, cancelled_edit)

    with pytest.raises(asyncio.CancelledError):
        run_with_intake(redis_url, redis_sync, body)


def test_the_watcher_stops_even_when_a_library_swallows_its_cancellation():
    """3.11's wait_for can eat a cancel that races a finishing command (seen in redis-py)."""
    from bot.cover.queue_watch import watch_queue

    async def swallowing_state() -> tuple[str, int | None]:
        with contextlib.suppress(asyncio.CancelledError):  # what a racing wait_for does
            await asyncio.sleep(0.05)
        return "queued", 0

    async def edit(text: str) -> None:
        return None

    async def main() -> bool:
        watcher = asyncio.create_task(watch_queue(swallowing_state, edit, interval=0.02))
        await asyncio.sleep(0.03)
        watcher.cancel()
        done, _ = await asyncio.wait({watcher}, timeout=2)
        return watcher in done and watcher.cancelled()

    assert asyncio.run(main())
