"""Leaderboards in Redis: votes, boards per period, cover metadata, forgetting a member.

Every change that touches more than one key is one Lua script, so a vote, an unvote, a removal
or a forget is atomic: 200 members pressing Vote at once end with exactly 200 on every board.
A vote counts in the periods (UTC) in which the cover was *created* — the period keys are
stored with the cover — and an unvote applies the same keys with -1, so it undoes exactly what
the vote did. A period board whose expiry has passed is neither incremented nor decremented
(it is gone). Boards keep only covers/creators with a positive score.

Scripts build key names from the cover's metadata, which is fine on a single Redis (what we
run) but not on Redis Cluster. No discord import: the worker records covers through
`record_cover_sync` with its synchronous client.

Keys (all under `albumify:`):
- `lb:<guild>:{covers|creators}:{all|week:2026-W48|month:2026-11}` sorted sets
- `cover:<result_id>` hash (ids only, never CDN URLs), `cover:<result_id>:voters` set
- `member:<guild>:<user>:covers` / `:votes` sets (their covers; covers they voted on)
- `user:<user>:guilds` set (where `/albumify-forget` must look), `msg:<message_id>` → result id
- `guild:<guild>:settings` hash: `self_votes`, `channels`, `allow_others` ("1"/"0")
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from dataclasses import dataclass
from typing import Any

from bot.leaderboard.periods import PERIODS, Clock, Periods
from worker import keys

PREFIX = keys.PREFIX
BY = ("covers", "creators")
PER_PAGE = 10


def board_key(guild_id: int | str, by: str, period_key: str) -> str:
    """`period_key` is `all`, `week:2026-W48` or `month:2026-11` (see `Periods.key`)."""
    return f"{PREFIX}:lb:{guild_id}:{by}:{period_key}"


def cover_key(result_id: str) -> str:
    return f"{PREFIX}:cover:{result_id}"


def voters_key(result_id: str) -> str:
    return f"{PREFIX}:cover:{result_id}:voters"


def member_covers_key(guild_id: int | str, user_id: int | str) -> str:
    return f"{PREFIX}:member:{guild_id}:{user_id}:covers"


def member_votes_key(guild_id: int | str, user_id: int | str) -> str:
    return f"{PREFIX}:member:{guild_id}:{user_id}:votes"


def user_guilds_key(user_id: int | str) -> str:
    return f"{PREFIX}:user:{user_id}:guilds"


def message_key(message_id: int | str) -> str:
    return f"{PREFIX}:msg:{message_id}"


settings_key = keys.guild_settings


# -- Lua ------------------------------------------------------------------------------------
# Shared helpers, prepended to each script (scripts cannot call each other).
_LUA_LIB = """
local P = '%(prefix)s'
local function cover_key(rid) return P .. ':cover:' .. rid end
local function voters_key(rid) return P .. ':cover:' .. rid .. ':voters' end
local function board(g, by, suffix) return P .. ':lb:' .. g .. ':' .. by .. ':' .. suffix end
local function member_key(g, u, what) return P .. ':member:' .. g .. ':' .. u .. ':' .. what end

local function load_cover(rid)
  local v = redis.call('HMGET', cover_key(rid),
    'guild', 'creator', 'author', 'week', 'month', 'week_exp', 'month_exp', 'message')
  if not v[1] then return nil end
  return {guild = v[1], creator = v[2], author = v[3] or '', week = v[4], month = v[5],
          week_exp = tonumber(v[6]), month_exp = tonumber(v[7]), message = v[8] or ''}
end

-- {suffix, expires_at or nil}: the boards a cover's votes count in.
local function periods(c)
  return {{'all', nil}, {'week:' .. c.week, c.week_exp}, {'month:' .. c.month, c.month_exp}}
end

-- Add delta to the cover and its creator on every live board of the cover's periods.
local function bump(c, rid, delta, now)
  for _, p in ipairs(periods(c)) do
    local exp = p[2]
    if exp == nil or exp > now then
      for _, e in ipairs({{'covers', rid}, {'creators', c.creator}}) do
        local key = board(c.guild, e[1], p[1])
        if tonumber(redis.call('ZINCRBY', key, delta, e[2])) <= 0 then
          redis.call('ZREM', key, e[2])
        end
        if exp ~= nil then redis.call('EXPIRE', key, exp - now) end
      end
    end
  end
end

