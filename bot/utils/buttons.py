"""Persistent buttons on a result message: one base class, one subclass per button.

A `DynamicItem` is matched by its custom id, so it keeps working after a restart. Every
result button carries the result id in a format from `albumify.buttons` (the worker posts
them as raw JSON); a subclass names its format, label, emoji and style in its class line,
and writes its callback:

    class RerollButton(ResultButton, custom_id_format=REROLL_ID, label="Re-roll", emoji="🎲"):
        async def callback(self, interaction): ...
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import discord

from albumify.buttons import custom_id_pattern

NEVER_MATCHES = r"(?!)"
"""The base class itself is never registered: only its subclasses match custom ids."""


class ResultButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=NEVER_MATCHES):
    custom_id_format: ClassVar[str]
    button_label: ClassVar[str]
    button_emoji: ClassVar[str]
    button_style: ClassVar[discord.ButtonStyle]

    def __init_subclass__(
        cls,
        *,
        custom_id_format: str,
        label: str,
        emoji: str,
        style: discord.ButtonStyle = discord.ButtonStyle.secondary,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(template=custom_id_pattern(custom_id_format), **kwargs)
        cls.custom_id_format = custom_id_format
        cls.button_label, cls.button_emoji, cls.button_style = label, emoji, style

    def __init__(self, result_id: str, *, label: str | None = None) -> None:
        super().__init__(
            discord.ui.Button(
                label=label or self.button_label,
                emoji=self.button_emoji,
                style=self.button_style,
                custom_id=self.custom_id_format.format(result_id=result_id),
            )
        )
        self.result_id = result_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ResultButton:
        return cls(match["result_id"])
