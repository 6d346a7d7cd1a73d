"""The Vote button (persistent, survives restarts) and the leaderboard's page view.

The views know nothing of the cog: each gets the one action it needs as a callable, and the
Vote button reaches the leaderboard feature through the bot's typed accessor.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import discord

from albumify.boards import Page
from albumify.buttons import VOTE_EMOJI, VOTE_ID, vote_label
from bot.leaderboard.embeds import NO_MENTIONS
from bot.utils.buttons import ResultButton

if TYPE_CHECKING:
    from bot.client import AlbumifyBot

TurnPage = Callable[[Page, int], Awaitable[tuple[Page, discord.Embed]]]
"""(the page shown, the page number wanted) → the new page and its embed."""


class VoteButton(
    ResultButton,
    custom_id_format=VOTE_ID,
    label=vote_label(0),
    emoji=VOTE_EMOJI,
    style=discord.ButtonStyle.primary,
):
    """⭐ Vote on a result; pressing again takes the vote back. The label is the live count."""

    async def callback(self, interaction: discord.Interaction[AlbumifyBot]) -> None:
        await interaction.client.leaderboard.vote(interaction, self.result_id)


def relabel_vote(message: discord.Message, result_id: str, votes: int) -> discord.ui.View:
    """The message's own components with the Vote label set to `votes`.

    The view is stopped so discord.py does not store it as a (second) handler for the
    message: clicks keep going to the DynamicItems.
    """
    view = discord.ui.View.from_message(message, timeout=None)
    assert isinstance(view, discord.ui.View)
    custom_id = VOTE_ID.format(result_id=result_id)
    for item in view.children:
        if isinstance(item, discord.ui.Button) and item.custom_id == custom_id:
            item.label = vote_label(votes)
    view.stop()
    return view


class BoardView(discord.ui.View):
    """Previous/Next for one member's `/leaderboard`; pages are read live from Redis."""

    def __init__(self, owner_id: int, page: Page, turn_page: TurnPage) -> None:
        super().__init__(timeout=600)
        self.owner_id = owner_id
        self.page = page
        self.turn_page = turn_page
        self.message: discord.Message | discord.InteractionMessage | None = None
        self._sync()

    def _sync(self) -> None:
        self.previous.disabled = self.page.page <= 0
        self.next.disabled = self.page.page >= self.page.pages - 1

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await interaction.response.send_message(
            "Only the member who opened this leaderboard can turn its pages. "
            "Try `/leaderboard` yourself.",
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )
        return False

    async def turn(self, interaction: discord.Interaction, number: int) -> None:
        # Acknowledge first (the page's reads and its cover's message may take a while),
        # then edit the board message the buttons are on.
        await interaction.response.defer()
        self.page, embed = await self.turn_page(self.page, number)
        self._sync()
        await interaction.edit_original_response(
            embed=embed, view=self, allowed_mentions=NO_MENTIONS
        )

    @discord.ui.button(label="Previous", emoji="◀️", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: discord.Interaction, _: discord.ui.Button[Any]) -> None:
        await self.turn(interaction, self.page.page - 1)

    @discord.ui.button(label="Next", emoji="▶️", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: discord.Interaction, _: discord.ui.Button[Any]) -> None:
        await self.turn(interaction, self.page.page + 1)

    async def on_timeout(self) -> None:
        if self.message is not None:
            with contextlib.suppress(discord.HTTPException):
                await self.message.edit(view=None)
