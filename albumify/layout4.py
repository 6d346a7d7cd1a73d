"""Layout 4 (#18): the state can live on a Redis Cluster. Moves layout-3 keys to their guild.

Every key a script or a transaction touches together with others now carries its guild as a
hash tag (`albumify:{<guild>}:…`, `albumify.keys`); the posted index is one per guild
(`keys.posted`, the guilds in `keys.POSTED_GUILDS`) and a message's link back is under its
guild. This step moves what lives long or matters:

- each result's record, re-roll hash, layers and voters, under the guild its record names
  (a re-roll hash, layers or voters whose record is gone are dropped: nothing reads them),
  its place in the posted index, its message's link, and a finished job's answer
  (`keys.job_result`, found through the result it names);
- the boards, the member sets (covers, votes, photo covers, jobs), the guild settings, the
  awards' done records and role holder, declined consent and the forget markers.

What lives minutes and is only an admission's bookkeeping is left to expire under its old
name: request windows (`MEMBER_QUOTA`, `GUILD_QUOTA`: a member's window starts afresh across
the upgrade), dedup keys (a minute), pending consent requests and their asked keys (ten
minutes: a prompt answered after the upgrade says it expired), awards claims (two minutes)
and admission give-backs (an hour; a request given back in the upgrade's minute may still be
made).

A key is moved with DUMP + RESTORE (its TTL kept), then the old one deleted: that works
across hash slots and nodes, and is idempotent; a key already at its new name (a run cut
off between the two, or another process that migrated first and served) wins over the old
one. SCAN walks every node of a cluster (redis-py's `RedisCluster.scan_iter`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

from redis.exceptions import ResponseError

from albumify import keys
from albumify.results import as_str

log = logging.getLogger(__name__)

OLD = keys.LAYOUT3


def move(redis: Any, old: str, new: str) -> bool:
    """`old` → `new` with its TTL (any slot, any node). False when `old` is not there."""
    dumped = redis.dump(old)
    if dumped is None:
        return False
    ttl = int(redis.pttl(old))
    if ttl == -2:  # expired in between
        return False
    try:
        redis.restore(new, max(ttl, 0), dumped)
    except ResponseError as err:
        if "BUSYKEY" not in str(err):
            raise
    redis.delete(old)
    return True


def _names(redis: Any, pattern: str) -> Iterator[str]:
    for raw in redis.scan_iter(match=pattern, count=1000):
        yield as_str(raw)


def _pattern(template: str) -> tuple[str, re.Pattern[str]]:
    """A template's SCAN pattern and the regex that reads its fields back."""
    glob, regex = "", ""
    for piece in re.split(r"(\{\w+\})", template):
        if piece.startswith("{") and piece.endswith("}"):
            name = piece[1:-1]
            glob += "*"
            regex += f"(?P<{name}>.+)" if name == "period" else f"(?P<{name}>[^:]+)"
        else:
            glob += piece
            regex += re.escape(piece)
    return glob, re.compile(regex + "$")


def _move_results(redis: Any) -> dict[str, str]:
    """Each result's keys, under its guild. Returns result id → guild."""
    prefix = OLD["result"].format(result_id="")
    guild_of: dict[str, str] = {}
    for name in list(_names(redis, prefix + "*")):
        rid = name[len(prefix) :]
        if ":" in rid:
            continue
        guild = redis.hget(name, "guild")
        if not guild:
            continue
        guild_of[rid] = g = as_str(guild)
        for kind in ("reroll", "layers", "voters"):
            move(redis, OLD[kind].format(result_id=rid), getattr(keys, kind)(g, rid))
        move(redis, name, keys.result(g, rid))
    for name in list(_names(redis, prefix + "*")):  # what no record is left for
        redis.delete(name)
    return guild_of


def _move_posted(redis: Any, guild_of: dict[str, str]) -> None:
    old = OLD["posted"]
    for rid, seen in redis.zscan_iter(old, count=1000):
        rid = as_str(rid)
        if rid in guild_of:
            redis.sadd(keys.POSTED_GUILDS, guild_of[rid])
            redis.zadd(keys.posted(guild_of[rid]), {rid: seen}, nx=True)
    redis.delete(old)


def _move_by_value(
    redis: Any, template: str, guild_of: dict[str, str], new: Callable[[str, str], str]
) -> None:
    """Keys whose value is a result id (a message's link, a job's answer): to its guild."""
    glob, regex = _pattern(template)
    for name in list(_names(redis, glob)):
        found = regex.match(name)
        rid = as_str(redis.get(name) or "")
        if found is not None and rid in guild_of:
            move(redis, name, new(guild_of[rid], found.group(1)))
        else:
            redis.delete(name)  # its result is gone: nothing will read it


GUILD_KEYS: tuple[tuple[str, Callable[..., str]], ...] = (
    (OLD["board"], keys.board),
    (OLD["member_covers"], keys.member_covers),
    (OLD["member_votes"], keys.member_votes),
    (OLD["member_photo_covers"], keys.member_photo_covers),
    (OLD["member_jobs"], keys.member_jobs),
    (OLD["guild_settings"], keys.guild_settings),
    (OLD["awards_done"], keys.awards_done),
    (OLD["awards_role_holder"], keys.awards_role_holder),
    (OLD["consent_declined"], keys.consent_declined),
    (OLD["forgotten"], keys.forgotten),
)
"""Layout-3 keys that name their guild, and where layout 4 keeps them."""


def _move_guild_keys(redis: Any) -> int:
    moved = 0
    for template, new in GUILD_KEYS:
        glob, regex = _pattern(template)
        for name in list(_names(redis, glob)):
            found = regex.match(name)
            if found is not None and found.group("guild").isdigit():
                moved += move(redis, name, new(*found.groups()))
    return moved


def to_layout_4(redis: Any, queue_name: str, queue_connection: Any = None) -> int:
    """The layout-3 → 4 step (`albumify.migrations.STEPS`). Returns the results moved."""
    guild_of = _move_results(redis)
    _move_posted(redis, guild_of)
    _move_by_value(redis, OLD["message"], guild_of, keys.message)
    _move_by_value(redis, OLD["job_result"], guild_of, keys.job_result)
    other = _move_guild_keys(redis)
    log.info("layout 4: %d results and %d guild keys moved under their guild", len(guild_of), other)
    return len(guild_of)
