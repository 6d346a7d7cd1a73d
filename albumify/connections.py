"""Redis clients that ride out a Redis restart (used by the bot and the worker).

redis-py reconnects lazily, but a command that meets a connection the server closed fails
once; the async client does not retry that by default. These clients retry connection and
timeout errors with a capped exponential backoff (about 10 s in all: a restart with an
append-only file to replay takes a few seconds) and ping pooled connections that have been
idle, so the first command after a restart succeeds instead of failing.
"""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode as AsyncClusterNode
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry

RETRIES = 12
BACKOFF = {"cap": 2.0, "base": 0.05}
RETRY_ON = [redis.ConnectionError, redis.TimeoutError]
HEALTH_CHECK_INTERVAL_S = 10


def sync_redis(url: str, **options) -> redis.Redis:
    """Bytes client (RQ and the worker)."""
    return redis.Redis.from_url(
        url,
        retry=Retry(ExponentialBackoff(**BACKOFF), RETRIES),
        retry_on_error=RETRY_ON,
        health_check_interval=HEALTH_CHECK_INTERVAL_S,
        **options,
    )


def async_redis(
    url: str, *, max_connections: int | None = None, pool_timeout: float = 10, **options
) -> aioredis.Redis:
    """The bot's asyncio client (decode_responses=True by default). With `max_connections`,
    a blocking pool: bursts wait up to `pool_timeout` for a connection instead of failing."""
    options.setdefault("decode_responses", True)
    options.update(
        retry=AsyncRetry(ExponentialBackoff(**BACKOFF), RETRIES),
        retry_on_error=RETRY_ON,
        health_check_interval=HEALTH_CHECK_INTERVAL_S,
    )
    if max_connections is None:
        return aioredis.Redis.from_url(url, **options)
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=pool_timeout, **options
    )
    return aioredis.Redis(connection_pool=pool)


# -- the state's Redis: the queue's, another one, or a Redis Cluster ------------------------

CLUSTER_SCHEME = "redis+cluster://"
"""`redis+cluster://host:port[,host:port…]`: the state on a Redis Cluster (startup nodes)."""
CLUSTER_MAX_CONNECTIONS = 1000
"""Per cluster node: the asyncio cluster client fails a command past its pool instead of
waiting, so its pool is large (a burst of votes opens connections, then they are reused)."""


def state_url(settings: Any) -> str:
    """Where Albumify's own keys live: `ALBUMIFY_STATE_REDIS_URL`, else `REDIS_URL`."""
    return settings.state_redis_url or settings.redis_url


def is_cluster_url(url: str) -> bool:
    return url.startswith(CLUSTER_SCHEME)


def _startup_nodes(url: str) -> list[tuple[str, int]]:
    rest = url[len(CLUSTER_SCHEME) :].split("/", 1)[0].split("?", 1)[0]
    nodes = []
    for part in rest.split(","):
        host, _, port = part.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"a cluster node is host:port, not {part!r} ({url})")
        nodes.append((host, int(port)))
    return nodes


def sync_state_redis(settings: Any, **options: Any) -> Any:
    """A bytes client for the state (the worker, migrations): the queue's own Redis when no
    state URL is set; a `RedisCluster` for a `redis+cluster://` URL."""
    url = state_url(settings)
    if not is_cluster_url(url):
        return sync_redis(url, **options)
    nodes = [ClusterNode(host, port) for host, port in _startup_nodes(url)]
    return RedisCluster(
        startup_nodes=nodes,
        retry=Retry(ExponentialBackoff(**BACKOFF), RETRIES),
        retry_on_error=RETRY_ON,
        **options,
    )


def async_state_redis(
    settings: Any, *, max_connections: int | None = None, pool_timeout: float = 10, **options: Any
) -> Any:
    """The bot's asyncio client for the state (decode_responses=True by default)."""
    url = state_url(settings)
    if not is_cluster_url(url):
        return async_redis(
            url, max_connections=max_connections, pool_timeout=pool_timeout, **options
        )
    options.setdefault("decode_responses", True)
    nodes = [AsyncClusterNode(host, port) for host, port in _startup_nodes(url)]
    return AsyncRedisCluster(
        startup_nodes=nodes,
        retry=AsyncRetry(ExponentialBackoff(**BACKOFF), RETRIES),
        retry_on_error=RETRY_ON,
        max_connections=max(max_connections or 0, CLUSTER_MAX_CONNECTIONS),
        **options,
    )


_WORKER_STATE: dict[str, Any] = {}


def worker_state_redis(settings: Any, job_connection: Any | None) -> Any:
    """The state client a worker's job uses: the job's own (queue) connection when the
    state lives with the queue, else one client per process for the state's URL."""
    if not settings.state_redis_url:
        return job_connection if job_connection is not None else sync_redis(settings.redis_url)
    url = settings.state_redis_url
    if url not in _WORKER_STATE:
        _WORKER_STATE[url] = sync_state_redis(settings)
    return _WORKER_STATE[url]
