"""Leaderboards in Redis: votes, boards per period, a member's stats.

Every change is one Lua script (`albumify.lua`), so a vote or an unvote is atomic (forgetting
a member, which undoes their votes too, is `albumify.forget`).
Boards (`keys.board`) are per guild sorted sets of results and of creators, for all time, the
ISO week and the month (UTC) in which each result was created; reads here are plain commands.
No discord import: the bot turns these into embeds.

Ties: a score is a vote count and nothing else (an unvote must undo a vote exactly), so Redis
orders equal scores by member string, which is neither creation order nor numeric order. Pages
are put in order here: on equal scores the smaller id first (a result id is the Discord
snowflake of the request that made it, so the earlier cover; a creator by numeric user id),
and equal scores share a rank (1, 2, 2, 4).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from albumify import keys, lua, plans
from albumify.periods import PERIODS, Clock, Periods
from albumify.results import as_int, as_str, jump_url

BY = ("covers", "creators")
PER_PAGE = 10


@dataclass(frozen=True)
class VoteOutcome:
    status: str
    """`added`, `removed`, `self` (refused: self-votes are off) or `missing` (not on record)."""
    votes: int


@dataclass(frozen=True)
class Entry:
    """One row of a board. `result_id` is None on the creators board."""

    rank: int
    score: int
    creator_id: int
    result_id: str | None = None
    guild_id: int = 0
    channel_id: int = 0
    message_id: int = 0
    library_title: str = ""
    covers: int = 0
    """Creators board: how many covers the member has on record here."""

    @property
    def jump_url(self) -> str | None:
        if not self.message_id:
            return None
        return jump_url(self.guild_id, self.channel_id, self.message_id)


@dataclass(frozen=True)
class Page:
    entries: list[Entry]
    page: int
    """0-based, clamped to the pages that exist."""
    pages: int
    """At least 1 (an empty board is one empty page)."""
    total: int
    period: str
    by: str
    period_key: str
    guild_id: int


@dataclass(frozen=True)
class MemberStats:
    covers: int
    votes_received: int
    votes_given: int
    week_votes: int
    best: Entry | None


# -- the store ------------------------------------------------------------------------------


class LeaderboardStore:
    """All leaderboard reads and writes. `redis` is a `redis.asyncio.Redis` client."""

    def __init__(
        self, redis: Any, *, clock: Clock = time.time, vote_grace_s: int | None = None
    ) -> None:
        self.redis = redis
        self.clock = clock
        self.vote_grace_s = vote_grace_s
        """Late votes count on a closed period's board this long after it ends; None: until
        the board expires (the bot passes `Limits.vote_grace_s`)."""
        self._toggle = redis.register_script(lua.TOGGLE_VOTE)

    def _now(self) -> int:
        return math.floor(self.clock())

    # -- writes -----------------------------------------------------------------------------

    async def toggle_vote(self, guild_id: int, result_id: str, voter_id: int) -> VoteOutcome:
        """Vote, or take the vote back if `voter_id` already voted (the button toggles)."""
        args: list[Any] = [result_id, voter_id, self._now()]
        if self.vote_grace_s is not None:
            args.append(self.vote_grace_s)
        # Where `/albumify-forget` must look (spans guilds, so not in the vote's script).
        await self.redis.sadd(keys.user_guilds(voter_id), str(guild_id))
        status, votes = await plans.run_async(
            self.redis,
            self._toggle,
            guild_id,
            result_id,
            args,
            extra_keys=[keys.member_votes(guild_id, voter_id)],
        )
        return VoteOutcome(as_str(status), int(votes))

    # -- reads ------------------------------------------------------------------------------

    def period_key(self, period: str) -> str:
        if period not in PERIODS:
            raise ValueError(f"unknown period {period!r}")
        return Periods.at(self.clock()).key(period)

    async def votes(self, guild_id: int, result_id: str) -> int:
        return int(await self.redis.scard(keys.voters(guild_id, result_id)))

    async def has_voted(self, guild_id: int, result_id: str, user_id: int) -> bool:
        return bool(await self.redis.sismember(keys.voters(guild_id, result_id), str(user_id)))

    async def page(
        self,
        guild_id: int,
        period: str = "week",
        by: str = "covers",
        page: int = 0,
        *,
        per_page: int = PER_PAGE,
        period_key: str | None = None,
    ) -> Page:
        """One page of a board; ranks continue across pages (page 2 starts at 11).
        `period_key` (`week:2026-W48`) reads a past period's board instead of the current."""
        if by not in BY:
            raise ValueError(f"unknown board {by!r}")
        period_key = period_key or self.period_key(period)
        key = keys.board(guild_id, by, period_key)
        total = int(await self.redis.zcard(key))
        pages = max(1, math.ceil(total / per_page))
        page = min(max(page, 0), pages - 1)
        start = page * per_page
        rows = await self.redis.zrevrange(key, start, start + per_page - 1, withscores=True)
        ranked = await self._in_tie_order(key, rows, start)
        entries = await self._entries(guild_id, by, ranked)
        return Page(entries, page, pages, total, period, by, period_key, guild_id)

    async def _in_tie_order(
        self, key: str, rows: list[tuple[Any, float]], start: int
    ) -> list[tuple[str, float, int]]:
        """Rows `start…` of the board in tie order, as (member, score, shared rank).

        Redis gets the scores on the page right; only the members of a score may be wrong.
        A score's members that all fall on the page are sorted here; a score whose members
        spill over the page's edges has its members read in full and the page's slice taken.
        """
        if not rows:
            return []
        scores = sorted({float(score) for _, score in rows}, reverse=True)
        pipe = self.redis.pipeline(transaction=False)
        for score in scores:
            pipe.zcount(key, f"({_bound(score)}", "+inf")
            pipe.zcount(key, _bound(score), _bound(score))
        counts = await pipe.execute()
        above = dict(zip(scores, counts[::2], strict=True))
        sizes = dict(zip(scores, counts[1::2], strict=True))
        end = start + len(rows)  # exclusive
        spilling = [s for s in scores if above[s] < start or above[s] + sizes[s] > end]
        groups: dict[float, list[str]] = {}
        if spilling:
            pipe = self.redis.pipeline(transaction=False)
            for score in spilling:
                pipe.zrangebyscore(key, _bound(score), _bound(score))
            for score, members in zip(spilling, await pipe.execute(), strict=True):
                groups[score] = [as_str(m) for m in members]
        ranked = []
        for score in scores:
            members = groups.get(score) or [as_str(m) for m, s in rows if float(s) == score]
            members.sort(key=tie_order)
            higher, size = above[score], sizes[score]
            offset = max(start - higher, 0)  # where the page starts within the group
            on_page = min(higher + size, end) - max(higher, start)
            ranked += [(m, score, higher + 1) for m in members[offset : offset + on_page]]
        return ranked

    async def _entries(
        self, guild_id: int, by: str, rows: list[tuple[str, float, int]]
    ) -> list[Entry]:
        if not rows:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for member, _, _ in rows:
            if by == "covers":
                pipe.hmget(
                    keys.result(guild_id, as_str(member)),
                    "requester",
                    "channel",
                    "message",
                    "library_title",
                )
            else:
                pipe.scard(keys.member_covers(guild_id, as_str(member)))
        extra = await pipe.execute()
        entries = []
        for (member, score, rank), more in zip(rows, extra, strict=True):
            if by == "covers":
                creator, channel, message, title = more
                entries.append(
                    Entry(
                        rank=rank,
                        score=int(score),
                        creator_id=as_int(creator),
                        result_id=as_str(member),
                        guild_id=guild_id,
                        channel_id=as_int(channel),
                        message_id=as_int(message),
                        library_title=as_str(title or ""),
                    )
                )
            else:
                entries.append(
                    Entry(rank=rank, score=int(score), creator_id=as_int(member), covers=int(more))
                )
        return entries

    async def top_cover(self, guild_id: int, period: str = "week") -> Entry | None:
        page = await self.page(guild_id, period, "covers", 0, per_page=1)
        return page.entries[0] if page.entries else None

    async def member_stats(self, guild_id: int, user_id: int) -> MemberStats:
        members = await self.redis.smembers(keys.member_covers(guild_id, user_id))
        covers = [as_str(r) for r in members]
        all_key = keys.board(guild_id, "creators", "all")
        week_key = keys.board(guild_id, "creators", self.period_key("week"))
        pipe = self.redis.pipeline(transaction=False)
        pipe.zscore(all_key, str(user_id))
        pipe.zscore(week_key, str(user_id))
        pipe.scard(keys.member_votes(guild_id, user_id))
        if covers:
            pipe.zmscore(keys.board(guild_id, "covers", "all"), covers)
        received, week, given, *scores = await pipe.execute()
        best: Entry | None = None
        if covers and any(scores[0]):
            # The most votes; on a tie, the earliest cover (as the boards order it).
            score, rid = min(
                ((-(s or 0), r) for s, r in zip(scores[0], covers, strict=True)),
                key=lambda pair: (pair[0], tie_order(pair[1])),
            )
            board = keys.board(guild_id, "covers", "all")
            above = int(await self.redis.zcount(board, f"({_bound(-score)}", "+inf"))
            (best,) = await self._entries(guild_id, "covers", [(rid, -score, above + 1)])
        return MemberStats(len(covers), as_int(received), as_int(given), as_int(week), best)


def tie_order(member: str) -> tuple[int, int, str]:
    """Equal scores: numeric ids ascending (snowflakes: the earlier first), others after."""
    return (0, int(member), "") if member.isdigit() else (1, 0, member)


def _bound(score: float) -> str:
    """A score as ZCOUNT/ZRANGEBYSCORE take it (vote counts are whole numbers)."""
    return str(int(score)) if float(score).is_integer() else repr(float(score))