-- Take a cover off every board (its creator loses exactly its score there) and drop its data.
local function remove_cover(rid)
  local c = load_cover(rid)
  if not c then return 0 end
  for _, p in ipairs(periods(c)) do
    local key = board(c.guild, 'covers', p[1])
    local score = redis.call('ZSCORE', key, rid)
    if score then
      redis.call('ZREM', key, rid)
      local ck = board(c.guild, 'creators', p[1])
      if tonumber(redis.call('ZINCRBY', ck, -tonumber(score), c.creator)) <= 0 then
        redis.call('ZREM', ck, c.creator)
      end
    end
  end
  for _, voter in ipairs(redis.call('SMEMBERS', voters_key(rid))) do
    redis.call('SREM', member_key(c.guild, voter, 'votes'), rid)
  end
  if c.message ~= '' and redis.call('GET', P .. ':msg:' .. c.message) == rid then
    redis.call('DEL', P .. ':msg:' .. c.message)
  end
  redis.call('SREM', member_key(c.guild, c.creator, 'covers'), rid)
  redis.call('DEL', voters_key(rid), cover_key(rid))
  return 1
end
"""

# ARGV: result_id, guild, channel, message, creator, author, library_id, library_title,
#       created_at, week, month, week_exp, month_exp. Idempotent: votes are kept.
_RECORD = """
local rid, g, creator, message = ARGV[1], ARGV[2], ARGV[5], ARGV[4]
redis.call('HSET', cover_key(rid), 'guild', g, 'channel', ARGV[3], 'message', message,
  'creator', creator, 'author', ARGV[6], 'library_id', ARGV[7], 'library_title', ARGV[8],
  'created_at', ARGV[9], 'week', ARGV[10], 'month', ARGV[11], 'week_exp', ARGV[12],
  'month_exp', ARGV[13])
redis.call('SADD', member_key(g, creator, 'covers'), rid)
redis.call('SADD', P .. ':user:' .. creator .. ':guilds', g)
if message ~= '' then redis.call('SET', P .. ':msg:' .. message, rid) end
return 1
"""

# ARGV: result_id, voter, now. Returns {status, votes}: added | removed | self | missing.
_TOGGLE = """
local rid, voter, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local c = load_cover(rid)
if not c then return {'missing', 0} end
local vkey = voters_key(rid)
local mkey = member_key(c.guild, voter, 'votes')
if redis.call('SISMEMBER', vkey, voter) == 1 then
  redis.call('SREM', vkey, voter)
  redis.call('SREM', mkey, rid)
  bump(c, rid, -1, now)
  return {'removed', redis.call('SCARD', vkey)}
end
if (voter == c.creator or voter == c.author)
    and redis.call('HGET', P .. ':guild:' .. c.guild .. ':settings', 'self_votes') ~= '1' then
  return {'self', redis.call('SCARD', vkey)}
end
redis.call('SADD', vkey, voter)
redis.call('SADD', mkey, rid)
redis.call('SADD', P .. ':user:' .. voter .. ':guilds', c.guild)
bump(c, rid, 1, now)
return {'added', redis.call('SCARD', vkey)}
"""

# ARGV: result_id. Returns 1 when the cover was on record.
_REMOVE = """
return remove_cover(ARGV[1])
"""

# ARGV: user, now. Removes their covers and undoes their votes, in every guild.
_FORGET = """
local user, now = ARGV[1], tonumber(ARGV[2])
local gkey = P .. ':user:' .. user .. ':guilds'
local covers, votes = 0, 0
for _, g in ipairs(redis.call('SMEMBERS', gkey)) do
  local ckey = member_key(g, user, 'covers')
  for _, rid in ipairs(redis.call('SMEMBERS', ckey)) do
    covers = covers + remove_cover(rid)
    redis.call('DEL', P .. ':result:' .. rid)
  end
  local vkey = member_key(g, user, 'votes')
  for _, rid in ipairs(redis.call('SMEMBERS', vkey)) do
    local c = load_cover(rid)
    if c and redis.call('SREM', voters_key(rid), user) == 1 then
      bump(c, rid, -1, now)
      votes = votes + 1
    end
  end
  redis.call('DEL', ckey, vkey)
