"""The bot's admission with the fair queue (real Redis, no worker): the per-guild queued cap,
places in line, duplicates of a waiting request, and re-rolls ahead of new covers."""

from __future__ import annotations

import asyncio
import dataclasses

import redis.asyncio as aioredis

from albumify import keys
from albumify.edits import EDIT_FUNCTION, EditJob
from albumify.forget import Forgetter
from albumify.progress import stage_text
from albumify.schema import job_id_for
from albumify.settings import Limits
from bot.status.health import queue_status
from tests.support.jobs import cover_job
from tests.test_bot_intake import harness, request  # noqa: F401 - a fixture

A, B = 101, 202
RAISED = {"member_quota": 1000, "guild_quota": 1000}


async def ask(intake, request_id: int, guild: int, **overrides):
    """Admit and, when admitted, queue one request; its admission."""
    req = request(request_id, guild_id=guild, **overrides)
    admission = await intake.admit(req)
    if admission.ok:
        await intake.enqueue(req, admission)
    return admission


def test_a_guild_over_its_queued_cap_is_refused_and_another_guild_is_accepted(harness):  # noqa: F811
    async def scenario(intake, clock):
        burst = [await ask(intake, 9000 + n, A) for n in range(5)]
        quiet = await ask(intake, 9100, B)
        place = await intake.queue_state(quiet.job_id)
        slots = await intake.redis.zcard(keys.member_quota(A, 3))
        return burst, quiet, place, slots

    burst, quiet, place, slots = harness(scenario, Limits(guild_queue_cap=3, **RAISED))
    # No worker: one of A's jobs went into RQ's buffer, three wait (A's cap), the fifth is out.
    assert [a.ok for a in burst] == [True, True, True, True, False]
    assert burst[4].message == (
        "This server already has 3 covers waiting in line. Try again once some of them are done."
    )
    assert slots == 4  # the refused request's quota slot was given back
    assert quiet.ok
    # B waits behind the one job in RQ's buffer only (FIFO: behind all four of A's).
    assert place == ("queued", 1)
    assert stage_text("queued", position=place[1]) == "⏳ Queued — position 2 in line…"


def test_the_global_cap_counts_the_covers_waiting_for_their_turn(harness):  # noqa: F811
    async def scenario(intake, clock):
        return [await ask(intake, 9200 + n, A if n < 3 else B) for n in range(4)]

    admissions = harness(scenario, Limits(queue_cap=3, **RAISED))
    assert [a.ok for a in admissions] == [True, True, True, False]
    assert admissions[3].message.startswith("I'm very busy right now: too many covers in line.")


def test_a_duplicate_of_a_request_waiting_its_turn_points_at_it(harness):  # noqa: F811
    async def scenario(intake, clock):
        await ask(intake, 9300, A)  # in RQ's buffer
        first = await ask(intake, 9301, A)  # waits in the fair queue
        again = await ask(intake, 9302, A, image=request(9301).image)
        return first, again, await intake.queue_state(first.job_id)

    first, again, place = harness(scenario, Limits(**RAISED))
    assert first.ok and again.reused and again.job_id == first.job_id
    assert again.message.startswith("You asked for this cover a moment ago — it's being made")
    assert place == ("queued", 1)


def test_rerolls_and_picked_faces_wait_ahead_of_new_covers(harness):  # noqa: F811
    async def scenario(intake, clock):
        for n in range(3):
            await ask(intake, 9400 + n, A)
        reroll = cover_job(None, job_id="albumify-reroll-1", guild_id=A, rerolled_from="r1")
        picked = cover_job(None, job_id="albumify-reroll-2", guild_id=B, picked_face=True)
        new = dataclasses.replace(reroll, job_id="albumify-cover-3", rerolled_from=None)
        for job in (new, reroll, picked):
            await intake.submit(job, None)
        return [await intake.queue_state(job.job_id) for job in (reroll, picked, new)]

    reroll, picked, new = harness(scenario, Limits(**RAISED))
    # One new cover is in RQ's buffer; the two remakes come next, before A's waiting covers.
    assert (reroll, picked) == (("queued", 1), ("queued", 2))
    assert new[1] > picked[1]


def test_forget_takes_a_members_waiting_covers_out_of_the_line(harness):  # noqa: F811
    async def scenario(intake, clock):
        for n in range(3):
            await ask(intake, 9500 + n, A)
        await ask(intake, 9600, A, requester_id=4, photo_author_id=4)
        before = await asyncio.to_thread(intake.fair.guild_waiting, A)
        await Forgetter(intake.redis, intake.queue, intake.limits).forget(3, A)
        after = await asyncio.to_thread(intake.fair.guild_waiting, A)
        return before, after, await intake.queue_state(job_id_for(9600))

    before, after, other = harness(scenario, Limits(**RAISED))
    assert (before, after) == (3, 1)  # member 4's cover stays
    assert other == ("queued", 0)  # and moves up: member 3's covers are gone from the line


def test_status_counts_the_covers_waiting_for_their_turn(harness, redis_url):  # noqa: F811
    async def scenario(intake, clock):
        for n in range(4):
            await ask(intake, 9700 + n, A if n % 2 else B)
        queue_redis = aioredis.Redis.from_url(redis_url, decode_responses=True)  # as the bot's
        try:
            return await queue_status(queue_redis, intake.queue), intake.fair.waiting()
        finally:
            await queue_redis.aclose()

    status, waiting = harness(scenario, Limits(**RAISED))
    assert waiting == 3  # no worker: one in RQ's list, three wait for their turn
    assert status.queued == 4


def test_an_edit_goes_to_the_front_of_the_line_past_every_waiting_cover(harness):  # noqa: F811
    async def scenario(intake, clock):
        for n in range(4):
            await ask(intake, 9800 + n, A if n % 2 else B)
        edit = EditJob(
            job_id="albumify-edit-1",
            result_id="r1",
            guild_id=A,
            channel_id=2,
            requester_id=3,
            message_id=5,
            photo_author_id=3,
            title="New title",
        )
        await intake.submit(edit, None, function=EDIT_FUNCTION, at_front=True)
        return await intake.queue_state(edit.job_id), intake.fair.waiting()

    place, waiting = harness(scenario, Limits(**RAISED))
    assert place == ("queued", 0) and waiting == 3  # ahead of the one in RQ and the three
