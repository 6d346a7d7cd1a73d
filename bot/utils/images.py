"""Find the photo in a message: the first image attachment, else the first embed image."""

from __future__ import annotations

import mimetypes
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"})


@dataclass(frozen=True)
class ImageCandidate:
    """What the bot knows about a photo before the worker downloads it."""

    url: str
    filename: str
    content_type: str | None
    size: int | None
    attachment_id: int | None = None
    spoiler: bool = False

    @property
    def media_type(self) -> str | None:
        """The content type without parameters, guessed from the file name when missing."""
        if self.content_type:
            return self.content_type.split(";", 1)[0].strip().lower()
        guessed, _ = mimetypes.guess_type(self.filename)
        return guessed


def _looks_like_image(attachment: Any) -> bool:
    content_type = (getattr(attachment, "content_type", None) or "").lower()
    if content_type:
        return content_type.startswith("image/")
    guessed, _ = mimetypes.guess_type(attachment.filename)
    return bool(guessed and guessed.startswith("image/"))


def from_attachment(attachment: Any) -> ImageCandidate:
    """Works with `discord.Attachment` (or anything with its attributes)."""
    return ImageCandidate(
        url=attachment.url,
        filename=attachment.filename,
        content_type=getattr(attachment, "content_type", None),
        size=getattr(attachment, "size", None),
        attachment_id=getattr(attachment, "id", None),
        spoiler=bool(attachment.is_spoiler()) if hasattr(attachment, "is_spoiler") else False,
    )


def first_image(attachments: Iterable[Any], embeds: Iterable[Any] = ()) -> ImageCandidate | None:
    """The message's first image; several images → the first (spoilers stay spoilers)."""
    for attachment in attachments:
        if _looks_like_image(attachment):
            return from_attachment(attachment)
    for embed in embeds:
        for media in (getattr(embed, "image", None), getattr(embed, "thumbnail", None)):
            url = getattr(media, "url", None)
            if url:
                name = url.split("?", 1)[0].rsplit("/", 1)[-1] or "image"
                return ImageCandidate(url=url, filename=name, content_type=None, size=None)
    return None


def message_image(message: Any) -> ImageCandidate | None:
    return first_image(message.attachments, message.embeds)
