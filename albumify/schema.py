"""The job payload and result that cross the queue (torch-free: the bot imports this).

Both are JSON-serialisable dataclasses (RQ runs with `JSONSerializer`) with a schema version,
so a bot and a worker of different releases fail loudly instead of misreading each other.
Secrets never travel here: the interaction token is stored under `keys.token(job_id)`.
`JOB_FUNCTION` names the worker's entry point as a string: RQ imports it in the worker, so
the bot never does.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

SCHEMA_VERSION = 1
JOB_FUNCTION = "worker.job.make_cover"


@dataclass(frozen=True, kw_only=True)
class CoverLook:
    """The member's choices that change how a cover looks, shared by a request (the bot's
    `CoverRequest`), its job (`CoverJob`) and its result (`albumify.results.ResultRecord`):
    a re-roll keeps them. Two requests of one photo with equal looks are the same request
    (`request_identity`). A new look option is a field here, and nowhere else."""

    title: str | None = None
    artist: str | None = None
    advisory: bool = False
    display_name: str | None = None
    """The photo author's server display name: the artist when none was typed."""
    lettering: bool = True
    """False: the member turned lettering off (no artist, no title on the cover)."""
    face: int = 1
    """Which face the cover is built on: 1 = the most prominent (the default), then by
    prominence (`models.faces.by_prominence`), as the numbered preview shows them."""


COVER_OPTIONS: tuple[str, ...] = tuple(f.name for f in fields(CoverLook))
"""The names of `CoverLook`'s fields."""


def cover_options_of(source: Any) -> dict[str, Any]:
    """The cover options (`COVER_OPTIONS`) of a request, job or result, to pass on to the next
    (a re-roll keeps them; a result records its job's)."""
    return {name: getattr(source, name) for name in COVER_OPTIONS}


class SchemaMismatch(ValueError):
    """A payload from a bot or worker of an incompatible release."""


def job_id_for(interaction_id: int, *, kind: str = "cover") -> str:
    """One job per request: interaction (or message) ids are unique snowflakes."""
    return f"albumify-{kind}-{interaction_id}"


def request_identity(source: str, request: Any) -> str:
    """What makes two requests the same: where the photo comes from (an attachment id, a
    photo's sha256) and every cover option (`COVER_OPTIONS`), as a short digest."""
    text = json.dumps([source, cover_options_of(request)], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _check_version(data: dict[str, Any], what: str) -> None:
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise SchemaMismatch(f"{what} schema version {version!r}, expected {SCHEMA_VERSION}")


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


@dataclass(frozen=True)
class PhotoRef:
    """Where the photo comes from: an attachment (downloaded at job time) or a kept photo."""

    filename: str
    url: str | None = None
    attachment_id: int | None = None
    content_type: str | None = None
    size: int | None = None
    spoiler: bool = False
    photo_hash: str | None = None
    """sha256 of bytes kept under `keys.photo(hash)` (re-rolls never use URLs)."""


@dataclass(frozen=True)
class CoverJob(CoverLook):
    """Everything a worker needs to make a cover and post it back (and its `CoverLook`)."""

    job_id: str
    result_id: str
    guild_id: int
    channel_id: int
    requester_id: int
    photo_author_id: int
    photo: PhotoRef
    picked_face: bool = False
    """Made because the member picked a face in the preview: the same match, that face."""
    keep_cover: str | None = None
    """A library id to match again (a picked face keeps its cover); None: search as usual."""
    seed: int = 0
    exclude: tuple[str, ...] = ()
    """Library ids not to match again (re-roll = next best)."""
    application_id: int | None = None
    """Set for interaction requests; the token itself is in Redis."""
    token_expires_at: float | None = None
    """Unix time after which the interaction token is dead: post to the channel instead."""
    response_message_id: int | None = None
    """The deferred response, replied to when falling back to a channel message."""
    reply_to_message_id: int | None = None
    """Reply-mention requests have no interaction: reply to this message instead."""
    attachment_size_limit: int | None = None
    requested_at: float = 0.0
    rerolled_from: str | None = None
    app_permissions: int | None = None
    """The bot's permissions in the channel when the request came (Discord's bitfield): names
    the missing one if the channel later refuses a post. None when unknown."""
    channel_nsfw: bool = False
    """The channel is age-restricted (Discord's `nsfw`; a thread's is its parent's): only
    there may the worker skip its content check. False (checked) for jobs of older bots."""
    schema_version: int = SCHEMA_VERSION

    @property
    def via_interaction(self) -> bool:
        return self.application_id is not None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["exclude"] = list(self.exclude)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CoverJob:
        _check_version(data, "job")
        values = _known(cls, data)
        values["photo"] = PhotoRef(**_known(PhotoRef, values["photo"]))
        values["exclude"] = tuple(values.get("exclude", ()))
        return cls(**values)


@dataclass(frozen=True)
class CoverOutcome:
    """What a job returns (stored by RQ as the job result)."""

    STATUSES: ClassVar[tuple[str, ...]] = ("posted", "refused", "duplicate", "failed", "cancelled")

    status: str
    result_id: str
    message_id: int | None = None
    library_id: str | None = None
    similarity: float | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    """Member-safe message when status is refused/failed."""
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CoverOutcome:
        _check_version(data, "outcome")
        return cls(**_known(cls, data))
