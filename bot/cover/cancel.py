"""The Cancel button on a cover's progress message (persistent: it works after a restart).

Only the requester and moderators (Manage Messages) may cancel; anyone else is told so
privately. A press claims the job's one outcome (`albumify.cancel`):

- won while the job waits: it leaves the queue, its quota slot and dedup key are given back,
  and the message says "Cancelled" (without buttons);
- won while a worker makes it: the same, and the worker stops at its next stage boundary and
  posts nothing (it writes "Cancelled" over its own last progress edit);
- lost: the worker has claimed it to post the cover (or to tell why it cannot make one):
  the presser is told it is done.

On the reply-mention path the bot posts a reply that carries the button (`post_status`); the
cover comes as its own reply and the status reply is deleted then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from typing import TYPE_CHECKING, Any

import discord
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus

from albumify import keys
from albumify.buttons import CANCEL_EMOJI, CANCEL_ID, cancel_id_pattern
from albumify.cancel import (
    CANCELLED,
    CANCELLED_TEXT,
    FINISHING,
    OUTCOME_TTL_S,
    claim_async,
    request_dedup_key,
)
from albumify.forget import job_payload
from albumify.lease import RELEASE_IF_HELD_LUA
from albumify.progress import QUEUE_EDIT_LEASE_S
from albumify.schema import CoverJob, SchemaMismatch

if TYPE_CHECKING:
    from bot.client import AlbumifyBot

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
STATUS_TEXT = "⏳ Making your cover…"
NOT_YOURS = "Only the person who asked for this cover (or a moderator) can cancel it."
TOO_LATE = "It's too late to cancel: that request is already done."
NOTHING_LEFT = "That request has already ended: there's nothing left to cancel."


class CancelButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=cancel_id_pattern()):
    """Cancel: on the progress message until the cover is posted."""

    def __init__(self, job_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                label="Cancel",
                emoji=CANCEL_EMOJI,
                style=discord.ButtonStyle.secondary,
                custom_id=CANCEL_ID.format(job_id=job_id),
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> CancelButton:
        return cls(match["job_id"])

    async def callback(self, interaction: discord.Interaction[AlbumifyBot]) -> None:
        await Canceller(interaction.client).press(interaction, self.job_id)


def cancel_view(job_id: str) -> discord.ui.View:
    """A view holding only the Cancel button. Stopped, so discord.py does not keep it as a
    second handler of the message: presses go to the DynamicItem (which survives restarts)."""
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(job_id))
    view.stop()
    return view


class Canceller:
    """What one press of Cancel does (the bot's side of `albumify.cancel`)."""

    def __init__(self, bot: AlbumifyBot) -> None:
        self.bot = bot
        self.redis = bot.redis
        self.queue = bot.queue

    async def press(self, interaction: discord.Interaction, job_id: str) -> None:
        job = await asyncio.to_thread(self._job, job_id)
        if job is None:  # a stale button: the cover was posted, or the request ended otherwise
            posted = await self.redis.get(keys.job_outcome(job_id)) == FINISHING
            await self._tell(interaction, TOO_LATE if posted else NOTHING_LEFT)
            return
        if interaction.user.id != job.requester_id and not interaction.permissions.manage_messages:
            await self._tell(interaction, NOT_YOURS)
            return
        if await claim_async(self.redis, job_id, CANCELLED) == FINISHING:
            await self._tell(interaction, TOO_LATE)
            return
        await interaction.response.defer()  # an update of the button's message, shown below
        removed = await asyncio.to_thread(self._dequeue, job_id)
        if removed:  # it will never run: its interaction token is not needed any more
            await self.redis.delete(keys.token(job_id))
        await self.bot.intake.quota.release(
            guild_id=job.guild_id,
            member_key=keys.member_quota(job.guild_id, job.requester_id),
            guild_key=keys.guild_quota(job.guild_id),
            job_id=job_id,
            dedup_key=request_dedup_key(job),
        )
        await self._show_cancelled(interaction, job_id)
        log.info(
            "job %s: cancelled by member %s (%s)",
            job_id,
            interaction.user.id,
            "while queued" if removed else "the worker stops at its next stage",
        )

    @staticmethod
    async def _tell(interaction: discord.Interaction, text: str) -> None:
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)

    def _job(self, job_id: str) -> CoverJob | None:
        """The job's payload (synchronous RQ: call in a thread); None once RQ dropped it."""
        try:
            rq_job = Job.fetch(
                job_id, connection=self.queue.connection, serializer=self.queue.serializer
            )
        except NoSuchJobError:
            return None
        payload = job_payload(rq_job)
        if payload is None or rq_job.get_status(refresh=False) in (
            JobStatus.FINISHED,
            JobStatus.FAILED,
            JobStatus.CANCELED,
        ):
            return None
        try:
            return CoverJob.from_dict(payload)
        except (SchemaMismatch, TypeError, KeyError):
            return None

    def _dequeue(self, job_id: str) -> bool:
        """Take a waiting job out of the queue (synchronous). False when a worker has it
        (or a retry waits for its turn): the worker then sees the claim and stops."""
        connection, serializer = self.queue.connection, self.queue.serializer
        # Waiting for its guild's turn (`albumify.fairqueue`), else maybe in RQ's list: the
        # feeder's move is atomic, so the job is found in one of the two or has started.
        removed = self.bot.intake.fair.remove(job_id) or bool(self.queue.remove(job_id))
        try:
            rq_job = Job.fetch(job_id, connection=connection, serializer=serializer)
            if removed or rq_job.get_status(refresh=False) == JobStatus.SCHEDULED:
                rq_job.cancel()
        except (NoSuchJobError, InvalidJobOperation):
            pass
        return removed

    async def _show_cancelled(self, interaction: discord.Interaction, job_id: str) -> None:
        """Edit the button's message to "Cancelled", never under a 'queued' edit in flight
        (the queue watcher holds `keys.queue_edit` and skips jobs with an outcome)."""
        lock, holder = keys.queue_edit(job_id), uuid.uuid4().hex
        deadline = time.monotonic() + QUEUE_EDIT_LEASE_S
        lease_ms = int(QUEUE_EDIT_LEASE_S * 1000)
        while not await self.redis.set(lock, holder, nx=True, px=lease_ms):
            if time.monotonic() > deadline:
                break  # the lease has expired by now, or its holder is gone: edit anyway
            await asyncio.sleep(0.05)
        try:
            await interaction.edit_original_response(
                content=CANCELLED_TEXT, view=None, allowed_mentions=NO_MENTIONS
            )
        except discord.HTTPException as err:
            log.info("job %s: 'Cancelled' not shown: %s", job_id, err)
        finally:
            with contextlib.suppress(Exception):
                await self.redis.eval(RELEASE_IF_HELD_LUA, 1, lock, holder)


async def post_status(redis: Any, message: discord.Message, job_id: str) -> None:
    """A reply-mention's progress reply, with the Cancel button (best effort: a channel where
    the bot may not post still gets its cover, or a notice, from the worker).

    The worker deletes it once the job answered (the cover, or a notice); if the worker
    claimed its answer before the id was stored here, it could not see it, so the bot
    deletes it itself.
    """
    try:
        status = await message.reply(
            STATUS_TEXT,
            view=cancel_view(job_id),
            mention_author=False,
            allowed_mentions=NO_MENTIONS,
        )
    except discord.HTTPException as err:
        log.info("job %s: no status reply (its Cancel button) in this channel: %s", job_id, err)
        return
    await redis.set(keys.status_message(job_id), status.id, ex=OUTCOME_TTL_S)
    if await redis.get(keys.job_outcome(job_id)) == FINISHING:
        with contextlib.suppress(discord.HTTPException):
            await status.delete()
