"""An edit or detect job that fails where its own attempt cannot see it — its worker died
(RQ's maintenance raises `AbandonedJobError` for it), or it could not read its payload — is
answered by the worker's exception handler through the job's interaction, once no attempt
is left. Failures the attempt saw, it told the member itself: the handler stays quiet.

The handler is called as RQ calls it, with the job as RQ saved it in Redis."""

from __future__ import annotations

import pytest
from rq import Queue
from rq.exceptions import AbandonedJobError
from rq.job import Job
from rq.serializers import JSONSerializer
from rq.timeouts import JobTimeoutException

from albumify import keys
from albumify.edits import EDIT_FUNCTION
from albumify.faces import FACES_JOB_FUNCTION, FacesJob
from albumify.schema import SchemaMismatch
from devtools.fakediscord.rest import ScriptedReply
from tests.support.jobs import TOKEN, edit_job, worker_settings
from worker import job as worker_job
from worker.detect import FAILED as FACES_FAILED
from worker.edit import FAILED as EDIT_FAILED
from worker.failures import answer_final_failure

APP = 99
EDIT = edit_job(job_id="albumify-edit-7", application_id=APP)
FACES = FacesJob(
    job_id="albumify-faces-8",
    result_id="r8",
    guild_id=10,
    requester_id=30,
    photo_hash="ab" * 32,
    application_id=APP,
)


@pytest.fixture(autouse=True)
def settings(fake_rest, redis_url, monkeypatch):
    settings = worker_settings(fake_rest.api_base, redis_url)
    monkeypatch.setitem(worker_job._state, "settings", settings)
    return settings


def saved(redis_sync, function: str, payload: dict, *, retries_left: int | None = None) -> Job:
    """The job as the bot enqueued it and RQ keeps it, with its interaction token stored."""
    queue = Queue("albumify", connection=redis_sync, serializer=JSONSerializer)
    job = queue.create_job(function, args=(payload,), job_id=payload["job_id"])
    job.retries_left = retries_left
    job.save()
    redis_sync.set(keys.token(payload["job_id"]), TOKEN, ex=900)
    return Job.fetch(job.id, connection=redis_sync, serializer=JSONSerializer)


def webhook_calls(fake_rest, method: str) -> list:
    return fake_rest.calls(method, f"/webhooks/{APP}/{TOKEN}")


def test_a_dead_workers_last_edit_attempt_tells_the_member_privately(fake_rest, redis_sync, caplog):
    caplog.set_level("INFO", logger="worker.failures")
    fake_rest.script("POST", f"/webhooks/{APP}/", ScriptedReply(200, {"id": "1"}))
    job = saved(redis_sync, EDIT_FUNCTION, EDIT.to_dict())

    assert answer_final_failure(job, AbandonedJobError, AbandonedJobError(), None) is True

    [note] = webhook_calls(fake_rest, "POST")
    assert note.payload["content"] == EDIT_FAILED
    assert note.payload["flags"] == 1 << 6  # only the member sees it
    assert note.payload["allowed_mentions"] == {"parse": []}
    assert webhook_calls(fake_rest, "PATCH") == []  # the cover's message is left as it was
    assert "the member was told" in caplog.text


def test_a_dead_workers_detect_job_turns_thinking_into_the_notice(fake_rest, redis_sync):
    job = saved(redis_sync, FACES_JOB_FUNCTION, FACES.to_dict())

    answer_final_failure(job, AbandonedJobError, AbandonedJobError(), None)

    [edit] = webhook_calls(fake_rest, "PATCH")
    assert edit.path.endswith("/messages/@original")
    assert edit.payload["content"] == FACES_FAILED


def test_an_unreadable_payload_is_final_and_told(fake_rest, redis_sync):
    """Another release's payload: a retry reads the same bytes, so it is told now."""
    payload = {**FACES.to_dict(), "schema_version": 999}
    job = saved(redis_sync, FACES_JOB_FUNCTION, payload, retries_left=2)

    answer_final_failure(job, SchemaMismatch, SchemaMismatch("faces job schema 999"), None)

    assert [c.payload["content"] for c in webhook_calls(fake_rest, "PATCH")] == [FACES_FAILED]


@pytest.mark.parametrize(
    ("exc_type", "retries_left"),
    [
        (AbandonedJobError, 1),  # RQ runs it again: that attempt answers
        (JobTimeoutException, None),  # the attempt caught it and told the member itself
        (ValueError, None),
    ],
)
def test_failures_the_attempt_saw_or_a_retry_will_answer_are_not_told_twice(
    fake_rest, redis_sync, exc_type, retries_left
):
    job = saved(redis_sync, EDIT_FUNCTION, EDIT.to_dict(), retries_left=retries_left)

    answer_final_failure(job, exc_type, exc_type(), None)

    assert webhook_calls(fake_rest, "POST") == []
    assert webhook_calls(fake_rest, "PATCH") == []


def test_no_token_means_nobody_to_tell_and_nothing_breaks(fake_rest, redis_sync):
    job = saved(redis_sync, EDIT_FUNCTION, EDIT.to_dict())
    redis_sync.delete(keys.token(EDIT.job_id))  # the interaction's 15 minutes are over

    assert answer_final_failure(job, AbandonedJobError, AbandonedJobError(), None) is True
    assert fake_rest.calls("POST") == [] and fake_rest.calls("PATCH") == []
