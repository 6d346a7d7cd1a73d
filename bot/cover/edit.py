"""The result's Edit button and its form: new lettering without running the models again.

Edit (the cover's creator only) opens a form (a modal) pre-filled with the cover's artist,
title, Parental Advisory and lettering. Its submit is answered with a deferred update (the
cover's message stays as it is), then admitted like a re-roll (same quota) and queued ahead
of new covers as an edit job (`albumify.edits`); the worker re-composites the cover from
its kept layers and edits the same message. Layers gone (they live as long as the kept
photo) → the member is told privately, with a Re-roll button while the photo is kept.

The form's submit is handled here from `on_interaction` by its custom id, not by the Modal
object: a form opened before a bot restart still works after it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from albumify import keys
from albumify.buttons import (
    EDIT_EMOJI,
    EDIT_FORM_ID,
    EDIT_ID,
    REROLL_EMOJI,
    REROLL_ID,
    custom_id_pattern,
)
from albumify.edits import (
    EDIT_FUNCTION,
    FORM_FIELDS,
    NOT_YOURS,
    TOO_OLD,
    EditJob,
    layers_gone_text,
    parse_edit_form,
)
from albumify.results import ResultRecord, as_str
from albumify.schema import job_id_for
from albumify.settings import Limits
from bot.cover.intake import TOKEN_LIFE_S, CoverRequest
from bot.utils.busy import BUSY
from bot.utils.buttons import ResultButton

if TYPE_CHECKING:
    from bot.client import AlbumifyBot

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
FORM_PATTERN = re.compile(custom_id_pattern(EDIT_FORM_ID))
FORM_TIMEOUT_S = 900.0
"""How long discord.py keeps the form object (the submit is handled by custom id anyway)."""


class EditButton(ResultButton, custom_id_format=EDIT_ID, label="Edit", emoji=EDIT_EMOJI):
    """Edit: the creator changes the cover's lettering (persistent across restarts)."""

    async def callback(self, interaction: discord.Interaction[AlbumifyBot]) -> None:
        await open_form(interaction, self.result_id)


class EditForm(discord.ui.Modal):
    """The form: artist, title, Parental Advisory (yes/no), lettering (yes/no)."""

    def __init__(
        self, result_id: str, current: dict[str, str], shown_title: str, limits: Limits
    ) -> None:
        super().__init__(
            title="Edit your cover",
            custom_id=EDIT_FORM_ID.format(result_id=result_id),
            timeout=FORM_TIMEOUT_S,
        )
        for field in FORM_FIELDS:
            placeholder = field.placeholder
            if field.field_id == "title" and shown_title and not current["title"]:
                placeholder = f"Empty: made up (now “{shown_title}”)"[:100]
            self.add_item(
                discord.ui.TextInput(
                    label=field.label,
                    custom_id=field.field_id,
                    placeholder=placeholder,
                    default=current[field.field_id] or None,
                    required=False,
                    max_length=form_max_length(field.field_id, limits),
                )
            )


def form_max_length(field_id: str, limits: Limits) -> int:
    """The same limits as `/albumify`'s options (yes/no fields: a few letters)."""
    return {"artist": limits.artist_max_chars, "title": limits.title_max_chars}.get(field_id, 5)


def current_values(record: ResultRecord) -> dict[str, str]:
    """The form's pre-filled values: what the cover was made (or last edited) with."""
    return {
        "artist": record.artist or "",
        "title": record.title or "",
        "advisory": "yes" if record.advisory else "no",
        "lettering": "yes" if record.lettering else "no",
    }


def reroll_view(result_id: str) -> discord.ui.View:
    """The cover's own Re-roll button (its persistent DynamicItem answers the click)."""
    view = discord.ui.View(timeout=None)
    view.add_item(
        discord.ui.Button(
            label="Re-roll",
            emoji=REROLL_EMOJI,
            style=discord.ButtonStyle.secondary,
            custom_id=REROLL_ID.format(result_id=result_id),
        )
    )
    view.stop()  # only the raw button is sent; nothing here waits for its clicks
    return view


async def _layers_meta(bot: AlbumifyBot, record: ResultRecord) -> dict[str, Any] | None:
    raw = await bot.redis.hget(keys.layers(record.guild_id, record.result_id), "meta")
    if raw is None:
        return None
    try:
        return json.loads(as_str(raw))
    except ValueError:
        return None


async def _photo_kept(bot: AlbumifyBot, record: ResultRecord) -> bool:
    return bool(record.photo_hash) and bool(await bot.redis.exists(keys.photo(record.photo_hash)))


def _refusal(record: ResultRecord | None, user_id: int) -> str | None:
    """Only the member who asked for the cover may edit it (the photo's author may not)."""
    if record is None:
        return TOO_OLD
    if user_id != record.requester_id:
        return NOT_YOURS
    return None


async def _tell(
    interaction: discord.Interaction, text: str, view: discord.ui.View | None = None
) -> None:
    """Privately: the first answer, or a follow-up once the interaction is answered."""
    extra: dict[str, Any] = {"view": view} if view is not None else {}
    try:
        if interaction.response.is_done():
            await interaction.followup.send(
                text, ephemeral=True, allowed_mentions=NO_MENTIONS, **extra
            )
        else:
            await interaction.response.send_message(
                text, ephemeral=True, allowed_mentions=NO_MENTIONS, **extra
            )
    except discord.HTTPException as err:
        log.warning("could not answer interaction %s: %s", interaction.id, err)


