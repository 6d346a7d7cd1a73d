"""End to end: fair queueing across guilds (issue 18, 4) through the real bot, a real worker
process, real Redis and the loopback Discord.

The loopback Discord has one guild: it is the quiet guild B, whose members use /albumify and
Cancel. The busy guild A is another guild on the same Redis: its burst goes through the same
admission code the bot runs (`Intake.admit` + `enqueue`), in this process, and the worker
makes its covers into the loopback channel. The worker holds every job at its first stage
(`tests.support.holds`) until the test lets go, so the line is in a known state without sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from albumify import keys
from albumify.cancel import CANCELLED_TEXT
from albumify.progress import stage_text
from albumify.settings import Settings
from bot.cover.intake import Admission, CoverRequest, Intake
from bot.utils.images import ImageCandidate
from devtools.fakediscord import FakeDiscord, FakeInteraction
from devtools.fakediscord.stack import Stack
from tests.support.e2e import MARKS, fresh_conversation, module_stack
from tests.support.holds import HOLD_KEY
from tests.test_e2e import faceless, wait_final
from tests.test_e2e_cancel import (
    HoldingStack,
    assert_cover,
    press,
    quota_refunded,
    request,
    shows_cancelled,
    wait_held,
    with_cancel,
)

pytestmark = MARKS

GUILD_CAP = 3
BUSY_GUILD = 4_242_424_242
stack = module_stack(lambda: HoldingStack({"ALBUMIFY_GUILD_QUEUE_CAP": str(GUILD_CAP)}))
discord = fresh_conversation()


@pytest.fixture
def redis(stack: Stack) -> Iterator[object]:
    client = stack.redis()
    yield client
    client.delete(HOLD_KEY.format(point="stage"))  # never leave the worker held
    client.close()


@pytest.fixture
def settings(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The bot's settings (the stack's environment): guild A's admission runs like the bot's."""
    for name, value in stack.environment().items():
        monkeypatch.setenv(name, value)
    return Settings.from_env()


def hold_every_job(redis) -> None:
    redis.set(HOLD_KEY.format(point="stage"), "1", ex=300)


def let_go(redis) -> None:
    redis.delete(HOLD_KEY.format(point="stage"))


def busy_guild_asks(stack: Stack, settings: Settings, discord: FakeDiscord, n: int) -> Admission:
    """One request of guild A's burst, through the bot's admission and enqueue."""
    photo = discord.upload(f"a{n}.png", faceless(100 + n))
    request = CoverRequest(
        request_id=discord.snowflakes.next(),
        guild_id=BUSY_GUILD,
        channel_id=discord.channel_id,
        requester_id=777,
        photo_author_id=777,
        image=ImageCandidate(
            url=photo["url"],
            filename=photo["filename"],
            content_type=photo["content_type"],
            size=photo["size"],
            attachment_id=int(photo["id"]),
        ),
    )

    async def admit() -> Admission:
        client = aioredis.Redis.from_url(stack.redis_url, decode_responses=True)
        sync = stack.redis()
        try:
            intake = Intake(client, stack.queue(sync), settings)
            admission = await intake.admit(request)
            if admission.ok:
                await intake.enqueue(request, admission)
            return admission
        finally:
            await client.aclose()
            sync.close()

    return asyncio.run(admit())


def started_at(redis, job_id: str):
    job = Job.fetch(job_id, connection=redis, serializer=JSONSerializer)
    assert job.get_status() == JobStatus.FINISHED, (job_id, job.get_status())
    return job.started_at


def test_a_quiet_guild_is_accepted_and_served_next_while_a_busy_guild_is_over_its_cap(
    stack: Stack, discord: FakeDiscord, settings: Settings, redis
) -> None:
    hold_every_job(redis)
    first = busy_guild_asks(stack, settings, discord, 0)
    wait_held(stack, redis, "stage", first.job_id)  # the one worker is busy with A's first
    burst = [busy_guild_asks(stack, settings, discord, n) for n in range(1, GUILD_CAP + 3)]
    # A's second waits in RQ's buffer (one job per worker), the next GUILD_CAP in the fair
    # queue; the one after them is refused: A is at its cap.
    assert [a.ok for a in burst] == [True] * (GUILD_CAP + 1) + [False]
    assert burst[-1].message.startswith(f"This server already has {GUILD_CAP} covers waiting")

    bea = discord.add_member("bea")
    asked, job_id = request(discord, bea, 70)
    discord.send(asked)
    message = with_cancel(stack, asked, job_id)  # accepted: it waits, with its Cancel button
    # Only A's job already in RQ's buffer is ahead of B's (FIFO: all of A's would be).
    in_line = stage_text("queued", position=1)
    discord.wait_until(lambda: message.content == in_line, f"'{in_line}'", 30)

    let_go(redis)
    assert_cover(discord, wait_final(stack, asked), bea)
    stack.wait_idle(120)
    b_started = started_at(redis, job_id)
    assert started_at(redis, first.job_id) < started_at(redis, burst[0].job_id) < b_started
    assert all(b_started < started_at(redis, a.job_id) for a in burst[1:-1])


def test_cancel_while_waiting_for_its_turn_refunds_and_it_never_runs(
    stack: Stack, discord: FakeDiscord, redis
) -> None:
    alice = discord.add_member("alice")
    hold_every_job(redis)
    jobs: list[tuple[FakeInteraction, str]] = []
    for variant in (80, 81, 82):
        asked, job_id = request(discord, alice, variant)
        discord.send(asked)
        with_cancel(stack, asked, job_id)
        jobs.append((asked, job_id))
        if variant == 80:
            wait_held(stack, redis, "stage", job_id)
    (running, _), (buffered, _), (waiting, waiting_id) = jobs
    pending = keys.fair_pending("albumify")
    assert redis.zscore(pending, waiting_id) is not None  # the third waits for its turn

    press(discord, alice, with_cancel(stack, waiting, waiting_id), waiting_id)
    message = discord.response_to(waiting)
    shows_cancelled(discord, message)
    assert redis.zscore(pending, waiting_id) is None
    quota_refunded(redis, discord, alice, waiting_id)

    let_go(redis)
    for asked in (running, buffered):
        assert_cover(discord, wait_final(stack, asked), alice)
    stack.wait_idle(120)
    cancelled = Job.fetch(waiting_id, connection=redis, serializer=JSONSerializer)
    assert cancelled.get_status() == JobStatus.CANCELED and cancelled.started_at is None
    assert message.content == CANCELLED_TEXT and not message.attachments
