"""End to end: the Cancel button (issue 17, 1) through the real bot, a real worker process,
real Redis and the loopback Discord.

The worker is `tests.support.worker_main` (the real RQ loop and job, the fast fake pipeline)
with holds (`tests.support.holds`): a test stops a job at a named point and lets it go, so
"cancel while queued", "cancel while running" and both orders of the cancel-vs-finish race
happen in a known order, without sleeps.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from rq.job import Job
from rq.serializers import JSONSerializer

from albumify import keys
from albumify.cancel import CANCELLED, CANCELLED_TEXT, FINISHING
from albumify.schema import job_id_for
from bot.cover.cancel import NOT_YOURS, TOO_LATE
from devtools.fakediscord import FakeDiscord, FakeInteraction, FakeMessage, FakeUser
from devtools.fakediscord.stack import CHECKOUT, Stack
from tests.support.e2e import MARKS, fresh_conversation, module_stack
from tests.support.holds import HELD_KEY, HOLD_KEY, JOB_HOLD_KEY
from tests.test_e2e import faceless, wait_final, wait_reply

pytestmark = MARKS


class HoldingStack(Stack):
    """The stack with `tests.support.worker_main` (holds on) as its worker."""

    def start_worker(self, name: str = "worker") -> None:
        log = open(self.directory / f"{name}.log", "wb")  # noqa: SIM115 - closed below
        self.processes[name] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.worker_main",
                "--name",
                f"e2e-{name}-{os.getpid()}",
            ],
            cwd=CHECKOUT or self.directory,
            env={**self.environment(), "ALBUMIFY_TEST_HOLDS": "1"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()


stack = module_stack(HoldingStack)
discord = fresh_conversation()


@pytest.fixture
def redis(stack: Stack) -> Iterator[object]:
    client = stack.redis()
    yield client
    names = list(client.scan_iter("test:hold*"))  # never leave a worker held
    if names:
        client.delete(*names)
    client.close()


# -- helpers -------------------------------------------------------------------------------


def cancel_id(job_id: str) -> str:
    return f"albumify:cancel:{job_id}"


def arm(redis, point: str, job_id: str | None = None) -> None:
    key = HOLD_KEY.format(point=point)
    if job_id is not None:
        key = JOB_HOLD_KEY.format(point=point, job_id=job_id)
    redis.set(key, "1", ex=300)


def release(redis, point: str, job_id: str | None = None) -> None:
    redis.delete(HOLD_KEY.format(point=point), JOB_HOLD_KEY.format(point=point, job_id=job_id))


def wait_held(stack: Stack, redis, point: str, job_id: str) -> None:
    stack.fake.wait_until(
        lambda: redis.exists(HELD_KEY.format(point=point, job_id=job_id)),
        f"job {job_id} held at {point}",
        90,
    )


def request(discord: FakeDiscord, member: FakeUser, variant: int) -> tuple[FakeInteraction, str]:
    """/albumify, prepared first so its job id is known before it is sent."""
    photo = discord.upload(f"p{variant}.png", faceless(variant))
    interaction = discord.prepare_slash("albumify", member, {"image": photo})
    return interaction, job_id_for(interaction.id)


def with_cancel(stack: Stack, interaction: FakeInteraction, job_id: str) -> FakeMessage:
    fake = stack.fake
    return fake.wait_until(
        lambda: (m := fake.response_to(interaction)) and cancel_id(job_id) in m.custom_ids and m,
        "the progress message with its Cancel button",
        60,
    )


def press(discord: FakeDiscord, member: FakeUser, message: FakeMessage, job_id: str):
    click = discord.click(member, message, cancel_id(job_id))
    discord.wait_until(lambda: click.acknowledged, "the Cancel press's acknowledgement", 20)
    return click


def private_reply(discord: FakeDiscord, click: FakeInteraction) -> FakeMessage:
    reply = discord.wait_until(lambda: discord.response_to(click), "the private reply", 20)
    assert reply.ephemeral and reply.visible_to == click.user.id
    return reply


def shows_cancelled(discord: FakeDiscord, message: FakeMessage) -> None:
    discord.wait_until(
        lambda: message.content == CANCELLED_TEXT and not message.components,
        "the message to say Cancelled",
        30,
    )


def job_ended(stack: Stack, redis, job_id: str) -> Job:
    stack.wait_idle()
    return Job.fetch(job_id, connection=redis, serializer=JSONSerializer)


def assert_cover(discord: FakeDiscord, message: FakeMessage, member: FakeUser) -> None:
    """A posted cover (of the fake pipeline: small), with the result's buttons and no Cancel."""
    assert message.content.startswith(f"{member.mention}'s album cover")
    (attachment,) = message.attachments
    assert discord.attachment_bytes(attachment).startswith(b"\xff\xd8")  # a JPEG
    assert [i.split(":")[1] for i in message.custom_ids] == ["reroll", "delete", "vote", "edit"]


