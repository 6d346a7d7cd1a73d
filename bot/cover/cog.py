"""The cover feature: /albumify, Apps → Albumify, @mentions, and the result's buttons.

A thin adapter: it turns Discord objects into a `CoverRequest` and lets `bot.cover.intake` decide.
What needs no Redis (the photo's type, size and host, the text lengths) is refused at once
(ephemeral). Everything else is acknowledged first (a public "thinking…") and then decided
with Redis, within `Limits.admission_timeout_s`: a refusal decided then deletes the public
response and answers privately (an ephemeral follow-up); a Redis too slow or down gets
"busy, try again", and what the request reserved is given back. Admitted requests show their
queue position until a worker takes over the message.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from albumify.results import ResultRecord
from albumify.schema import CoverJob, job_id_for
from bot.cover.buttons import DeleteButton, RerollButton
from bot.cover.cancel import CancelButton, cancel_view, post_status
from bot.cover.channels import age_restricted, answered_through
from bot.cover.consent import ConsentFlow, PendingConsent
from bot.cover.consent_buttons import ApproveButton, DeclineButton
from bot.cover.faces import FacePicker, FacesButton
from bot.cover.fairness import feed_forever
from bot.cover.intake import NO_IMAGE, Admission, CoverRequest, Intake
from bot.cover.queue_watch import watch_queue
from bot.utils.busy import BUSY
from bot.utils.images import ImageCandidate, from_attachment, message_image

if TYPE_CHECKING:
    from bot.client import AlbumifyBot

log = logging.getLogger(__name__)

NEEDS_MESSAGE_CONTENT = (
    "I can't see the photo in the message you replied to (Discord only shows me other "
    "members' messages with the Message Content permission). Use **Apps → Albumify** on "
    "that message instead (right-click it, or long-press on mobile)."
)
OWN_COVER = "That's one of my covers: I only make covers of members' photos. Reply to a photo."
RELEASE_PATIENCE_S = 600.0
"""How long giving back an unqueued request's reservation may wait for Redis to answer."""
NO_MENTIONS = discord.AllowedMentions.none()

T = TypeVar("T")
Decide = Callable[[int | None], Awaitable[CoverJob | PendingConsent | str]]
"""Given the deferred response's message id: the queued job, a request waiting for its
photo's author (`bot.cover.consent`), or the text of a refusal."""
Remake = Callable[[ResultRecord | None, CoverRequest], Awaitable[tuple[Admission, CoverJob | None]]]
"""A result (None: gone) and the member's request → the admission and the job to queue."""

CANNOT_DELETE = (
    "⚠️ Discord didn't let me delete that cover, so it is still up. "
    "Please try again in a minute, or ask a moderator to delete the message."
)


