"""The result's Re-roll and Delete buttons (persistent: they work after a bot restart)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord

from albumify.buttons import DELETE_EMOJI, DELETE_ID, REROLL_EMOJI, REROLL_ID
from bot.utils.buttons import ResultButton

if TYPE_CHECKING:
    from bot.client import AlbumifyBot


class RerollButton(ResultButton, custom_id_format=REROLL_ID, label="Re-roll", emoji=REROLL_EMOJI):
    """Re-roll: the next best cover for the same photo, as a new message."""

    async def callback(self, interaction: discord.Interaction[AlbumifyBot]) -> None:
        await interaction.client.covers.reroll(interaction, self.result_id)


class DeleteButton(
    ResultButton,
    custom_id_format=DELETE_ID,
    label="Delete",
    emoji=DELETE_EMOJI,
    style=discord.ButtonStyle.danger,
):
    """Delete: for the requester, the photo's author, and members with Manage Messages."""

    async def callback(self, interaction: discord.Interaction[AlbumifyBot]) -> None:
        await interaction.client.covers.delete(interaction, self.result_id)
