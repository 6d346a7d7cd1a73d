"""Planning a result script's keys (`albumify.lua`), and running it until its plan holds.

A script may touch only the keys it is given (Redis Cluster routes a script by its keys, and
they must share one hash slot), but which keys a result's script needs depends on what the
record says: its creator, its periods, its message, who voted. So the caller reads those
first, passes the keys they name, and passes what it read; the script writes nothing when the
record changed in between and answers `lua.STALE`, and the plan is made again. A change
between the read and the script is rare (a vote in the same millisecond), so a script runs
once or twice. All the keys carry the result's guild as their hash tag.

Works with a synchronous client (the worker) and an asyncio one (the bot): `run` and
`run_async` share the planning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError

from albumify import keys, lua

ATTEMPTS = 20
"""How often a plan is made again before giving up (each retry means a vote came in)."""


def as_str(value: Any) -> str:
    """Redis replies are bytes (the worker's client) or str (the bot's)."""
    return value.decode() if isinstance(value, bytes) else str(value)


class StalePlan(RedisError):
    """The record kept changing under a script: the caller says "busy, try again"."""


def _fingerprint(name: str) -> property:
    """A `Plan` field read from its `fields` by the name `lua.FINGERPRINT_FIELDS` gives it."""
    index = lua.FINGERPRINT_FIELDS.index(name)
    return property(lambda plan: plan.fields[index], doc=f"The record's `{name}` when planned.")


@dataclass(frozen=True)
class Plan:
    """What a result's record said when its keys were planned."""

    guild_id: str
    result_id: str
    fields: tuple[str, ...]
    """`lua.FINGERPRINT_FIELDS`' values ('' where missing)."""
    voters: tuple[str, ...] | None = None
    """The voters, when the script needs their votes sets (None: it does not)."""

    creator = _fingerprint("requester")
    author = _fingerprint("photo_author")
    message = _fingerprint("message")
    week = _fingerprint("week")
    month = _fingerprint("month")

    def keys(self) -> list[str]:
        """`lua.RESULT_KEYS` keys, then the planned voters' votes sets."""
        return result_keys(
            self.guild_id,
            self.result_id,
            creator=self.creator,
            author=self.author,
            message=self.message,
            week=self.week,
            month=self.month,
            voters=self.voters or (),
        )

    def args(self) -> list[str]:
        """`ARGV[1..]` that `planned()` checks."""
        if self.voters is None:
            return ["|".join(self.fields), "-1"]
        return ["|".join(self.fields), str(len(self.voters)), *self.voters]


def result_keys(
    guild_id: int | str,
    result_id: str,
    *,
    creator: str,
    author: str,
    message: str,
    week: str,
    month: str,
    voters: Sequence[str] = (),
) -> list[str]:
    """The keys of `lua.RESULT_KEYS`, all in the guild's hash slot (a result off the boards
    has no periods: its board keys name boards no script touches)."""
    g = guild_id
    periods = {"all": "all", "week": f"week:{week}", "month": f"month:{month}"}
    return [
        keys.result(g, result_id),
        keys.reroll(g, result_id),
        keys.layers(g, result_id),
        keys.voters(g, result_id),
        keys.posted(g),
        keys.message(g, message),
        keys.member_covers(g, creator),
        keys.member_photo_covers(g, author),
        keys.guild_settings(g),
        *(keys.board(g, by, periods[period]) for period, by in lua.BOARD_SLOTS),
        *(keys.member_votes(g, voter) for voter in voters),
    ]


def _plan(guild_id: int | str, result_id: str, raw: Sequence[Any], voters: Any) -> Plan:
    fields = tuple("" if value is None else as_str(value) for value in raw)
    found = None if voters is None else tuple(sorted(as_str(v) for v in voters))
    return Plan(str(guild_id), result_id, fields, found)


def _reads(pipe: Any, guild_id: int | str, result_id: str, with_voters: bool) -> None:
    pipe.hmget(keys.result(guild_id, result_id), *lua.FINGERPRINT_FIELDS)
    if with_voters:
        pipe.smembers(keys.voters(guild_id, result_id))


def _stale(answer: Any) -> bool:
    first = answer[0] if isinstance(answer, list) and answer else answer
    return first is not None and as_str(first) == lua.STALE


def run(
    redis: Any,
    script: Any,
    guild_id: int | str,
    result_id: str,
    args: Sequence[Any],
    *,
    with_voters: bool = False,
    extra_keys: Sequence[str] = (),
) -> Any:
    """Plan, then run `script` (registered on `redis`, a synchronous client) with the plan's
    keys + `extra_keys` and the plan's ARGV + `args`, again while the plan is stale."""
    for _ in range(ATTEMPTS):
        pipe = redis.pipeline(transaction=False)
        _reads(pipe, guild_id, result_id, with_voters)
        found = pipe.execute()
        plan = _plan(guild_id, result_id, found[0], found[1] if with_voters else None)
        answer = script(keys=[*plan.keys(), *extra_keys], args=[*plan.args(), *args])
        if not _stale(answer):
            return answer
    raise StalePlan(f"result {result_id} kept changing")


async def run_async(
    redis: Any,
    script: Any,
    guild_id: int | str,
    result_id: str,
    args: Sequence[Any],
    *,
    with_voters: bool = False,
    extra_keys: Sequence[str] = (),
) -> Any:
    """`run` with an asyncio client."""
    for _ in range(ATTEMPTS):
        pipe = redis.pipeline(transaction=False)
        _reads(pipe, guild_id, result_id, with_voters)
        found = await pipe.execute()
        plan = _plan(guild_id, result_id, found[0], found[1] if with_voters else None)
        answer = await script(keys=[*plan.keys(), *extra_keys], args=[*plan.args(), *args])
        if not _stale(answer):
            return answer
    raise StalePlan(f"result {result_id} kept changing")
