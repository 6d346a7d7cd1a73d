"""What reaches the member when Discord says no, or a worker dies: real worker processes
(`tests.support.worker_main`: the real RQ loop and job, the fast fake pipeline) against the
loopback Discord with its permission model, jobs enqueued exactly as the bot does.

- a 4xx is final: the pipeline runs once and the member hears why, through the first path
  that works (the webhook while the token lives, the channel, a DM), once;
- every job ends with an answer: abandoned on its last attempt, or unreadable (another schema
  version);
- a cover posted in the channel is posted once, even when the worker dies right after.
"""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import time

import pytest
import redis.asyncio as aioredis
from rq.job import Job
from rq.serializers import JSONSerializer

from albumify import keys
from albumify.results import load_result
from albumify.schema import SCHEMA_VERSION, CoverJob
from albumify.settings import Settings
from bot.cover.intake import TOKEN_LIFE_S, CoverRequest, Intake
from bot.utils.images import ImageCandidate
from devtools.fakediscord import FakeDiscord, FakeInteraction, FakeMessage, FakeUser
from devtools.fakediscord.guild import BOT_TOKEN
from devtools.fakediscord.model import (
    ATTACH_FILES,
    EMBED_LINKS,
    READ_MESSAGE_HISTORY,
    VIEW_CHANNEL,
)
from devtools.fakediscord.rest import ScriptedReply
from tests.support import fake_pipeline
from tests.support.bare_discord import bare_discord
from tests.support.processes import (
    FINAL_STATES,
    Workers,
    bot_queue,
    enqueue_like_the_bot,
    fault_settings,
    job_status,
    wait_until,
)
from tests.support.worker_main import POSTED_KEY, RECORDED_KEY, STARTED_KEY

JOB_TIMEOUT_S = 6

discord = bare_discord()  # no bot: the jobs below are what the bot would enqueue


@pytest.fixture
def settings(redis_url) -> Settings:
    return fault_settings(redis_url, JOB_TIMEOUT_S)


@pytest.fixture
def workers(discord, redis_url, tmp_path):
    started = Workers(redis_url, discord.api_base, tmp_path, DISCORD_TOKEN=BOT_TOKEN)
    yield started
    started.stop()


# -- requests, as the bot would enqueue them ---------------------------------------------------


def photo(discord: FakeDiscord, n: int) -> ImageCandidate:
    attachment = discord.upload(f"me{n}.png", fake_pipeline.png_bytes(), "image/png")
    size, attachment_id = attachment["size"], int(attachment["id"])
    return ImageCandidate(
        attachment["url"], attachment["filename"], "image/png", size, attachment_id
    )


def own_photo(discord: FakeDiscord, member: FakeUser, n: int, request_id: int, **fields):
    """A member's request for a cover of their own photo, in the guild's channel."""
    return CoverRequest(
        request_id=request_id,
        guild_id=discord.guild_id,
        channel_id=discord.channel_id,
        requester_id=member.id,
        photo_author_id=member.id,
        image=photo(discord, n),
        **fields,
    )


def slash_request(
    discord: FakeDiscord, member: FakeUser, n: int, *, token_dead: bool = False
) -> tuple[CoverRequest, FakeInteraction]:
    """/albumify, deferred; `token_dead`: it waited in the queue until its token expired."""
    interaction = discord.deferred(member)
    created = time.time() - (TOKEN_LIFE_S - 10 if token_dead else 0)
    request = own_photo(
        discord,
        member,
        n,
        interaction.id,
        application_id=discord.application_id,
        token=interaction.token,
        created_at=created,
        attachment_size_limit=8 * 1024 * 1024,
        app_permissions=int(interaction.payload["app_permissions"]),
    )
    return request, interaction


def mention_request(
    discord: FakeDiscord, member: FakeUser, n: int
) -> tuple[CoverRequest, FakeMessage]:
    """'@Albumify' with a photo: no interaction, the answer is a reply in the channel."""
    post = discord.post_message(member, f"{discord.bot.mention} me!")
    request = own_photo(
        discord,
        member,
        n,
        post.id,
        reply_to_message_id=post.id,
        app_permissions=discord.bot_permissions(),  # what the bot's cache says
    )
    return request, post


def submit(redis_url, redis_sync, settings, request, response_message_id=None) -> str:
    queue = bot_queue(redis_sync, settings)
    (job,) = enqueue_like_the_bot(
        redis_url, queue, settings, [request], response_message_id=response_message_id
    )
    return job.job_id


