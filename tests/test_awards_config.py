"""The awards options of `/albumify-config` (`bot.awards.config`): what is stored and what the
manager is told. Stand-ins for the interaction (the loopback Discord makes the bot its guild's
owner, who may do everything, so these checks are exercised here)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import discord

from albumify.guilds import GuildSettings
from bot.awards.config import awards_changes, awards_text, channel_warnings, role_warnings


class Store:
    """`GuildSettingsStore.get` only."""

    def __init__(self, settings: GuildSettings) -> None:
        self.settings = settings

    async def get(self, guild_id: int) -> GuildSettings:
        return self.settings


class Role:
    def __init__(self, position: int, *, default: bool = False, managed: bool = False) -> None:
        self.id, self.position, self.managed, self.mention = 70 + position, position, managed, "@r"
        self._default = default

    def is_default(self) -> bool:
        return self._default

    def __ge__(self, other: Role) -> bool:
        return self.position >= other.position


def interaction(*, manage_roles: bool = True, channel_permissions: int | None = None) -> Any:
    me = SimpleNamespace(top_role=Role(10))
    return SimpleNamespace(
        guild_id=1,
        guild=SimpleNamespace(me=me),
        app_permissions=discord.Permissions(manage_roles=manage_roles),
        channel_permissions=discord.Permissions.all()
        if channel_permissions is None
        else discord.Permissions(channel_permissions),
    )


def channel(inter: Any) -> Any:
    return SimpleNamespace(
        id=5, mention="#awards", permissions_for=lambda member: inter.channel_permissions
    )


def test_a_channel_alone_turns_on_the_weekly_award() -> None:
    inter = interaction()
    changes, notes = asyncio.run(
        awards_changes(inter, Store(GuildSettings()), channel(inter), None, None)
    )
    assert changes == {"awards_channel": 5, "awards_period": "week"} and notes == []
    monthly = Store(GuildSettings(awards_period="month"))
    changes, _ = asyncio.run(awards_changes(inter, monthly, channel(inter), None, None))
    assert changes == {"awards_channel": 5}  # a period already chosen stays


def test_the_manager_is_told_what_stops_the_post_or_the_role() -> None:
    inter = interaction(manage_roles=False, channel_permissions=0)
    (note,) = channel_warnings(inter, channel(inter))
    assert "View Channel, Send Messages, Embed Links" in note
    notes = role_warnings(inter, Role(12))
    assert any("Manage Roles" in n for n in notes) and any("Move my role" in n for n in notes)
    assert role_warnings(interaction(), Role(3)) == []


def test_everyone_clears_the_role_and_a_managed_role_is_refused() -> None:
    inter = interaction()
    store = Store(GuildSettings())
    changes, _ = asyncio.run(awards_changes(inter, store, None, None, Role(0, default=True)))
    assert changes == {"winner_role": 0}
    changes, notes = asyncio.run(awards_changes(inter, store, None, None, Role(2, managed=True)))
    assert changes == {} and "bot or an integration" in notes[0]


def test_the_settings_text() -> None:
    assert awards_text(GuildSettings()) == "**Awards:** off"
    assert "pick an `awards_channel`" in awards_text(GuildSettings(awards_period="week"))
    text = awards_text(GuildSettings(awards_channel=5, awards_period="both", winner_role=7))
    assert text == "**Awards:** Cover of the Week and of the Month in <#5>, winner role <@&7>"
