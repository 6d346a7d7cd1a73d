"""What each feature offers the others: the return types of `AlbumifyBot`'s accessors.

Persistent buttons (DynamicItems) live in their feature's views and must find the loaded
feature from an interaction; they do so through these protocols, so no feature module
imports another feature's cog (and no import circle forms through the bot class).
"""

from __future__ import annotations

from typing import Any, Protocol

import discord


class CoverFeature(Protocol):
    """The cover feature (`bot.cover.cog.Covers`): a result's Re-roll and Delete, and the
    consent prompt's Approve / Decline."""

    async def reroll(self, interaction: discord.Interaction, result_id: str) -> None: ...

    async def remake(self, interaction: discord.Interaction, result_id: str, admit: Any) -> None:
        """A new cover from the result's kept photo; `admit` builds its job (cog's `Remake`)."""

    async def answer_consent(
        self, interaction: discord.Interaction, request_id: int, author_id: int, *, approve: bool
    ) -> None: ...

    async def delete(self, interaction: discord.Interaction, result_id: str) -> None: ...


class LeaderboardFeature(Protocol):
    """The leaderboards (`bot.leaderboard.cog.Leaderboard`): a result's Vote button."""

    async def vote(self, interaction: discord.Interaction, result_id: str) -> None: ...
