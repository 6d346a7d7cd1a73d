"""A server's Albumify settings (`/albumify-config`): one hash per guild, read by every feature."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from albumify import keys
from albumify.results import as_str


def parse_channels(text: str) -> tuple[int, ...]:
    """'<#1>, 2 3' → (1, 2, 3): channel mentions or ids, any separators."""
    return tuple(dict.fromkeys(int(x) for x in re.findall(r"\d{5,20}", text)))


@dataclass(frozen=True)
class GuildSettings:
    self_votes: bool = False
    channels: tuple[int, ...] = ()
    """Channels Albumify may be used in; empty = everywhere."""
    allow_others: bool = False
    """Members may albumify other members' photos without asking their author (else the
    author approves each: `albumify.consent`)."""

    def channel_allowed(self, channel_id: int) -> bool:
        return not self.channels or channel_id in self.channels


class GuildSettingsStore:
    """`redis` is a `redis.asyncio.Redis` client."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis

    async def get(self, guild_id: int) -> GuildSettings:
        raw = await self.redis.hgetall(keys.guild_settings(guild_id))
        data = {as_str(k): as_str(v) for k, v in raw.items()}
        return GuildSettings(
            self_votes=data.get("self_votes") == "1",
            channels=parse_channels(data.get("channels", "")),
            allow_others=data.get("allow_others") == "1",
        )

    async def update(
        self,
        guild_id: int,
        *,
        self_votes: bool | None = None,
        channels: tuple[int, ...] | None = None,
        allow_others: bool | None = None,
    ) -> GuildSettings:
        """Only the given fields change."""
        mapping: dict[str, str] = {}
        if self_votes is not None:
            mapping["self_votes"] = "1" if self_votes else "0"
        if channels is not None:
            mapping["channels"] = ",".join(str(c) for c in channels)
        if allow_others is not None:
            mapping["allow_others"] = "1" if allow_others else "0"
        if mapping:
            await self.redis.hset(keys.guild_settings(guild_id), mapping=mapping)
        return await self.get(guild_id)
