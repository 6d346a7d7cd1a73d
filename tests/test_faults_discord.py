"""Discord misbehaves: 429 / 5xx / hanging responses on every outbound worker call, an
invalid-request budget that keeps the worker far from Discord's IP ban, an interaction token
that dies mid-job, and a channel post whose answer comes too late (retried, it must not post
twice). The worker's real HTTP client against the loopback Discord.
"""

from __future__ import annotations

import time

import pytest

from albumify import keys
from albumify.settings import Settings
from devtools.fakediscord import FakeDiscord
from devtools.fakediscord.guild import BOT_TOKEN
from devtools.fakediscord.rest import ScriptedReply, rate_limited
from tests.support import fake_pipeline
from tests.support.jobs import cover_job, worker_settings
from worker.delivery import TOKEN_MARGIN_S
from worker.discord_api import (
    DiscordAPI,
    DiscordAPIError,
    DiscordUnavailable,
    InvalidRequestBudget,
    shared_budget,
)
from worker.job import CoverTask

TOKEN = "tok-discord-faults"


@pytest.fixture(autouse=True)
def fresh_shared_budget():
    """The process-wide budget is shared by every client: leave it as we found it."""
    budget = shared_budget()
    limit = budget.limit
    budget.reset()
    yield budget
    budget.limit = limit
    budget.reset()


@pytest.fixture
def settings(fake_rest, redis_url) -> Settings:
    return worker_settings(fake_rest.api_base, redis_url, discord_invalid_budget=5)


def final_answers(fake_rest):
    edits = [r for r in fake_rest.calls("PATCH", "/webhooks/") if "embeds" in (r.payload or {})]
    return edits + fake_rest.calls("POST", "/channels/")


# -- bounded retries, retry_after honoured -----------------------------------------------------


def test_429_then_5xx_on_the_result_upload_is_retried_and_answered_once(
    fake_rest, settings, redis_sync
):
    fake_pipeline.install()
    url = fake_rest.add_file("/attachments/1/5/me.png", fake_pipeline.png_bytes())
    # Every outbound call: the progress edit (one attempt, best effort) and the upload.
    fake_rest.script(
        "PATCH",
        "/webhooks/",
        ScriptedReply(500, {}),  # progress edit: skipped, never retried or waited on
        rate_limited(0.75),
        ScriptedReply(502, {}),
        ScriptedReply(503, {}),
    )
    sleeps: list[float] = []
    redis_sync.set(keys.token("albumify-cover-111"), TOKEN, ex=900)
    api = DiscordAPI(settings.api_base, "bot-token", sleep=sleeps.append)
    outcome = CoverTask(cover_job(url), settings, redis_sync, None, api=api).run()

    assert outcome.status == "posted"
    assert sleeps == [0.75, DiscordAPI._backoff(1), DiscordAPI._backoff(2)]
    # Three refused uploads, then the one that landed: the member sees a single answer.
    uploads = [r for r in fake_rest.calls("PATCH", "/webhooks/") if r.files]
    assert len(uploads) == api.max_attempts
    assert uploads[-1].files["files[0]"][0] == "albumify.jpg"
    assert len(fake_rest.calls("PATCH", "/webhooks/")) == 1 + api.max_attempts
    assert fake_rest.calls("POST", "/channels/") == []


def test_hanging_discord_is_bounded_by_timeouts_and_attempts(fake_rest):
    fake_rest.script("POST", "/channels/20/", *[ScriptedReply(200, {"id": "1"}, delay=1.5)] * 4)
    sleeps: list[float] = []
    api = DiscordAPI(fake_rest.api_base, "bot-token", timeout=(1.0, 0.3), sleep=sleeps.append)
    with pytest.raises(DiscordUnavailable, match="Timeout"):
        api.create_message(20, {"content": "hi"})
    assert len(fake_rest.calls("POST", "/channels/20/")) == api.max_attempts
    assert len(sleeps) == api.max_attempts - 1


def test_a_retry_after_beyond_the_bound_is_handed_to_rq_instead_of_waited(fake_rest):
    fake_rest.script("POST", "/channels/20/", rate_limited(3600))
    sleeps: list[float] = []
    api = DiscordAPI(fake_rest.api_base, "bot-token", sleep=sleeps.append)
    with pytest.raises(DiscordUnavailable, match="rate limited"):
        api.create_message(20, {"content": "hi"})
    assert sleeps == []  # never blocks a worker for an hour


# -- the invalid-request budget ----------------------------------------------------------------


def test_invalid_answers_stop_outbound_calls_at_the_budget(fake_rest):
    budget = InvalidRequestBudget(5)
    api = DiscordAPI(fake_rest.api_base, "bot-token", sleep=lambda s: None, budget=budget)
    fake_rest.script("POST", "/channels/20/", *[rate_limited(0)] * 50)
    fake_rest.script("POST", "/channels/21/", *[ScriptedReply(403, {"message": "Missing"})] * 50)
    refused = 0
    for channel in (20, 21) * 10:
        try:
            api.create_message(channel, {"content": "hi"})
        except DiscordAPIError as err:
            assert err.status == 403
        except DiscordUnavailable as err:
            refused += "budget spent" in str(err)
    assert len(fake_rest.calls("POST", "/channels/")) == 5  # and not one more
    assert budget.exhausted() and refused > 0


