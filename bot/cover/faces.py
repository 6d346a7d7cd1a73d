"""Which face? "Use another face" on a result, and the numbered preview's select.

The flow starts from the result, so it works for every way a cover was asked for (slash,
Apps → Albumify, a reply-mention):

1. The worker adds "Use another face" (`FacesButton`) to a cover made from a photo with two
   or more faces. The requester presses it: the bot answers privately ("thinking…", only
   they see it) and enqueues a short detect job (`albumify.faces.FacesJob`) — it detects and
   draws nothing itself.
2. The worker numbers the faces of the kept photo on a small preview and edits that private
   response with it and a select, "Face 1"…"Face N" (most prominent first, the face on the
   cover marked).
3. Picking a face (`FacePicker`) is a new cover job from the kept photo with that face
   (`CoverJob.face`), the same library cover and title: a new public message, through the
   quota and queue like a re-roll.

Only the requester may choose (the photo's author may still Delete); others are told so.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import re
from typing import TYPE_CHECKING, Any

import discord

from albumify import keys
from albumify.buttons import FACE_PICK_ID, FACES_EMOJI, FACES_ID, FACES_LABEL, custom_id_pattern
from albumify.faces import FACES_JOB_FUNCTION, FacesJob, picked_face
from albumify.forget import FAILED_JOB_TTL_S
from albumify.results import ResultRecord
from albumify.schema import CoverJob, job_id_for
from bot.cover.intake import TOKEN_LIFE_S, Admission, CoverRequest, Intake
from bot.utils.busy import BUSY
from bot.utils.buttons import ResultButton

if TYPE_CHECKING:
    from bot.client import AlbumifyBot

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
NOT_YOURS = "Only the person who asked for this cover can choose another face for it."
TOO_OLD = "That cover is too old to choose another face. Post the photo again."
UNREADABLE = "I couldn't tell which face you chose. Please pick one again."


def photo_gone(photo_ttl_s: int) -> str:
    hours = max(1, photo_ttl_s // 3600)
    return f"I only keep photos for {hours} h, and this one is gone. Post it again."


def refusal(record: ResultRecord | None, user_id: int) -> str | None:
    """Why `user_id` may not choose a face for this result (None: they may)."""
    if record is None:
        return TOO_OLD
    if user_id != record.requester_id:
        return NOT_YOURS
    return None


class FacesButton(ResultButton, custom_id_format=FACES_ID, label=FACES_LABEL, emoji=FACES_EMOJI):
    """Use another face: the faces of the photo, numbered, in a private answer."""

    async def callback(self, interaction: discord.Interaction[AlbumifyBot]) -> None:
        await offer_faces(interaction, self.result_id)


class FacePicker(
    discord.ui.DynamicItem[discord.ui.Select[Any]], template=custom_id_pattern(FACE_PICK_ID)
):
    """The preview's select: the chosen face's number in `values` (persistent, like buttons)."""

    def __init__(self, result_id: str) -> None:
        super().__init__(
            discord.ui.Select(
                custom_id=FACE_PICK_ID.format(result_id=result_id),
                options=[discord.SelectOption(label="Face 1", value="1")],
            )
        )
        self.result_id = result_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> FacePicker:
        return cls(match["result_id"])

    async def callback(self, interaction: discord.Interaction[AlbumifyBot]) -> None:
        data: Any = interaction.data or {}
        face = picked_face(data.get("values"))
        if face is None:
            await interaction.response.send_message(
                UNREADABLE, ephemeral=True, allowed_mentions=NO_MENTIONS
            )
            return
        admit = functools.partial(admit_face, interaction.client.intake, face=face)
        await interaction.client.covers.remake(interaction, self.result_id, admit)


async def admit_face(
    intake: Intake, record: ResultRecord | None, request: CoverRequest, *, face: int
) -> tuple[Admission, CoverJob | None]:
    """A cover of `record`'s kept photo built on face `face`: like a re-roll (kept photo,
    quota, queue) but the same library cover again, with the same seed (title, layout)."""
    why = refusal(record, request.requester_id)
    if why is not None:
        return Admission(False, why), None
    admission, job = await intake.admit_reroll(record, request)
    if job is None or record is None:
        return admission, None
    # The same library cover again (the covers shown before it stay in `exclude`, so the
    # next re-roll moves on from the same list), with the face the member picked.
    return admission, dataclasses.replace(
        job,
        face=face,
        picked_face=True,
        exclude=record.shown[:-1],
        keep_cover=record.library_id or None,
    )


async def offer_faces(interaction: discord.Interaction[AlbumifyBot], result_id: str) -> None:
    """Acknowledge privately at once, then check and enqueue the detect job; every refusal
    (not yours, too old, photo gone, busy) replaces the private "thinking…"."""
    try:
        await interaction.response.defer(ephemeral=True, thinking=True)
    except discord.HTTPException as err:  # expired (10062): nothing was queued
        log.warning("faces for %s were not acknowledged: %s", result_id, err)
        return
    bot = interaction.client
    try:
        async with asyncio.timeout(bot.settings.limits.admission_timeout_s):
            text = await _enqueue_detect(bot, interaction, result_id)
    except Exception as err:
        log.warning("faces for %s: not queued, the member is told to retry: %r", result_id, err)
        text = BUSY
    if text is None:
        return  # the worker answers in the private response
    try:
        await interaction.edit_original_response(content=text, allowed_mentions=NO_MENTIONS)
    except discord.HTTPException as err:
        log.warning("could not answer interaction %s: %s", interaction.id, err)


async def _enqueue_detect(
    bot: AlbumifyBot, interaction: discord.Interaction, result_id: str
) -> str | None:
    """None once the detect job is queued; else the member's refusal."""
    record = await bot.results.get(interaction.guild_id or 0, result_id)
    why = refusal(record, interaction.user.id)
    if why is not None or record is None:
        return why
    if not await bot.redis.exists(keys.photo(record.photo_hash)):
        return photo_gone(bot.settings.limits.photo_ttl_s)
    job = FacesJob(
        job_id=job_id_for(interaction.id, kind="faces"),
        result_id=result_id,
        guild_id=record.guild_id,
        requester_id=record.requester_id,
        photo_hash=record.photo_hash,
        application_id=interaction.application_id,
        current_face=record.face,
        spoiler=record.spoiler,
    )
    await bot.redis.set(keys.token(job.job_id), interaction.token, ex=TOKEN_LIFE_S)
    await asyncio.to_thread(
        bot.queue.enqueue,
        FACES_JOB_FUNCTION,
        job.to_dict(),
        job_id=job.job_id,
        description=f"albumify faces {job.job_id}",
        job_timeout=bot.settings.limits.faces_job_timeout_s,
        result_ttl=bot.settings.limits.faces_job_timeout_s,
        failure_ttl=FAILED_JOB_TTL_S,
        at_front=True,  # a member is looking at "thinking…", and it takes a moment
    )
    return None
