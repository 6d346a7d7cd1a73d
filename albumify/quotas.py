"""Quotas and duplicate detection, decided atomically in one Lua script (the bot's admission).

Sliding windows are sorted sets of request ids scored by time (ms): per member and per guild.
The global queue cap reads the RQ queue's length in the same script, so two requests cannot
both take the last slot. A duplicate (same member, same attachment, within the dedup window)
short-circuits before anything is counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from albumify.settings import Limits

OK, MEMBER_LIMIT, GUILD_LIMIT, QUEUE_FULL, DUPLICATE = 0, 1, 2, 3, 4

RESERVE_LUA = """#!lua
-- The shebang makes a full Redis refuse the whole script (OOM) before its first write.
local now = tonumber(ARGV[1])
local member_limit, member_window = tonumber(ARGV[2]), tonumber(ARGV[3])
local guild_limit, guild_window = tonumber(ARGV[4]), tonumber(ARGV[5])
local queue_cap, request_id, dedup_ms = tonumber(ARGV[6]), ARGV[7], tonumber(ARGV[8])
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
if redis.call('LLEN', KEYS[3]) >= queue_cap then
  return {3, tostring(now + 60000)}
end
redis.call('ZADD', KEYS[1], now, request_id)
redis.call('PEXPIRE', KEYS[1], member_window)
redis.call('ZADD', KEYS[2], now, request_id)
redis.call('PEXPIRE', KEYS[2], guild_window)
if #KEYS >= 4 then redis.call('SET', KEYS[4], request_id, 'PX', dedup_ms) end
return {0, request_id}
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
    def __init__(self, redis: Any, limits: Limits, queue_key: str) -> None:
        self.redis = redis
        self.limits = limits
        self.queue_key = queue_key
        self._script = redis.register_script(RESERVE_LUA)

    async def reserve(
        self,
        *,
        member_key: str,
        guild_key: str,
        job_id: str,
        now: float,
        dedup_key: str | None = None,
    ) -> Reservation:
        """Count this request against every quota, or say which one it would exceed."""
        limits = self.limits
        script_keys = [member_key, guild_key, self.queue_key]
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
                limits.queue_cap,
                job_id,
                limits.dedup_window_s * 1000,
            ],
        )
        if isinstance(value, bytes):
            value = value.decode()
        return Reservation(int(code), str(value))
