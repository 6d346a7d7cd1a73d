"""Cancel (issue 17, 1): the claim that decides cancel vs. finish, and the worker's side of it,
against real Redis and the recording fake REST server (fake pipeline).

The end-to-end paths (real bot, worker process, loopback Discord) are in tests/test_e2e_cancel.py.
"""

from __future__ import annotations

import asyncio
import threading

import pytest
import redis.asyncio as aioredis

from albumify import cancel, keys
from albumify.buttons import CANCEL_ID, cancel_id_pattern, cancel_row
from albumify.schema import CoverOutcome
from albumify.settings import Settings
from bot.cover.intake import Intake
from tests.support import fake_pipeline
from tests.support.jobs import TOKEN, cover_job, cover_task, worker_settings
from tests.test_bot_intake import harness, request  # noqa: F401 - a fixture
from worker.cancel import CancelWatch, JobCancelled
from worker.job import CoverTask

JOB = "albumify-cover-111"


@pytest.fixture
def settings(fake_rest, redis_url) -> Settings:
    return worker_settings(
        fake_rest.api_base, redis_url, max_download_bytes=200_000, progress_interval_s=0.0
    )


@pytest.fixture
def pipeline(settings):
    return fake_pipeline.install()


def task_for(job, settings, redis_sync, *, token: str | None = TOKEN) -> CoverTask:
    return cover_task(job, settings, redis_sync, token=token)


# -- the claim -----------------------------------------------------------------------------


def test_the_first_claim_wins_and_every_later_one_reads_it(redis_sync):
    assert cancel.outcome_of(redis_sync, JOB) is None
    assert cancel.claim(redis_sync, JOB, cancel.CANCELLED) == cancel.CANCELLED
    assert cancel.claim(redis_sync, JOB, cancel.FINISHING) == cancel.CANCELLED
    assert cancel.claim(redis_sync, JOB, cancel.CANCELLED) == cancel.CANCELLED  # idempotent
    assert cancel.outcome_of(redis_sync, JOB) == cancel.CANCELLED
    assert 0 < redis_sync.ttl(keys.job_outcome(JOB)) <= cancel.OUTCOME_TTL_S

    other = "albumify-cover-222"
    assert cancel.claim(redis_sync, other, cancel.FINISHING) == cancel.FINISHING
    assert cancel.claim(redis_sync, other, cancel.FINISHING) == cancel.FINISHING  # a retry
    assert cancel.claim(redis_sync, other, cancel.CANCELLED) == cancel.FINISHING


def test_the_async_claim_agrees_with_the_sync_one(redis_url, redis_sync):
    async def main() -> list[str]:
        client = aioredis.Redis.from_url(redis_url, decode_responses=True)
        try:
            return [
                await cancel.claim_async(client, JOB, cancel.CANCELLED),
                await cancel.claim_async(client, "albumify-cover-9", cancel.CANCELLED),
            ]
        finally:
            await client.aclose()

    cancel.claim(redis_sync, JOB, cancel.FINISHING)
    assert asyncio.run(main()) == [cancel.FINISHING, cancel.CANCELLED]


def test_racing_claims_leave_exactly_one_outcome(redis_url):
    """Many presses of Cancel and many finishing workers at once: one winner, seen by all."""
    import redis

    for round_number in range(20):
        job_id = f"albumify-cover-{round_number}"
        wanted = [cancel.CANCELLED, cancel.FINISHING] * 4
        barrier = threading.Barrier(len(wanted))
        seen: list[str] = []

        def contender(outcome: str, job_id: str = job_id, barrier=barrier, seen=seen) -> None:
            client = redis.Redis.from_url(redis_url)
            try:
                barrier.wait()
                seen.append(cancel.claim(client, job_id, outcome))
            finally:
                client.close()

        threads = [threading.Thread(target=contender, args=(w,)) for w in wanted]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(seen) == len(wanted) and len(set(seen)) == 1, seen


