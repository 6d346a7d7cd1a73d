"""The result's Re-roll and Delete buttons: persistent, so they work after a bot restart.

Their custom ids (`albumify.buttons`) carry the result id; the worker posts them as raw JSON.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord

from albumify.buttons import DELETE_EMOJI, DELETE_ID, REROLL_EMOJI, REROLL_ID, custom_id_pattern

if TYPE_CHECKING:
    from bot.client import AlbumifyBot


class RerollButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=re.compile(custom_id_pattern(REROLL_ID)),
):
    """Re-roll: the next best cover for the same photo, as a new message (survives restarts)."""

    def __init__(self, result_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                label="Re-roll",
                emoji=REROLL_EMOJI,
                style=discord.ButtonStyle.secondary,
                custom_id=REROLL_ID.format(result_id=result_id),
            )
        )
        self.result_id = result_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> RerollButton:
        return cls(match["result_id"])

    async def callback(self, interaction: discord.Interaction[AlbumifyBot]) -> None:
        await interaction.client.covers.reroll(interaction, self.result_id)


class DeleteButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=re.compile(custom_id_pattern(DELETE_ID)),
):
    """Delete: for the requester, the photo's author, and members with Manage Messages."""

    def __init__(self, result_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                label="Delete",
                emoji=DELETE_EMOJI,
                style=discord.ButtonStyle.danger,
                custom_id=DELETE_ID.format(result_id=result_id),
            )
        )
        self.result_id = result_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> DeleteButton:
        return cls(match["result_id"])

    async def callback(self, interaction: discord.Interaction[AlbumifyBot]) -> None:
        await interaction.client.covers.delete(interaction, self.result_id)
