"""Cover of the Week / Month: which award is due, and the claim that makes it one post.

Discord-free: the bot's `bot.awards` turns these into a message and role changes.

When. A period (UTC, the boards' ISO week or calendar month) closes at its end; late votes
still count for `Limits.vote_grace_s` (the boards' Lua), and the award reads the board once, at
the end + `Limits.awards_delay_s` (never shorter than the grace), so what it posts is final.

Which. At any moment, per kind, only the *most recent* closed period is due (`due`): after a
downtime that spans several periods, the latest one is posted once and the older ones are
skipped (their boards expire a week after they close anyway). Periods that ended before the
server turned awards on (`GuildSettings.awards_since`) are never posted.

Once. Every bot process runs the scheduler; per guild and period a process first takes the
claim (`SET NX` with a short TTL, `keys.awards_claim`), *then* checks the done record
(`keys.awards_done`), and writes the done record before it lets the claim go. So a second
process either fails to claim or finds the record; a process that dies mid-way leaves a claim
that expires, and another finishes the job (the channel post carries a nonce derived from the
guild and period, which Discord dedupes, and role changes are idempotent).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from albumify import keys
from albumify.boards import Entry, LeaderboardStore
from albumify.lease import RELEASE_IF_HELD_LUA
from albumify.periods import month_end, month_key, week_end, week_key
from albumify.results import as_int, as_str

KINDS = ("week", "month")
CLAIM_TTL_S = 120
"""How long one process may take to post an award before another may take over; shorter
than Discord's nonce window, so a take-over finds the first post instead of making another."""
DONE_TTL_S = 90 * 24 * 3600
"""A done record outlives the next period of its kind (only the latest one is ever due)."""
RUNNERS_UP = 4

POSTED, EMPTY, UNDELIVERABLE = "posted", "empty", "undeliverable"
"""What became of an award: posted; nobody voted (no post); the channel refused the post."""


@dataclass(frozen=True)
class Period:
    """One closed period: `kind` week|month, `key` as the boards spell it, its end (unix s)."""

    kind: str
    key: str
    ends_at: float

    @property
    def label(self) -> str:
        """`2026-W48` or `November 2026`."""
        name = self.key.split(":", 1)[1]
        if self.kind == "month":
            return datetime.strptime(name, "%Y-%m").strftime("%B %Y")
        return name


def last_closed(kind: str, ts: float) -> Period:
    """The most recent period of `kind` that ended at or before `ts`."""
    if kind == "week":
        before = ts - 7 * 24 * 3600  # ISO weeks are 7 days: this lands in the previous week
        return Period("week", f"week:{week_key(before)}", week_end(before))
    if kind == "month":
        dt = datetime.fromtimestamp(ts, tz=UTC)
        start = datetime(dt.year, dt.month, 1, tzinfo=UTC)
        before = (start - timedelta(seconds=1)).timestamp()
        return Period("month", f"month:{month_key(before)}", month_end(before))
    raise ValueError(f"unknown award period {kind!r}")


def due(kind: str, now: float, delay_s: float, since: float) -> Period | None:
    """The period of `kind` whose award is due at `now` (whether or not it was made yet)."""
    period = last_closed(kind, now - delay_s)
    return period if period.ends_at > since else None


def nonce(guild_id: int, period: Period) -> str:
    """Discord's message nonce (≤ 25 characters) for the award post: the same on every try."""
    return hashlib.sha256(f"award:{guild_id}:{period.key}".encode()).hexdigest()[:25]


@dataclass(frozen=True)
class Done:
    status: str
    message_id: int = 0
    result_id: str = ""
    votes: int = 0


class AwardsStore:
    """Claims, done records, standings and the role holder. `redis`: `redis.asyncio.Redis`."""

    def __init__(self, redis: Any, boards: LeaderboardStore) -> None:
        self.redis = redis
        self.boards = boards
        self._release = redis.register_script(RELEASE_IF_HELD_LUA)

    async def guilds(self) -> list[int]:
        """Guilds with awards on (`GuildSettingsStore.update` keeps the set)."""
        return sorted(as_int(g) for g in await self.redis.smembers(keys.AWARDS_GUILDS))

    async def claim(self, guild_id: int, period: Period, owner: str) -> bool:
        """True when this process may make the award (nobody else holds the claim)."""
        key = keys.awards_claim(guild_id, period.key)
        return bool(await self.redis.set(key, owner, nx=True, ex=CLAIM_TTL_S))

    async def release(self, guild_id: int, period: Period, owner: str) -> None:
        """Let the claim go, only if it is still ours (it may have expired and moved on)."""
        await self._release(keys=[keys.awards_claim(guild_id, period.key)], args=[owner])

    async def done(self, guild_id: int, period: Period) -> Done | None:
        raw = await self.redis.hgetall(keys.awards_done(guild_id, period.key))
        if not raw:
            return None
        data = {as_str(k): as_str(v) for k, v in raw.items()}
        return Done(
            status=data.get("status", ""),
            message_id=as_int(data.get("message")),
            result_id=data.get("result", ""),
            votes=as_int(data.get("votes")),
        )

    async def mark_done(self, guild_id: int, period: Period, done: Done, now: float) -> None:
        key = keys.awards_done(guild_id, period.key)
        mapping = {
            "status": done.status,
            "message": str(done.message_id or ""),
            "result": done.result_id,
            "votes": str(done.votes),
            "at": f"{now:.3f}",
        }
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(key, mapping=mapping)
        pipe.expire(key, DONE_TTL_S)
        await pipe.execute()

    async def standings(self, guild_id: int, period: Period) -> list[Entry]:
        """The winner and the runners-up of the period's covers board, in board order."""
        page = await self.boards.page(
            guild_id, period.kind, "covers", 0, per_page=1 + RUNNERS_UP, period_key=period.key
        )
        return page.entries

    async def role_holder(self, guild_id: int) -> tuple[int, int]:
        """(role id, member id) the bot last handed out; (0, 0) when none."""
        role, member = await self.redis.hmget(keys.awards_role_holder(guild_id), "role", "member")
        return as_int(role), as_int(member)

    async def set_role_holder(self, guild_id: int, role_id: int, member_id: int) -> None:
        await self.redis.hset(
            keys.awards_role_holder(guild_id),
            mapping={"role": str(role_id), "member": str(member_id), "at": f"{time.time():.0f}"},
        )
