"""A server's Albumify settings (`/albumify-config`): one hash per guild, read by every feature."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from albumify import keys
from albumify.periods import Clock
from albumify.results import as_int, as_str

AWARDS_PERIODS = ("week", "month", "both", "off")


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

    awards_channel: int = 0
    """Where Cover of the Week/Month is posted (0: nowhere)."""
    awards_period: str = "off"
    """`week`, `month`, `both` or `off`."""
    winner_role: int = 0
    """A role handed to the latest winner (0: none)."""
    awards_since: float = 0.0
    """When awards were turned on: periods that ended before are never posted."""

    def channel_allowed(self, channel_id: int) -> bool:
        return not self.channels or channel_id in self.channels

    @property
    def awards_kinds(self) -> tuple[str, ...]:
        """The periods (`week`, `month`) whose winners are posted; none without a channel."""
        if not self.awards_channel:
            return ()
        return {"week": ("week",), "month": ("month",), "both": ("week", "month")}.get(
            self.awards_period, ()
        )


class GuildSettingsStore:
    """`redis` is a `redis.asyncio.Redis` client."""

    def __init__(self, redis: Any, *, clock: Clock = time.time) -> None:
        self.redis = redis
        self.clock = clock

    async def get(self, guild_id: int) -> GuildSettings:
        raw = await self.redis.hgetall(keys.guild_settings(guild_id))
        data = {as_str(k): as_str(v) for k, v in raw.items()}
        return GuildSettings(
            self_votes=data.get("self_votes") == "1",
            channels=parse_channels(data.get("channels", "")),
            allow_others=data.get("allow_others") == "1",
            awards_channel=as_int(data.get("awards_channel")),
            awards_period=data.get("awards_period") or "off",
            winner_role=as_int(data.get("winner_role")),
            awards_since=float(data.get("awards_since") or 0),
        )

    async def update(
        self,
        guild_id: int,
        *,
        self_votes: bool | None = None,
        channels: tuple[int, ...] | None = None,
        allow_others: bool | None = None,
        awards_channel: int | None = None,
        awards_period: str | None = None,
        winner_role: int | None = None,
    ) -> GuildSettings:
        """Only the given fields change (0 clears a channel or role)."""
        mapping: dict[str, str] = {}
        if self_votes is not None:
            mapping["self_votes"] = "1" if self_votes else "0"
        if channels is not None:
            mapping["channels"] = ",".join(str(c) for c in channels)
        if allow_others is not None:
            mapping["allow_others"] = "1" if allow_others else "0"
        if awards_period is not None and awards_period not in AWARDS_PERIODS:
            raise ValueError(f"unknown awards period {awards_period!r}")
        for name, value in (
            ("awards_channel", awards_channel),
            ("awards_period", awards_period),
            ("winner_role", winner_role),
        ):
            if value is not None:
                mapping[name] = str(value)
        before = await self.get(guild_id) if mapping else None
        if mapping:
            await self.redis.hset(keys.guild_settings(guild_id), mapping=mapping)
        after = await self.get(guild_id)
        if before is not None and bool(before.awards_kinds) != bool(after.awards_kinds):
            # Turned on: only periods that end from now on are posted (no surprise post of
            # last week). Turned off: the scheduler stops looking at this guild.
            if after.awards_kinds:
                await self.redis.hset(
                    keys.guild_settings(guild_id), "awards_since", f"{self.clock():.3f}"
                )
            else:
                await self.redis.srem(keys.AWARDS_GUILDS, str(guild_id))
            after = await self.get(guild_id)
        if after.awards_kinds:
            # The scheduler's list spans guilds (no transaction with the guild's settings):
            # added after `awards_since` is written, and on every update while awards are on,
            # so an update cut off between the two is mended by the next one.
            await self.redis.sadd(keys.AWARDS_GUILDS, str(guild_id))
        return after