def test_the_cancel_button_custom_id_round_trips():
    import re

    custom_id = CANCEL_ID.format(job_id=JOB)
    match = re.match(cancel_id_pattern(), custom_id)
    assert match is not None and match["job_id"] == JOB
    assert re.match(cancel_id_pattern(), "albumify:cancel:not a job") is None
    (button,) = cancel_row(JOB)["components"]
    assert button["custom_id"] == custom_id and button["label"] == "Cancel"
    assert len(custom_id) <= 100  # Discord's limit


# -- what the bot gives back ---------------------------------------------------------------


def test_the_request_dedup_key_rebuilt_from_the_job_is_the_bots(harness):  # noqa: F811
    """A cancelled request's quota slots and dedup key are given back from its job alone."""

    async def scenario(intake: Intake, clock):
        first = request(4321, title="Liftoff", artist="Alice")
        admission = await intake.admit(first)
        job = await intake.enqueue(first, admission)
        key = cancel.request_dedup_key(job)
        assert key == intake.dedup_key(first)
        assert await intake.redis.get(key) == job.job_id
        member = keys.member_quota(job.guild_id, job.requester_id)
        assert await intake.redis.zscore(member, job.job_id) is not None

        await intake.quota.release(
            guild_id=job.guild_id,
            member_key=member,
            guild_key=keys.guild_quota(job.guild_id),
            job_id=job.job_id,
            dedup_key=key,
        )
        assert await intake.redis.zscore(member, job.job_id) is None  # the slot is refunded
        assert not await intake.redis.exists(key)  # the same request may be asked again
        again = await intake.admit(request(4322, title="Liftoff", artist="Alice"))
        return again.ok

    assert harness(scenario)


# -- the worker ----------------------------------------------------------------------------


def test_progress_edits_carry_the_cancel_button_until_the_cover(
    fake_rest, settings, redis_sync, pipeline
):
    url = fake_rest.add_file("/attachments/1/5/me.png", fake_pipeline.png_bytes())
    outcome = task_for(cover_job(url), settings, redis_sync).run()

    assert outcome.status == "posted"
    edits = fake_rest.calls("PATCH", "/messages/@original")
    progress, final = [e for e in edits if not e.files], edits[-1]
    assert progress and all(e.payload["components"] == [cancel_row(JOB)] for e in progress)
    ids = [c["custom_id"] for row in final.payload["components"] for c in row["components"]]
    assert ids and not any(i.startswith("albumify:cancel:") for i in ids)
    assert cancel.outcome_of(redis_sync, JOB) == cancel.FINISHING  # a late Cancel loses


def test_a_job_cancelled_while_queued_posts_nothing(fake_rest, settings, redis_sync, pipeline):
    url = fake_rest.add_file("/attachments/1/5/me.png", fake_pipeline.png_bytes())
    cancel.claim(redis_sync, JOB, cancel.CANCELLED)

    outcome = task_for(cover_job(url), settings, redis_sync).run()

    assert outcome.status == "cancelled" and "cancelled" in CoverOutcome.STATUSES
    assert pipeline.calls == []  # stopped at its first boundary: nothing was made
    assert fake_rest.calls("GET", "/attachments/") == []  # not even downloaded
    assert not any(call.files for call in fake_rest.calls("PATCH") + fake_rest.calls("POST"))
    last = fake_rest.calls("PATCH", "/messages/@original")[-1].payload
    assert last["content"] == cancel.CANCELLED_TEXT and last["components"] == []


