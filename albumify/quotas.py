"""Quotas and duplicate detection, decided atomically in one Lua script (the bot's admission).

Sliding windows are sorted sets of request ids scored by time (ms): per member and per guild.
A duplicate (same member, same request, within the dedup window) short-circuits before
anything is counted. Every key of the script carries the guild's hash tag (one slot: Redis
Cluster runs it on the guild's node).

The global queue cap: the RQ queue may live on another Redis than this state (`REDIS_URL` vs
`ALBUMIFY_STATE_REDIS_URL`), so its length is read by a separate call on the queue's own
connection just before the script, and the script is told whether the queue was full. The
race this allows: requests admitted at the same moment all see the same length, so the queue
may pass its cap by the number of admissions in flight at once (a few, bounded by the bot's
concurrent interactions); it never refuses a request it had room for. The cap protects the
workers from an unbounded backlog, for which a few over is harmless.

A reservation can be given back (`QuotaGate.release`): the bot does so when it could not
queue the request. Release also marks the request cancelled, and a reservation that reaches
Redis after its release (the bot gave up waiting) writes nothing; so the two may arrive in
either order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from albumify import keys
from albumify.lease import RELEASE_IF_HELD_LUA
from albumify.settings import Limits

OK, MEMBER_LIMIT, GUILD_LIMIT, QUEUE_FULL, DUPLICATE, CANCELLED = 0, 1, 2, 3, 4, 5
CANCELLED_TTL_S = 3600
"""How long a released request stays refused (longer than any command waits in a socket)."""

# KEYS: member window, guild window, cancelled marker[, dedup key]; ARGV[6]: 1 when the
# queue was full when its length was read (`QuotaGate.queue_length`).
RESERVE_LUA = """#!lua
-- The shebang makes a full Redis refuse the whole script (OOM) before its first write.
local now = tonumber(ARGV[1])
local member_limit, member_window = tonumber(ARGV[2]), tonumber(ARGV[3])
local guild_limit, guild_window = tonumber(ARGV[4]), tonumber(ARGV[5])
local queue_full, request_id, dedup_ms = ARGV[6] == '1', ARGV[7], tonumber(ARGV[8])
if redis.call('EXISTS', KEYS[3]) == 1 then return {5, request_id} end
if #KEYS >= 4 then
  local earlier = redis.call('GET', KEYS[4])
  if earlier then return {4, earlier} end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - member_window)
if redis.call('ZCARD', KEYS[1]) >= member_limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {1, tostring(tonumber(oldest[2]) + member_window)}
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - guild_window)
if redis.call('ZCARD', KEYS[2]) >= guild_limit then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  return {2, tostring(tonumber(oldest[2]) + guild_window)}
end
if queue_full then
  return {3, tostring(now + 60000)}
end
redis.call('ZADD', KEYS[1], now, request_id)
redis.call('PEXPIRE', KEYS[1], member_window)
redis.call('ZADD', KEYS[2], now, request_id)
redis.call('PEXPIRE', KEYS[2], guild_window)
if #KEYS >= 4 then redis.call('SET', KEYS[4], request_id, 'PX', dedup_ms) end
return {0, request_id}
"""

# KEYS: member window, guild window, cancelled marker[, dedup key]; ARGV: request id, ttl s
RELEASE_LUA = """
redis.call('SET', KEYS[3], '1', 'EX', tonumber(ARGV[2]))
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if #KEYS >= 4 and redis.call('GET', KEYS[4]) == ARGV[1] then redis.call('DEL', KEYS[4]) end
return 1
"""


@dataclass(frozen=True)
class Reservation:
    code: int
    value: str
    """OK/DUPLICATE: a job id (ours / the earlier one); otherwise when to retry (unix ms)."""

    @property
    def ok(self) -> bool:
        return self.code == OK

    @property
    def retry_at(self) -> float:
        return int(self.value) / 1000


class QuotaGate:
    def __init__(
        self,
        redis: Any,
        limits: Limits,
        queue_key: str | None = None,
        *,
        queue_length: Callable[[], Awaitable[int]] | None = None,
    ) -> None:
        """`queue_length` reads the RQ queue's length on the queue's connection; without it,
        `queue_key`'s length is read on `redis` (one Redis for both)."""
        self.redis = redis
        self.limits = limits
        self.queue_key = queue_key
        self._queue_length = queue_length
        self._script = redis.register_script(RESERVE_LUA)
        self._release = redis.register_script(RELEASE_LUA)
        self._compare_and_delete = redis.register_script(RELEASE_IF_HELD_LUA)

    async def queue_length(self) -> int:
        """The RQ queue's length now (0 when no queue is named)."""
        if self._queue_length is not None:
            return int(await self._queue_length())
        if self.queue_key is None:
            return 0
        return int(await self.redis.llen(self.queue_key))

    async def reserve(
        self,
        *,
        guild_id: int,
        member_key: str,
        guild_key: str,
        job_id: str,
        now: float,
        dedup_key: str | None = None,
    ) -> Reservation:
        """Count this request against every quota, or say which one it would exceed."""
        limits = self.limits
        queue_full = await self.queue_length() >= limits.queue_cap
        script_keys = [member_key, guild_key, keys.admission_cancelled(guild_id, job_id)]
        if dedup_key:
            script_keys.append(dedup_key)
        code, value = await self._script(
            keys=script_keys,
            args=[
                int(now * 1000),
                limits.member_quota,
                limits.member_window_s * 1000,
                limits.guild_quota,
                limits.guild_window_s * 1000,
                1 if queue_full else 0,
                job_id,
                limits.dedup_window_s * 1000,
            ],
        )
        if isinstance(value, bytes):
            value = value.decode()
        return Reservation(int(code), str(value))

    async def peek(
        self, *, guild_id: int, member_key: str, guild_key: str, now: float
    ) -> Reservation | None:
        """The member or guild quota a request would exceed now (with when to retry), or
        None. Reserves nothing: asking a photo's author first must not spend a slot, nor
        ping the author for a request the requester could not have made anyway."""
        limits, now_ms = self.limits, int(now * 1000)
        windows = (
            (MEMBER_LIMIT, member_key, limits.member_quota, limits.member_window_s * 1000),
            (GUILD_LIMIT, guild_key, limits.guild_quota, limits.guild_window_s * 1000),
        )
        pipe = self.redis.pipeline(transaction=False)
        for _, key, _, window_ms in windows:
            since = f"({now_ms - window_ms}"  # as the reserve script keeps a window
            pipe.zcount(key, since, "+inf")
            pipe.zrangebyscore(key, since, "+inf", start=0, num=1, withscores=True)
        found = await pipe.execute()
        for n, (code, _, quota, window_ms) in enumerate(windows):
            count, oldest = found[2 * n], found[2 * n + 1]
            if count >= quota and oldest:
                return Reservation(code, str(int(oldest[0][1]) + window_ms))
        return None

    async def release(
        self,
        *,
        guild_id: int,
        member_key: str,
        guild_key: str,
        job_id: str,
        dedup_key: str | None = None,
    ) -> None:
        """Give a reservation back (its quota slots, its dedup key) and refuse it from now on,
        whether it has reached Redis yet or not."""
        script_keys = [member_key, guild_key, keys.admission_cancelled(guild_id, job_id)]
        if dedup_key:
            script_keys.append(dedup_key)
        await self._release(keys=script_keys, args=[job_id, CANCELLED_TTL_S])

    async def forget_duplicate(self, dedup_key: str, job_id: str) -> bool:
        """Drop a dedup key that still names `job_id` (a request that will not answer)."""
        return bool(await self._compare_and_delete(keys=[dedup_key], args=[job_id]))