def no_cover_anywhere(discord: FakeDiscord) -> None:
    assert [m for m in discord.channel() if m.attachments and m.author.bot] == []
    posts = discord.calls("POST", "/channels/") + discord.calls("PATCH", "/webhooks/")
    assert not any(call.files for call in posts)


def quota_refunded(redis, discord: FakeDiscord, member: FakeUser, job_id: str) -> None:
    assert redis.zscore(keys.member_quota(discord.guild_id, member.id), job_id) is None
    assert redis.zscore(keys.guild_quota(discord.guild_id), job_id) is None
    dedup = redis.scan_iter(keys.member_dedup_keys(discord.guild_id, member.id))
    assert job_id.encode() not in [redis.get(key) for key in dedup]  # asking again is no duplicate


# -- while queued --------------------------------------------------------------------------


def test_cancel_while_queued_refunds_the_slot_and_only_the_requester_may(
    stack: Stack, discord: FakeDiscord, redis
) -> None:
    alice, bob = discord.add_member("alice"), discord.add_member("bob")
    busy, busy_job = request(discord, alice, 60)
    arm(redis, "stage", busy_job)  # the one worker is busy with this one…
    discord.send(busy)
    wait_held(stack, redis, "stage", busy_job)
    waiting, job_id = request(discord, alice, 61)  # …so this one waits in the queue
    discord.send(waiting)
    message = with_cancel(stack, waiting, job_id)
    assert message.content.startswith("⏳")
    assert redis.zscore(keys.member_quota(discord.guild_id, alice.id), job_id) is not None

    refused = private_reply(discord, press(discord, bob, message, job_id))
    assert refused.content == NOT_YOURS
    assert cancel_id(job_id) in message.custom_ids and redis.get(keys.job_outcome(job_id)) is None

    press(discord, alice, message, job_id)
    shows_cancelled(discord, message)
    assert job_id.encode() not in redis.lrange("rq:queue:albumify", 0, -1)
    quota_refunded(redis, discord, alice, job_id)

    release(redis, "stage", busy_job)
    assert_cover(discord, wait_final(stack, busy), alice)
    assert job_ended(stack, redis, job_id).get_status() == "canceled"  # never ran
    assert message.content == CANCELLED_TEXT and not message.attachments
    assert message.history.count(CANCELLED_TEXT) == 1  # said once, at the end
    assert [m for m in discord.channel() if m.attachments] == [discord.response_to(busy)]


# -- while running -------------------------------------------------------------------------


def test_a_moderator_cancels_a_running_job_and_it_stops_at_the_next_stage(
    stack: Stack, discord: FakeDiscord, redis
) -> None:
    carol, sam = discord.add_member("carol"), discord.add_member("sam", moderator=True)
    interaction, job_id = request(discord, carol, 62)
    arm(redis, "stage", job_id)
    discord.send(interaction)
    wait_held(stack, redis, "stage", job_id)
    message = with_cancel(stack, interaction, job_id)  # the worker's progress edit
    assert message.content.startswith("⚙️")

    press(discord, sam, message, job_id)  # Manage Messages: allowed
    shows_cancelled(discord, message)
    release(redis, "stage", job_id)

    rq_job = job_ended(stack, redis, job_id)
    assert rq_job.get_status() == "finished"  # ended cleanly: no failure, no retry
    assert rq_job.return_value()["status"] == "cancelled"
    assert rq_job.meta["stage"] == "cancelled"
    no_cover_anywhere(discord)
    assert message.content == CANCELLED_TEXT and not message.components
    quota_refunded(redis, discord, carol, job_id)
    assert redis.get(keys.job_result(discord.guild_id, job_id)) is None


