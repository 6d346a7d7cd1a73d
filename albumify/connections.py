"""Redis clients that ride out a Redis restart (used by the bot and the worker).

redis-py reconnects lazily, but a command that meets a connection the server closed fails
once; the async client does not retry that by default. These clients retry connection and
timeout errors with a capped exponential backoff (about 10 s in all: a restart with an
append-only file to replay takes a few seconds) and ping pooled connections that have been
idle, so the first command after a restart succeeds instead of failing.
"""

from __future__ import annotations

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
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
