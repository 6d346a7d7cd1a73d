"""Sharding for `AlbumifyBot`: which shards this process opens and how fast it IDENTIFYs.

The bot is always discord.py's `AutoShardedBot`. Without `ALBUMIFY_SHARDS` (or `auto`) it
opens every shard, as many as `GET /gateway/bot` recommends (one for a small bot: nothing
changes for a one-process deployment); with `0-3/16` it opens shards 0–3 of 16 and another
process opens the rest.

IDENTIFY pacing. discord.py 2.7 does not read `session_start_limit.max_concurrency`: its
`AutoShardedClient.launch_shards` connects the shards one after another and its default
`before_identify_hook` sleeps 5 s before every IDENTIFY but the first of the process, so one
process identifies at most once per 5 s whatever Discord allows, and two processes do not
coordinate at all (both send their first IDENTIFY at once). Discord's rule is per application:
per 5 s, one IDENTIFY per rate-limit bucket `shard_id % max_concurrency`. `IdentifyGate`
applies that rule across processes: before a shard identifies it takes the Redis key of its
bucket for 5 s (`SET NX PX`), waiting while another shard (of any process) holds it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from albumify import keys
from albumify.settings import Settings
from albumify.shards import ShardRange

log = logging.getLogger(__name__)

IDENTIFY_WINDOW_S = 5.0
"""Discord: per rate-limit bucket, one IDENTIFY per 5 seconds."""
POLL_S = 0.25


def shard_options(shards: ShardRange | None) -> dict[str, Any]:
    """`AutoShardedBot` keyword arguments: none for `auto`, else the process's shard ids."""
    if shards is None:
        return {}
    return {"shard_ids": shards.ids, "shard_count": shards.count}


def syncs_commands(settings: Settings) -> bool:
    """Only the process that owns shard 0 syncs the application commands: once per
    deployment (every process builds the same tree; syncing it N times spends Discord's daily
    command-create limit and races). `auto` owns every shard, shard 0 included."""
    return settings.shards is None or settings.shards.first == 0


class IdentifyGate:
    """Paces IDENTIFYs by Discord's `max_concurrency` buckets, shared through Redis."""

    def __init__(self, redis: Any, owner: str, max_concurrency: int = 1) -> None:
        self.redis = redis
        self.owner = owner
        self.max_concurrency = max(1, max_concurrency)

    def bucket(self, shard_id: int | None) -> int:
        return (shard_id or 0) % self.max_concurrency

    async def wait(self, shard_id: int | None, *, timeout: float = 60.0) -> None:
        """Return once this shard may IDENTIFY. Without Redis: discord.py's 5 s pause."""
        key = keys.identify_bucket(self.bucket(shard_id))
        owner = f"{self.owner}:{shard_id}"
        ttl_ms = int(IDENTIFY_WINDOW_S * 1000)
        try:
            async with asyncio.timeout(timeout):
                while not await self.redis.set(key, owner, nx=True, px=ttl_ms):
                    await asyncio.sleep(POLL_S)
        except TimeoutError:
            log.warning("shard %s: identify bucket still taken after %.0f s", shard_id, timeout)
        except Exception as err:  # Redis away: fall back on the library's own pacing
            log.warning("shard %s: identify gate unavailable (%s)", shard_id, type(err).__name__)
            await asyncio.sleep(IDENTIFY_WINDOW_S)


async def max_concurrency(bot: Any) -> int:
    """Discord's `session_start_limit.max_concurrency` for this application (1 if unknown).

    Also warns when the day's session starts run low: at 0 Discord refuses IDENTIFYs until
    `reset_after`."""
    try:
        limits = await bot.fetch_session_start_limits()
    except Exception as err:  # an older Discord-compatible server, a blip: the safe pace
        log.warning("GET /gateway/bot failed (%s): identifying one shard per 5 s", err)
        return 1
    if limits.remaining < max(1, len(bot.shard_ids or [0])):
        log.warning(
            "only %d of %d session starts left today (reset in %.0f s)",
            limits.remaining,
            limits.total,
            limits.reset_after / 1000,
        )
    return max(1, int(limits.max_concurrency))


def once_per_deployment(
    bot: Any, loop: str, work: Callable[[], Awaitable[object]]
) -> asyncio.Task[Any]:
    """Start a loop that must run in one bot process of the deployment (`AlbumifyBot.lead`:
    the holder of its Redis lease). A plain discord.py bot (a tool, a test) just runs it."""
    lead = getattr(bot, "lead", None)
    if lead is None:
        return asyncio.create_task(work())
    return lead(loop, work)
