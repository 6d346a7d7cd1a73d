"""The result message's buttons: their custom-id formats and their raw JSON.

The worker posts results over REST without discord.py, so it sends these raw components; the
bot's `DynamicItem`s parse the same custom ids back (they survive restarts). Buttons already
posted in servers carry these formats: changing one breaks every old button.
"""

from __future__ import annotations

import re
from typing import Any

REROLL_ID = "albumify:reroll:{result_id}"
DELETE_ID = "albumify:delete:{result_id}"
EDIT_ID = "albumify:edit:{result_id}"
EDIT_FORM_ID = "albumify:edit-form:{result_id}"
"""The Edit button's modal (its submit carries this id; the bot matches it after a restart)."""
VOTE_ID = "albumify:vote:{result_id}"
RESULT_ID_PATTERN = r"[0-9a-z-]{1,64}"

VOTE_EMOJI = "⭐"
REROLL_EMOJI = "🎲"
DELETE_EMOJI = "🗑️"
EDIT_EMOJI = "✏️"

ACTION_ROW = 1
BUTTON = 2
PRIMARY, SECONDARY, DANGER = 1, 2, 4
"""Discord's button styles (the bot uses `discord.ButtonStyle` of the same values)."""


def custom_id_pattern(fmt: str) -> str:
    """Regex for a DynamicItem template from one of the *_ID formats above."""
    return (
        "^" + re.escape(fmt).replace(r"\{result_id\}", f"(?P<result_id>{RESULT_ID_PATTERN})") + "$"
    )


def vote_label(votes: int) -> str:
    """The Vote button's label: the live count, edited after every vote."""
    return f"Vote · {votes}" if votes else "Vote"


def _button(style: int, label: str, emoji: str, custom_id: str) -> dict[str, Any]:
    return {
        "type": BUTTON,
        "style": style,
        "label": label,
        "emoji": {"name": emoji},
        "custom_id": custom_id,
    }


def vote_component(result_id: str, votes: int = 0) -> dict[str, Any]:
    return _button(PRIMARY, vote_label(votes), VOTE_EMOJI, VOTE_ID.format(result_id=result_id))


def result_buttons(result_id: str) -> list[dict[str, Any]]:
    """Re-roll, Delete, Vote, Edit: the row under every posted cover."""
    return [
        _button(SECONDARY, "Re-roll", REROLL_EMOJI, REROLL_ID.format(result_id=result_id)),
        _button(DANGER, "Delete", DELETE_EMOJI, DELETE_ID.format(result_id=result_id)),
        vote_component(result_id),
        _button(SECONDARY, "Edit", EDIT_EMOJI, EDIT_ID.format(result_id=result_id)),
    ]


def result_row(result_id: str) -> dict[str, Any]:
    return {"type": ACTION_ROW, "components": result_buttons(result_id)}
