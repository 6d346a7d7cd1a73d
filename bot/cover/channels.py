"""Where a request was made and how it is answered, as the job needs to know them."""

from __future__ import annotations

from typing import Any


def age_restricted(channel: Any) -> bool:
    """Whether Discord marks the channel age-restricted (`nsfw`).

    Text, voice, stage and forum channels carry the flag; a thread has its parent's
    (discord.py's `Thread.is_nsfw`). A channel the bot knows nothing about (not cached, a
    partial channel, a DM) counts as not age-restricted, so its photos are checked.
    """
    is_nsfw = getattr(channel, "is_nsfw", None)
    if not callable(is_nsfw):
        return False
    try:
        return bool(is_nsfw())
    except AttributeError:  # a thread whose parent is not cached
        return False


def answered_through(interaction: Any) -> dict[str, Any]:
    """A `CoverRequest`'s fields for a request answered through `interaction`: its token (the
    answer edits its response), when it was made (the token lives 15 minutes), the upload
    limit and the bot's permissions there, and whether its channel is age-restricted."""
    return {
        "application_id": interaction.application_id,
        "token": interaction.token,
        "created_at": interaction.created_at.timestamp(),
        "attachment_size_limit": interaction.filesize_limit,
        "app_permissions": interaction.app_permissions.value,
        "channel_nsfw": age_restricted(interaction.channel),
    }