async def _gone(interaction: discord.Interaction, bot: AlbumifyBot, record: ResultRecord) -> None:
    kept = await _photo_kept(bot, record)
    text = layers_gone_text(bot.settings.limits, kept)
    await _tell(interaction, text, reroll_view(record.result_id) if kept else None)


async def open_form(interaction: discord.Interaction[AlbumifyBot], result_id: str) -> None:
    """The Edit button: the form for the creator; a polite private "no" for anyone else."""
    bot = interaction.client
    try:
        async with asyncio.timeout(bot.settings.limits.admission_timeout_s):
            record = await bot.results.get(interaction.guild_id or 0, result_id)
            refusal = _refusal(record, interaction.user.id)
            meta = None if refusal or record is None else await _layers_meta(bot, record)
    except Exception as err:
        log.warning("edit %s: Redis did not answer in time: %r", result_id, err)
        await _tell(interaction, BUSY)
        return
    if refusal:
        await _tell(interaction, refusal)
        return
    assert record is not None
    if meta is None:
        await _gone(interaction, bot, record)
        return
    shown = (meta.get("extra") or {}).get("lettering") or ["", ""]
    shown_title = shown[1] if len(shown) > 1 else ""
    form = EditForm(result_id, current_values(record), shown_title, bot.settings.limits)
    try:
        await interaction.response.send_modal(form)
    except discord.HTTPException as err:
        log.warning("edit %s: the form was not shown: %s", result_id, err)


def form_values(data: Any) -> dict[str, str]:
    """Every text input's value in a MODAL_SUBMIT, by custom id (rows or labels)."""
    values: dict[str, str] = {}

    def walk(component: Any) -> None:
        if not isinstance(component, dict):
            return
        if component.get("type") == discord.ComponentType.text_input.value:
            values[str(component.get("custom_id"))] = str(component.get("value") or "")
        for child in component.get("components") or []:
            walk(child)
        walk(component.get("component"))

    for row in (data or {}).get("components") or []:
        walk(row)
    return values


class CoverEdits(commands.Cog):
    """The Edit form's submits (by custom id: they survive a bot restart)."""

    def __init__(self, bot: AlbumifyBot) -> None:
        self.bot = bot
        self._tasks: set[asyncio.Task[Any]] = set()
        """Reservations being given back (kept until they end)."""

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        if interaction.type != discord.InteractionType.modal_submit:
            return
        match = FORM_PATTERN.match(str((interaction.data or {}).get("custom_id", "")))
        if match is not None:
            await self.submit(interaction, match["result_id"])

    async def submit(self, interaction: discord.Interaction, result_id: str) -> None:
        bot = self.bot
        options = parse_edit_form(form_values(interaction.data), bot.settings.limits)
        if isinstance(options, str):  # decided without Redis: answered at once
            await _tell(interaction, options)
            return
        try:  # a deferred update: the cover's message stays until the worker edits it
            await interaction.response.defer()
        except discord.HTTPException as err:
            log.warning("edit %s was not acknowledged: %s", result_id, err)
            return
        assert interaction.guild_id is not None and interaction.channel_id is not None
        request = CoverRequest(
            request_id=interaction.id,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            requester_id=interaction.user.id,
            photo_author_id=interaction.user.id,
            image=None,
            application_id=interaction.application_id,
            created_at=interaction.created_at.timestamp(),
        )
        job_id = job_id_for(interaction.id, kind="edit")
        try:
            async with asyncio.timeout(bot.settings.limits.admission_timeout_s):
                answer = await self._queue(interaction, request, job_id, result_id, options)
        except Exception as err:
            log.warning("edit %s: not queued in time: %r", result_id, err)
            task = asyncio.create_task(bot.intake.release(request, job_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            answer = BUSY
        if answer is not None:
            await _tell(interaction, answer)

    async def _queue(
        self,
        interaction: discord.Interaction,
        request: CoverRequest,
        job_id: str,
        result_id: str,
        options: Any,
    ) -> str | None:
        """Admit and queue the edit; the refusal's text, or None once it is queued."""
        bot = self.bot
        record = await bot.results.get(interaction.guild_id or 0, result_id)
        refusal = _refusal(record, interaction.user.id)
        if refusal:
            return refusal
        assert record is not None
        if not await bot.redis.exists(keys.layers(record.guild_id, result_id)):
            await _gone(interaction, bot, record)
            return None
        admission = await bot.intake.reserve(request, job_id)
        if not admission.ok:
            return admission.message or BUSY
        message_id = record.message_id or (interaction.message.id if interaction.message else 0)
        job = EditJob(
            job_id=job_id,
            result_id=result_id,
            guild_id=record.guild_id,
            channel_id=record.channel_id or request.channel_id,
            requester_id=request.requester_id,
            photo_author_id=record.photo_author_id,
            message_id=message_id,
            artist=options.artist,
            title=options.title,
            advisory=options.advisory,
            lettering=options.lettering,
            display_name=record.display_name,
            application_id=interaction.application_id,
            token_expires_at=(request.created_at or 0.0) + TOKEN_LIFE_S,
            requested_at=bot.intake.clock(),
        )
        await bot.intake.submit(job, interaction.token, function=EDIT_FUNCTION, at_front=True)
        return None


async def setup(bot: AlbumifyBot) -> None:
    await bot.add_cog(CoverEdits(bot))
    bot.add_dynamic_items(EditButton)
