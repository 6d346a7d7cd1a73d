"""The queue on Sentinel, piece by piece (issue 18, item 3): `redis+sentinel://` URLs, the
clients that follow the primary, and the replica's confirmation of an enqueue.

The fail-over itself, through the real bot and worker, is tests/test_e2e_sentinel.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer

from albumify import keys
from albumify.connections import async_redis, parse_sentinel_url, sync_redis
from albumify.errors import ConfigError
from albumify.replication import (
    TAKEN,
    EnqueueNotAcknowledged,
    confirm,
    ensure_replicated,
    withdraw,
)
from albumify.settings import Limits, Settings
from bot.cover.intake import Intake
from devtools.redis_server import SentinelGroup
from tests.test_bot_intake import request


def test_a_sentinel_url_names_its_sentinels_service_and_database() -> None:
    url = "redis+sentinel://:s%40cret@10.0.0.1:26379,10.0.0.2:26380,sentinel-3/albumify/2"
    parsed = parse_sentinel_url(url + "?sentinel_password=watch")
    assert parsed.sentinels == (("10.0.0.1", 26379), ("10.0.0.2", 26380), ("sentinel-3", 26379))
    assert parsed.service_name == "albumify"
    assert parsed.db == 2
    assert (parsed.username, parsed.password) == (None, "s@cret")
    assert parsed.sentinel_password == "watch"
    plain = parse_sentinel_url("redis+sentinel://user:pw@[::1]:5000/queue")
    assert plain.sentinels == (("::1", 5000),)
    assert (plain.db, plain.username, plain.password) == (0, "user", "pw")


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://h1:26379",  # no service name
        "redis+sentinel:///albumify",  # no sentinel
        "redis+sentinel://h1:port/albumify",
        "redis+sentinel://h1:26379/albumify/zero",
        "redis+sentinel://h1:26379/albumify/0/extra",
    ],
)
def test_a_malformed_sentinel_url_is_a_clear_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="REDIS_URL"):
        parse_sentinel_url(url)


def test_a_plain_url_keeps_its_plain_client() -> None:
    client = sync_redis("redis://127.0.0.1:1/3")
    assert type(client.connection_pool) is redis.ConnectionPool
    assert client.connection_pool.connection_kwargs["db"] == 3
    client.close()


def test_waiting_for_replicas_is_configured_sensibly(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Limits().queue_replicas == 0  # a single Redis waits for nothing
    monkeypatch.setenv("ALBUMIFY_QUEUE_REPLICAS", "1")
    monkeypatch.setenv("ALBUMIFY_QUEUE_ACK_TIMEOUT", "1.5")
    limits = Limits.from_env()
    assert (limits.queue_replicas, limits.queue_ack_timeout_s) == (1, 1.5)
    with pytest.raises(ConfigError, match="ALBUMIFY_QUEUE_ACK_TIMEOUT"):
        Limits(queue_replicas=1, queue_ack_timeout_s=30.0, admission_timeout_s=10.0)
    with pytest.raises(ConfigError, match="ALBUMIFY_QUEUE_REPLICAS"):
        Limits(queue_replicas=-1)


# -- against one Redis: no replica ever confirms ------------------------------------------


def enqueue(client: redis.Redis, job_id: str) -> Queue:
    queue = Queue("albumify", connection=client, serializer=JSONSerializer)
    queue.enqueue("builtins.print", "cover", job_id=job_id)
    return queue


def test_an_unconfirmed_job_is_taken_back_from_the_queue(redis_sync: redis.Redis) -> None:
    queue = enqueue(redis_sync, "job-1")
    with pytest.raises(EnqueueNotAcknowledged, match="0 of 1 replicas"):
        ensure_replicated(redis_sync, queue.key, "job-1", 1, 0.05)
    assert queue.job_ids == []
    assert not redis_sync.exists(Job.key_for("job-1"))


def test_a_job_a_worker_already_took_counts_as_queued(redis_sync: redis.Redis) -> None:
    queue = enqueue(redis_sync, "job-2")
    assert redis_sync.lpop(queue.key) == b"job-2"  # what a worker's dequeue does
    ensure_replicated(redis_sync, queue.key, "job-2", 1, 0.05)  # no error: it is being made
    assert withdraw(redis_sync, queue.key, "job-2") == TAKEN
    assert redis_sync.exists(Job.key_for("job-2"))


def test_without_replicas_nothing_is_waited_for(redis_sync: redis.Redis) -> None:
    queue = enqueue(redis_sync, "job-3")
    ensure_replicated(redis_sync, queue.key, "job-3", 0, 0.05)
    assert queue.job_ids == ["job-3"]
    assert redis_sync.get(keys.QUEUE_ACK) is None  # not even the confirming write


def test_the_intake_refuses_and_gives_back_an_unconfirmed_request(
    redis_url: str, redis_sync: redis.Redis
) -> None:
    """What the cog does with it: the member is told "busy", the slot and job given back."""
    queue = Queue("albumify", connection=redis_sync, serializer=JSONSerializer)
    limits = Limits(queue_replicas=1, queue_ack_timeout_s=0.05)

    async def main() -> None:
        client = aioredis.Redis.from_url(redis_url, decode_responses=True)
        intake = Intake(client, queue, Settings(redis_url=redis_url, limits=limits))
        member = request(5000)
        try:
            admission = await intake.admit(member)
            assert admission.ok
            with pytest.raises(EnqueueNotAcknowledged):
                await intake.enqueue(member, admission)
            # Taken back wherever it waited: its guild's turn (a new cover) or RQ's list.
            assert intake.fair.waiting() == 0 and queue.job_ids == []
            assert not redis_sync.exists(Job.key_for(admission.job_id))
            await intake.release(member, admission.job_id)
            assert await client.zcard(keys.member_quota(1, 3)) == 0
            assert await client.exists(keys.admission_cancelled(1, admission.job_id))
        finally:
            await client.aclose()

    asyncio.run(main())
    assert queue.job_ids == []


# -- against a Sentinel group --------------------------------------------------------------


@pytest.fixture(scope="module")
def group(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelGroup]:
    running = SentinelGroup(Path(tmp_path_factory.mktemp("sentinel"))).start()
    yield running
    running.stop()


@pytest.mark.slow
def test_clients_find_the_primary_and_a_replica_confirms(group: SentinelGroup) -> None:
    client = sync_redis(group.url)
    try:
        queue = enqueue(client, "job-s1")
        confirmation = confirm(client, "job-s1", 1, 5.0)
        assert confirmation.present and confirmation.replicas == 1
        ensure_replicated(client, queue.key, "job-s1", 1, 5.0)
        assert queue.job_ids == ["job-s1"]
        replica = redis.Redis(host="127.0.0.1", port=group.replica_port())
        assert replica.exists(Job.key_for("job-s1"))  # the replica has it: WAIT said so
        replica.close()
    finally:
        client.close()

    async def bot_side() -> list[int]:
        bot = async_redis(group.url, max_connections=2, pool_timeout=10)
        try:  # more commands at once than connections: they wait their turn
            return await asyncio.gather(*(bot.incr("albumify:test:counter") for _ in range(20)))
        finally:
            await bot.aclose()

    assert sorted(asyncio.run(bot_side())) == list(range(1, 21))


@pytest.mark.slow
def test_without_its_replica_the_primary_confirms_nothing(group: SentinelGroup) -> None:
    group.wait_healthy(60)
    client = sync_redis(group.url)
    replica = group.replica_port()
    try:
        group.kill(replica)
        queue = enqueue(client, "job-s2")
        with pytest.raises(EnqueueNotAcknowledged, match="withdrawn"):
            ensure_replicated(client, queue.key, "job-s2", 1, 0.2)
        assert "job-s2" not in queue.job_ids
        group.restart(replica)  # back (empty): Sentinel and the primary resync it
        group.wait_healthy(60)
        enqueue(client, "job-s3")
        ensure_replicated(client, queue.key, "job-s3", 1, 5.0)
        assert "job-s3" in queue.job_ids
    finally:
        client.close()
