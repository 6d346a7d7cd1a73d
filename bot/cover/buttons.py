"""The result's Re-roll and Delete buttons (persistent: they work after a bot restart)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord

from albumify.buttons import DELETE_EMOJI, DELETE_ID, REROLL_EMOJI, REROLL_ID
from bot.utils.buttons import ResultButton

if TYPE_CHECKING:
    from bot.client import AlbumifyBot


class RerollButton(ResultButton, custom_id_format=REROLL_ID):
    """Re-roll: the next best cover for the same photo, as a new message."""

    button_label = "Re-roll"
    button_emoji = REROLL_EMOJI
    button_style = discord.ButtonStyle.secondary

    async def callback(self, interaction: discord.Interaction[AlbumifyBot]) -> None:
        await interaction.client.covers.reroll(interaction, self.result_id)


class DeleteButton(ResultButton, custom_id_format=DELETE_ID):
    """Delete: for the requester, the photo's author, and members with Manage Messages."""

    button_label = "Delete"
    button_emoji = DELETE_EMOJI
    button_style = discord.ButtonStyle.danger

    async def callback(self, interaction: discord.Interaction[AlbumifyBot]) -> None:
        await interaction.client.covers.delete(interaction, self.result_id)