end
redis.call('DEL', gkey)
return {covers, votes}
"""


def _script(body: str) -> str:
    return _LUA_LIB % {"prefix": PREFIX} + body


RECORD_LUA = _script(_RECORD)
TOGGLE_LUA = _script(_TOGGLE)
REMOVE_LUA = _script(_REMOVE)
FORGET_LUA = _script(_FORGET)


# -- data -----------------------------------------------------------------------------------


def _str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _int(value: Any, default: int = 0) -> int:
    if value in (None, "", b""):
        return default
    text = _str(value)
    try:
        return int(text)  # ids: snowflakes exceed a double's 53 bits, so never via float
    except ValueError:
        return int(float(text))  # scores such as '3.0'


def jump_url(guild_id: int, channel_id: int, message_id: int) -> str:
    return f"https://discord.com/channels/{guild_id}/{channel_id}/{message_id}"


@dataclass(frozen=True)
class CoverMeta:
    """What is recorded when a result is posted: ids and the match, never URLs."""

    result_id: str
    guild_id: int
    channel_id: int
    message_id: int | None
    creator_id: int
    """Who asked for the cover: the board credits them."""
    author_id: int | None = None
    """The photo's author, when not the creator: a vote from them is a self-vote too."""
    library_id: str = ""
    library_title: str = ""
    created_at: float = 0.0

    def script_args(self) -> list[str | int]:
        periods = Periods.at(self.created_at)
        return [
            self.result_id,
            self.guild_id,
            self.channel_id,
            self.message_id or "",
            self.creator_id,
            self.author_id if self.author_id is not None else "",
            self.library_id,
            self.library_title[:200],
            f"{self.created_at:.3f}",
            periods.week,
            periods.month,
            periods.week_expires_at,
            periods.month_expires_at,
        ]


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


@dataclass(frozen=True)
class MemberStats:
    covers: int
    votes_received: int
    votes_given: int
    week_votes: int
    best: Entry | None


@dataclass(frozen=True)
class GuildSettings:
    self_votes: bool = False
    channels: tuple[int, ...] = ()
    """Channels Albumify may be used in; empty = everywhere."""
    allow_others: bool = False

    def channel_allowed(self, channel_id: int) -> bool:
        return not self.channels or channel_id in self.channels


def parse_channels(text: str) -> tuple[int, ...]:
    """'<#1>, 2 3' → (1, 2, 3): channel mentions or ids, any separators."""
    return tuple(dict.fromkeys(int(x) for x in re.findall(r"\d{5,20}", text)))


def record_cover_sync(redis: Any, cover: CoverMeta) -> None:
    """For the (synchronous) worker, right after it posts the result message."""
    redis.register_script(RECORD_LUA)(args=cover.script_args())


# -- the store ------------------------------------------------------------------------------


