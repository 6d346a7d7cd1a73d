"""Operating: the bot reports queue depth and live workers (command + log line), and the
worker's own loop starts RQ again after a Redis fault ends it. (Heartbeat keys of a real
worker process, idle and busy, are proven in test_faults_worker.)
"""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import timedelta
from types import SimpleNamespace

import pytest
import redis
import redis.asyncio as aioredis

from albumify import keys
from albumify.settings import Limits, Settings
from bot.cover.intake import CoverRequest, Intake
from bot.status.cog import Status
from bot.status.health import log_status_forever, queue_status
from bot.utils.images import ImageCandidate
from tests.support import fake_pipeline
from tests.support.processes import bot_queue
from tests.support.roundtrips import counting_round_trips
from worker import service


def request(request_id: int) -> CoverRequest:
    url = f"https://cdn.discordapp.com/attachments/1/{request_id}/me.png"
    return CoverRequest(
        request_id=request_id,
        guild_id=1,
        channel_id=2,
        requester_id=request_id,
        photo_author_id=request_id,
        image=ImageCandidate(url, "me.png", "image/png", 10, request_id),
    )


def with_intake(redis_url, redis_sync, scenario):
    async def main():
        client = aioredis.Redis.from_url(redis_url, decode_responses=True)
        settings = Settings(redis_url=redis_url, limits=Limits())
        intake = Intake(client, bot_queue(redis_sync, settings), settings)
        try:
            return await scenario(intake, client)
        finally:
            await client.aclose()

    return asyncio.run(main())


async def enqueue(intake: Intake, request_id: int) -> None:
    req = request(request_id)
    admission = await intake.admit(req)
    assert admission.ok
    await intake.enqueue(req, admission)


def beat(redis_sync, name: str, ttl: int = 30) -> None:
    """One heartbeat of `albumify worker` named `name` (what its heartbeat thread sends)."""
    worker = SimpleNamespace(
        name=name, connection=redis_sync, current_job_id=None, get_state=lambda: "idle"
    )
    service.HealthBeat(worker, ttl).beat()  # type: ignore[arg-type]


def test_queue_status_counts_waiting_retrying_and_live_workers(redis_url, redis_sync, monkeypatch):
    """One round trip, however large the keyspace (a SCAN for heartbeats walked all of it)."""
    filler = redis_sync.pipeline(transaction=False)
    for n in range(5000):  # what 1,000 covers leave: results, voters, messages…
        filler.set(f"albumify:msg:{n}", n)
    filler.execute()

    async def scenario(intake, client):
        for request_id in (1, 2, 3):
            await enqueue(intake, request_id)
        intake.queue.enqueue_in(timedelta(minutes=5), "worker.job.make_cover", {})  # a retry
        for name in ("gpu-0", "gpu-1", "gpu-2"):
            beat(redis_sync, name)
        redis_sync.zadd(keys.WORKERS, {"gpu-2": 1.0})  # its heartbeat lapsed long ago
        await client.set("albumify:worker:gpu-3:other", "x")  # not a heartbeat
        await client.ping()  # the connection is open: only the status's own trips count
        with counting_round_trips(monkeypatch) as trips:
            status = await queue_status(client, intake.queue)
        assert trips.count == 1
        return status

    status = with_intake(redis_url, redis_sync, scenario)
    assert (status.queued, status.running, status.retrying, status.workers) == (3, 0, 1, 2)
    assert status.line().startswith("queue depth 3 waiting, 0 running, 1 waiting to retry")


def test_status_command_answers_and_logs_the_queue_depth(redis_url, redis_sync, caplog):
    caplog.set_level(logging.INFO, logger="bot.status.cog")
    sent: list[tuple[str, bool]] = []

    async def send_message(text, *, ephemeral=False):
        sent.append((text, ephemeral))

    async def scenario(intake, client):
        for request_id in (11, 12):
            await enqueue(intake, request_id)
        cog = Status(SimpleNamespace(redis=client, queue_redis=client, queue=intake.queue))
        pressed = SimpleNamespace(guild_id=1, response=SimpleNamespace(send_message=send_message))
        await Status.albumify_status.callback(cog, pressed)

    with_intake(redis_url, redis_sync, scenario)
    ((text, ephemeral),) = sent
    assert ephemeral
    assert "2 waiting" in text and "0 workers online" in text
    assert "No cover maker is online" in text
    assert any("queue depth 2 waiting" in r.getMessage() for r in caplog.records)


def test_periodic_status_line_warns_when_jobs_wait_without_workers(redis_url, redis_sync, caplog):
    caplog.set_level(logging.INFO, logger="bot.status.health")

    async def stop(_seconds):
        raise asyncio.CancelledError

    async def scenario(intake, client):
        await enqueue(intake, 21)
        with pytest.raises(asyncio.CancelledError):
            await log_status_forever(lambda: queue_status(client, intake.queue), sleep=stop)

    with_intake(redis_url, redis_sync, scenario)
    (record,) = [r for r in caplog.records if r.name == "bot.status.health"]
    assert record.levelno == logging.WARNING
    assert (
        "queue depth 1 waiting" in record.getMessage() and "0 workers alive" in record.getMessage()
    )


# -- the worker's own restart loop ------------------------------------------------------------


def test_worker_loop_restarts_rq_after_a_redis_fault(redis_url, redis_sync, monkeypatch):
    """The first RQ loop dies of a Redis error after registering (as a restart leaves it);
    `run` waits for Redis and starts a new loop under the same name in the same process."""
    fake_pipeline.install()
    monkeypatch.setattr(service.logs, "configure", lambda: None)  # keep pytest's handlers
    calls: list[str] = []
    real_work = service.AlbumifyWorker.work

    def work(self, *args, **kwargs):
        calls.append(self.name)
        if len(calls) == 1:
            self.register_birth()  # left behind without a death: the name looks taken
            raise redis.ConnectionError("Connection closed by server.")
        result = real_work(self, burst=True)  # a real loop (empty queue): it returns at once
        self.shutdown_requested = True  # then behave as if SIGTERM arrived
        return result

    monkeypatch.setattr(service.AlbumifyWorker, "work", work)
    settings = Settings(redis_url=redis_url)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        assert service.run(settings, name="loop-test") == 0
    finally:
        for sig, handler in handlers.items():  # RQ installs its own in this process
            signal.signal(sig, handler)
    assert calls == ["loop-test", "loop-test"]
