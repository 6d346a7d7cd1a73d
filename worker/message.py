"""Raw JSON message payloads the worker sends (progress, result, error).

The worker speaks REST without discord.py, so the result's buttons are raw components whose
custom_ids the bot's `DynamicItem`s parse (`albumify.buttons`).
"""

from __future__ import annotations

from typing import Any, Protocol

from albumify import CAPTION
from albumify.buttons import result_row
from albumify.schema import CoverJob

NO_MENTIONS: dict[str, Any] = {"parse": []}
EPHEMERAL = 1 << 6
"""Message flag: only the interaction's member sees it."""
EMBED_COLOUR = 0x1DB954


class LibraryCover(Protocol):
    library_id: str
    title: str | None
    artist: str | None
    genre: str | None


def progress_payload(text: str, components: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A stage's text; `components` (the Cancel row) replace the message's buttons when given."""
    payload: dict[str, Any] = {"content": text, "allowed_mentions": NO_MENTIONS}
    if components is not None:
        payload["components"] = components
    return payload


def notice_payload(text: str) -> dict[str, Any]:
    """A final text-only state (refusal, failure, duplicate): clears embeds and buttons."""
    return {
        "content": text,
        "embeds": [],
        "components": [],
        "attachments": [],
        "allowed_mentions": NO_MENTIONS,
    }


def private_payload(text: str) -> dict[str, Any]:
    """A follow-up only the member sees, pinging nobody."""
    return {"content": text, "flags": EPHEMERAL, "allowed_mentions": NO_MENTIONS}


def describe_cover(record: LibraryCover) -> str:
    title = record.title or f"library cover {record.library_id}"
    text = f"“{title}”"
    if record.artist:
        text += f" — {record.artist}"
    if record.genre:
        text += f" · {record.genre}"
    return text


def result_payload(
    job: CoverJob,
    *,
    result_id: str,
    filename: str,
    record: LibraryCover,
    similarity: float,
    seconds: float,
    notes: list[str],
    faces: int = 0,
) -> dict[str, Any]:
    """The finished cover: file, embed with the caption and match, Re-roll/Delete buttons
    (and "Use another face" when the photo had `faces` ≥ 2).

    A spoilered photo's cover is a spoilered file and the embed does not show the image
    (embed images cannot be spoilered).
    """
    embed: dict[str, Any] = {
        "description": f"*{CAPTION}*",
        "color": EMBED_COLOUR,
        "fields": [
            {"name": "Matched cover", "value": describe_cover(record)[:1024], "inline": False},
            {"name": "Similarity", "value": f"{similarity:.0%}", "inline": True},
            {"name": "Time", "value": f"{seconds:.1f} s", "inline": True},
        ],
    }
    if not job.photo.spoiler:
        embed["image"] = {"url": f"attachment://{filename}"}
    if notes:
        embed["footer"] = {"text": "; ".join(notes)[:2048]}
    content = f"<@{job.requester_id}>'s album cover" + made_as(job)
    return {
        "content": content,
        "embeds": [embed],
        "components": [result_row(result_id, faces=faces)],
        "attachments": [{"id": 0, "filename": filename}],
        "allowed_mentions": NO_MENTIONS,
    }


def made_as(job: CoverJob) -> str:
    """How the cover came about, after "'s album cover": a re-roll, a picked face."""
    if job.picked_face:
        return f" (face {job.face})"
    if job.rerolled_from:
        return " (re-roll)" if job.face == 1 else f" (re-roll, face {job.face})"
    return f" (face {job.face})" if job.face != 1 else ""


def as_reply(payload: dict[str, Any], channel_id: int, message_id: int | None) -> dict[str, Any]:
    """The same payload posted as a channel message replying to the request."""
    payload = dict(payload)
    if not payload.get("attachments"):
        payload.pop("attachments", None)
    if message_id is not None:
        payload["message_reference"] = {
            "message_id": message_id,
            "channel_id": channel_id,
            "fail_if_not_exists": False,
        }
    return payload
