"""The consent prompt's Approve and Decline buttons (persistent: they work after a restart).

Each carries the request id and the photo author's id in its custom id
(`albumify.buttons.CONSENT_APPROVE_ID` / `CONSENT_DECLINE_ID`): a click reaches the cover
feature through the bot's typed accessor, which refuses anyone but the author.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar

import discord

from albumify.buttons import CONSENT_APPROVE_ID, CONSENT_DECLINE_ID, consent_id_pattern
from bot.utils.buttons import NEVER_MATCHES

if TYPE_CHECKING:
    from bot.client import AlbumifyBot


class ConsentButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=NEVER_MATCHES):
    """One answer to a consent request; subclasses name their format, label and style."""

    custom_id_format: ClassVar[str]
    approves: ClassVar[bool]
    button_label: ClassVar[str]
    button_style: ClassVar[discord.ButtonStyle]

    def __init_subclass__(
        cls,
        *,
        custom_id_format: str,
        approves: bool,
        label: str,
        style: discord.ButtonStyle,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(template=consent_id_pattern(custom_id_format), **kwargs)
        cls.custom_id_format, cls.approves = custom_id_format, approves
        cls.button_label, cls.button_style = label, style

    def __init__(self, request_id: int, author_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=self.button_label,
                style=self.button_style,
                custom_id=self.custom_id_format.format(request_id=request_id, author_id=author_id),
            )
        )
        self.request_id, self.author_id = request_id, author_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ConsentButton:
        return cls(int(match["request_id"]), int(match["author_id"]))

    async def callback(self, interaction: discord.Interaction[AlbumifyBot]) -> None:
        await interaction.client.covers.answer_consent(
            interaction, self.request_id, self.author_id, approve=self.approves
        )


class ApproveButton(
    ConsentButton,
    custom_id_format=CONSENT_APPROVE_ID,
    approves=True,
    label="Approve",
    style=discord.ButtonStyle.success,
):
    """The author lets the requester have a cover of their photo: it is made now."""


class DeclineButton(
    ConsentButton,
    custom_id_format=CONSENT_DECLINE_ID,
    approves=False,
    label="Decline",
    style=discord.ButtonStyle.danger,
):
    """The author says no: final for this photo and requester."""


def consent_view(request_id: int, author_id: int) -> discord.ui.View:
    """Approve / Decline for one request. Stopped, so discord.py does not keep it as a
    second handler for the message: clicks go to the DynamicItems (after restarts too)."""
    view = discord.ui.View(timeout=None)
    view.add_item(ApproveButton(request_id, author_id))
    view.add_item(DeclineButton(request_id, author_id))
    view.stop()
    return view
