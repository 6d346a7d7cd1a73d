"""A result — a cover we made for a member — is one Redis hash, written by the worker and read
by the bot: who asked, whose photo, where it was posted, what it matched and how to re-roll it,
and the periods its votes count in. Ids only, never CDN URLs (they expire).

The worker writes (`save_result` before posting, so the buttons work the moment the message
appears; `result_posted` once Discord answered); the bot reads and deletes through
`ResultStore` (asyncio). Every multi-key change is a script in `albumify.lua`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from albumify import keys, lua
from albumify.periods import Periods


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
class ResultRecord:
    """What Redis keeps about one result (`keys.result`)."""

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
    title: str | None = None
    artist: str | None = None
    advisory: bool = False
    display_name: str | None = None
    lettering: bool = True
    """Re-rolls keep the lettering choice and the artist's name."""
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
        """The hash's fields, the periods its votes count in included."""
        periods = Periods.at(self.created_at)
        return {
            "guild": str(self.guild_id),
            "channel": str(self.channel_id),
            "message": str(self.message_id or ""),
            "requester": str(self.requester_id),
            "photo_author": str(self.photo_author_id),
            "library_id": self.library_id,
            "library_title": self.library_title[:200],
            "library_ids": json.dumps(list(self.shown)),
            "photo_hash": self.photo_hash,
            "spoiler": "1" if self.spoiler else "0",
            "title": self.title or "",
            "artist": self.artist or "",
            "advisory": "1" if self.advisory else "0",
            "display_name": (self.display_name or "")[:100],
            "lettering": "1" if self.lettering else "0",
            "seed": str(self.seed),
            "job_id": self.job_id,
            "created_at": f"{self.created_at:.3f}",
            "week": periods.week,
            "month": periods.month,
            "week_exp": str(periods.week_expires_at),
            "month_exp": str(periods.month_expires_at),
        }

    @classmethod
    def from_mapping(cls, result_id: str, raw: dict[Any, Any]) -> ResultRecord:
        data = {as_str(k): as_str(v) for k, v in raw.items()}
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
            seed=as_int(data.get("seed")),
            job_id=data.get("job_id", ""),
            created_at=float(data.get("created_at") or 0.0),
        )


# -- writing (the worker; either client: await the return value of an asyncio one) ---------


def save_result(redis: Any, record: ResultRecord) -> Any:
    """Write the record (idempotent: votes stay). Posted already when it has a message id."""
    fields = [item for pair in record.mapping().items() for item in pair]
    return redis.register_script(lua.SAVE_RESULT)(args=[record.result_id, *fields])


def result_posted(
    redis: Any,
    result_id: str,
    channel_id: int,
    message_id: int,
    *,
    job_id: str | None = None,
    answered_ttl_s: int = 3600,
) -> Any:
    """The result's message is up: it can be voted on, found by link, and forgotten.

    With `job_id` (a synchronous client), the job is marked answered (`keys.job_result`) in
    the same transaction: a retry of the job (its worker died after posting) finds the answer
    and posts nothing, whenever the worker dies after this.
    """
    posted = redis.register_script(lua.RESULT_POSTED)
    if job_id is None:
        return posted(args=[result_id, channel_id, message_id])
    with redis.pipeline(transaction=True) as pipe:
        posted(args=[result_id, channel_id, message_id], client=pipe)
        pipe.set(keys.job_result(job_id), result_id, ex=answered_ttl_s)
        return pipe.execute()[0]


def discard_result(redis: Any, result_id: str) -> Any:
    """A result whose message never went up (Discord refused it): no record of it stays."""
    return redis.register_script(lua.DELETE_RESULT)(args=[result_id])


def load_result(redis: Any, result_id: str) -> ResultRecord | None:
    data = redis.hgetall(keys.result(result_id))
    return ResultRecord.from_mapping(result_id, data) if data else None


# -- the bot's side (asyncio client) --------------------------------------------------------


class ResultStore:
    """Reading and deleting results. `redis` is a `redis.asyncio.Redis` client."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self._unboard = redis.register_script(lua.UNBOARD_RESULT)
        self._delete = redis.register_script(lua.DELETE_RESULT)

    async def get(self, result_id: str) -> ResultRecord | None:
        data = await self.redis.hgetall(keys.result(result_id))
        return ResultRecord.from_mapping(result_id, data) if data else None

    async def unboard(self, result_id: str) -> bool:
        """Moderated off the leaderboards: votes undone everywhere, the post and its buttons
        stay. False when it was not on the boards."""
        return bool(await self._unboard(args=[result_id]))

    async def delete(self, result_id: str) -> bool:
        """Deleted: off every board and forgotten. False when it was not on record.

        Call it once the result's message is gone (deleted, or already missing): the record is
        what lets its buttons work, so a message still up must keep it."""
        return bool(await self._delete(args=[result_id]))

    async def for_message(self, message_id: int) -> str | None:
        value = await self.redis.get(keys.message(message_id))
        return as_str(value) if value else None

    async def resolve(self, reference: str) -> str | None:
        """A result id, a message id or a jump link → the result id on record, if any."""
        reference = reference.strip()
        if not reference:
            return None
        if await self.redis.exists(keys.result(reference)):
            return reference
        numbers = re.findall(r"\d{5,20}", reference)
        if numbers:
            return await self.for_message(int(numbers[-1]))
        return None
