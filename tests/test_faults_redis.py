"""Redis restarts mid-traffic: nothing queued, voted or recorded is lost, and the bot's
clients and the worker process carry on by themselves.

The private redis-server runs with the production persistence settings read from
docker-compose.yml (append-only file, noeviction), with `appendfsync always` so the test
does not depend on the one-second flush, and is restarted (SIGTERM, start again on the same
port and directory) while a real worker is inside a job and more jobs wait in the queue.
"""

from __future__ import annotations

import asyncio
import time

import pytest
import redis
import yaml

from albumify import keys
from albumify.boards import LeaderboardStore
from albumify.connections import async_redis, sync_redis
from albumify.results import ResultRecord, save_result
from albumify.settings import Limits, Settings
from bot.cover.intake import CoverRequest, Intake
from bot.utils.images import ImageCandidate
from devtools.redis_server import RedisProcess
from tests.conftest import ROOT
from tests.support import fake_pipeline
from tests.support.processes import (
    FINAL_STATES,
    WorkerProcess,
    answers,
    bot_queue,
    enqueue_like_the_bot,
    job_status,
    wait_until,
    worker_env,
)
from tests.support.redis_full import fill, unfill
from tests.support.worker_main import STARTED_KEY
from tests.test_faults_worker import APP as WORKER_APP
from tests.test_faults_worker import request

APP = 66


def production_redis_args() -> list[str]:
    service = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["redis"]
    command = [str(part) for part in service["command"]]
    assert command[0] == "redis-server"
    return command[1:]


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


@pytest.fixture
def server(tmp_path):
    # Later arguments win: production persistence, fsync on every write for the test.
    instance = RedisProcess(tmp_path, *production_redis_args(), "--appendfsync", "always")
    instance.start()
    yield instance
    instance.stop()


def test_redis_restart_loses_nothing_and_everyone_reconnects(fake_rest, server, tmp_path):
    settings = Settings(
        redis_url=server.url,
        cdn_hosts=("127.0.0.1",),
        cdn_hosts_explicit=True,
        limits=Limits(guild_quota=1000),
    )
    env = worker_env(
        server.url, fake_rest.api_base, ALBUMIFY_TEST_STAGE_DELAY="1.5", ALBUMIFY_HEARTBEAT_TTL="3"
    )
    worker = WorkerProcess(env, "restart-survivor", tmp_path)
    # The bot's clients, made as bot.app makes them, used before and after the restart.
    rq_connection = sync_redis(server.url)
    queue = bot_queue(rq_connection, settings)

    def request(request_id: int) -> CoverRequest:
        data = fake_pipeline.png_bytes(colour=(request_id % 256, 10, 10))
        url = fake_rest.add_file(f"/attachments/5/{request_id}/me.png", data)
        return CoverRequest(
            request_id=request_id,
            guild_id=9,
            channel_id=2,
            requester_id=request_id,
            photo_author_id=request_id,
            image=ImageCandidate(url, "me.png", "image/png", len(data), request_id),
            application_id=APP,
            token=f"tok-{request_id}",
        )

    async def scenario() -> None:
        client = async_redis(server.url, max_connections=64)  # as bot.app makes it
        intake = Intake(client, queue, settings)
        board = LeaderboardStore(client)

        async def enqueue(request_id: int) -> str:
            req = request(request_id)
            admission = await intake.admit(req)
            assert admission.ok, admission.message
            return (await intake.enqueue(req, admission)).job_id

        def finished(job_id: str) -> bool:
            return job_status(rq_connection, job_id) in FINAL_STATES

        try:
            # A posted cover with a vote, then traffic: one job running, three queued.
            posted = ResultRecord("res-1", 9, 2, 1, 1, message_id=1234, created_at=time.time())
            await asyncio.to_thread(save_result, rq_connection, posted)
            assert (await board.toggle_vote(9, "res-1", 2)).status == "added"
            done = await enqueue(8000)
            await asyncio.to_thread(wait_until, lambda: finished(done), 60, "the first job")
            record_before = await client.hgetall(keys.result(9, "8000"))
            assert record_before

            running = await enqueue(8001)
            queued = [await enqueue(request_id) for request_id in (8002, 8003, 8004)]
            await asyncio.to_thread(
                wait_until,
                lambda: rq_connection.exists(STARTED_KEY.format(job_id=running)),
                60,
                "the job to start",
            )

            server.stop()  # mid-job, with jobs waiting
            server.start()

            # Nothing lost: the queued jobs, the vote, the cover record.
            assert await client.hgetall(keys.result(9, "8000")) == record_before
            assert await board.votes(9, "res-1") == 1
            assert await board.has_voted(9, "res-1", 2)

            # The bot's same clients keep working; the worker picks everything up.
            later = await enqueue(8005)
            jobs = [running, *queued, later]
            await asyncio.to_thread(
                wait_until, lambda: all(finished(j) for j in jobs), 120, "every job"
            )
            for job_id in jobs:
                assert job_status(rq_connection, job_id) == "finished", job_id
        finally:
            await client.aclose()

    try:
        wait_until(lambda: _heartbeat(rq_connection, worker), 60, "the worker")
        pid = worker.pid
        asyncio.run(scenario())
        for request_id in range(8000, 8006):
            (answer,) = answers(fake_rest, APP, f"tok-{request_id}")
            assert answer.files, request_id
        assert worker.alive() and worker.pid == pid  # the same process, reconnected
        wait_until(lambda: _heartbeat(rq_connection, worker), 30, "the worker's heartbeat")
    finally:
        worker.stop()
        rq_connection.close()


def _heartbeat(connection: redis.Redis, worker: WorkerProcess) -> bool:
    try:
        return bool(connection.exists(f"albumify:worker:{worker.name}:heartbeat"))
    except redis.ConnectionError:
        return False


def test_a_full_redis_does_not_stop_the_worker(fake_rest, tmp_path):
    """#16 item 5: at `maxmemory` (noeviction) Redis refuses writes, which ends RQ's loop (its
    dequeue, its registration); the worker process waits until Redis takes writes again, then
    carries on with the next job, models still loaded."""
    instance = RedisProcess(tmp_path, *production_redis_args())
    instance.start()
    client = redis.Redis.from_url(instance.url)
    env = worker_env(
        instance.url,
        fake_rest.api_base,
        ALBUMIFY_MAINTENANCE_INTERVAL="1",  # dequeues wake every second: they meet the OOM
        ALBUMIFY_HEARTBEAT_TTL="3",
    )
    worker = WorkerProcess(env, "full-redis-survivor", tmp_path)
    try:
        wait_until(lambda: client.exists(keys.worker_heartbeat(worker.name)), 60, "the worker")
        pid = worker.pid
        written = fill(client)
        wait_until(lambda: "restarting it" in worker.logs(), 30, "the RQ loop to end")
        time.sleep(2)  # a new loop would start (and register) by now, were Redis not full
        assert worker.alive(), worker.logs()[-3000:]
        unfill(client, written)

        settings = Settings(
            redis_url=instance.url, cdn_hosts=("127.0.0.1",), cdn_hosts_explicit=True
        )
        queue = bot_queue(client, settings)
        (job,) = enqueue_like_the_bot(instance.url, queue, settings, [request(fake_rest, 9101)])
        wait_until(lambda: job_status(client, job.job_id) in FINAL_STATES, 90, job.job_id)
        assert job_status(client, job.job_id) == "finished"
        assert len(answers(fake_rest, WORKER_APP, "tok-9101")) == 1
        assert worker.alive() and worker.pid == pid
    finally:
        worker.stop()
        client.close()
        instance.stop()
