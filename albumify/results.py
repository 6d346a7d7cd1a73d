"""A result — a cover we made for a member — is a Redis hash, written by the worker and read by
the bot: who asked, whose photo, where it was posted, what it matched, and the periods its votes
count in. Ids only, never CDN URLs (they expire).

Retention: what a re-roll needs (photo hash, title, artist, the library covers shown, seed…)
sits beside it in `keys.reroll` and expires with the kept photo, so no member text outlives the
re-roll window. The record itself expires unless it is posted (`UNPOSTED_TTL_S`); a posted
record stays while its message is up (its Delete, Vote and the boards need it) and goes when
the message is deleted: at once when the bot sees the deletion, otherwise when the bot finds
the message gone (`keys.POSTED` says when each was last seen; `bot.leaderboard.retention`).

The worker writes (`save_result` before posting, so the buttons work the moment the message
appears; `result_posted` once Discord answered); the bot reads and deletes through
`ResultStore` (asyncio). Every multi-key change is a script in `albumify.lua`, its keys
planned by `albumify.plans`; every key of a result carries its guild's hash tag.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster

from albumify import keys, lua, plans
from albumify.periods import Periods
from albumify.schema import CoverLook

UNPOSTED_TTL_S = 24 * 3600
"""A record whose cover was never posted (every attempt failed) expires after this long: the
job and its retries are over by then (RQ keeps failed jobs as long)."""
REROLL_FIELDS = (
    "photo_hash",
    "title",
    "artist",
    "advisory",
    "display_name",
    "lettering",
    "face",
    "seed",
    "library_ids",
    "spoiler",
)
"""The fields of `keys.reroll`: only a re-roll reads them, and they expire with the photo."""


def as_str(value: Any) -> str:
    """Redis replies are bytes (the worker's client) or str (the bot's)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def as_int(value: Any, default: int = 0) -> int:
    if value in (None, "", b""):
        return default
    text = as_str(value)
    try:
        return int(text)  # ids: snowflakes exceed a double's 53 bits, so never via float
    except ValueError:
        return int(float(text))  # scores such as '3.0'


def jump_url(guild_id: int, channel_id: int, message_id: int) -> str:
    return f"https://discord.com/channels/{guild_id}/{channel_id}/{message_id}"


@dataclass(frozen=True)
class ResultRecord(CoverLook):
    """What Redis keeps about one result (`keys.result`), with its job's `CoverLook`."""

    result_id: str
    guild_id: int
    channel_id: int
    requester_id: int
    """Who asked for the cover: the boards credit them."""
    photo_author_id: int
    """Whose photo it is: they may delete it, and their vote is a self-vote too."""
    message_id: int | None = None
    library_id: str = ""
    """The library cover it matched."""
    library_title: str = ""
    shown: tuple[str, ...] = ()
    """Library ids shown so far for this photo: a re-roll excludes them."""
    photo_hash: str = ""
    spoiler: bool = False
    seed: int = 0
    job_id: str = ""
    created_at: float = 0.0

    @property
    def jump_url(self) -> str | None:
        if not self.message_id:
            return None
        return jump_url(self.guild_id, self.channel_id, self.message_id)

    def may_delete(self, user_id: int, *, manages_messages: bool) -> bool:
        """The requester, the photo's author and moderators may delete a result."""
        return manages_messages or user_id in (self.requester_id, self.photo_author_id)

    def may_reroll(self, user_id: int) -> bool:
        return user_id in (self.requester_id, self.photo_author_id)

    def mapping(self) -> dict[str, str]:
        """The record's fields (`keys.result`), the periods its votes count in included."""
        periods = Periods.at(self.created_at)
        return {
            "guild": str(self.guild_id),
            "channel": str(self.channel_id),
            "message": str(self.message_id or ""),
            "requester": str(self.requester_id),
            "photo_author": str(self.photo_author_id),
            "library_id": self.library_id,
            "library_title": self.library_title[:200],
            "job_id": self.job_id,
            "created_at": f"{self.created_at:.3f}",
            "week": periods.week,
            "month": periods.month,
            "week_exp": str(periods.week_expires_at),
            "month_exp": str(periods.month_expires_at),
        }

    def reroll_mapping(self) -> dict[str, str]:
        """What a re-roll needs (`keys.reroll`, `REROLL_FIELDS`)."""
        return {
            "photo_hash": self.photo_hash,
            "title": self.title or "",
            "artist": self.artist or "",
            "advisory": "1" if self.advisory else "0",
            "display_name": (self.display_name or "")[:100],
            "lettering": "1" if self.lettering else "0",
            "face": str(self.face),
            "seed": str(self.seed),
            "library_ids": json.dumps(list(self.shown)),
            "spoiler": "1" if self.spoiler else "0",
        }

    @classmethod
    def from_mapping(
        cls, result_id: str, raw: dict[Any, Any], reroll: dict[Any, Any] | None = None
    ) -> ResultRecord:
        """From the record's hash and, while it lives, its re-roll hash (an older layout kept
        both in one hash: `reroll` fields win)."""
        data = {as_str(k): as_str(v) for k, v in {**raw, **(reroll or {})}.items()}
        return cls(
            result_id=result_id,
            guild_id=as_int(data.get("guild")),
            channel_id=as_int(data.get("channel")),
            requester_id=as_int(data.get("requester")),
            photo_author_id=as_int(data.get("photo_author")),
            message_id=as_int(data.get("message")) or None,
            library_id=data.get("library_id", ""),
            library_title=data.get("library_title", ""),
            shown=tuple(json.loads(data.get("library_ids") or "[]")),
            photo_hash=data.get("photo_hash", ""),
            spoiler=data.get("spoiler") == "1",
            title=data.get("title") or None,
            artist=data.get("artist") or None,
            advisory=data.get("advisory") == "1",
            display_name=data.get("display_name") or None,
            lettering=data.get("lettering", "1") != "0",  # records from before: on
            face=as_int(data.get("face"), 1),
            seed=as_int(data.get("seed")),
            job_id=data.get("job_id", ""),
            created_at=float(data.get("created_at") or 0.0),
        )


