"""Progress text and the throttle that keeps message edits at most every ~2 s.

Shared by the bot (queue position while queued) and the worker (stages once started).
"""

from __future__ import annotations

import time
from collections.abc import Callable

QUEUE_EDIT_LEASE_S = 5.0
"""The hand-off of a job's message: the bot holds `keys.queue_edit` at most this long while a
'queued' edit is in flight, and a worker that has marked the job started waits at most this
long for it before it edits the message itself."""

STAGE_TEXT = {
    "queued": "Queued",
    "downloading": "Downloading your photo",
    "decoding": "Reading your photo",
    "faces": "Looking for faces",
    "matching": "Matching an album cover",
    "face": "Styling the face",
    "cutout": "Cutting you out",
    "composing": "Composing the cover",
    "uploading": "Uploading",
}


def stage_text(stage: str, *, position: int | None = None) -> str:
    """The deferred response's text for a stage ('queued' shows the queue position)."""
    if stage == "queued":
        if position is None:
            return "⏳ Queued…"
        return f"⏳ Queued — position {position + 1} in line…"
    return f"⚙️ {STAGE_TEXT.get(stage, stage.capitalize())}…"


class Throttle:
    """Lets an edit through when the text changed and `interval` passed since the last one.

    The first edit always goes through. `force=True` is for the final state.
    """

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self._last_at: float | None = None
        self._last_text: str | None = None

    def should_send(self, text: str, *, force: bool = False) -> bool:
        if text == self._last_text:
            return False
        now = self.clock()
        if not force and self._last_at is not None and now - self._last_at < self.interval:
            return False
        self._last_at = now
        self._last_text = text
        return True
