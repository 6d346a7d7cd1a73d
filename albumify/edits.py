"""Editing a posted cover's lettering: the job that crosses the queue, the form, the texts.

The Edit button (creator only) opens a form pre-filled from the cover; its submit becomes an
`EditJob`, queued ahead of new covers under the same quota. The worker re-composites the
cover from its kept layers (`keys.layers`, `imaging.layers`) — no model runs — and edits the
same message. The layers live as long as the kept photo (`Limits.photo_ttl_s`); after that
an edit is refused with `layers_gone_text`, which offers a re-roll while the photo is kept.

Torch-free: the bot imports this.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from albumify.schema import SCHEMA_VERSION, _check_version, _known
from albumify.settings import Limits

EDIT_FUNCTION = "worker.edit.edit_cover"
"""The worker's entry point for an edit (RQ imports it by name in the worker)."""

YES = frozenset({"yes", "y", "on", "true", "1"})
NO = frozenset({"no", "n", "off", "false", "0"})

NOT_YOURS = "Only the person who asked for this cover can edit it."
TOO_OLD = "That cover is too old to edit."


def layers_gone_text(limits: Limits, photo_kept: bool) -> str:
    """What a member reads when an edit comes after the layers expired (said, never faked)."""
    hours = max(1, limits.photo_ttl_s // 3600)
    text = (
        f"I can only edit a cover for {hours} h after making it, and this one's layers are "
        "gone, so I can't change its lettering without making it again."
    )
    if photo_kept:
        return text + " Press **Re-roll** below to make a new cover of the same photo."
    return text + " Post the photo again to make a new cover."


@dataclass(frozen=True)
class EditOptions:
    """The form's answers: empty artist → the display name; empty title → a made-up one."""

    artist: str | None
    title: str | None
    advisory: bool
    lettering: bool


def yes_no(text: str, name: str) -> bool | str:
    """`True`/`False` from yes/no (also y/n, on/off, true/false); else the refusal text."""
    value = text.strip().lower()
    if value in YES:
        return True
    if value in NO:
        return False
    return f"{name} takes yes or no (you wrote “{text.strip()[:20]}”)."


def parse_edit_form(values: dict[str, str], limits: Limits) -> EditOptions | str:
    """The form's values (by field id, `FORM_FIELDS`) as options, or a friendly refusal with
    the same limits as `/albumify`'s options."""
    artist = " ".join(values.get("artist", "").split()) or None
    title = " ".join(values.get("title", "").split()) or None
    if title and len(title) > limits.title_max_chars:
        return f"The title can be at most {limits.title_max_chars} characters."
    if artist and len(artist) > limits.artist_max_chars:
        return f"The artist can be at most {limits.artist_max_chars} characters."
    advisory = yes_no(values.get("advisory", "no"), "Parental Advisory")
    if isinstance(advisory, str):
        return advisory
    lettering = yes_no(values.get("lettering", "yes"), "Lettering")
    if isinstance(lettering, str):
        return lettering
    return EditOptions(artist=artist, title=title, advisory=advisory, lettering=lettering)


@dataclass(frozen=True)
class FormField:
    field_id: str
    label: str
    placeholder: str


FORM_FIELDS = (
    FormField("artist", "Artist", "Empty: your server name"),
    FormField("title", "Title", "Empty: a made-up title"),
    FormField("advisory", "Parental Advisory (yes/no)", "yes or no"),
    FormField("lettering", "Lettering (yes/no)", "no: no artist or title on the cover"),
)
"""The Edit form's text inputs, in order (Discord allows five per form)."""


@dataclass(frozen=True)
class EditJob:
    """Everything a worker needs to re-letter a posted cover and edit its message."""

    job_id: str
    result_id: str
    guild_id: int
    channel_id: int
    requester_id: int
    message_id: int
    """The cover's message (edited through the interaction, else with the bot token)."""
    photo_author_id: int
    artist: str | None = None
    title: str | None = None
    advisory: bool = False
    lettering: bool = True
    display_name: str | None = None
    """The artist when none was typed (as for a new cover)."""
    application_id: int | None = None
    token_expires_at: float | None = None
    requested_at: float = 0.0
    schema_version: int = SCHEMA_VERSION

    @property
    def via_interaction(self) -> bool:
        return self.application_id is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EditJob:
        _check_version(data, "edit job")
        return cls(**_known(cls, data))
