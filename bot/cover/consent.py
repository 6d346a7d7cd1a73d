"""Asking a photo's author first: the consent prompt, its Approve / Decline, and the cover.

In a server that did not open covers of anyone's photo to all (`/albumify-config
allow_others`), Apps → Albumify or a reply-mention on someone else's photo asks its author:

- the request is stored (`albumify.consent`: the job's fields, no token) and nothing is
  downloaded; the author gets one short prompt with Approve / Decline — a follow-up of the
  requester's interaction (which works where the bot cannot view the channel) or the bot's
  reply to the mention. It is the one message that mentions a member: its author, nobody else.
  The requester is told that the author was asked (ephemeral, or by that reply).
- Only the author may press the buttons; the first answer wins. Decline is final for that
  photo and requester, and the requester is told only that the author declined.
- Approve admits the request through the normal quota and dedup path, as the requester's.
  The cover is delivered through the Approve click's own interaction: its token is fresh (15
  minutes from the click), where the requester's could have as little as 5 minutes left after
  a late approval; the prompt is the click's message, so it says "approved", loses its
  buttons, shows the queue and the worker's progress, and becomes the cover.
- After `Limits.consent_ttl_s` the request is gone: Approve says it expired, nothing is made.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import discord

from albumify.consent import (
    ALREADY_ASKED,
    DECLINED,
    EXPIRED,
    NOT_AUTHOR,
    PENDING,
    Asking,
    ConsentRequest,
    ConsentStore,
    photo_identity,
)
from albumify.results import jump_url
from albumify.schema import CoverJob, cover_options_of, job_id_for
from bot.cover.channels import answered_through
from bot.cover.consent_buttons import consent_view
from bot.cover.intake import NO_IMAGE, CoverRequest, Intake
from bot.utils.busy import BUSY
from bot.utils.images import ImageCandidate

if TYPE_CHECKING:
    from bot.client import AlbumifyBot

log = logging.getLogger(__name__)
T = TypeVar("T")

NO_MENTIONS = discord.AllowedMentions.none()
AUTHOR_DECLINED = "The photo's author declined, so I won't make a cover of that photo for you."
COULD_NOT_ASK = "I couldn't ask the photo's author just now. Please try again in a minute."
ANSWERED = "This request has already been answered."
WITHDRAWN = "This request was withdrawn (`/albumify-forget`): nothing was made."


class CoverHost(Protocol):
    """What the flow uses of the cover cog (`bot.cover.cog.Covers`): its admission budget
    (which gives back a reservation it gave up on) and its queue watcher."""

    bot: AlbumifyBot

    @property
    def intake(self) -> Intake: ...

    async def _within_budget(
        self, request: CoverRequest, job_id: str, decide: Callable[[], Awaitable[T]]
    ) -> T | str: ...

    def _watch(self, interaction: discord.Interaction, job_id: str) -> None: ...


@dataclasses.dataclass(frozen=True)
class PendingConsent:
    """A request stored for its author's answer: the prompt is still to be sent."""

    request: ConsentRequest
    expires_at: float


def only_mention(user_id: int) -> discord.AllowedMentions:
    """The prompt's mentions: its photo's author, nobody else (no roles, no @everyone)."""
    return discord.AllowedMentions(
        everyone=False, roles=False, users=[discord.Object(user_id)], replied_user=False
    )


def prompt_text(request: ConsentRequest, expires_at: float, photo_link: str | None) -> str:
    photo = f"your photo ({photo_link})" if photo_link else "your photo"
    return (
        f"<@{request.author_id}>, <@{request.requester_id}> would like to make an album cover "
        f"of {photo}. Only you can answer; the request expires <t:{int(expires_at)}:R>."
    )


def asked_text(request: ConsentRequest, expires_at: float) -> str:
    return (
        f"📨 That's <@{request.author_id}>'s photo, so I asked them first. If they approve "
        f"(by <t:{int(expires_at)}:t>), your cover appears in this channel."
    )


def already_asked_text(expires_at: float | None) -> str:
    when = f" They can answer until <t:{int(expires_at)}:t>." if expires_at else ""
    return f"I've already asked the photo's author about this photo for you.{when}"