# -- the race: cancel vs. finish -----------------------------------------------------------


def test_cancel_after_the_worker_claimed_the_cover_is_too_late(
    stack: Stack, discord: FakeDiscord, redis
) -> None:
    dana = discord.add_member("dana")
    interaction, job_id = request(discord, dana, 63)
    arm(redis, "claimed", job_id)
    discord.send(interaction)
    wait_held(stack, redis, "claimed", job_id)
    message = with_cancel(stack, interaction, job_id)

    late = private_reply(discord, press(discord, dana, message, job_id))
    assert late.content == TOO_LATE
    release(redis, "claimed", job_id)

    final = wait_final(stack, interaction)
    assert_cover(discord, final, dana)
    assert not any(i.startswith("albumify:cancel:") for i in final.custom_ids)  # it disappeared
    assert redis.get(keys.job_outcome(job_id)).decode() == FINISHING
    assert job_ended(stack, redis, job_id).return_value()["status"] == "posted"
    assert redis.zscore(keys.member_quota(discord.guild_id, dana.id), job_id) is not None


def test_cancel_just_before_the_worker_claims_means_nothing_is_posted(
    stack: Stack, discord: FakeDiscord, redis
) -> None:
    eli = discord.add_member("eli")
    interaction, job_id = request(discord, eli, 64)
    arm(redis, "claim", job_id)
    discord.send(interaction)
    wait_held(stack, redis, "claim", job_id)  # the cover is made; the worker is about to post
    message = with_cancel(stack, interaction, job_id)

    press(discord, eli, message, job_id)
    shows_cancelled(discord, message)
    release(redis, "claim", job_id)

    assert job_ended(stack, redis, job_id).return_value()["status"] == "cancelled"
    assert redis.get(keys.job_outcome(job_id)).decode() == CANCELLED
    no_cover_anywhere(discord)
    assert message.content == CANCELLED_TEXT and not message.components
    assert not list(redis.scan_iter(keys.result("*", "*")))  # no record of a cover either


# -- after a restart, and on the reply-mention path ----------------------------------------


def test_the_cancel_button_works_after_a_bot_restart(
    stack: Stack, discord: FakeDiscord, redis
) -> None:
    fay = discord.add_member("fay")
    interaction, job_id = request(discord, fay, 65)
    arm(redis, "stage", job_id)
    discord.send(interaction)
    wait_held(stack, redis, "stage", job_id)
    message = with_cancel(stack, interaction, job_id)

    stack.stop_process("bot")
    identified = discord.identifies
    stack.start_bot()
    discord.wait_until(lambda: discord.identifies > identified, "the bot back online", 90)

    press(discord, fay, message, job_id)
    shows_cancelled(discord, message)
    release(redis, "stage", job_id)
    assert job_ended(stack, redis, job_id).return_value()["status"] == "cancelled"
    no_cover_anywhere(discord)


def test_the_reply_mention_path_has_the_button_too(
    stack: Stack, discord: FakeDiscord, redis
) -> None:
    gus = discord.add_member("gus")
    bot = discord.bot
    photo = discord.post_message(gus, "", attachments=[discord.upload("g.png", faceless(66))])
    arm(redis, "stage")
    ask = discord.post_message(gus, f"{bot.mention} this one", reply_to=photo)
    job_id = job_id_for(ask.id)
    status = discord.wait_until(
        lambda: next((m for m in discord.replies_to(ask) if m.custom_ids), None),
        "the bot's status reply",
        60,
    )
    assert status.author.bot and status.custom_ids == [cancel_id(job_id)]
    wait_held(stack, redis, "stage", job_id)

    press(discord, gus, status, job_id)
    shows_cancelled(discord, status)
    release(redis, "stage")
    assert job_ended(stack, redis, job_id).return_value()["status"] == "cancelled"
    no_cover_anywhere(discord)
    assert discord.replies_to(ask) == [status]

    # Not cancelled: the cover comes as the reply, and the status reply (its Cancel) goes.
    again = discord.post_message(gus, f"{bot.mention} go on", reply_to=photo)
    cover = wait_reply(stack, again)
    assert_cover(discord, cover, gus)
    discord.wait_until(lambda: discord.replies_to(again) == [cover], "the status reply gone", 30)
