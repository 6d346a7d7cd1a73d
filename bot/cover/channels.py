"""Where a request was made, as the worker's content check needs to know it."""

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