# -- writing (the worker; either client: await the return value of an asyncio one) ---------


def _is_async(redis: Any) -> bool:
    return isinstance(redis, (aioredis.Redis, AsyncRedisCluster))


def _members_then(
    redis: Any, guild_id: int, members: set[int], posted: bool, run: Callable[[], Any]
) -> Any:
    """What spans guilds first, with commands of its own (before the result is indexed, so
    it is never missed): where `/albumify-forget` must look, which guilds the retention sweep
    walks. Then `run()` (the script; either client: an asyncio one's answer is awaitable)."""
    names = [(keys.user_guilds(member), str(guild_id)) for member in sorted(members)]
    if posted:
        names.append((keys.POSTED_GUILDS, str(guild_id)))
    if not _is_async(redis):
        for key, value in names:
            redis.sadd(key, value)
        return run()

    async def in_order() -> Any:
        for key, value in names:
            await redis.sadd(key, value)
        return await run()

    return in_order()


def save_result(redis: Any, record: ResultRecord, *, reroll_ttl_s: int = 0) -> Any:
    """Write the record (idempotent: votes stay). Posted already when it has a message id.

    Its re-roll fields are kept for `reroll_ttl_s` (what is left of the kept photo's time;
    0: not at all). Until it is posted, the record expires after `UNPOSTED_TTL_S`.
    """
    mapping = record.mapping()
    main = [item for pair in mapping.items() for item in pair]
    reroll = [item for pair in record.reroll_mapping().items() for item in pair]
    if reroll_ttl_s <= 0:
        reroll = []
    script_keys = plans.result_keys(
        record.guild_id,
        record.result_id,
        creator=mapping["requester"],
        author=mapping["photo_author"],
        message=mapping["message"],
        week=mapping["week"],
        month=mapping["month"],
    )
    members = {record.requester_id, record.photo_author_id} if record.message_id else set()
    script = redis.register_script(lua.SAVE_RESULT)
    args = ["", -1, record.result_id, UNPOSTED_TTL_S, reroll_ttl_s, len(main), *main, *reroll]
    return _members_then(
        redis,
        record.guild_id,
        members,
        bool(record.message_id),
        lambda: script(keys=script_keys, args=args),
    )


def result_posted(
    redis: Any,
    result_id: str,
    channel_id: int,
    message_id: int,
    now: float,
    *,
    guild_id: int,
    requester_id: int,
    photo_author_id: int,
    job_id: str | None = None,
    answered_ttl_s: int = 3600,
) -> Any:
    """The result's message is up: it is kept, can be voted on, found by link, forgotten.

    With `job_id`, the job is marked answered (`keys.job_result`) by the same script: a retry
    of the job (its worker died after posting) finds the answer and posts nothing, whenever
    the worker dies after this.
    """
    record = {"requester": str(requester_id), "photo_author": str(photo_author_id)}
    script_keys = plans.result_keys(
        guild_id,
        result_id,
        creator=record["requester"],
        author=record["photo_author"],
        message=str(message_id),
        week="",
        month="",
    )
    args = ["", -1, result_id, channel_id, message_id, f"{now:.3f}", *record.values()]
    if job_id is not None:
        script_keys.append(keys.job_result(guild_id, job_id))
        args.append(answered_ttl_s)
    script = redis.register_script(lua.RESULT_POSTED)
    return _members_then(
        redis,
        guild_id,
        {requester_id, photo_author_id},
        True,
        lambda: script(keys=script_keys, args=args),
    )


def discard_result(redis: Any, guild_id: int, result_id: str) -> Any:
    """A result whose message never went up (Discord refused it): no record of it stays
    (a synchronous client)."""
    script = redis.register_script(lua.DELETE_RESULT)
    return plans.run(redis, script, guild_id, result_id, [result_id], with_voters=True)


