"""Request intake: validate → consent → dedup + quota → enqueue. No Discord objects here.

The cog turns interactions and messages into a `CoverRequest` and answers with what this
returns, so the decisions are testable against real Redis without a gateway. A refusal is
answered at once (ephemeral); an admitted request is deferred, then enqueued.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from albumify import keys
from albumify.guilds import GuildSettingsStore
from albumify.progress import QUEUE_EDIT_LEASE_S
from albumify.quotas import DUPLICATE, GUILD_LIMIT, MEMBER_LIMIT, QUEUE_FULL, QuotaGate
from albumify.results import ResultRecord
from albumify.schema import JOB_FUNCTION, CoverJob, PhotoRef, job_id_for
from albumify.settings import Settings
from albumify.urls import NOT_ALLOWED, is_allowed_url
from bot.utils.images import IMAGE_TYPES, ImageCandidate
from bot.utils.time import relative

TOKEN_LIFE_S = 15 * 60
RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
RETRY = Retry(max=2, interval=[5, 30])

NO_IMAGE = "I couldn't find a photo there. Attach a PNG, JPEG, WebP or GIF image."
NOT_A_PHOTO = "That file isn't a photo I can use (PNG, JPEG, WebP or GIF)."
NOT_YOURS = (
    "You can only albumify your own photos in this server. "
    "(A server manager can allow it with `/albumify-config`.)"
)


@dataclass(frozen=True)
class CoverRequest:
    """One member's request, as plain data (from a slash command, menu, or mention)."""

    request_id: int
    """The interaction id (or the mentioning message's id): unique per request."""
    guild_id: int
    channel_id: int
    requester_id: int
    photo_author_id: int
    image: ImageCandidate | None
    title: str | None = None
    artist: str | None = None
    advisory: bool = False
    application_id: int | None = None
    token: str | None = field(default=None, repr=False)
    created_at: float | None = None
    """When the interaction was created: its token works for 15 minutes from then."""
    attachment_size_limit: int | None = None
    reply_to_message_id: int | None = None
    app_permissions: int | None = None
    """The bot's permissions in the channel (Discord's bitfield), for the worker's warnings."""


@dataclass(frozen=True)
class Admission:
    ok: bool
    message: str | None = None
    """Member-facing text for a refusal or a reused job."""
    job_id: str | None = None
    reused: bool = False


