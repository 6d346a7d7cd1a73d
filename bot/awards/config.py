"""The awards options of `/albumify-config`: checked here, stored by `GuildSettingsStore`."""

from __future__ import annotations

from typing import Any

import discord

from albumify.guilds import GuildSettings, GuildSettingsStore

PERIOD_NAMES = {
    "week": "Cover of the Week",
    "month": "Cover of the Month",
    "both": "Cover of the Week and of the Month",
}


async def awards_changes(
    interaction: discord.Interaction,
    store: GuildSettingsStore,
    channel: Any | None,
    period: str | None,
    role: discord.Role | None,
) -> tuple[dict[str, Any], list[str]]:
    """The `GuildSettingsStore.update` arguments for the given options, and notes for the
    manager (why a role will not work). A channel alone turns on the weekly award."""
    changes: dict[str, Any] = {}
    notes: list[str] = []
    if channel is not None:
        changes["awards_channel"] = channel.id
        notes.extend(channel_warnings(interaction, channel))
        if period is None and interaction.guild_id is not None:
            current = await store.get(interaction.guild_id)
            if current.awards_period == "off":
                changes["awards_period"] = "week"
    if period is not None:
        changes["awards_period"] = period
    if role is not None:
        if role.is_default():
            changes["winner_role"] = 0  # @everyone: no winner role
        elif role.managed:
            notes.append(f"{role.mention} belongs to a bot or an integration: not changed.")
        else:
            changes["winner_role"] = role.id
            notes.extend(role_warnings(interaction, role))
    return changes, notes


def channel_warnings(interaction: discord.Interaction, channel: Any) -> list[str]:
    """What stops the bot from posting the awards in `channel`, as far as its cache can tell
    (the post is not retried when Discord refuses it)."""
    guild = interaction.guild
    me = guild.me if guild is not None else None
    if me is None or not hasattr(channel, "permissions_for"):
        return []
    have = channel.permissions_for(me)
    needed = (
        ("View Channel", have.view_channel),
        ("Send Messages", have.send_messages),
        ("Embed Links", have.embed_links),
    )
    missing = [name for name, ok in needed if not ok]
    if not missing:
        return []
    return [f"I can't post in {channel.mention} yet: I need {', '.join(missing)} there."]


def role_warnings(interaction: discord.Interaction, role: discord.Role) -> list[str]:
    """What stops the bot from handing `role` out, as far as its cache can tell."""
    notes = []
    if not interaction.app_permissions.manage_roles:
        notes.append(
            "I need the **Manage Roles** permission to hand out the winner role "
            "(the post still goes up without it)."
        )
    guild = interaction.guild
    me = guild.me if guild is not None else None
    if me is not None and role >= me.top_role:
        notes.append(f"Move my role above {role.mention} so I can hand it out.")
    return notes


def awards_text(settings: GuildSettings) -> str:
    if not settings.awards_kinds:
        if settings.awards_period != "off":
            return "**Awards:** off until you pick an `awards_channel`"
        return "**Awards:** off"
    text = f"**Awards:** {PERIOD_NAMES[settings.awards_period]} in <#{settings.awards_channel}>"
    if settings.winner_role:
        text += f", winner role <@&{settings.winner_role}>"
    return text
