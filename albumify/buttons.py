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
FACES_ID = "albumify:faces:{result_id}"
"""Use another face: offered on a cover made from a photo with several faces."""
FACE_PICK_ID = "albumify:face:{result_id}"
"""The string select under the numbered preview (`albumify.faces.face_select_row`)."""
RESULT_ID_PATTERN = r"[0-9a-z-]{1,64}"
CANCEL_ID = "albumify:cancel:{job_id}"
"""On the progress message (not the result): cancels the job (`albumify.cancel`)."""
JOB_ID_PATTERN = r"albumify-[a-z]{1,16}-[0-9]{1,24}"
"""`albumify.schema.job_id_for`'s ids."""

CONSENT_APPROVE_ID = "albumify:consent:approve:{request_id}:{author_id}"
CONSENT_DECLINE_ID = "albumify:consent:decline:{request_id}:{author_id}"
"""The consent prompt's buttons: the request (`keys.CONSENT_REQUEST`) and the only member who
may press them (the photo's author), so a click by anyone else is refused without Redis."""
SNOWFLAKE_PATTERN = r"[0-9]{1,20}"

VOTE_EMOJI = "⭐"
REROLL_EMOJI = "🎲"
DELETE_EMOJI = "🗑️"
FACES_EMOJI = "👥"
FACES_LABEL = "Use another face"
CANCEL_EMOJI = "✖️"
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


def consent_id_pattern(fmt: str) -> str:
    """Regex for a DynamicItem template from one of the CONSENT_*_ID formats above."""
    pattern = re.escape(fmt)
    for name in ("request_id", "author_id"):
        pattern = pattern.replace(rf"\{{{name}\}}", f"(?P<{name}>{SNOWFLAKE_PATTERN})")
    return "^" + pattern + "$"


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


def result_buttons(result_id: str, *, faces: int = 0) -> list[dict[str, Any]]:
    """Re-roll, Delete, Vote, Edit: the row under every posted cover; "Use another face" too
    when the photo had `faces` ≥ 2."""
    buttons = [
        _button(SECONDARY, "Re-roll", REROLL_EMOJI, REROLL_ID.format(result_id=result_id)),
        _button(DANGER, "Delete", DELETE_EMOJI, DELETE_ID.format(result_id=result_id)),
        vote_component(result_id),
        _button(SECONDARY, "Edit", EDIT_EMOJI, EDIT_ID.format(result_id=result_id)),
    ]
    if faces >= 2:
        buttons.append(faces_component(result_id))
    return buttons


def faces_component(result_id: str) -> dict[str, Any]:
    return _button(SECONDARY, FACES_LABEL, FACES_EMOJI, FACES_ID.format(result_id=result_id))


def result_row(result_id: str, *, faces: int = 0) -> dict[str, Any]:
    return {"type": ACTION_ROW, "components": result_buttons(result_id, faces=faces)}


def cancel_id_pattern() -> str:
    """Regex for the Cancel button's DynamicItem template (group `job_id`)."""
    return "^" + re.escape(CANCEL_ID).replace(r"\{job_id\}", f"(?P<job_id>{JOB_ID_PATTERN})") + "$"


def cancel_row(job_id: str) -> dict[str, Any]:
    """The progress message's row: Cancel, until the cover is posted (raw JSON, for the worker)."""
    button = _button(SECONDARY, "Cancel", CANCEL_EMOJI, CANCEL_ID.format(job_id=job_id))
    return {"type": ACTION_ROW, "components": [button]}