class Intake:
    def __init__(
        self,
        redis: Any,
        queue: Queue,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`redis` is a `redis.asyncio` client with decode_responses=True; `queue` is sync RQ."""
        self.redis = redis
        self.queue = queue
        self.settings = settings
        self.limits = settings.limits
        self.clock = clock
        self.quota = QuotaGate(redis, settings.limits, queue.key)
        self.guilds = GuildSettingsStore(redis)

    # -- admission ------------------------------------------------------------------------

    def validate(self, request: CoverRequest) -> str | None:
        """The refusal text for a request that can never work, else None."""
        image = request.image
        if image is None:
            return NO_IMAGE
        if image.media_type not in IMAGE_TYPES:
            return NOT_A_PHOTO
        cap = self.limits.max_download_bytes
        if image.size is not None and image.size > cap:
            return f"That photo is too large (the limit is {cap // (1024 * 1024)} MiB)."
        if not is_allowed_url(image.url, self.settings):
            return NOT_ALLOWED
        if request.title and len(request.title) > self.limits.title_max_chars:
            return f"The title can be at most {self.limits.title_max_chars} characters."
        if request.artist and len(request.artist) > self.limits.artist_max_chars:
            return f"The artist can be at most {self.limits.artist_max_chars} characters."
        return None

    async def admit(self, request: CoverRequest) -> Admission:
        """Validate, check consent, then reserve quota (or find the duplicate) atomically."""
        refusal = self.validate(request)
        if refusal:
            return Admission(False, refusal)
        guild = await self.guilds.get(request.guild_id)
        if request.photo_author_id != request.requester_id and not guild.allow_others:
            return Admission(False, NOT_YOURS)
        if not guild.channel_allowed(request.channel_id):
            # Servers may keep Albumify to some channels (`/albumify-config channels:`).
            where = ", ".join(f"<#{channel}>" for channel in guild.channels)
            return Admission(False, f"Albumify is used in {where} on this server.")
        assert request.image is not None
        job_id = job_id_for(request.request_id)
        dedup_key = None
        if request.image.attachment_id is not None:
            dedup_key = keys.dedup_attachment(
                request.guild_id, request.requester_id, request.image.attachment_id
            )
        return await self._reserve(request, job_id, dedup_key)

    async def _reserve(
        self, request: CoverRequest, job_id: str, dedup_key: str | None
    ) -> Admission:
        reservation = await self.quota.reserve(
            member_key=keys.member_quota(request.guild_id, request.requester_id),
            guild_key=keys.guild_quota(request.guild_id),
            job_id=job_id,
            now=self.clock(),
            dedup_key=dedup_key,
        )
        if reservation.ok:
            return Admission(True, job_id=job_id)
        if reservation.code == DUPLICATE:
            return Admission(
                False,
                "You asked for a cover of this photo a moment ago — it's on its way.",
                job_id=reservation.value,
                reused=True,
            )
        when = relative(reservation.retry_at)
        if reservation.code == MEMBER_LIMIT:
            minutes = max(1, self.limits.member_window_s // 60)
            text = (
                f"You've made {self.limits.member_quota} covers in the last {minutes} minutes. "
                f"Try again {when}."
            )
        elif reservation.code == GUILD_LIMIT:
            text = f"This server has made a lot of covers lately. Try again {when}."
        else:
            assert reservation.code == QUEUE_FULL
            text = f"I'm very busy right now: too many covers in line. Try again {when}."
        return Admission(False, text)

    # -- enqueue --------------------------------------------------------------------------

    async def enqueue(
        self,
        request: CoverRequest,
        admission: Admission,
        *,
        response_message_id: int | None = None,
    ) -> CoverJob:
        assert admission.ok and admission.job_id and request.image is not None
        image = request.image
        photo = PhotoRef(
            filename=image.filename,
            url=image.url,
            attachment_id=image.attachment_id,
            content_type=image.media_type,
            size=image.size,
            spoiler=image.spoiler or image.filename.startswith("SPOILER_"),
        )
        job = CoverJob(
            job_id=admission.job_id,
            result_id=str(request.request_id),
            guild_id=request.guild_id,
            channel_id=request.channel_id,
            requester_id=request.requester_id,
            photo_author_id=request.photo_author_id,
            photo=photo,
            title=request.title,
            artist=request.artist,
            advisory=request.advisory,
            seed=request.request_id % 1_000_003,
            **self._reply_fields(request, response_message_id),
        )
        await self.submit(job, request.token)
        return job

    def _reply_fields(
        self, request: CoverRequest, response_message_id: int | None
    ) -> dict[str, Any]:
        expires = None
        if request.application_id is not None:
            expires = (request.created_at or self.clock()) + TOKEN_LIFE_S
        return {
            "application_id": request.application_id,
            "token_expires_at": expires,
            "response_message_id": response_message_id,
            "reply_to_message_id": request.reply_to_message_id,
            "attachment_size_limit": request.attachment_size_limit,
            "requested_at": self.clock(),
            "app_permissions": request.app_permissions,
        }

    async def submit(self, job: CoverJob, token: str | None) -> None:
        """Store the token (a secret, never a job argument), then enqueue the job."""
        if token and job.token_expires_at:
            ttl = int(job.token_expires_at - self.clock())
            if ttl > 0:
                await self.redis.set(keys.token(job.job_id), token, ex=min(ttl, TOKEN_LIFE_S))
        await asyncio.to_thread(
            self.queue.enqueue,
            JOB_FUNCTION,
            job.to_dict(),
            job_id=job.job_id,
            description=f"albumify cover {job.job_id}",
            job_timeout=self.limits.job_timeout_s,
            retry=RETRY,
            result_ttl=self.limits.photo_ttl_s,
            failure_ttl=24 * 3600,
            meta={"stage": "queued"},
        )

    # -- re-roll --------------------------------------------------------------------------

    async def admit_reroll(
        self, result: ResultRecord | None, request: CoverRequest
    ) -> tuple[Admission, CoverJob | None]:
        """A re-roll of `result`: the kept photo, the covers shown so far excluded."""
        if result is None:
            return Admission(False, "That cover is too old to re-roll."), None
        if not result.may_reroll(request.requester_id):
            return Admission(
                False, "Only the person who asked for this cover can re-roll it."
            ), None
        if not await self.redis.exists(keys.photo(result.photo_hash)):
            hours = max(1, self.limits.photo_ttl_s // 3600)
            text = f"I only keep photos for {hours} h, and this one is gone. Post it again."
            return Admission(False, text), None
        job_id = job_id_for(request.request_id, kind="reroll")
        admission = await self._reserve(request, job_id, None)
        if not admission.ok:
            return admission, None
        job = CoverJob(
            job_id=job_id,
            result_id=str(request.request_id),
            guild_id=result.guild_id,
            channel_id=request.channel_id,
            requester_id=request.requester_id,
            photo_author_id=result.photo_author_id,
            photo=PhotoRef(
                filename="SPOILER_photo.png" if result.spoiler else "photo.png",
                spoiler=result.spoiler,
                photo_hash=result.photo_hash,
            ),
            title=result.title,
            artist=result.artist,
            advisory=result.advisory,
            seed=result.seed,
            exclude=result.shown,
            rerolled_from=result.result_id,
            **self._reply_fields(request, None),
        )
        return admission, job

    # -- queue state (for the bot's 'queued' edits) ---------------------------------------

    async def edit_while_queued(self, job_id: str, edit: Callable[[], Awaitable[object]]) -> bool:
        """Run `edit` only if no worker has taken the job's message over, never during it.

        The worker marks the job started and then waits for this lock, so a 'queued' edit
        can never land on top of its progress or its result. False when skipped.
        """
        lock, holder = keys.queue_edit(job_id), uuid.uuid4().hex
        if not await self.redis.set(lock, holder, nx=True, px=int(QUEUE_EDIT_LEASE_S * 1000)):
            return False
        try:
            if await self.redis.exists(keys.job_started(job_id)):
                return False
            await edit()
            return True
        finally:
            # Never let a failed release replace the edit's outcome: a cancelled watcher
            # must stay cancelled (the lease expires by itself anyway).
            with contextlib.suppress(Exception):
                await self.redis.eval(RELEASE_LUA, 1, lock, holder)

    async def queue_state(self, job_id: str) -> tuple[str, int | None]:
        """The job's status and its 0-based position while queued."""

        def read() -> tuple[str, int | None]:
            try:
                job = Job.fetch(
                    job_id, connection=self.queue.connection, serializer=self.queue.serializer
                )
            except NoSuchJobError:
                return "missing", None
            status = job.get_status(refresh=False)
            status_name = status.value if isinstance(status, JobStatus) else str(status)
            if status_name != JobStatus.QUEUED.value:
                return status_name, None
            return status_name, self.queue.get_job_position(job_id)

        return await asyncio.to_thread(read)
