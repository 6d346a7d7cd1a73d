"""The confirmation a forget asks for first: it cannot be undone."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import discord

NO_MENTIONS = discord.AllowedMentions.none()

Forget = Callable[[], Awaitable[str]]
"""Forgets, and returns the confirmation text."""


class ForgetView(discord.ui.View):
    """Confirm or cancel a forget; only the member who asked can press either."""

    def __init__(self, owner_id: int, forget: Forget, *, label: str = "Forget me") -> None:
        super().__init__(timeout=120)
        self.owner_id = owner_id
        self.forget = forget
        self.confirm.label = label

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return interaction.user.id == self.owner_id

    @discord.ui.button(label="Forget", style=discord.ButtonStyle.danger)
    async def confirm(self, interaction: discord.Interaction, _: discord.ui.Button[Any]) -> None:
        self.stop()
        await interaction.response.defer()  # walking every server may take a few seconds
        text = await self.forget()
        await interaction.edit_original_response(
            content=text, view=None, allowed_mentions=NO_MENTIONS
        )

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel(self, interaction: discord.Interaction, _: discord.ui.Button[Any]) -> None:
        self.stop()
        await interaction.response.edit_message(
            content="Nothing was removed.", view=None, allowed_mentions=NO_MENTIONS
        )
