"""The worker's side of Cancel: stop at the next stage boundary, claim before posting.

`CancelWatch.check` runs at every stage boundary (the pipeline's progress callback) and raises
`JobCancelled` once the bot claimed the job cancelled; `claim_finish` takes the job's one
outcome (`albumify.cancel`) right before the cover is posted, so a Cancel pressed after it
is refused and one pressed before it means nothing is posted. A cancelled job ends cleanly (no
RQ failure, no retry): the job returns a "cancelled" outcome and posts nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from albumify import cancel, keys
from albumify.buttons import cancel_row
from worker.discord_api import DiscordAPI, DiscordAPIError, DiscordUnavailable
from worker.message import NO_MENTIONS

log = logging.getLogger(__name__)


class JobCancelled(Exception):
    """The member (or a moderator) cancelled the job: stop, post nothing."""


class CancelWatch:
    """One job's cancel flag and its claim of the outcome (a synchronous Redis client)."""

    def __init__(self, redis: Any, job_id: str) -> None:
        self.redis = redis
        self.job_id = job_id
        self.finishing = False
        """This job claimed the outcome: the Cancel button is no longer offered."""

    def cancelled(self) -> bool:
        return cancel.outcome_of(self.redis, self.job_id) == cancel.CANCELLED

    def check(self) -> None:
        """A stage boundary: stop here if the job was cancelled."""
        if self.finishing:
            return
        outcome = cancel.outcome_of(self.redis, self.job_id)
        if outcome == cancel.CANCELLED:
            raise JobCancelled(self.job_id)
        self.finishing = outcome == cancel.FINISHING  # an earlier attempt of this job claimed

    def claim_answer(self) -> bool:
        """Take the outcome before the job's final answer (its cover, or a notice that it
        cannot make one); False when a Cancel came first (then nothing is said)."""
        if not self.finishing:
            won = cancel.claim(self.redis, self.job_id, cancel.FINISHING)
            self.finishing = won == cancel.FINISHING
        return self.finishing

    def claim_finish(self) -> None:
        """Take the outcome before posting the cover, or stop (a Cancel came first)."""
        if not self.claim_answer():
            raise JobCancelled(self.job_id)

    def components(self) -> list[dict[str, Any]]:
        """What a progress edit carries: Cancel until the outcome is claimed, then nothing."""
        return [] if self.finishing else [cancel_row(self.job_id)]

    def status_message_id(self) -> int | None:
        raw = self.redis.get(keys.status_message(self.job_id))
        return int(raw) if raw else None


def cancelled_payload() -> dict[str, Any]:
    """The final text of a cancelled job's message: no buttons, nothing attached."""
    return {
        "content": cancel.CANCELLED_TEXT,
        "embeds": [],
        "components": [],
        "attachments": [],
        "allowed_mentions": NO_MENTIONS,
    }


def show_cancelled(api: DiscordAPI, application_id: int, token: str | None, job_id: str) -> None:
    """Write "Cancelled" once more over the interaction's message (best effort): a progress
    edit of ours that was in flight when the member pressed Cancel may have landed last."""
    if not token:
        return
    try:
        api.edit_original(application_id, token, cancelled_payload())
    except (DiscordAPIError, DiscordUnavailable) as err:
        log.info("job %s: could not show 'Cancelled': %s", job_id, err)


def remove_status_message(api: DiscordAPI, watch: CancelWatch, channel_id: int) -> None:
    """The job answered (its cover, or a notice): a reply-mention's "Making your cover…" reply
    (with its Cancel) goes.
    The bot deletes it too when it stored the id after this looked (`bot.cover.cancel`)."""
    message_id = watch.status_message_id()
    if message_id is None:
        return
    try:
        api.delete_message(channel_id, message_id)
    except (DiscordAPIError, DiscordUnavailable) as err:
        log.info("job %s: status message not deleted: %s", watch.job_id, err)