def expired_text(minutes: int) -> str:
    return f"⌛ This request expired after {minutes} minutes: nothing was made."


def stored_fields(request: CoverRequest) -> dict[str, Any]:
    """What a pending request keeps to be admitted later, as JSON-safe data: its channel, its
    photo and its cover options (`COVER_OPTIONS`); no token, no interaction details."""
    assert request.image is not None
    return {
        "channel_id": request.channel_id,
        "image": dataclasses.asdict(request.image),
        **cover_options_of(request),
    }


def approved_request(consent: ConsentRequest, interaction: discord.Interaction) -> CoverRequest:
    """The stored request, to be answered through the Approve click's interaction."""
    fields = dict(consent.fields)
    image = ImageCandidate(**fields.pop("image"))
    return CoverRequest(
        request_id=consent.request_id,
        guild_id=consent.guild_id,
        requester_id=consent.requester_id,
        photo_author_id=consent.author_id,
        image=image,
        # The prompt's channel is the request's; no reply_to: a fallback replies to the prompt.
        **answered_through(interaction),
        author_approved=True,
        **fields,
    )


class ConsentFlow:
    """The consent path of the cover feature (`Covers` owns the budget and the watchers)."""

    def __init__(self, covers: CoverHost) -> None:
        self.covers = covers
        self._store: ConsentStore | None = None

    @property
    def store(self) -> ConsentStore:
        if self._store is None:
            bot = self.covers.bot
            self._store = ConsentStore(bot.redis, bot.settings.limits)
        return self._store

    @property
    def minutes(self) -> int:
        return max(1, self.covers.bot.settings.limits.consent_ttl_s // 60)

    # -- asking ----------------------------------------------------------------------------

    async def register(self, request: CoverRequest) -> PendingConsent | str:
        """Store the request for its author, or the requester's answer when none is asked."""
        if request.image is None:
            return NO_IMAGE
        refusal = await self.covers.intake.quota_refusal(request)
        if refusal is not None:  # checked again on Approve: this only spares the author a ping
            return refusal
        consent = ConsentRequest(
            request_id=request.request_id,
            guild_id=request.guild_id,
            requester_id=request.requester_id,
            author_id=request.photo_author_id,
            photo=photo_identity(request.image.attachment_id, request.image.url),
            fields=stored_fields(request),
        )
        asking: Asking = await self.store.ask(consent)
        if asking.outcome == DECLINED:
            return AUTHOR_DECLINED
        if asking.outcome == ALREADY_ASKED:
            return already_asked_text(asking.expires_at)
        assert asking.expires_at is not None
        return PendingConsent(consent, asking.expires_at)

    async def prompt_by_interaction(
        self, interaction: discord.Interaction, pending: PendingConsent
    ) -> None:
        """Apps → Albumify: the public "thinking…" goes, the prompt comes as a new follow-up
        (an edit would not notify the author), and the requester is told privately."""
        request = pending.request
        with contextlib.suppress(discord.HTTPException):
            await interaction.delete_original_response()
        target = (interaction.data or {}).get("target_id")
        link = (
            jump_url(request.guild_id, interaction.channel_id or 0, int(target)) if target else None
        )
        try:
            await interaction.followup.send(
                prompt_text(request, pending.expires_at, link),
                view=consent_view(request.request_id, request.author_id),
                allowed_mentions=only_mention(request.author_id),
            )
        except discord.HTTPException as err:
            log.warning("request %s: the consent prompt failed: %s", request.request_id, err)
            await self._withdraw(request)
            await self._tell_privately(interaction, COULD_NOT_ASK)
            return
        await self._tell_privately(interaction, asked_text(request, pending.expires_at))

    async def prompt_by_reply(self, message: discord.Message, pending: PendingConsent) -> None:
        """A reply-mention: the prompt replies to the request, which tells the requester."""
        request = pending.request
        try:
            await message.reply(
                prompt_text(request, pending.expires_at, None),
                view=consent_view(request.request_id, request.author_id),
                mention_author=False,
                allowed_mentions=only_mention(request.author_id),
            )
        except discord.HTTPException as err:
            log.warning("request %s: the consent prompt failed: %s", request.request_id, err)
            await self._withdraw(request)
            with contextlib.suppress(discord.HTTPException):
                await message.reply(
                    COULD_NOT_ASK, mention_author=False, allowed_mentions=NO_MENTIONS
                )

    async def _withdraw(self, request: ConsentRequest) -> None:
        try:
            await self.store.withdraw(request)
        except Exception:  # it expires by itself within minutes
            log.exception("request %s: could not withdraw the consent request", request.request_id)

    @staticmethod
    async def _tell_privately(interaction: discord.Interaction, text: str) -> None:
        try:
            await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as err:
            log.warning("could not answer interaction %s: %s", interaction.id, err)

    # -- answering -------------------------------------------------------------------------

    async def answer(
        self, interaction: discord.Interaction, request_id: int, author_id: int, *, approve: bool
    ) -> None:
        """Approve or Decline on a prompt: only its photo's author; the first answer wins."""
        only_author = f"Only <@{author_id}>, whose photo it is, can answer this request."
        if interaction.user.id != author_id:
            await interaction.response.send_message(
                only_author, ephemeral=True, allowed_mentions=NO_MENTIONS
            )
            return
        try:  # acknowledged before Redis: the prompt is this click's message from here on
            await interaction.response.defer()
        except discord.HTTPException as err:
            log.warning("consent answer %s was not acknowledged: %s", request_id, err)
            return
        guild_id = interaction.guild_id or 0  # the prompt is in its request's guild
        found = await self._within_budget(
            lambda: self.store.answer(guild_id, request_id, author_id, approve=approve)
        )
        if found is None:
            await self._tell_privately(interaction, BUSY)
            return
        if found.outcome == EXPIRED:
            await self._edit_prompt(interaction, expired_text(self.minutes))
        elif found.outcome == NOT_AUTHOR:
            await self._tell_privately(interaction, only_author)
        elif found.outcome != PENDING or found.request is None:
            await self._tell_privately(interaction, ANSWERED)
        elif not approve:
            await self._edit_prompt(
                interaction, f"❌ <@{author_id}> declined. No cover was made of that photo."
            )
        elif await self._within_budget(lambda: self.store.forgotten_since_asked(found.request)):
            await self._edit_prompt(interaction, WITHDRAWN)
        else:
            await self._make(interaction, found.request)

    async def _make(self, interaction: discord.Interaction, consent: ConsentRequest) -> None:
        request = approved_request(consent, interaction)
        covers, intake = self.covers, self.covers.intake
        job_id = job_id_for(request.request_id)
        approved = f"✅ <@{consent.author_id}> approved"
        admission = await covers._within_budget(request, job_id, lambda: intake.admit(request))
        if isinstance(admission, str) or not admission.ok:
            text = admission if isinstance(admission, str) else admission.message or NO_IMAGE
            await self._edit_prompt(
                interaction, f"{approved}. For <@{consent.requester_id}>: {text}"
            )
            return
        # Said before the job is queued: once queued, the worker owns the message.
        await self._edit_prompt(
            interaction, f"{approved} — making <@{consent.requester_id}>'s album cover…"
        )
        message_id = interaction.message.id if interaction.message else None

        async def enqueue() -> CoverJob:
            return await intake.enqueue(request, admission, response_message_id=message_id)

        job = await covers._within_budget(request, job_id, enqueue)
        if isinstance(job, str):
            await self._edit_prompt(interaction, f"{approved}, but {job[0].lower()}{job[1:]}")
            return
        covers._watch(interaction, job.job_id)

    async def _within_budget(self, decide: Callable[[], Awaitable[T]]) -> T | None:
        """A Redis step with nothing to give back: None when Redis is down or too slow."""
        try:
            async with asyncio.timeout(self.covers.bot.settings.limits.admission_timeout_s):
                return await decide()
        except Exception as err:
            log.warning("consent answer not stored in time: %r", err)
            return None

    @staticmethod
    async def _edit_prompt(interaction: discord.Interaction, text: str) -> None:
        """The prompt (this click's message) says how it ended; its buttons go."""
        try:
            await interaction.edit_original_response(
                content=text, view=None, allowed_mentions=NO_MENTIONS
            )
        except discord.HTTPException as err:
            log.warning("could not edit the consent prompt of %s: %s", interaction.id, err)