def test_budget_window_slides(fake_rest):
    now = [1000.0]
    budget = InvalidRequestBudget(2, clock=lambda: now[0])
    budget.spend()
    budget.spend()
    assert budget.exhausted()
    now[0] += 599
    assert budget.exhausted() and budget.frees_in() == pytest.approx(1)
    now[0] += 1
    assert not budget.exhausted() and budget.used() == 0


def test_a_job_spends_from_the_process_budget_set_by_its_limits(
    fake_rest, settings, redis_sync, fresh_shared_budget
):
    """A job facing 401/429 everywhere stops at `Limits.discord_invalid_budget` (5 here)."""
    fake_pipeline.install()
    url = fake_rest.add_file("/attachments/1/5/me.png", fake_pipeline.png_bytes())
    fake_rest.script("PATCH", "/webhooks/", *[rate_limited(0)] * 50)
    fake_rest.script("POST", "/channels/", *[ScriptedReply(401, {"message": "401"})] * 50)
    redis_sync.set(keys.token("albumify-cover-111"), TOKEN, ex=900)
    for _ in range(3):  # RQ's attempts
        with pytest.raises(DiscordUnavailable):
            CoverTask(cover_job(url), settings, redis_sync, None).run()
    sent = fake_rest.calls("PATCH", "/webhooks/") + fake_rest.calls("POST", "/channels/")
    assert len(sent) == 5
    assert fresh_shared_budget.limit == 5 and fresh_shared_budget.exhausted()


# -- the interaction token dies ---------------------------------------------------------------


def test_token_that_expires_mid_job_falls_back_to_a_channel_reply(fake_rest, settings, redis_sync):
    fake_pipeline.install()
    url = fake_rest.add_file("/attachments/1/5/me.png", fake_pipeline.png_bytes())
    expires = time.time() + 900
    now = [expires - TOKEN_MARGIN_S - 5]  # alive for the first progress edit

    def clock() -> float:
        now[0] += 3  # each look at the clock is a few seconds later: it dies mid-job
        return now[0]

    redis_sync.set(keys.token("albumify-cover-111"), TOKEN, ex=900)
    job = cover_job(url, token_expires_at=expires)
    outcome = CoverTask(job, settings, redis_sync, None, clock=clock).run()

    assert outcome.status == "posted"
    progress = fake_rest.calls("PATCH", f"/webhooks/99/{TOKEN}/")
    assert progress and all(not p.files for p in progress)
    (post,) = fake_rest.calls("POST", "/channels/20/messages")
    assert post.headers["Authorization"] == "Bot bot-token"
    assert post.payload["message_reference"]["message_id"] == 555
    assert post.files["files[0]"][0] == "albumify.jpg"
    assert len(final_answers(fake_rest)) == 1


# -- a retried channel post lands once ---------------------------------------------------------


def test_a_channel_post_retried_after_a_timeout_lands_once(redis_url, redis_sync):
    """Discord created the message, but its answer came after the client gave up: the retry
    carries the same nonce with `enforce_nonce`, so Discord hands back the first message."""
    discord = FakeDiscord().start()
    try:
        fake_pipeline.install()
        settings = Settings(
            discord_token=BOT_TOKEN,
            redis_url=redis_url,
            api_base=discord.api_base,
            cdn_hosts=("127.0.0.1",),
            cdn_hosts_explicit=True,
        )
        member = discord.add_member("gus")
        request = discord.post_message(member, f"{discord.bot.mention} me")
        url = discord.upload("me.png", fake_pipeline.png_bytes())["url"]
        job = cover_job(  # a reply-mention: no interaction, the cover is a channel reply
            url,
            application_id=None,
            token_expires_at=None,
            channel_id=discord.channel_id,
            reply_to_message_id=request.id,
            response_message_id=None,
        )
        late = ScriptedReply(200, delay=1.0, passthrough=True)  # created, answered too late
        discord.script("POST", "/channels/", late, match=lambda r: bool(r.files))
        api = DiscordAPI(discord.api_base, BOT_TOKEN, timeout=(1.0, 0.3), sleep=lambda s: None)
        outcome = CoverTask(job, settings, redis_sync, None, api=api).run()
        time.sleep(1.5)  # the first, late request has been served by now

        posts = discord.calls("POST", f"/channels/{discord.channel_id}/messages")
        assert len(posts) == 2  # the timed-out post and its retry
        covers = [m for m in discord.channel() if m.attachments]
        assert len(covers) == 1 and outcome.message_id == covers[0].id
    finally:
        discord.stop()