class Covers(commands.Cog):
    """/albumify, Apps → Albumify, @mentions, and the result's Re-roll and Delete buttons."""

    def __init__(self, bot: AlbumifyBot) -> None:
        self.bot = bot
        self._tasks: set[asyncio.Task[Any]] = set()
        """Queue watchers and reservations being given back (kept until they end)."""
        self.menu = app_commands.ContextMenu(name="Albumify", callback=self.albumify_message)
        app_commands.guild_only(self.menu)
        self.consent = ConsentFlow(self)

    @property
    def intake(self) -> Intake:
        return self.bot.intake

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.menu)
        interval = self.bot.settings.limits.fair_feed_interval_s
        self._background(feed_forever(lambda: self.intake.fair, interval=interval))

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)
        for task in self._tasks:
            task.cancel()

    # -- entry points ---------------------------------------------------------------------

    @app_commands.command(name="albumify", description="Turn a photo into an album cover")
    @app_commands.guild_only()
    @app_commands.describe(
        image="Your photo (PNG, JPEG, WebP or GIF)",
        title="Album title printed on the cover",
        artist="Artist name printed on the cover",
        advisory="Add a parental-advisory sticker",
        lettering="Set an artist and title on the cover (default: your name and a made-up title)",
    )
    async def albumify(
        self,
        interaction: discord.Interaction,
        image: discord.Attachment,
        title: str | None = None,
        artist: str | None = None,
        advisory: bool = False,
        lettering: bool = True,
    ) -> None:
        request = self._interaction_request(
            interaction,
            from_attachment(image),
            interaction.user.id,
            title=(title or "").strip() or None,
            artist=(artist or "").strip() or None,
            advisory=advisory,
            display_name=interaction.user.display_name,
            lettering=lettering,
        )
        await self._admit_and_enqueue(interaction, request)

    async def albumify_message(
        self, interaction: discord.Interaction, message: discord.Message
    ) -> None:
        """Apps → Albumify: the target message arrives in full, no privileged intent needed."""
        request = self._interaction_request(
            interaction,
            message_image(message),
            message.author.id,
            display_name=message.author.display_name,
        )
        await self._admit_and_enqueue(interaction, request)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """'@Albumify' with a photo attached, or in a reply to a message with a photo."""
        if not self._mentions_me(message):
            return
        if self._replies_to_me(message) and not self._mentions_me(message, explicitly=True):
            return  # a reply to our message with "mention the author" on is not a request
        assert message.guild is not None
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
            display_name=message.author.display_name if author_id == message.author.id else None,
            reply_to_message_id=message.id,
            app_permissions=_permissions_in(message),
            channel_nsfw=age_restricted(message.channel),
        )

        async def decide() -> str | PendingConsent | None:
            admission = await self.intake.admit(request)
            if admission.needs_consent:
                return await self.consent.register(request)
            if not admission.ok:
                return admission.message or NO_IMAGE
            await self.intake.enqueue(request, admission)
            return None

        refusal = await self._within_budget(request, job_id_for(request.request_id), decide)
        if isinstance(refusal, PendingConsent):
            await self.consent.prompt_by_reply(message, refusal)
            return
        if refusal:
            await self._reply(message, refusal)
            return
        await post_status(self.bot.redis, message, job_id_for(request.request_id))
        with contextlib.suppress(discord.HTTPException):
            await message.add_reaction("⏳")  # feedback; needs Add Reactions, so best effort

    def _mentions_me(self, message: discord.Message, *, explicitly: bool = False) -> bool:
        """Whether Discord parsed a mention of the bot's user or of its managed role.

        A reply with "mention the author" on lists the replied-to author too: `explicitly`
        asks for a mention written in the text.
        """
        me, guild = self.bot.user, message.guild
        if me is None or guild is None or message.author.bot:
            return False
        role = guild.self_role
        if explicitly:
            return me.id in message.raw_mentions or (
                role is not None and role.id in message.raw_role_mentions
            )
        return any(user.id == me.id for user in message.mentions) or (
            role is not None and role in message.role_mentions
        )

    def _replies_to_me(self, message: discord.Message) -> bool:
        """A reply to one of the bot's messages (Discord sends the replied-to message)."""
        replied = message.reference.resolved if message.reference else None
        return isinstance(replied, discord.Message) and replied.author == self.bot.user

    async def _replied_image(
        self, message: discord.Message
    ) -> tuple[ImageCandidate | None, int, str | None]:
        """Fetch the replied-to message over REST (the gateway's copy may be stripped)."""
        assert message.reference is not None and message.reference.message_id is not None
        me = self.bot.user
        if self._replies_to_me(message):
            return None, 0, OWN_COVER  # never a cover of our own cover
        try:
            replied = await message.channel.fetch_message(message.reference.message_id)
        except discord.HTTPException:
            return None, 0, "I can't see the message you replied to."
        if replied.author == me:
            return None, 0, OWN_COVER
        image = message_image(replied)
        if image is None:
            if not self.bot.settings.message_content_intent:
                return None, 0, NEEDS_MESSAGE_CONTENT
            return None, 0, NO_IMAGE
        return image, replied.author.id, None

    # -- the shared path ------------------------------------------------------------------

    @staticmethod
    def _interaction_request(
        interaction: discord.Interaction,
        image: ImageCandidate | None,
        photo_author_id: int,
        **look: Any,
    ) -> CoverRequest:
        """A request from an interaction; `look` sets its cover options (`COVER_OPTIONS`)."""
        assert interaction.guild_id is not None and interaction.channel_id is not None
        return CoverRequest(
            request_id=interaction.id,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            requester_id=interaction.user.id,
            photo_author_id=photo_author_id,
            image=image,
            **answered_through(interaction),
            **look,
        )

    async def _admit_and_enqueue(
        self, interaction: discord.Interaction, request: CoverRequest
    ) -> None:
        refusal = self.intake.validate(request)
        if refusal:  # decided without Redis: answered at once, privately
            await interaction.response.send_message(
                refusal, ephemeral=True, allowed_mentions=NO_MENTIONS
            )
            return

        async def decide(response_message_id: int | None) -> CoverJob | PendingConsent | str:
            admission = await self.intake.admit(request)
            if admission.needs_consent:
                return await self.consent.register(request)
            if not admission.ok:
                return admission.message or NO_IMAGE
            return await self.intake.enqueue(
                request, admission, response_message_id=response_message_id
            )

        await self._acknowledged(interaction, request, job_id_for(request.request_id), decide)

    async def _acknowledged(
        self,
        interaction: discord.Interaction,
        request: CoverRequest,
        job_id: str,
        decide: Decide,
    ) -> None:
        """Acknowledge (a public "thinking…"), then decide with Redis and answer."""
        try:
            callback = await interaction.response.defer(thinking=True)
        except discord.HTTPException as err:  # expired (10062): nothing was reserved yet
            log.warning("request %s was not acknowledged: %s", request.request_id, err)
            return
        message_id = callback.message_id if callback is not None else None
        decision = await self._within_budget(request, job_id, lambda: decide(message_id))
        if isinstance(decision, str):
            await self._answer_privately(interaction, decision)
        elif isinstance(decision, PendingConsent):
            await self.consent.prompt_by_interaction(interaction, decision)
        elif decision is not None:
            self._watch(interaction, decision.job_id)

    async def _within_budget(
        self, request: CoverRequest, job_id: str, decide: Callable[[], Awaitable[T]]
    ) -> T | str:
        """`decide()` within the admission budget; BUSY (and the reservation given back)
        when Redis is down or too slow, or the job could not be queued."""
        try:
            async with asyncio.timeout(self.bot.settings.limits.admission_timeout_s):
                return await decide()
        except Exception as err:
            log.warning(
                "request %s: not admitted or queued in time, the member is told to retry: %r",
                request.request_id,
                err,
                exc_info=not isinstance(err, TimeoutError),
            )
            self._background(self._give_back(request, job_id))
            return BUSY

    async def _give_back(self, request: CoverRequest, job_id: str) -> None:
        try:
            async with asyncio.timeout(RELEASE_PATIENCE_S):
                await self.intake.release(request, job_id)
        except Exception:
            log.exception("request %s: could not give back its reservation", request.request_id)

    async def _answer_privately(self, interaction: discord.Interaction, text: str) -> None:
        """A refusal after the public acknowledgement: delete it, answer in an ephemeral
        follow-up (a refusal is for the member's eyes only)."""
        try:
            await interaction.delete_original_response()
        except discord.HTTPException as err:
            log.info("interaction %s: the public response stays: %s", interaction.id, err)
        try:
            await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as err:
            log.warning("could not answer interaction %s: %s", interaction.id, err)

    def _background(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _watch(self, interaction: discord.Interaction, job_id: str) -> None:
        async def edit(text: str) -> None:
            await self.intake.edit_while_queued(
                job_id,
                lambda: interaction.edit_original_response(content=text, view=cancel_view(job_id)),
            )

        self._background(
            watch_queue(
                lambda: self.intake.queue_state(job_id),
                edit,
                interval=self.bot.settings.limits.progress_interval_s,
            )
        )

    @staticmethod
    async def _reply(message: discord.Message, text: str) -> None:
        await message.reply(text, mention_author=False, allowed_mentions=NO_MENTIONS)

    # -- buttons --------------------------------------------------------------------------

    async def reroll(self, interaction: discord.Interaction, result_id: str) -> None:
        await self.remake(interaction, result_id, self.intake.admit_reroll)

    async def remake(self, interaction: discord.Interaction, result_id: str, admit: Remake) -> None:
        """A new cover from a result's kept photo, as a new message: a re-roll, or the face
        picked in the preview (`bot.cover.faces`); `admit` decides and builds its job."""
        request = self._interaction_request(interaction, None, interaction.user.id)

        async def decide(response_message_id: int | None) -> CoverJob | str:
            record = await self.bot.results.get(request.guild_id, result_id)
            admission, job = await admit(record, request)
            if not admission.ok or job is None:
                return admission.message or NO_IMAGE
            # thinking=True on a component makes a NEW message: the re-roll's own response.
            job = dataclasses.replace(job, response_message_id=response_message_id)
            await self.intake.submit(job, interaction.token)
            return job

        job_id = job_id_for(request.request_id, kind="reroll")
        await self._acknowledged(interaction, request, job_id, decide)

    async def answer_consent(
        self, interaction: discord.Interaction, request_id: int, author_id: int, *, approve: bool
    ) -> None:
        await self.consent.answer(interaction, request_id, author_id, approve=approve)

    async def delete(self, interaction: discord.Interaction, result_id: str) -> None:
        guild_id = interaction.guild_id or 0  # a result's buttons are in its guild
        result = await self.bot.results.get(guild_id, result_id)
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
        await self.bot.results.delete(guild_id, result_id)
        await interaction.followup.send("Deleted.", ephemeral=True)


def _permissions_in(message: discord.Message) -> int | None:
    """The bot's permissions where the message was posted (from its cache), if known."""
    me = message.guild.me if message.guild is not None else None
    return message.channel.permissions_for(me).value if me is not None else None  # type: ignore[arg-type]


async def setup(bot: AlbumifyBot) -> None:
    await bot.add_cog(Covers(bot))
    bot.add_dynamic_items(
        RerollButton,
        DeleteButton,
        CancelButton,
        FacesButton,
        FacePicker,
        ApproveButton,
        DeclineButton,
    )
