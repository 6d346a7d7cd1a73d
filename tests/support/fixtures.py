"""Fixtures for the bot and worker tests (registered by tests/conftest.py's pytest_plugins).

- a private redis-server for the session (never the default port), flushed per test;
- a private 3-master Redis Cluster for the state (`state_url`: single and cluster);
- a loopback fake of Discord's REST API + CDN (`devtools.fakediscord.rest`);
- on a machine without redis-server, the tests that start one are skipped, not failed.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator

import pytest
import redis

from devtools.fakediscord.rest import FakeDiscordREST
from devtools.redis_cluster import RedisClusterProcesses
from devtools.redis_server import RedisProcess, RedisServerMissing


def _skip_without_redis_server() -> Generator[None, None, None]:
    """Wraps a test phase: `RedisServerMissing` (from a fixture or the test) becomes a skip."""
    try:
        return (yield)
    except RedisServerMissing as exc:
        pytest.skip(str(exc))


pytest_runtest_setup = pytest.hookimpl(wrapper=True)(_skip_without_redis_server)
pytest_runtest_call = pytest.hookimpl(wrapper=True)(_skip_without_redis_server)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a throwaway redis-server: no persistence, its own port and directory."""
    server = RedisProcess(tmp_path_factory.mktemp("redis")).start()
    yield server.url
    server.stop()


@pytest.fixture
def redis_url(redis_server: str) -> Iterator[str]:
    client = redis.Redis.from_url(redis_server)
    client.flushdb()
    client.close()
    yield redis_server


@pytest.fixture
def redis_sync(redis_url: str) -> Iterator[redis.Redis]:
    """Bytes client, as RQ and the worker use."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def fake_rest() -> Iterator[FakeDiscordREST]:
    server = FakeDiscordREST().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterProcesses]:
    """A throwaway local 3-master Redis Cluster (`devtools.redis_cluster`)."""
    cluster = RedisClusterProcesses(tmp_path_factory.mktemp("redis-cluster")).start()
    yield cluster
    cluster.stop()


@pytest.fixture(params=["single", "cluster"])
def state_url(request: pytest.FixtureRequest, redis_url: str) -> str:
    """Where the state lives, each test run twice: with the queue on one redis-server
    (`REDIS_URL` only), and on the local Redis Cluster (`ALBUMIFY_STATE_REDIS_URL`), the
    queue staying on the single server. Flushed either way."""
    if request.param == "single":
        return redis_url
    cluster: RedisClusterProcesses = request.getfixturevalue("redis_cluster")
    cluster.flush()
    return cluster.url