def test_a_running_job_stops_at_the_next_stage_boundary(fake_rest, settings, redis_sync, pipeline):
    url = fake_rest.add_file("/attachments/1/5/me.png", fake_pipeline.png_bytes())
    task = task_for(cover_job(url), settings, redis_sync)
    stages: list[str] = []
    progress = task.progress

    def cancelled_during_faces(stage: str) -> None:
        stages.append(stage)
        if stage == "faces":  # the member presses Cancel while faces are looked for
            cancel.claim(redis_sync, JOB, cancel.CANCELLED)
        progress(stage)

    task.progress = cancelled_during_faces  # type: ignore[method-assign]
    outcome = task.run()

    assert outcome.status == "cancelled"
    assert stages[-1] == "faces" and "matching" not in stages  # no later stage ran
    assert not any(call.files for call in fake_rest.calls("PATCH") + fake_rest.calls("POST"))
    assert redis_sync.get(keys.job_result(10, JOB)) is None
    assert not list(redis_sync.scan_iter(keys.result("*", "*")))  # no record of a cover
    assert not list(redis_sync.scan_iter("albumify:*:dedup:*"))  # the same photo may come again
    last = fake_rest.calls("PATCH", "/messages/@original")[-1].payload
    assert last["content"] == cancel.CANCELLED_TEXT and last["components"] == []


def test_a_cancel_between_the_last_stage_and_the_post_wins(
    fake_rest, settings, redis_sync, pipeline
):
    url = fake_rest.add_file("/attachments/1/5/me.png", fake_pipeline.png_bytes())
    task = task_for(cover_job(url), settings, redis_sync)
    claim_finish = task.cancel.claim_finish

    def cancelled_first() -> None:
        cancel.claim(redis_sync, JOB, cancel.CANCELLED)
        claim_finish()

    task.cancel.claim_finish = cancelled_first  # type: ignore[method-assign]
    assert task.run().status == "cancelled"
    assert not any(call.files for call in fake_rest.calls("PATCH") + fake_rest.calls("POST"))
    assert not list(redis_sync.scan_iter(keys.photo("*")))  # nothing of the photo is kept


def test_the_mention_paths_status_reply_is_deleted_once_the_cover_is_posted(
    fake_rest, settings, redis_sync, pipeline
):
    url = fake_rest.add_file("/attachments/1/5/me.png", fake_pipeline.png_bytes())
    job = cover_job(url, application_id=None, token_expires_at=None, reply_to_message_id=777)
    redis_sync.set(keys.status_message(JOB), 888)

    assert task_for(job, settings, redis_sync, token=None).run().status == "posted"
    (post,) = fake_rest.calls("POST", "/channels/20/messages")
    assert post.files and post.payload["message_reference"]["message_id"] == 777
    assert fake_rest.calls("DELETE", "/channels/20/messages/888")


def test_the_watch_says_finishing_once_an_attempt_claimed(redis_sync):
    watch = CancelWatch(redis_sync, JOB)
    watch.check()
    assert watch.components() == [cancel_row(JOB)]
    watch.claim_finish()
    assert watch.components() == []
    retry = CancelWatch(redis_sync, JOB)  # the job's next attempt, after a network fault
    retry.check()
    assert retry.components() == []
    retry.claim_finish()  # its own claim: it goes on

    cancelled = CancelWatch(redis_sync, "albumify-cover-5")
    cancel.claim(redis_sync, "albumify-cover-5", cancel.CANCELLED)
    with pytest.raises(JobCancelled):
        cancelled.check()
    with pytest.raises(JobCancelled):
        cancelled.claim_finish()


def test_a_refusal_is_an_answer_too_and_takes_the_status_reply_away(
    fake_rest, settings, redis_sync, pipeline
):
    """A photo the worker cannot use: the member is told why, Cancel no longer applies (a
    late press is told it is done) and the "Making your cover…" reply does not stay."""
    url = fake_rest.add_file("/attachments/1/5/me.png", b"<html>not a photo</html>")
    job = cover_job(url, application_id=None, token_expires_at=None, reply_to_message_id=777)
    redis_sync.set(keys.status_message(JOB), 888)

    outcome = task_for(job, settings, redis_sync, token=None).run()

    assert outcome.status == "refused"
    (notice,) = fake_rest.calls("POST", "/channels/20/messages")
    assert notice.payload["content"].startswith("⚠️") and not notice.files
    assert fake_rest.calls("DELETE", "/channels/20/messages/888")
    assert cancel.claim(redis_sync, JOB, cancel.CANCELLED) == cancel.FINISHING