class LeaderboardStore:
    """All leaderboard reads and writes. `redis` is a `redis.asyncio.Redis` client."""

    def __init__(self, redis: Any, *, clock: Clock = time.time) -> None:
        self.redis = redis
        self.clock = clock
        self._record = redis.register_script(RECORD_LUA)
        self._toggle = redis.register_script(TOGGLE_LUA)
        self._remove = redis.register_script(REMOVE_LUA)
        self._forget = redis.register_script(FORGET_LUA)

    def _now(self) -> int:
        return math.floor(self.clock())

    # -- writes -----------------------------------------------------------------------------

    async def record_cover(self, cover: CoverMeta) -> None:
        """Put a posted result on record (idempotent). It enters boards with its first vote."""
        await self._record(args=cover.script_args())

    async def toggle_vote(self, result_id: str, voter_id: int) -> VoteOutcome:
        """Vote, or take the vote back if `voter_id` already voted (the button toggles)."""
        status, votes = await self._toggle(args=[result_id, voter_id, self._now()])
        return VoteOutcome(_str(status), int(votes))

    async def remove_cover(self, result_id: str) -> bool:
        """Deleted or moderated away: off every board, creator scores lose its votes."""
        return bool(await self._remove(args=[result_id]))

    async def forget_member(self, user_id: int) -> tuple[int, int]:
        """`/albumify-forget`, in every guild: (covers removed, votes undone)."""
        covers, votes = await self._forget(args=[user_id, self._now()])
        return int(covers), int(votes)

    # -- reads ------------------------------------------------------------------------------

    def period_key(self, period: str) -> str:
        if period not in PERIODS:
            raise ValueError(f"unknown period {period!r}")
        return Periods.at(self.clock()).key(period)

    async def votes(self, result_id: str) -> int:
        return int(await self.redis.scard(voters_key(result_id)))

    async def has_voted(self, result_id: str, user_id: int) -> bool:
        return bool(await self.redis.sismember(voters_key(result_id), str(user_id)))

    async def cover(self, result_id: str) -> dict[str, str]:
        data = await self.redis.hgetall(cover_key(result_id))
        return {_str(k): _str(v) for k, v in data.items()}

    async def result_for_message(self, message_id: int) -> str | None:
        value = await self.redis.get(message_key(message_id))
        return _str(value) if value else None

    async def resolve(self, reference: str) -> str | None:
        """A result id, a message id or a jump link → the result id on record, if any."""
        reference = reference.strip()
        if not reference:
            return None
        if await self.redis.exists(cover_key(reference)):
            return reference
        numbers = re.findall(r"\d{5,20}", reference)
        if numbers:
            return await self.result_for_message(int(numbers[-1]))
        return None

    async def page(
        self,
        guild_id: int,
        period: str = "week",
        by: str = "covers",
        page: int = 0,
        *,
        per_page: int = PER_PAGE,
    ) -> Page:
        """One page of a board; ranks continue across pages (page 2 starts at 11)."""
        if by not in BY:
            raise ValueError(f"unknown board {by!r}")
        period_key = self.period_key(period)
        key = board_key(guild_id, by, period_key)
        total = int(await self.redis.zcard(key))
        pages = max(1, math.ceil(total / per_page))
        page = min(max(page, 0), pages - 1)
        start = page * per_page
        rows = await self.redis.zrevrange(key, start, start + per_page - 1, withscores=True)
        entries = await self._entries(guild_id, by, rows, start)
        return Page(entries, page, pages, total, period, by, period_key)

    async def _entries(
        self, guild_id: int, by: str, rows: list[tuple[Any, float]], start: int
    ) -> list[Entry]:
        if not rows:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for member, _ in rows:
            if by == "covers":
                pipe.hmget(
                    cover_key(_str(member)), "creator", "channel", "message", "library_title"
                )
            else:
                pipe.scard(member_covers_key(guild_id, _str(member)))
        extra = await pipe.execute()
        entries = []
        for i, ((member, score), more) in enumerate(zip(rows, extra, strict=True)):
            rank = start + i + 1
            if by == "covers":
                creator, channel, message, title = more
                entries.append(
                    Entry(
                        rank=rank,
                        score=int(score),
                        creator_id=_int(creator),
                        result_id=_str(member),
                        guild_id=guild_id,
                        channel_id=_int(channel),
                        message_id=_int(message),
                        library_title=_str(title or ""),
                    )
                )
            else:
                entries.append(
                    Entry(rank=rank, score=int(score), creator_id=_int(member), covers=int(more))
                )
        return entries

    async def top_cover(self, guild_id: int, period: str = "week") -> Entry | None:
        page = await self.page(guild_id, period, "covers", 0, per_page=1)
        return page.entries[0] if page.entries else None

    async def member_stats(self, guild_id: int, user_id: int) -> MemberStats:
        covers = [_str(r) for r in await self.redis.smembers(member_covers_key(guild_id, user_id))]
        all_key = board_key(guild_id, "creators", "all")
        week_key = board_key(guild_id, "creators", self.period_key("week"))
        pipe = self.redis.pipeline(transaction=False)
        pipe.zscore(all_key, str(user_id))
        pipe.zscore(week_key, str(user_id))
        pipe.scard(member_votes_key(guild_id, user_id))
        if covers:
            pipe.zmscore(board_key(guild_id, "covers", "all"), covers)
        received, week, given, *scores = await pipe.execute()
        best: Entry | None = None
        if covers and any(scores[0]):
            score, rid = max((s or 0, r) for s, r in zip(scores[0], covers, strict=True))
            (entry,) = await self._entries(guild_id, "covers", [(rid, score)], 0)
            rank = await self.redis.zrevrank(board_key(guild_id, "covers", "all"), rid)
            best = dataclasses.replace(entry, rank=(rank or 0) + 1)
        return MemberStats(len(covers), _int(received), _int(given), _int(week), best)

    # -- guild settings ---------------------------------------------------------------------

    async def guild_settings(self, guild_id: int) -> GuildSettings:
        data = await self.redis.hgetall(settings_key(guild_id))
        data = {_str(k): _str(v) for k, v in data.items()}
        return GuildSettings(
            self_votes=data.get("self_votes") == "1",
            channels=parse_channels(data.get("channels", "")),
            allow_others=data.get("allow_others") == "1",
        )

    async def update_settings(
        self,
        guild_id: int,
        *,
        self_votes: bool | None = None,
        channels: tuple[int, ...] | None = None,
        allow_others: bool | None = None,
    ) -> GuildSettings:
        """Only the given fields change; the bot core reads `allow_others` from the same hash."""
        mapping: dict[str, str] = {}
        if self_votes is not None:
            mapping["self_votes"] = "1" if self_votes else "0"
        if channels is not None:
            mapping["channels"] = ",".join(str(c) for c in channels)
        if allow_others is not None:
            mapping["allow_others"] = "1" if allow_others else "0"
        if mapping:
            await self.redis.hset(settings_key(guild_id), mapping=mapping)
        return await self.guild_settings(guild_id)
