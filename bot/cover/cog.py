"""The cover feature: /albumify, Apps → Albumify, @mentions, and the result's buttons.

A thin adapter: it turns Discord objects into a `CoverRequest` and lets `bot.cover.intake` decide.
Refusals are answered at once (ephemeral); admitted requests are deferred (public), enqueued,
and their queue position shown until a worker takes over the message.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.cover.buttons import DeleteButton, RerollButton
from bot.cover.intake import NO_IMAGE, Admission, CoverRequest, Intake
from bot.cover.queue_watch import watch_queue
from bot.utils.images import ImageCandidate, from_attachment, message_image

if TYPE_CHECKING:
    from bot.client import AlbumifyBot

log = logging.getLogger(__name__)

NEEDS_MESSAGE_CONTENT = (
    "I can't see the photo in the message you replied to (Discord only shows me other "
    "members' messages with the Message Content permission). Use **Apps → Albumify** on "
    "that message instead (right-click it, or long-press on mobile)."
)

CANNOT_DELETE = (
    "⚠️ Discord didn't let me delete that cover, so it is still up. "
    "Please try again in a minute, or ask a moderator to delete the message."
)


class Covers(commands.Cog):
    """/albumify, Apps → Albumify, @mentions, and the result's Re-roll and Delete buttons."""

    def __init__(self, bot: AlbumifyBot) -> None:
        self.bot = bot
        self._watchers: set[asyncio.Task[int]] = set()
        self.menu = app_commands.ContextMenu(name="Albumify", callback=self.albumify_message)
        app_commands.guild_only(self.menu)

    @property
    def intake(self) -> Intake:
        return self.bot.intake

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)
        for task in self._watchers:
            task.cancel()

    # -- entry points ---------------------------------------------------------------------

    @app_commands.command(name="albumify", description="Turn a photo into an album cover")
    @app_commands.guild_only()
    @app_commands.describe(
        image="Your photo (PNG, JPEG, WebP or GIF)",
        title="Album title printed on the cover",
        artist="Artist name printed on the cover",
        advisory="Add a parental-advisory sticker",
    )
    async def albumify(
        self,
        interaction: discord.Interaction,
        image: discord.Attachment,
        title: str | None = None,
        artist: str | None = None,
        advisory: bool = False,
    ) -> None:
        request = self._interaction_request(
            interaction, from_attachment(image), interaction.user.id, title, artist, advisory
        )
        await self._admit_and_enqueue(interaction, request)

    async def albumify_message(
        self, interaction: discord.Interaction, message: discord.Message
    ) -> None:
        """Apps → Albumify: the target message arrives in full, no privileged intent needed."""
        request = self._interaction_request(
            interaction, message_image(message), message.author.id, None, None, False
        )
        await self._admit_and_enqueue(interaction, request)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """'@Albumify' with a photo attached, or in a reply to a message with a photo."""
        me = self.bot.user
        if message.author.bot or message.guild is None or me is None:
            return
        if me.id not in message.raw_mentions:
            return
        image, author_id = message_image(message), message.author.id
        if image is None and message.reference and message.reference.message_id:
            image, author_id, problem = await self._replied_image(message)
            if problem:
                await self._reply(message, problem)
                return
        request = CoverRequest(
            request_id=message.id,
            guild_id=message.guild.id,
            channel_id=message.channel.id,
            requester_id=message.author.id,
            photo_author_id=author_id,
            image=image,
            reply_to_message_id=message.id,
            app_permissions=_permissions_in(message),
        )
        admission = await self.intake.admit(request)
        if not admission.ok:
            await self._reply(message, admission.message or NO_IMAGE)
            return
        await self.intake.enqueue(request, admission)
        with contextlib.suppress(discord.HTTPException):
            await message.add_reaction("⏳")  # feedback; needs Add Reactions, so best effort

    async def _replied_image(
        self, message: discord.Message
    ) -> tuple[ImageCandidate | None, int, str | None]:
        """Fetch the replied-to message over REST (the gateway's copy may be stripped)."""
        assert message.reference is not None and message.reference.message_id is not None
        try:
            replied = await message.channel.fetch_message(message.reference.message_id)
        except discord.HTTPException:
            return None, 0, "I can't see the message you replied to."
        image = message_image(replied)
        if image is None:
            if not self.bot.settings.message_content_intent and replied.author != self.bot.user:
                return None, 0, NEEDS_MESSAGE_CONTENT
            return None, 0, NO_IMAGE
        return image, replied.author.id, None

    # -- the shared path ------------------------------------------------------------------

    @staticmethod
    def _interaction_request(
        interaction: discord.Interaction,
        image: ImageCandidate | None,
        photo_author_id: int,
        title: str | None,
        artist: str | None,
        advisory: bool,
    ) -> CoverRequest:
        assert interaction.guild_id is not None and interaction.channel_id is not None
        return CoverRequest(
            request_id=interaction.id,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            requester_id=interaction.user.id,
            photo_author_id=photo_author_id,
            image=image,
            title=(title or "").strip() or None,
            artist=(artist or "").strip() or None,
            advisory=advisory,
            application_id=interaction.application_id,
            token=interaction.token,
            created_at=interaction.created_at.timestamp(),
            attachment_size_limit=interaction.filesize_limit,
            app_permissions=interaction.app_permissions.value,
        )

    async def _admit_and_enqueue(
        self, interaction: discord.Interaction, request: CoverRequest
    ) -> None:
        admission = await self.intake.admit(request)
        if not admission.ok:
            await self._refuse(interaction, admission)
            return
        callback = await interaction.response.defer(thinking=True)
        message_id = callback.message_id if callback is not None else None
        try:
            job = await self.intake.enqueue(request, admission, response_message_id=message_id)
        except Exception:
            log.exception("enqueue failed for request %s", request.request_id)
            await interaction.edit_original_response(
                content="⚠️ I couldn't queue your cover. Please try again in a minute."
            )
            return
        self._watch(interaction, job.job_id)

    async def _refuse(self, interaction: discord.Interaction, admission: Admission) -> None:
        await interaction.response.send_message(admission.message or NO_IMAGE, ephemeral=True)

    def _watch(self, interaction: discord.Interaction, job_id: str) -> None:
        async def edit(text: str) -> None:
            await self.intake.edit_while_queued(
                job_id, lambda: interaction.edit_original_response(content=text)
            )

        task = asyncio.create_task(
            watch_queue(
                lambda: self.intake.queue_state(job_id),
                edit,
                interval=self.bot.settings.limits.progress_interval_s,
            )
        )
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    @staticmethod
    async def _reply(message: discord.Message, text: str) -> None:
        await message.reply(
            text, mention_author=False, allowed_mentions=discord.AllowedMentions.none()
        )

    # -- buttons --------------------------------------------------------------------------

    async def reroll(self, interaction: discord.Interaction, result_id: str) -> None:
        assert interaction.guild_id is not None and interaction.channel_id is not None
        request = CoverRequest(
            request_id=interaction.id,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            requester_id=interaction.user.id,
            photo_author_id=interaction.user.id,
            image=None,
            application_id=interaction.application_id,
            token=interaction.token,
            created_at=interaction.created_at.timestamp(),
            attachment_size_limit=interaction.filesize_limit,
            app_permissions=interaction.app_permissions.value,
        )
        admission, job = await self.intake.admit_reroll(
            await self.bot.results.get(result_id), request
        )
        if not admission.ok or job is None:
            await self._refuse(interaction, admission)
            return
        # thinking=True on a component makes a NEW message: the re-roll's own response.
        callback = await interaction.response.defer(thinking=True)
        if callback is not None and callback.message_id:
            job = dataclasses.replace(job, response_message_id=callback.message_id)
        await self.intake.submit(job, interaction.token)
        self._watch(interaction, job.job_id)

    async def delete(self, interaction: discord.Interaction, result_id: str) -> None:
        result = await self.bot.results.get(result_id)
        manages = interaction.permissions.manage_messages
        allowed = (
            manages
            if result is None
            else result.may_delete(interaction.user.id, manages_messages=manages)
        )
        if not allowed:
            await interaction.response.send_message(
                "Only the person who asked for this cover, the photo's author or a moderator "
                "can delete it.",
                ephemeral=True,
            )
            return
        # Through the interaction, not the bot token: the button's message is the response
        # to this click, which the webhook may delete wherever the bot cannot see the channel.
        await interaction.response.defer()
        try:
            await interaction.delete_original_response()
        except discord.NotFound:
            pass  # already gone: nothing left to delete but the records
        except discord.HTTPException as err:
            log.warning("could not delete result %s: %s", result_id, err)
            await interaction.followup.send(CANNOT_DELETE, ephemeral=True)
            return  # the cover is still up: its record (and buttons) stay
        await self.bot.results.delete(result_id)
        await interaction.followup.send("Deleted.", ephemeral=True)


def _permissions_in(message: discord.Message) -> int | None:
    """The bot's permissions where the message was posted (from its cache), if known."""
    me = message.guild.me if message.guild is not None else None
    return message.channel.permissions_for(me).value if me is not None else None  # type: ignore[arg-type]


async def setup(bot: AlbumifyBot) -> None:
    await bot.add_cog(Covers(bot))
    bot.add_dynamic_items(RerollButton, DeleteButton)