def submit_channel_bound(
    discord: FakeDiscord, redis_url, redis_sync, settings, member: FakeUser, n: int, path: str
) -> tuple[str, CoverRequest, int]:
    """A request whose answer goes to the channel — a mention, or a slash command whose token
    died in the queue — submitted: its job id, the request, and what the answer replies to."""
    if path == "mention":
        request, post = mention_request(discord, member, n)
        return submit(redis_url, redis_sync, settings, request), request, post.id
    request, interaction = slash_request(discord, member, n, token_dead=True)
    deferred = interaction.response_message_id
    return submit(redis_url, redis_sync, settings, request, deferred), request, deferred


def finished(redis_sync, job_id: str, timeout: float = 30) -> str:
    """The job's final state; a retry still pending counts as not finished (a timeout)."""
    wait_until(lambda: job_status(redis_sync, job_id) in FINAL_STATES, timeout, job_id)
    return job_status(redis_sync, job_id)


def bot_posts(discord: FakeDiscord) -> list[FakeMessage]:
    return [m for m in discord.channel() if m.author.bot and not m.loading]


def covers_in_channel(discord: FakeDiscord) -> list[FakeMessage]:
    return [m for m in bot_posts(discord) if m.attachments]


# -- 4xx: final, told once through the first path that works ----------------------------------


def test_a_refused_upload_is_told_once_and_not_retried(
    discord, redis_url, redis_sync, settings, workers
):
    alice = discord.add_member("alice")
    invalid = ScriptedReply(400, {"message": "Invalid Form Body", "code": 50035})
    discord.script("PATCH", "/webhooks/", *[invalid] * 5, match=lambda r: bool(r.files))
    worker = workers("refused-upload")
    request, interaction = slash_request(discord, alice, 1)
    job_id = submit(redis_url, redis_sync, settings, request, interaction.response_message_id)

    assert finished(redis_sync, job_id) == "finished", worker.logs()[-3000:]
    uploads = [r for r in discord.calls("PATCH", "/webhooks/") if r.files]
    assert len(uploads) == 1  # the pipeline ran once: a retry would be refused the same way
    answer = discord.response_to(interaction)
    assert answer.content.startswith("⚠️") and "refused" in answer.content
    assert not answer.attachments and not answer.components
    assert bot_posts(discord) == [answer] and discord.dms(alice) == []
    assert not redis_sync.exists(
        keys.result(request.guild_id, str(request.request_id))
    )  # no record of it stays


@pytest.mark.parametrize(
    ("denied", "path", "where", "named"),
    [
        pytest.param(ATTACH_FILES, "mention", "channel", "Attach Files", id="no-attach-files"),
        pytest.param(EMBED_LINKS, "mention", "channel", "Embed Links", id="no-embed-links"),
        pytest.param(VIEW_CHANNEL, "dead-token", "dm", "View Channel", id="cannot-see-channel"),
        pytest.param(VIEW_CHANNEL, "dead-token", "nowhere", "View Channel", id="dms-closed-too"),
    ],
)
def test_a_channel_without_permissions_gets_one_notice_through_the_first_path_that_works(
    discord, redis_url, redis_sync, settings, workers, denied, path, where, named
):
    bob = discord.add_member("bob")
    bob.accepts_dms = where != "nowhere"
    discord.set_bot_permissions(deny=denied)
    worker = workers(f"no-{named.lower().replace(' ', '-')}-{where}")
    job_id, _, replied_to = submit_channel_bound(
        discord, redis_url, redis_sync, settings, bob, 2, path
    )

    assert finished(redis_sync, job_id) == "finished", worker.logs()[-3000:]
    posts = discord.calls("POST", f"/channels/{discord.channel_id}/messages")
    assert len([p for p in posts if p.files]) == 1  # the cover was offered once, not re-made
    told = [m for m in bot_posts(discord) if m.content.startswith("⚠️")] + discord.dms(bob)
    if where == "nowhere":
        assert told == []
        assert "could not tell member" in worker.logs()
    else:
        (notice,) = told
        assert named in notice.content and "permission" in notice.content
        assert (notice in discord.dms(bob)) is (where == "dm")
        if where == "channel":
            assert notice.message_reference["message_id"] == str(replied_to)
    assert covers_in_channel(discord) == []
    warnings = [line for line in worker.logs().splitlines() if " WARNING " in line]
    assert any(named in line and str(discord.channel_id) in line for line in warnings), warnings


def test_a_reply_the_channel_refuses_without_read_message_history_is_posted_plainly(
    discord, redis_url, redis_sync, settings, workers
):
    gil = discord.add_member("gil")
    discord.set_bot_permissions(deny=READ_MESSAGE_HISTORY)  # a reply needs it (160002)
    workers("no-history")
    request, _ = mention_request(discord, gil, 9)
    job_id = submit(redis_url, redis_sync, settings, request)

    assert finished(redis_sync, job_id) == "finished"
    (cover,) = covers_in_channel(discord)
    assert cover.message_reference is None and gil.mention in cover.content
    replies = [p for p in discord.calls("POST", "/channels/") if p.files]
    assert [bool(p.payload.get("message_reference")) for p in replies] == [True, False]


