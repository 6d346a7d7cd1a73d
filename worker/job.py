"""The RQ job: download (or recall) the photo, make the cover, post it back to Discord.

`make_cover(payload)` is what the bot enqueues (by name, `albumify.schema.JOB_FUNCTION`). It
finds the pipeline the worker loaded at start in this module's holder, or loads it lazily, so
a plain `rq worker` works too (slowly, on its first job).

Failures: a refusal (`AlbumifyError`: bad photo, expired re-roll) is told to the member and the
job ends normally, and so does a post Discord refuses for good (a 4xx: `Undeliverable`, told
through the first path that works — see `worker.delivery`). Network faults raise so RQ
retries; on the last attempt the member is told first. Any other error is told on the last
attempt too and then raised. A job that dies without a word is answered by `worker.failures`.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from typing import Any

from rq import get_current_job

from albumify import keys
from albumify.connections import worker_state_redis
from albumify.errors import AlbumifyError, MissingAsset
from albumify.forget import forgotten_since
from albumify.logs import add_secret, job_context
from albumify.progress import QUEUE_EDIT_LEASE_S, Throttle, stage_text
from albumify.results import (
    ResultRecord,
    discard_result,
    load_result,
    result_posted,
    save_result,
)
from albumify.schema import CoverJob, CoverOutcome, cover_options_of, request_identity
from albumify.settings import Settings
from imaging.photo import Photo, decode_photo, encode_kept_photo
from worker.attempt import JobAttempt
from worker.cancel import CancelWatch, JobCancelled, remove_status_message, show_cancelled
from worker.delivery import ANSWERED, Address, Courier, Undeliverable
from worker.discord_api import (
    DiscordAPI,
    DiscordAPIError,
    DiscordUnavailable,
    TokenExpired,
    UploadFile,
)
from worker.download import DownloadFailed, fetch_photo
from worker.message import progress_payload, result_payload

log = logging.getLogger(__name__)

UPLOAD_FORMAT = "jpeg"
"""Covers go to Discord as JPEG (quality 95, 4:4:4): a 1024 px cover encodes in ~8 ms and weighs
~0.9 MB, where PNG took ~280 ms and ~2.7 MB (film grain does not compress losslessly)."""

_state: dict[str, Any] = {"pipeline": None, "settings": None}

RETRYABLE = (DownloadFailed, DiscordUnavailable)


def set_pipeline(pipeline: Any, settings: Settings | None = None) -> None:
    """Called by the worker at start so every job reuses the loaded models."""
    _state["pipeline"] = pipeline
    if settings is not None:
        _state["settings"] = settings


def loaded_pipeline() -> Any | None:
    return _state["pipeline"]


def current_settings() -> Settings:
    if _state["settings"] is None:
        _state["settings"] = Settings.from_env()
    return _state["settings"]


def current_pipeline(settings: Settings) -> Any:
    if _state["pipeline"] is None:
        from worker.pipeline import Pipeline

        log.info("loading the pipeline in the job (the worker did not preload it)")
        _state["pipeline"] = Pipeline.load(settings)
    return _state["pipeline"]


def make_cover(payload: dict[str, Any]) -> dict[str, Any]:
    """RQ entry point (JSON in, JSON out)."""
    job = CoverJob.from_dict(payload)
    rq_job = get_current_job()
    settings = current_settings()
    add_secret(settings.discord_token)
    redis = worker_state_redis(settings, rq_job.connection if rq_job is not None else None)
    with job_context(job.job_id, job.guild_id):
        return CoverTask(job, settings, redis, rq_job).run().to_dict()


def photo_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def new_result_id() -> str:
    return uuid.uuid4().hex[:16]


def _image_type(data: bytes) -> tuple[str, str]:
    if data.startswith(b"\x89PNG"):
        return "png", "image/png"
    if data.startswith(b"\xff\xd8"):
        return "jpg", "image/jpeg"
    if data[8:12] == b"WEBP":
        return "webp", "image/webp"
    return "png", "image/png"


class CoverTask(JobAttempt[CoverJob]):
    """One attempt at one cover job."""

    def _prepare(self) -> None:
        # Progress edits are best effort: one attempt, never a wait on a rate limit.
        self.progress_api = DiscordAPI(
            self.settings.api_base,
            self.settings.discord_token,
            session=self.api.session,
            max_attempts=1,
            budget=self.api.budget,
        )
        self.throttle = Throttle(self.settings.limits.progress_interval_s)
        self.started = time.monotonic()
        self.courier = Courier(Address.of(self.job), self.api, self.token, clock=self.clock)
        self._dedup_key: str | None = None
        self.cancel = CancelWatch(self.redis, self.job.job_id)

    # -- the run --------------------------------------------------------------------------

    def run(self) -> CoverOutcome:
        if self.redis.exists(keys.admission_cancelled(self.job.guild_id, self.job.job_id)):
            # The bot gave up queueing it and told the member to try again: not ours to make.
            log.info("job %s: cancelled by the bot at admission; not made", self.job.job_id)
            return CoverOutcome(status="refused", result_id=self.job.result_id)
        self._take_over_message()
        answered = self._already_answered()
        if answered is not None:
            return answered
        try:
            outcome = self._run_guarded()
        except BaseException:
            self._release_dedup()
            raise
        if outcome.status in ("refused", "failed", "cancelled"):
            self._release_dedup()
        return outcome

    def _run_guarded(self) -> CoverOutcome:
        job = self.job
        try:
            return self._make_and_post()
        except JobCancelled:
            return self._cancelled()
        except MissingAsset as err:
            log.error("job %s: pipeline not ready: %s", job.job_id, err)
            return self._refuse(
                "The cover maker isn't set up right now; please tell a server admin."
            )
        except AlbumifyError as err:
            return self._refuse(str(err))
        except Undeliverable as err:  # a 4xx: a retry would be refused again
            log.warning("job %s: %s; not retrying", job.job_id, err)
            return self._fail(err)
        except RETRYABLE as err:
            log.warning("job %s: %s", job.job_id, err)
            if self._last_attempt():
                self._tell("⚠️ I couldn't reach Discord to finish your cover. Please try again.")
            raise
        except Exception:
            if self._last_attempt():
                self._tell("⚠️ Something went wrong making your cover. Please try again later.")
            raise

    def _make_and_post(self) -> CoverOutcome:
        job = self.job
        photo, digest = self._photo()
        from worker.safety import screen  # before any other stage; refused: nothing kept

        screen(photo.array(), job, self.settings.limits.nsfw_threshold, self.rq_job)
        duplicate = self._duplicate_of(digest)
        if duplicate is not None:
            return duplicate

        from imaging.photo import encode_cover
        from worker.edit import keep_layers
        from worker.pipeline import CoverOptions

        pipeline = current_pipeline(self.settings)
        options = CoverOptions(
            title=job.title,
            artist=job.artist or job.display_name,
            advisory=job.advisory,
            lettering=job.lettering,
            seed=job.seed,
            size=self.settings.limits.cover_size,
            exclude=tuple(job.exclude),
            face=job.face,
            keep_cover=job.keep_cover,
        )
        result = pipeline.make_cover(photo, options, progress=self.progress)

        self.progress("uploading")
        limit = job.attachment_size_limit or self.settings.limits.upload_limit_bytes
        data = encode_cover(result.image, UPLOAD_FORMAT, max_bytes=limit)
        extension, content_type = _image_type(data)
        filename = f"albumify.{extension}"
        if job.photo.spoiler:
            filename = "SPOILER_" + filename

        result_id = job.result_id
        record = ResultRecord(
            result_id=result_id,
            guild_id=job.guild_id,
            channel_id=job.channel_id,
            requester_id=job.requester_id,
            photo_author_id=job.photo_author_id,
            library_id=result.record.library_id,
            library_title=result.record.title or "",
            shown=(*job.exclude, result.record.library_id),
            photo_hash=digest,
            spoiler=job.photo.spoiler,
            **cover_options_of(job),
            seed=job.seed,
            job_id=job.job_id,
            created_at=self.clock(),
        )
        members = (job.requester_id, job.photo_author_id)
        if forgotten_since(self.redis, job.guild_id, members, job.requested_at):
            return self._drop_forgotten(digest)
        self.cancel.claim_finish()  # from here on the cover is posted, or nothing is
        reroll_ttl_s = self._keep_photo(photo, digest)
        save_result(self.redis, record, reroll_ttl_s=reroll_ttl_s)  # before posting: buttons work
        seconds = time.monotonic() - self.started
        if job.requested_at:
            seconds = max(seconds, self.clock() - job.requested_at)
        payload = result_payload(
            job,
            result_id=result_id,
            filename=filename,
            record=result.record,
            similarity=float(result.similarity),
            seconds=seconds,
            notes=list(result.notes),
            faces=result.faces,
        )
        keep_layers(
            self.redis, result, result_id, reroll_ttl_s, payload, filename, guild_id=job.guild_id
        )  # for Edit
        message = self._deliver(payload, [UploadFile(filename, data, content_type)])
        message_id = int(message["id"]) if message.get("id") else None
        remove_status_message(self.api, self.cancel, job.channel_id)
        answered_ttl = max(self.settings.limits.photo_ttl_s, 60)
        if message_id is not None:  # the record and "answered" in one step: a retry posts nothing
            channel_id = int(message.get("channel_id") or job.channel_id)
            result_posted(
                self.redis, result_id, channel_id, message_id, self.clock(),
                guild_id=job.guild_id, requester_id=job.requester_id,
                photo_author_id=job.photo_author_id, job_id=job.job_id, answered_ttl_s=answered_ttl,
            )  # fmt: skip
        else:
            self.redis.set(keys.job_result(job.guild_id, job.job_id), result_id, ex=answered_ttl)
        self._set_stage("done")
        return CoverOutcome(
            status="posted",
            result_id=result_id,
            message_id=message_id,
            library_id=result.record.library_id,
            similarity=float(result.similarity),
            seconds=round(seconds, 3),
            notes=list(result.notes),
        )

    # -- steps ----------------------------------------------------------------------------

    def _take_over_message(self) -> None:
        """From now on only this worker edits the response: mark the job started, then let
        a 'queued' edit the bot has in flight finish (it holds `keys.queue_edit`)."""
        job_id = self.job.job_id
        lifetime = self.settings.limits.job_timeout_s + 3600
        self.redis.set(keys.job_started(job_id), "1", ex=lifetime)
        deadline = time.monotonic() + QUEUE_EDIT_LEASE_S
        while self.redis.exists(keys.queue_edit(job_id)) and time.monotonic() < deadline:
            time.sleep(0.01)

    def _photo(self) -> tuple[Photo, str]:
        """The decoded photo and the sha256 of what was uploaded (a re-roll: the kept photo).

        Decoding is the validation: a web page, a bomb or a refused file raises `BadInput`
        here, and nothing of it was stored.
        """
        ref = self.job.photo
        limits = self.settings.limits
        if ref.photo_hash:
            data = self.redis.get(keys.photo(ref.photo_hash))
            if data is None:
                hours = max(1, limits.photo_ttl_s // 3600)
                raise PhotoExpired(
                    f"I only keep photos for {hours} h, and this one is gone. "
                    "Post it again to make a new cover."
                )
            return decode_photo(data, max_pixels=limits.max_pixels), ref.photo_hash
        if not ref.url:
            raise PhotoExpired("This request has no photo. Please try again with an image.")
        self.progress("downloading")
        data = fetch_photo(ref.url, self.settings)
        digest = photo_hash(data)
        if self.rq_job is not None:  # `/albumify-forget` finds the photo through its job
            self.rq_job.meta["photo_hash"] = digest
            self.rq_job.save_meta()
        return decode_photo(data, max_pixels=limits.max_pixels), digest

    def _keep_photo(self, photo: Photo, digest: str) -> int:
        """Keep what a re-roll needs, once a cover was made from the photo: the working image
        re-encoded and capped (`Limits.kept_photo_bytes`), for `Limits.photo_ttl_s`, in Redis,
        so any worker can take the re-roll. Returns the seconds it has left (a re-roll's
        photo keeps its first deadline)."""
        key = keys.photo(digest)
        limits = self.settings.limits
        if self.job.photo.photo_hash:
            return max(int(self.redis.ttl(key)), 0)
        self.redis.set(
            key, encode_kept_photo(photo, limits.kept_photo_bytes), ex=limits.photo_ttl_s
        )
        return limits.photo_ttl_s

    def _duplicate_of(self, digest: str) -> CoverOutcome | None:
        """The same member's same photo and options within the dedup window reuse the
        earlier job (another upload of the same bytes)."""
        job = self.job
        if job.rerolled_from:
            return None
        identity = request_identity(f"sha256:{digest}", job)  # the same options too
        key = keys.dedup_photo(job.guild_id, job.requester_id, identity)
        window = self.settings.limits.dedup_window_s
        if self.redis.set(key, job.job_id, nx=True, ex=window):
            self._dedup_key = key
            return None
        earlier = (self.redis.get(key) or b"").decode()
        if earlier in ("", job.job_id):
            return None
        result_id = (self.redis.get(keys.job_result(job.guild_id, earlier)) or b"").decode()
        link = self._jump_link(result_id) if result_id else None
        if link:
            text = f"You sent this same photo a moment ago — here is its cover: {link}"
        else:
            text = "You sent this same photo a moment ago — its cover is on the way."
        self._tell(text)
        return CoverOutcome(status="duplicate", result_id=result_id or job.result_id)

    def _already_answered(self) -> CoverOutcome | None:
        """A retry of a job whose cover was posted (its worker died before RQ heard back)
        must not post it again: the member gets exactly one answer."""
        job = self.job
        result_id = (self.redis.get(keys.job_result(job.guild_id, job.job_id)) or b"").decode()
        if not result_id:
            return None
        log.info(
            "job %s: already answered (result %s); not posting again", self.job.job_id, result_id
        )
        record = load_result(self.redis, self.job.guild_id, result_id)
        return CoverOutcome(
            status="posted",
            result_id=result_id,
            message_id=record.message_id if record is not None else None,
        )

    def _drop_forgotten(self, digest: str) -> CoverOutcome:
        """Someone in the request asked to be forgotten while it was being made: keep
        nothing of it (its photo, its result, its RQ hash) and say why."""
        log.info("job %s: a member in it was forgotten meanwhile; cover dropped", self.job.job_id)
        self.redis.delete(keys.photo(digest))
        if self.rq_job is not None:
            self.rq_job.result_ttl = 0  # RQ deletes a finished job with no result TTL
        return self._refuse(
            "This cover was not kept: someone in the photo asked Albumify to forget them."
        )

    def _release_dedup(self) -> None:
        """A request that produced no cover must not make the next identical one a duplicate."""
        if self._dedup_key is not None:
            self.redis.delete(self._dedup_key)
            self._dedup_key = None

    def _jump_link(self, result_id: str) -> str | None:
        record = load_result(self.redis, self.job.guild_id, result_id)
        return record.jump_url if record is not None else None

    # -- talking to Discord ---------------------------------------------------------------

    def progress(self, stage: str) -> None:
        """Pipeline callback (a stage boundary: a cancelled job stops here): job.meta always,
        the message at most every ~2 s, with the Cancel button."""
        self.cancel.check()
        self._set_stage(stage)
        if not self.courier.token_alive():
            return
        text = stage_text(stage)
        if not self.throttle.should_send(text):
            return
        try:
            self.progress_api.edit_original(
                self.job.application_id or 0,
                self.courier.token or "",
                progress_payload(text, self.cancel.components()),
            )
        except TokenExpired:
            self.courier.token = None
        except (DiscordAPIError, DiscordUnavailable) as err:
            log.info("job %s: progress edit skipped: %s", self.job.job_id, err)

    def _set_stage(self, stage: str) -> None:
        if self.rq_job is None:
            return
        self.rq_job.meta["stage"] = stage
        self.rq_job.meta["stage_at"] = self.clock()
        self.rq_job.save_meta()

    def _deliver(self, payload: dict[str, Any], files: list[UploadFile]) -> dict[str, Any]:
        """Edit the deferred response, or post to the channel once the token is dead."""
        return self.courier.post(payload, files, purpose="cover" if files else "notice")

    def _tell(self, text: str) -> None:
        """The member's one notice, through the first path that works (best effort)."""
        if not self.cancel.claim_answer():
            return  # cancelled meanwhile: the message says so, nothing more is said
        try:
            delivered = self.courier.notify(text)
            remove_status_message(self.api, self.cancel, self.job.channel_id)
        except Exception as err:  # telling is best effort; the job's own error matters more
            log.warning("job %s: could not tell the member: %s", self.job.job_id, err)
            delivered = False
        if self.rq_job is not None:
            self.rq_job.meta[ANSWERED] = "notice" if delivered else "unreachable"
            self.rq_job.save_meta()

    def _refuse(self, text: str) -> CoverOutcome:
        self._set_stage("refused")
        self._tell(f"⚠️ {text}")
        return CoverOutcome(status="refused", result_id=self.job.result_id, error=text)

    def _cancelled(self) -> CoverOutcome:
        """Cancelled by the member or a moderator: nothing is posted, the job ends cleanly."""
        log.info("job %s: cancelled; nothing posted", self.job.job_id)
        self._set_stage("cancelled")
        token = self.courier.token if self.courier.token_alive() else None
        show_cancelled(self.progress_api, self.job.application_id or 0, token, self.job.job_id)
        if self.rq_job is not None:
            self.rq_job.meta[ANSWERED] = "cancelled"
            self.rq_job.save_meta()
        return CoverOutcome(status="cancelled", result_id=self.job.result_id)

    def _fail(self, err: Undeliverable) -> CoverOutcome:
        """Discord will not take this cover: no record of it stays, the member hears why."""
        self._set_stage("failed")
        discard_result(self.redis, self.job.guild_id, self.job.result_id)
        text = err.member_text(self.job.channel_id)
        self._tell(text)
        return CoverOutcome(status="failed", result_id=self.job.result_id, error=text)


class PhotoExpired(AlbumifyError):
    """The kept photo for a re-roll is gone (photos live `Limits.photo_ttl_s`)."""
