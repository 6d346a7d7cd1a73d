"""Request intake: validate → consent → dedup + quota → enqueue. No Discord objects here.

The cog turns interactions and messages into a `CoverRequest` and answers with what this
returns, so the decisions are testable against real Redis without a gateway. `validate` needs
no Redis: the cog answers its refusals at once and acknowledges everything else before
`admit` (Redis) runs, so a slow Redis never costs the 3-second acknowledgement.

A member's identical request (same photo, same options: `albumify.schema.request_identity`)
within the dedup window is pointed at the first: at its message while it is made, at the cover
once it is posted. A first request that will not answer (failed, refused, deleted, never
queued) no longer counts, and `release` gives back what an unqueued request reserved.
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
from albumify.edits import EditJob
from albumify.fairqueue import FairQueue
from albumify.forget import FAILED_JOB_TTL_S, JOB_INDEX_TTL_S
from albumify.guilds import GuildSettingsStore
from albumify.lease import RELEASE_IF_HELD_LUA
from albumify.progress import QUEUE_EDIT_LEASE_S
from albumify.quotas import (
    CANCELLED,
    DUPLICATE,
    GUILD_LIMIT,
    MEMBER_LIMIT,
    QUEUE_FULL,
    QuotaGate,
    Reservation,
)
from albumify.replication import ensure_replicated
from albumify.results import ResultRecord, ResultStore, as_str, jump_url
from albumify.schema import (
    JOB_FUNCTION,
    CoverJob,
    CoverLook,
    PhotoRef,
    cover_options_of,
    job_id_for,
    request_identity,
)
from albumify.settings import Settings
from albumify.urls import NOT_ALLOWED, is_allowed_url
from bot.cover.fairness import queue_job, queue_refusal
from bot.utils.busy import BUSY
from bot.utils.images import IMAGE_TYPES, ImageCandidate
from bot.utils.time import relative

TOKEN_LIFE_S = 15 * 60
RETRY = Retry(max=2, interval=[5, 30])
PENDING = frozenset({JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED})
"""Job states in which a cover is still coming (a retry waits as SCHEDULED)."""
QUEUEING_GRACE_S = 2.0
"""A duplicate's first request may be between its reservation and its enqueue: wait this
long for its job to appear before deciding that it will never answer."""


NO_IMAGE = "I couldn't find a photo there. Attach a PNG, JPEG, WebP or GIF image."
NOT_A_PHOTO = "That file isn't a photo I can use (PNG, JPEG, WebP or GIF)."
NOT_YOURS = (
    "You can only albumify your own photos in this server. "
    "(A server manager can allow it with `/albumify-config`.)"
)


@dataclass(frozen=True)
class CoverRequest(CoverLook):
    """One member's request, as plain data (from a slash command, menu, or mention), with the
    `CoverLook` it asks for."""

    request_id: int
    """The interaction id (or the mentioning message's id): unique per request."""
    guild_id: int
    channel_id: int
    requester_id: int
    photo_author_id: int
    image: ImageCandidate | None
    application_id: int | None = None
    token: str | None = field(default=None, repr=False)
    created_at: float | None = None
    """When the interaction was created: its token works for 15 minutes from then."""
    attachment_size_limit: int | None = None
    reply_to_message_id: int | None = None
    app_permissions: int | None = None
    """The bot's permissions in the channel (Discord's bitfield), for the worker's warnings."""
    channel_nsfw: bool = False
    """Asked in an age-restricted channel (`bot.cover.channels.age_restricted`)."""
    author_approved: bool = False
    """The photo's author pressed Approve on this request (`bot.cover.consent`)."""


@dataclass(frozen=True)
class EarlierRequest:
    """An identical request made a moment ago, as its job's state tells."""

    status: str
    """An RQ job status, or `missing`."""
    link: str | None = None
    """Where its answer is (its deferred response, or the message that asked)."""


@dataclass(frozen=True)
class Admission:
    ok: bool
    message: str | None = None
    """Member-facing text for a refusal or a reused job."""
    job_id: str | None = None
    reused: bool = False
    needs_consent: bool = False
    """Someone else's photo in a server that asks its author first (`bot.cover.consent`)."""


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
        self.quota = QuotaGate(redis, settings.limits, queue_length=self._queue_length)
        self.fair = FairQueue(queue, settings.limits)
        self.guilds = GuildSettingsStore(redis)
        self.results = ResultStore(redis)
        self._release_lock = redis.register_script(RELEASE_IF_HELD_LUA)

    async def _queue_length(self) -> int:
        """On the queue's own connection: it may be another Redis than the state's. Every
        cover waiting counts: in RQ's list and for its guild's turn (`albumify.fairqueue`)."""
        return await asyncio.to_thread(self.fair.queued)

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
        if not guild.channel_allowed(request.channel_id):
            # Servers may keep Albumify to some channels (`/albumify-config channels:`).
            where = ", ".join(f"<#{channel}>" for channel in guild.channels)
            return Admission(False, f"Albumify is used in {where} on this server.")
        others = request.photo_author_id != request.requester_id and not guild.allow_others
        if others and not request.author_approved:  # the author is asked (bot.cover.consent)
            return Admission(False, NOT_YOURS, needs_consent=True)
        return await self._reserve(request, job_id_for(request.request_id), self.dedup_key(request))

    @staticmethod
    def dedup_key(request: CoverRequest) -> str | None:
        """The key that makes a member's identical requests one: photo + cover options."""
        image = request.image
        if image is None:
            return None
        if image.attachment_id is not None:
            source = f"attachment:{image.attachment_id}"
        else:  # an embed's image: its URL without the expiring signature
            source = "url:" + image.url.split("?", 1)[0]
        identity = request_identity(source, request)
        return keys.dedup_request(request.guild_id, request.requester_id, identity)

    async def _reserve(
        self, request: CoverRequest, job_id: str, dedup_key: str | None, *, again: bool = True
    ) -> Admission:
        reservation = await self.quota.reserve(
            **self._quota_keys(request),
            job_id=job_id,
            now=self.clock(),
            dedup_key=dedup_key,
        )
        if reservation.ok:  # then the guild's share of the line (`bot.cover.fairness`)
            refusal = await queue_refusal(self.fair, request.guild_id)
            if refusal is None:
                return Admission(True, job_id=job_id)
            quota_keys = self._quota_keys(request)
            await self.quota.release(**quota_keys, job_id=job_id, dedup_key=dedup_key)
            return Admission(False, refusal)
        if reservation.code == DUPLICATE and dedup_key is not None:
            earlier = await self.earlier_request(request.guild_id, reservation.value)
            text = self._pointer(earlier)
            if text is not None:
                return Admission(False, text, job_id=reservation.value, reused=True)
            # The first request will not answer: it no longer makes this one a duplicate.
            await self.quota.forget_duplicate(dedup_key, reservation.value)
            if again:
                return await self._reserve(request, job_id, dedup_key, again=False)
        if reservation.code in (DUPLICATE, CANCELLED):
            return Admission(False, BUSY)
        return Admission(False, self._limit_text(reservation))

    async def quota_refusal(self, request: CoverRequest) -> str | None:
        """What a quota would refuse `request` with now, or None; reserves nothing."""
        reservation = await self.quota.peek(**self._quota_keys(request), now=self.clock())
        return None if reservation is None else self._limit_text(reservation)

    def _limit_text(self, reservation: Reservation) -> str:
        when = relative(reservation.retry_at)
        if reservation.code == MEMBER_LIMIT:
            minutes = max(1, self.limits.member_window_s // 60)
            return (
                f"You've made {self.limits.member_quota} covers in the last {minutes} minutes. "
                f"Try again {when}."
            )
        if reservation.code == GUILD_LIMIT:
            return f"This server has made a lot of covers lately. Try again {when}."
        assert reservation.code == QUEUE_FULL
        return f"I'm very busy right now: too many covers in line. Try again {when}."

    def _quota_keys(self, request: CoverRequest) -> dict[str, Any]:
        return {
            "guild_id": request.guild_id,
            "member_key": keys.member_quota(request.guild_id, request.requester_id),
            "guild_key": keys.guild_quota(request.guild_id),
        }

    async def release(self, request: CoverRequest, job_id: str) -> None:
        """Give back what admitting `request` as `job_id` reserved (quota slots, its dedup
        key), and refuse the reservation or the job if either reaches Redis later."""
        dedup_key = self.dedup_key(request) if job_id == job_id_for(request.request_id) else None
        await self.quota.release(**self._quota_keys(request), job_id=job_id, dedup_key=dedup_key)

    # -- the earlier of two identical requests --------------------------------------------

    async def earlier_request(self, guild_id: int, job_id: str) -> EarlierRequest:
        """What became of an earlier identical request: posted (with its cover's link), still
        coming (with its message's link), or nothing that will answer."""
        result_id = await self.redis.get(keys.job_result(guild_id, job_id))
        if result_id:
            record = await self.results.get(guild_id, as_str(result_id))
            if record is None or record.jump_url is None:
                return EarlierRequest("deleted")
            return EarlierRequest(JobStatus.FINISHED.value, record.jump_url)
        deadline = time.monotonic() + QUEUEING_GRACE_S
        while True:
            earlier = await asyncio.to_thread(self._job_request, job_id)
            if earlier.status != "missing" or time.monotonic() >= deadline:
                return earlier
            await asyncio.sleep(0.1)

    def _job_request(self, job_id: str) -> EarlierRequest:
        job = self._fetch(job_id)
        if job is None:
            return EarlierRequest("missing")
        payload = job.args[0] if job.args else {}
        message_id = payload.get("response_message_id") or payload.get("reply_to_message_id")
        link = None
        if message_id and payload.get("guild_id") and payload.get("channel_id"):
            link = jump_url(payload["guild_id"], payload["channel_id"], message_id)
        return EarlierRequest(_status_name(job.get_status(refresh=False)), link)

    @staticmethod
    def _pointer(earlier: EarlierRequest) -> str | None:
        """The answer to an identical request, or None when the first will not answer."""
        if earlier.status == JobStatus.FINISHED.value and earlier.link:
            return f"You asked for this cover a moment ago — here it is: {earlier.link}"
        if earlier.status in {status.value for status in PENDING}:
            where = f": {earlier.link}" if earlier.link else "."
            return f"You asked for this cover a moment ago — it's being made{where}"
        return None

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
            **cover_options_of(request),
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
            "channel_nsfw": request.channel_nsfw,
        }

    async def reserve(self, request: CoverRequest, job_id: str) -> Admission:
        """A quota slot for a request with no photo of its own (an edit)."""
        return await self._reserve(request, job_id, None)

    async def submit(
        self,
        job: CoverJob | EditJob,
        token: str | None,
        *,
        function: str = JOB_FUNCTION,
        at_front: bool = False,
    ) -> None:
        """Store the token (a secret, never a job argument), then queue the job: a new cover
        in its guild's turn (`albumify.fairqueue`, then RQ's queue is topped up), an edit
        (`EDIT_FUNCTION`, `at_front`) straight to the front of RQ's queue, ahead of new covers.

        The job is indexed under each member it concerns (`keys.member_jobs`), so
        `/albumify-forget` can cancel it or remove its hash.
        """
        for member in sorted({job.requester_id, job.photo_author_id}):  # spans guilds: apart
            await self.redis.sadd(keys.user_guilds(member), job.guild_id)
        pipe = self.redis.pipeline(transaction=False)  # the token is not under the guild's tag
        if token and job.token_expires_at:
            ttl = int(job.token_expires_at - self.clock())
            if ttl > 0:
                pipe.set(keys.token(job.job_id), token, ex=min(ttl, TOKEN_LIFE_S))
        for member in {job.requester_id, job.photo_author_id}:
            pipe.sadd(keys.member_jobs(job.guild_id, member), job.job_id)
            pipe.expire(keys.member_jobs(job.guild_id, member), JOB_INDEX_TTL_S)
        await pipe.execute()
        await asyncio.to_thread(
            queue_job,
            self.fair,
            job,
            function=function,
            at_front=at_front,
            job_id=job.job_id,
            description=f"albumify cover {job.job_id}",
            timeout=self.limits.job_timeout_s,
            retry=RETRY,
            result_ttl=self.limits.photo_ttl_s,
            failure_ttl=FAILED_JOB_TTL_S,
            meta={"stage": "queued"},
        )
        if self.limits.queue_replicas:  # a replica must have it before "queued" is said
            await asyncio.to_thread(
                ensure_replicated,
                self.queue.connection,
                self.queue.key,
                job.job_id,
                self.limits.queue_replicas,
                self.limits.queue_ack_timeout_s,
                leave_line=self.fair.remove,
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
            **cover_options_of(result),
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
            if await self.redis.exists(keys.job_started(job_id), keys.job_outcome(job_id)):
                return False
            await edit()
            return True
        finally:
            # Never let a failed release replace the edit's outcome: a cancelled watcher
            # must stay cancelled (the lease expires by itself anyway).
            with contextlib.suppress(Exception):
                await self._release_lock(keys=[lock], args=[holder])

    async def queue_state(self, job_id: str) -> tuple[str, int | None]:
        """The job's status and its 0-based position while queued."""

        def read() -> tuple[str, int | None]:
            job = self._fetch(job_id)
            if job is None:
                return "missing", None
            status_name = _status_name(job.get_status(refresh=False))
            if status_name not in (JobStatus.DEFERRED.value, JobStatus.QUEUED.value):
                return status_name, None
            # Deferred: waiting for its guild's turn (`albumify.fairqueue`): in line too.
            return JobStatus.QUEUED.value, self.fair.place(job_id)

        return await asyncio.to_thread(read)

    def _fetch(self, job_id: str) -> Job | None:
        """The RQ job (synchronous: call in a thread), or None when it is gone."""
        try:
            return Job.fetch(
                job_id, connection=self.queue.connection, serializer=self.queue.serializer
            )
        except NoSuchJobError:
            return None


def _status_name(status: Any) -> str:
    return status.value if isinstance(status, JobStatus) else str(status)
