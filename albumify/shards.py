"""Which gateway shards a bot process owns (`ALBUMIFY_SHARDS`), and which shard owns a guild.

Discord splits a bot's guilds over `shard_count` gateway connections: guild `g` lives on shard
`(g >> 22) % shard_count`, direct messages on shard 0. A deployment runs either one process
that opens every shard (`auto`, the default: discord.py's `AutoShardedBot` with the count from
`GET /gateway/bot`) or several processes, each owning a contiguous range (`0-3/16`, `4-7/16`…)
of a fixed count. Parsed here, in the torch-free core, so a typo fails at start-up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from albumify.errors import ConfigError

SHARDS_ENV = "ALBUMIFY_SHARDS"
_RANGE = re.compile(r"^(\d+)(?:-(\d+))?/(\d+)$")


def shard_of(guild_id: int | None, shard_count: int) -> int:
    """The shard that receives a guild's events (Discord's rule; a DM is shard 0's)."""
    if guild_id is None or shard_count <= 1:
        return 0
    return (guild_id >> 22) % shard_count


@dataclass(frozen=True)
class ShardRange:
    """Shards `first`..`last` (inclusive) of `count`: what one bot process connects."""

    first: int
    last: int
    count: int

    @property
    def ids(self) -> list[int]:
        return list(range(self.first, self.last + 1))

    def owns(self, guild_id: int | None) -> bool:
        return self.first <= shard_of(guild_id, self.count) <= self.last

    def __str__(self) -> str:
        return f"{self.first}-{self.last}/{self.count}"


def parse_shards(raw: str | None) -> ShardRange | None:
    """`ALBUMIFY_SHARDS` → None for `auto` (or unset), else the process's shard range.

    Accepted: `auto`, `FIRST-LAST/COUNT` (e.g. `0-3/16`) or `ID/COUNT` (one shard).
    """
    value = (raw or "").strip().lower()
    if value in {"", "auto"}:
        return None
    match = _RANGE.match(value.replace(" ", ""))
    if match is None:
        raise ConfigError(
            f"{SHARDS_ENV} must be `auto` or FIRST-LAST/COUNT (e.g. 0-3/16: shards 0 to 3 of "
            f"16) or ID/COUNT, got {raw!r}"
        )
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) is not None else first
    count = int(match.group(3))
    if count < 1:
        raise ConfigError(f"{SHARDS_ENV}: the shard count must be at least 1, got {raw!r}")
    if first > last:
        raise ConfigError(f"{SHARDS_ENV}: the range {first}-{last} runs backwards ({raw!r})")
    if last >= count:
        raise ConfigError(
            f"{SHARDS_ENV}: shard ids run from 0 to {count - 1} for a count of {count}, got {raw!r}"
        )
    return ShardRange(first, last, count)