def load_result(redis: Any, guild_id: int, result_id: str) -> ResultRecord | None:
    """The record with its re-roll fields while they live (a synchronous client)."""
    pipe = redis.pipeline(transaction=False)
    pipe.hgetall(keys.result(guild_id, result_id))
    pipe.hgetall(keys.reroll(guild_id, result_id))
    data, reroll = pipe.execute()
    return ResultRecord.from_mapping(result_id, data, reroll) if data else None


# -- the bot's side (asyncio client) --------------------------------------------------------


@dataclass(frozen=True)
class PostedAt:
    """A posted result's message, and when the bot last saw it (unix s; 0: never looked)."""

    result_id: str
    channel_id: int
    message_id: int
    seen_at: float
    guild_id: int = 0


class ResultStore:
    """Reading and deleting results. `redis` is a `redis.asyncio.Redis` client (or an asyncio
    `RedisCluster`: every call names the result's guild, whose hash slot holds it)."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self._unboard = redis.register_script(lua.UNBOARD_RESULT)
        self._delete = redis.register_script(lua.DELETE_RESULT)

    async def get(self, guild_id: int, result_id: str) -> ResultRecord | None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(keys.result(guild_id, result_id))
        pipe.hgetall(keys.reroll(guild_id, result_id))
        data, reroll = await pipe.execute()
        return ResultRecord.from_mapping(result_id, data, reroll) if data else None

    async def unboard(self, guild_id: int, result_id: str) -> bool:
        """Moderated off the leaderboards: votes undone everywhere, the post and its buttons
        stay. False when it was not on the boards."""
        script, args = self._unboard, [result_id]
        return bool(
            await plans.run_async(self.redis, script, guild_id, result_id, args, with_voters=True)
        )

    async def delete(self, guild_id: int, result_id: str) -> bool:
        """Deleted: off every board and forgotten. False when it was not on record.

        Call it once the result's message is gone (deleted, or already missing): the record is
        what lets its buttons work, so a message still up must keep it."""
        script, args = self._delete, [result_id]
        return bool(
            await plans.run_async(self.redis, script, guild_id, result_id, args, with_voters=True)
        )

    # -- retention: posted results whose message may be gone ------------------------------

    async def posted_guilds(self) -> list[int]:
        return sorted(as_int(g) for g in await self.redis.smembers(keys.POSTED_GUILDS))

    async def unseen_since(self, before: float, limit: int) -> list[PostedAt]:
        """Up to `limit` posted results whose message was last seen before `before`, oldest
        first (per guild, each guild's index read on its own: a cluster spreads them), with
        where their message is. A guild whose index is gone leaves the list; a post indexed
        in that very instant may be missed by sweeps until its guild's next post (its board
        pages still look at it, and a deletion the bot hears drops it at once)."""
        found: list[PostedAt] = []
        for guild_id in await self.posted_guilds():
            rows = await self.redis.zrangebyscore(
                keys.posted(guild_id), "-inf", f"({before}", start=0, num=limit, withscores=True
            )
            if not rows and not await self.redis.exists(keys.posted(guild_id)):
                await self.redis.srem(keys.POSTED_GUILDS, str(guild_id))  # nothing posted left
                continue
            found += await self.where_posted(guild_id, [as_str(r) for r, _ in rows])
        found.sort(key=lambda p: p.seen_at)
        return found[:limit]

    async def where_posted(self, guild_id: int, result_ids: list[str]) -> list[PostedAt]:
        """Where each result's message is; a result no longer on record leaves the index."""
        if not result_ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for rid in result_ids:
            pipe.hmget(keys.result(guild_id, rid), "channel", "message")
        pipe.zmscore(keys.posted(guild_id), result_ids)
        *places, seen = await pipe.execute()
        found, lost = [], []
        for rid, (channel, message), at in zip(result_ids, places, seen, strict=True):
            if message:
                found.append(
                    PostedAt(rid, as_int(channel), as_int(message), float(at or 0), guild_id)
                )
            else:
                lost.append(rid)
        if lost:
            await self.redis.zrem(keys.posted(guild_id), *lost)
        return found

    async def seen(self, guild_id: int, result_ids: list[str], now: float) -> None:
        """Their messages are up (seen now); only results still in the index are touched."""
        if result_ids:
            await self.redis.zadd(keys.posted(guild_id), dict.fromkeys(result_ids, now), xx=True)

    async def for_message(self, guild_id: int, message_id: int) -> str | None:
        value = await self.redis.get(keys.message(guild_id, message_id))
        return as_str(value) if value else None

    async def resolve(self, guild_id: int, reference: str) -> str | None:
        """A result id, a message id or a jump link (in this guild) → the result id on
        record, if any."""
        reference = reference.strip()
        if not reference:
            return None
        if await self.redis.exists(keys.result(guild_id, reference)):
            return reference
        numbers = re.findall(r"\d{5,20}", reference)
        if numbers:
            return await self.for_message(guild_id, int(numbers[-1]))
        return None