# -- every job ends with an answer ----------------------------------------------------------


def test_a_job_abandoned_on_its_last_attempt_is_answered(
    discord, redis_url, redis_sync, settings, workers
):
    carol = discord.add_member("carol")
    request, interaction = slash_request(discord, carol, 4)
    job_id = submit(redis_url, redis_sync, settings, request, interaction.response_message_id)
    job = Job.fetch(job_id, connection=redis_sync, serializer=JSONSerializer)
    job.retries_left = 0  # its earlier attempts died already: this one is the last
    job.save()

    doomed = workers("dies-on-the-last-attempt", ALBUMIFY_TEST_STAGE_DELAY="60")
    wait_until(lambda: redis_sync.get(STARTED_KEY.format(job_id=job_id)), 60, "the job")
    message = discord.response_to(interaction)
    assert message.content.startswith("⚙️")  # what the member would see forever
    doomed.signal(signal.SIGKILL)
    doomed.wait(10)
    workers("maintenance")

    assert finished(redis_sync, job_id, timeout=40) == "failed"
    wait_until(lambda: message.content.startswith("⚠️"), 10, "the answer")
    assert "stopped before it was done" in message.content
    notices = [r for r in discord.calls("PATCH", "/webhooks/") if "embeds" in (r.payload or {})]
    assert len(notices) == 1


class NewerBot(Intake):
    """The bot of a newer release: its jobs carry a schema version this worker cannot read."""

    async def submit(self, job: CoverJob, token: str | None) -> None:
        await super().submit(dataclasses.replace(job, schema_version=SCHEMA_VERSION + 1), token)


def test_a_job_of_another_schema_version_is_answered_and_not_retried(
    discord, redis_url, redis_sync, settings, workers
):
    dave = discord.add_member("dave")
    request, interaction = slash_request(discord, dave, 5)

    async def enqueue() -> str:
        client = aioredis.Redis.from_url(redis_url, decode_responses=True)
        try:
            intake = NewerBot(client, bot_queue(redis_sync, settings), settings)
            admission = await intake.admit(request)
            job = await intake.enqueue(
                request, admission, response_message_id=interaction.response_message_id
            )
            return job.job_id
        finally:
            await client.aclose()

    job_id = asyncio.run(enqueue())
    workers("older-release")

    assert finished(redis_sync, job_id, timeout=20) == "failed"  # at once: no retry can read it
    message = discord.response_to(interaction)
    wait_until(lambda: message.content.startswith("⚠️"), 10, "the answer")
    assert "being updated" in message.content


# -- a cover posted in the channel is posted once -------------------------------------------


@pytest.mark.parametrize("path", ["mention", "dead-token"])
def test_a_worker_killed_right_after_posting_in_the_channel_does_not_post_twice(
    discord, redis_url, redis_sync, settings, workers, path
):
    erin = discord.add_member("erin")
    doomed = workers(f"posts-then-dies-{path}", ALBUMIFY_TEST_POSTED_DELAY="60")
    job_id, request, _ = submit_channel_bound(
        discord, redis_url, redis_sync, settings, erin, 6, path
    )
    wait_until(lambda: redis_sync.get(POSTED_KEY.format(job_id=job_id)), 60, "the post")
    (first,) = covers_in_channel(discord)
    doomed.signal(signal.SIGKILL)  # before anything of the answer was recorded
    doomed.wait(10)
    survivor = workers("retries-it")

    assert finished(redis_sync, job_id, timeout=60) == "finished", survivor.logs()[-3000:]
    assert covers_in_channel(discord) == [first]
    record = load_result(redis_sync, request.guild_id, str(request.request_id))
    assert record is not None and record.message_id == first.id


def test_a_worker_killed_right_after_recording_does_not_post_again(
    discord, redis_url, redis_sync, settings, workers
):
    """Past Discord's nonce window only the recorded answer can keep the retry quiet."""
    discord.nonce_window_s = 0
    fay = discord.add_member("fay")
    doomed = workers("records-then-dies", ALBUMIFY_TEST_RECORDED_DELAY="60")
    request, _ = mention_request(discord, fay, 8)
    job_id = submit(redis_url, redis_sync, settings, request)
    wait_until(lambda: redis_sync.get(RECORDED_KEY.format(job_id=job_id)), 60, "the record")
    (first,) = covers_in_channel(discord)
    doomed.signal(signal.SIGKILL)
    doomed.wait(10)
    survivor = workers("finds-the-answer")

    assert finished(redis_sync, job_id, timeout=60) == "finished", survivor.logs()[-3000:]
    assert covers_in_channel(discord) == [first]
