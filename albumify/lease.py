"""A Redis lease: which one of several bot processes runs a loop that must run once.

The bot may run as several processes (one per range of gateway shards). Loops that look at
the whole deployment rather than at one guild — the queue-depth log line, the retention sweep
— must not run once per process. `Lease` is `SET key owner NX PX ttl`, renewed by its holder
(compare-and-PEXPIRE) every third of the TTL; `lead_forever` runs a loop only while this
process holds the lease and cancels it the moment a renewal fails, so two processes never
both run it for longer than a renewal interval, and a stopped holder is replaced within the
TTL. Each script touches one key, passed in KEYS (Redis Cluster can run it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from albumify import keys

log = logging.getLogger(__name__)

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
RELEASE_IF_HELD_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
"""Delete KEYS[1] only while it holds ARGV[1]: a lease, lock or claim let go by its holder
alone, never one that expired and was taken by someone else meanwhile."""


def process_owner() -> str:
    """Who holds a lease: host, pid and a random part (a restarted pid is someone new)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class Lease:
    """One named lease (`keys.leader(name)`). `redis`: a `redis.asyncio.Redis`."""

    def __init__(self, redis: Any, name: str, owner: str, ttl_s: float) -> None:
        self.redis = redis
        self.name = name
        self.key = keys.leader(name)
        self.owner = owner
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(RELEASE_IF_HELD_LUA)

    async def acquire(self) -> bool:
        """Take the lease if nobody holds it (or renew it when we do)."""
        if await self.redis.set(self.key, self.owner, nx=True, px=self.ttl_ms):
            return True
        return await self.renew()

    async def renew(self) -> bool:
        """Extend the lease; False when it is no longer ours (it lapsed and moved on)."""
        return bool(await self._renew(keys=[self.key], args=[self.owner, self.ttl_ms]))

    async def release(self) -> None:
        """Let it go at once (a clean stop): another process takes over without waiting."""
        await self._release(keys=[self.key], args=[self.owner])

    async def holder(self) -> str | None:
        raw = await self.redis.get(self.key)
        return raw.decode() if isinstance(raw, bytes) else raw


async def lead_forever(
    lease: Lease,
    work: Callable[[], Awaitable[object]],
    *,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> None:
    """Run `work()` while this process holds `lease`; try to take it every third of its TTL.

    Losing the lease (a renewal refused, Redis away) cancels the work; it starts again when
    the lease is ours again. On cancellation the lease is released for the next process.
    """
    every = lease.ttl_ms / 3000
    task: asyncio.Task[object] | None = None
    try:
        while True:
            try:
                held = await (lease.renew() if task is not None else lease.acquire())
            except Exception as err:  # Redis away: nobody can prove they lead
                log.warning("%s: lease unavailable: %s", lease.name, type(err).__name__)
                held = False
            if held and task is None:
                log.info("%s: this process leads (%s)", lease.name, lease.owner)
                task = asyncio.create_task(work())
            elif not held and task is not None:
                log.info("%s: lease lost; stopping here", lease.name)
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
                task = None
            if task is not None and task.done():
                # The work ended by itself (it never should): log it and start it again.
                if not task.cancelled() and task.exception() is not None:
                    log.error("%s stopped: %r", lease.name, task.exception())
                task = None
            await sleep(every)
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            with contextlib.suppress(Exception):
                await asyncio.shield(lease.release())
