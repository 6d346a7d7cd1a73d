"""End to end: content safety (issue 17, 6). An explicit photo is refused outside
age-restricted channels, kindly, and nothing of it stays; in an age-restricted channel the
same photo becomes a cover.

Real `albumify bot`, a real worker process (`tests.support.worker_main`: the real RQ loop, job
and content check with NudeNet's real model, then the fast fake pipeline), a private
redis-server and the loopback Discord. No explicit image is used: the worker's detector
reports a stubbed score (`ALBUMIFY_TEST_NSFW_SCORE`) for every photo.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest
from rq.job import Job

from albumify import keys
from albumify.schema import job_id_for
from devtools.fakediscord import FakeDiscord, FakeMessage
from devtools.fakediscord.stack import CHECKOUT, Stack
from tests.support.e2e import MARKS, fresh_conversation, module_stack
from tests.test_e2e import faceless, wait_final, wait_reply
from worker.safety import REFUSAL

pytest.importorskip("onnxruntime")
pytestmark = MARKS

STUBBED_SCORE = "0.97"
"""Above the default threshold (0.5): every photo looks explicit to this worker."""


class StubbedScoreStack(Stack):
    """The whole product, its worker's detector reporting `STUBBED_SCORE`."""

    def start_worker(self, name: str = "worker") -> None:
        env = {
            **self.environment(),
            "ALBUMIFY_TEST_PIPELINE": "fake",
            "ALBUMIFY_TEST_NSFW_SCORE": STUBBED_SCORE,
        }
        log = open(self.directory / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "tests.support.worker_main", "--name", f"safety-{os.getpid()}"],
            cwd=CHECKOUT or self.directory,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()


stack = module_stack(StubbedScoreStack)
discord = fresh_conversation()

REFUSED = f"⚠️ {REFUSAL}"


def assert_nothing_kept(stack: Stack, data: bytes, job_id: str) -> None:
    """No photo, no result, no dedup pointer to a cover, no job result, not even the RQ job
    (its payload names the attachment); it ended cleanly: not failed, not retried."""
    stack.wait_idle()
    digest = hashlib.sha256(data).hexdigest()
    client = stack.redis()
    try:
        assert not client.exists(keys.photo(digest))
        assert not list(client.scan_iter(keys.job_result("*", job_id)))
        left = sorted(k.decode() for k in client.scan_iter("albumify:*"))
        kept = [k for k in left if ":photo:" in k or ":result" in k or ":lb:" in k]
        assert kept == [], left
        assert not Job.exists(job_id, connection=client)
        queue = stack.queue(client)
        assert job_id not in queue.failed_job_registry.get_job_ids()
        assert job_id not in queue.scheduled_job_registry.get_job_ids()  # no retry waiting
        for key in client.scan_iter("rq:*"):  # nothing RQ keeps mentions the photo
            if client.type(key) == b"hash":
                assert digest.encode() not in b"".join(client.hgetall(key).values()), key
    finally:
        client.close()


def assert_cover(message: FakeMessage, requester) -> str:
    """A posted cover (the fake pipeline's: small) with its Re-roll and Delete buttons;
    returns its result id."""
    assert message.content.startswith(f"{requester.mention}'s album cover"), message.content
    (attachment,) = message.attachments
    assert attachment["filename"] == "albumify.jpg"
    reroll, delete = message.custom_ids[:2]
    assert reroll.startswith("albumify:reroll:") and delete.startswith("albumify:delete:")
    return reroll.removeprefix("albumify:reroll:")


def no_stage_ran(message: FakeMessage) -> None:
    """The check runs before any other stage: no edit ever showed one."""
    shown = " ".join(message.history)
    for stage_text in ("Reading your photo", "Looking for faces", "Matching an album cover"):
        assert stage_text not in shown, message.history


def test_an_explicit_photo_is_refused_and_nothing_of_it_is_kept(
    stack: Stack, discord: FakeDiscord
) -> None:
    alice = discord.add_member("alice")
    data = faceless(31)
    interaction = discord.slash("albumify", alice, {"image": discord.upload("me.png", data)})
    answer = wait_final(stack, interaction)
    assert answer.content == REFUSED
    assert not answer.attachments and not answer.embeds and not answer.custom_ids
    no_stage_ran(answer)
    assert_nothing_kept(stack, data, job_id_for(interaction.id))

    # The same bytes again (another upload): checked and refused again, never pointed at a
    # cover that does not exist.
    again = discord.slash("albumify", alice, {"image": discord.upload("again.png", data)})
    assert wait_final(stack, again).content == REFUSED
    assert_nothing_kept(stack, data, job_id_for(again.id))
    assert not [m for m in discord.channel() if m.attachments and m.author.bot]


def test_a_mention_with_an_explicit_photo_is_refused_too(
    stack: Stack, discord: FakeDiscord
) -> None:
    bob = discord.add_member("bob")
    data = faceless(32)
    asked = discord.post_message(
        bob, f"{discord.bot.mention} cover this", attachments=[discord.upload("b.png", data)]
    )
    reply = wait_reply(stack, asked)
    assert reply.content == REFUSED and not reply.attachments
    assert_nothing_kept(stack, data, job_id_for(asked.id))


def test_the_same_photo_becomes_a_cover_in_an_age_restricted_channel(
    stack: Stack, discord: FakeDiscord
) -> None:
    carol = discord.add_member("carol")
    discord.set_age_restricted()
    data = faceless(33)
    interaction = discord.slash("albumify", carol, {"image": discord.upload("c.png", data)})
    first = wait_final(stack, interaction)
    result_id = assert_cover(first, carol)
    stack.wait_idle()
    client = stack.redis()
    try:  # what a made cover keeps, and a refused photo must not
        assert client.exists(keys.photo(hashlib.sha256(data).hexdigest()))
        assert Job.exists(job_id_for(interaction.id), connection=client)
    finally:
        client.close()

    asked = discord.post_message(
        carol,
        f"{discord.bot.mention} and this",
        attachments=[discord.upload("d.png", faceless(34))],
    )
    assert_cover(wait_reply(stack, asked), carol)
    worker_log = stack.log("worker")
    assert "content check ready: safety=nudenet-320n" in worker_log  # loaded at start-up
    assert "age-restricted channel; content check skipped" in worker_log

    # A re-roll carries the channel's flag too (its kept photo is checked like any photo).
    reroll = discord.click(carol, first, f"albumify:reroll:{result_id}")
    assert_cover(wait_final(stack, reroll), carol)

    discord.set_age_restricted(False)  # no longer age-restricted: checked again
    refused = discord.slash("albumify", carol, {"image": discord.upload("e.png", faceless(35))})
    assert wait_final(stack, refused).content == REFUSED
    again = discord.click(carol, first, f"albumify:reroll:{result_id}")
    assert wait_final(stack, again).content == REFUSED
