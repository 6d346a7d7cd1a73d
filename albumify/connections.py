"""Redis clients that ride out a Redis restart or a Sentinel fail-over (bot and worker).

This is the one place Redis clients are made. `REDIS_URL` is either a plain Redis URL
(`redis://`, `rediss://`, `unix://`: redis-py's own `from_url`) or a Sentinel URL, which
redis-py does not parse itself (its `Sentinel` class takes a list of addresses):

    redis+sentinel://[[username]:password@]host:port[,host2:port2,…]/service_name[/db]

`password` (and `username`) authenticate to the primary and its replicas; the sentinels
take `?sentinel_password=…` when they require one. A port may be left out (26379). The
client asks the sentinels for the current primary (`Sentinel(...).master_for(name)`) and
asks again after a connection error or a READONLY answer (a demoted primary), so a
fail-over is ridden out by the same retries that ride out a restart.

redis-py reconnects lazily, but a command that meets a connection the server closed fails
once; the async client does not retry that by default. These clients retry connection and
timeout errors with a capped exponential backoff (about 10 s in all: a restart with an
append-only file to replay, or a Sentinel fail-over, takes a few seconds) and ping pooled
connections that have been idle, so the first command after a restart succeeds instead of
failing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode as AsyncClusterNode
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.asyncio.retry import Retry as AsyncRetry
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.asyncio.sentinel import SentinelConnectionPool as AsyncSentinelPool
from redis.backoff import ExponentialBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry
from redis.sentinel import Sentinel

from albumify.errors import ConfigError

RETRIES = 12
BACKOFF = {"cap": 2.0, "base": 0.05}
RETRY_ON = [redis.ConnectionError, redis.TimeoutError]
HEALTH_CHECK_INTERVAL_S = 10
SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_PORT = 26379
SENTINEL_SOCKET_TIMEOUT_S = 1.0
"""Each sentinel is asked with this timeout; an unreachable one is skipped for the next."""
CONNECT_TIMEOUT_S = 5.0
"""Sentinel only: a primary whose host is gone must not hang a connect for the OS's minutes."""


@dataclass(frozen=True)
class SentinelURL:
    """A parsed `redis+sentinel://` URL."""

    sentinels: tuple[tuple[str, int], ...]
    service_name: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None


def is_sentinel_url(url: str) -> bool:
    return url.strip().lower().startswith(SENTINEL_SCHEME + "://")


def parse_sentinel_url(url: str) -> SentinelURL:
    """`redis+sentinel://[[user]:pass@]host:port[,host:port…]/service[/db][?sentinel_password=…]`
    → its parts; a clear ConfigError for anything else."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() != SENTINEL_SCHEME:
        raise ConfigError(f"REDIS_URL: expected {SENTINEL_SCHEME}://, got {parts.scheme}://")
    credentials, _, hosts = parts.netloc.rpartition("@")
    username = password = None
    if credentials:
        user, _, secret = credentials.partition(":")
        username, password = unquote(user) or None, unquote(secret) or None
    sentinels = tuple(_host_port(item) for item in hosts.split(",") if item.strip())
    if not sentinels:
        raise ConfigError("REDIS_URL: a redis+sentinel:// URL needs at least one host:port")
    path = [segment for segment in parts.path.split("/") if segment]
    if not path or len(path) > 2:
        raise ConfigError(
            "REDIS_URL: a redis+sentinel:// URL ends in /service_name or /service_name/db"
        )
    db = 0
    if len(path) == 2:
        if not path[1].isdigit():
            raise ConfigError(f"REDIS_URL: the database must be a number, got {path[1]!r}")
        db = int(path[1])
    query = parse_qs(parts.query)
    sentinel_password = query.get("sentinel_password", [None])[0]
    return SentinelURL(sentinels, unquote(path[0]), db, username, password, sentinel_password)


def _host_port(item: str) -> tuple[str, int]:
    host, _, port = item.strip().rpartition(":")
    if not host:  # no port given
        return item.strip(), SENTINEL_PORT
    if not port.isdigit():
        raise ConfigError(f"REDIS_URL: bad sentinel address {item.strip()!r}")
    return host.strip("[]"), int(port)


def _sentinel_options(address: SentinelURL) -> dict[str, Any]:
    """What the sentinels themselves are asked with (not the primary's options)."""
    options: dict[str, Any] = {"socket_timeout": SENTINEL_SOCKET_TIMEOUT_S}
    if address.sentinel_password:
        options["password"] = address.sentinel_password
    return options


def _node_options(address: SentinelURL) -> dict[str, Any]:
    return {
        "db": address.db,
        "username": address.username,
        "password": address.password,
        "socket_connect_timeout": CONNECT_TIMEOUT_S,
        "socket_keepalive": True,
    }


def sync_redis(url: str, **options) -> redis.Redis:
    """Bytes client (RQ and the worker)."""
    options.update(
        retry=Retry(ExponentialBackoff(**BACKOFF), RETRIES),
        retry_on_error=RETRY_ON,
        health_check_interval=HEALTH_CHECK_INTERVAL_S,
    )
    if not is_sentinel_url(url):
        return redis.Redis.from_url(url, **options)
    address = parse_sentinel_url(url)
    sentinel = Sentinel(list(address.sentinels), sentinel_kwargs=_sentinel_options(address))
    return sentinel.master_for(address.service_name, **_node_options(address), **options)


class BlockingSentinelConnectionPool(AsyncSentinelPool, aioredis.BlockingConnectionPool):
    """A Sentinel pool that, like `BlockingConnectionPool`, makes a burst wait for a free
    connection instead of failing (redis-py has no such class of its own)."""


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
    if is_sentinel_url(url):
        return _async_sentinel(url, max_connections, pool_timeout, options)
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


def _async_sentinel(
    url: str, max_connections: int | None, pool_timeout: float, options: dict[str, Any]
) -> aioredis.Redis:
    address = parse_sentinel_url(url)
    sentinel = AsyncSentinel(list(address.sentinels), sentinel_kwargs=_sentinel_options(address))
    options.update(_node_options(address))
    if max_connections is not None:
        options.update(
            connection_pool_class=BlockingSentinelConnectionPool,
            max_connections=max_connections,
            timeout=pool_timeout,
        )
    return sentinel.master_for(address.service_name, redis_class=aioredis.Redis, **options)
