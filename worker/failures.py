"""Every job ends with an answer to the member, also one that failed without a word.

`answer_final_failure` is an RQ exception handler of `albumify worker`. RQ runs it when a job
raises in the worker, and in the maintenance pass for a job whose worker died
(`AbandonedJobError`: killed, OOM, host lost) — whoever enqueued the job, an older bot too. On
the job's final failure (no retries left; a payload of another schema version counts as final,
since retrying cannot make it readable) the member is told through the first path that works
(`worker.delivery.Courier.notify`), unless the job already answered: its cover is on record as
posted (`keys.job_result`), or it told the member itself (`job.meta[ANSWERED]`).

An edit or detect job (`SIDE_JOBS`) tells its member of every failure it sees itself; the two
it cannot see — its worker died, or it could not read its payload — are told here, through
its interaction, once no attempt is left.
"""

from __future__ import annotations

import logging
from types import TracebackType

from rq.exceptions import AbandonedJobError
from rq.job import Job
from rq.timeouts import JobTimeoutException

from albumify import keys
from albumify.connections import worker_state_redis
from albumify.edits import EDIT_FUNCTION
from albumify.faces import FACES_JOB_FUNCTION
from albumify.logs import job_context
from albumify.schema import JOB_FUNCTION, SchemaMismatch
from worker.attempt import bot_api, stored_token
from worker.delivery import ANSWERED, Address, Courier
from worker.detect import FAILED as FACES_FAILED
from worker.discord_api import DiscordAPIError, DiscordUnavailable
from worker.edit import FAILED as EDIT_FAILED
from worker.job import current_settings
from worker.message import notice_payload, private_payload

log = logging.getLogger(__name__)

TEXTS: tuple[tuple[type[BaseException], str], ...] = (
    (AbandonedJobError, "The worker making your cover stopped before it was done."),
    (SchemaMismatch, "Albumify is being updated and couldn't read your request."),
    (JobTimeoutException, "Your cover took too long to make."),
)
FALLBACK_TEXT = "Something went wrong making your cover."
SIDE_JOBS = {EDIT_FUNCTION: EDIT_FAILED, FACES_JOB_FUNCTION: FACES_FAILED}
"""Jobs that answer through their own interaction, and what their member is told when one
fails unseen (`AbandonedJobError`, `SchemaMismatch`): the same words as the job's own."""


def answer_final_failure(
    job: Job,
    exc_type: type[BaseException] | None,
    exc_value: BaseException | None,
    traceback: TracebackType | None,
) -> bool:
    """RQ exception handler: tell the member once their job has failed for good.

    Never raises, and returns True so RQ's other handlers run too.
    """
    try:
        _answer(job, exc_type)
    except Exception:  # the failure itself must still be recorded by RQ
        log.exception("job %s: could not answer its failure", job.id)
    return True


def _answer(job: Job, exc_type: type[BaseException] | None) -> None:
    try:
        function = job.func_name
        payload = job.args[0] if job.args else None
    except Exception:  # an unreadable payload (a pickle, say): nobody to answer
        return
    if function != JOB_FUNCTION and function not in SIDE_JOBS:
        return
    if exc_type is not None and issubclass(exc_type, SchemaMismatch):
        job.retries_left = 0  # another attempt reads the same payload: this one is final
    if job.retries_left:
        return  # RQ runs it again; that attempt answers
    if function in SIDE_JOBS:
        _answer_side_job(job, exc_type, payload)
        return
    address = Address.from_payload(payload)
    guild = payload.get("guild_id") if isinstance(payload, dict) else None
    with job_context(job.id, guild):
        if address is None:
            log.warning("job %s failed and names no member to tell", job.id)
            return
        settings = current_settings()
        redis = worker_state_redis(settings, job.connection)
        answered = redis.exists(keys.job_result(guild or 0, address.job_id))
        if answered or job.get_meta(refresh=True).get(ANSWERED):
            return
        text = next((t for kind, t in TEXTS if exc_type and issubclass(exc_type, kind)), None)
        notice = f"⚠️ {text or FALLBACK_TEXT} Please try again in a few minutes."
        token = stored_token(redis, address.job_id) if address.application_id else None
        delivered = Courier(address, bot_api(settings), token).notify(notice)
        log.info(
            "job %s failed for good (%s); the member %s",
            job.id,
            exc_type.__name__ if exc_type else "unknown",
            "was told" if delivered else "could not be told",
        )
        job.meta[ANSWERED] = "notice" if delivered else "unreachable"
        job.save_meta()


def _answer_side_job(job: Job, exc_type: type[BaseException] | None, payload: object) -> None:
    """An edit or detect job whose failure its own attempt never saw, on its last attempt:
    the detect job's private "thinking…" becomes the notice; an edit gets a private follow-up
    (its click was acknowledged silently)."""
    if exc_type is None or not issubclass(exc_type, (AbandonedJobError, SchemaMismatch)):
        return  # the attempt caught it and told the member itself
    if not isinstance(payload, dict):
        return
    job_id, application_id = payload.get("job_id"), payload.get("application_id")
    with job_context(job.id, payload.get("guild_id")):
        settings = current_settings()
        redis = worker_state_redis(settings, job.connection)
        token = stored_token(redis, str(job_id)) if job_id and application_id else None
        if token is None:
            log.info("job %s failed for good; its interaction is gone: nobody to tell", job.id)
            return
        text = SIDE_JOBS[job.func_name]
        api = bot_api(settings)
        try:
            if job.func_name == FACES_JOB_FUNCTION:
                api.edit_original(int(application_id), token, notice_payload(text))
            else:
                api.followup(int(application_id), token, private_payload(text))
        except (DiscordAPIError, DiscordUnavailable) as err:
            log.warning("job %s failed for good; the member could not be told: %s", job.id, err)
            return
        log.info("job %s failed for good (%s); the member was told", job.id, exc_type.__name__)
