"""End to end: an author's Approve after the request expired makes nothing, and a requester
at their quota is told so without pinging the author (issue 17, 2).

The real `albumify bot` with a one-second consent window (`ALBUMIFY_CONSENT_TTL=1`), a
private redis-server and the loopback Discord. No worker runs: a job queued by mistake would
wait in the queue, where this test would find it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from albumify import keys
from devtools.fakediscord import FakeDiscord
from devtools.fakediscord.stack import Stack
from tests.support.e2e import MARKS, fresh_conversation
from tests.test_e2e_consent import (
    buttons,
    job_made,
    photo_fetches,
    photo_post,
    private_note,
    prompts,
    wait_prompt,
)

pytestmark = MARKS
discord = fresh_conversation()


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    running = Stack({"ALBUMIFY_CONSENT_TTL": "1"}).start(worker=False)
    yield running
    running.stop()


def test_approve_after_the_request_expired_makes_nothing(
    stack: Stack, discord: FakeDiscord
) -> None:
    jo, kim = discord.add_member("jo"), discord.add_member("kim")
    post = photo_post(discord, jo, 40)
    menu = discord.context_menu("Albumify", kim, post)
    prompt = wait_prompt(stack, lambda: discord.answers_to(menu), "the consent prompt")
    approve, _ = buttons(prompt, jo)

    client = stack.redis()
    try:  # the window passes (the request's key expires in Redis by itself)
        request_key = keys.consent_request(discord.guild_id, menu.id)
        discord.wait_until(lambda: not client.exists(request_key), "the request to expire", 30)
    finally:
        client.close()

    click = discord.click(jo, prompt, approve)
    discord.wait_until(lambda: not prompt.custom_ids, "the expired prompt", 30)
    assert "expired" in prompt.content and "nothing was made" in prompt.content, prompt.content
    assert click.acknowledged and discord.answers_to(click) == []
    assert photo_fetches(discord, post) == 0 and not job_made(stack, menu)
    stack.check_alive()


def test_a_requester_at_their_quota_is_told_and_the_author_is_not_asked(
    stack: Stack, discord: FakeDiscord
) -> None:
    jo, lee = discord.add_member("jo"), discord.add_member("lee")
    post = photo_post(discord, jo, 41)
    client = stack.redis()
    try:  # lee has made as many covers as the member quota allows, just now
        window = keys.member_quota(discord.guild_id, lee.id)
        now_ms = int(time.time() * 1000)
        quota = int(stack.environment()["ALBUMIFY_MEMBER_QUOTA"])
        client.zadd(window, {f"earlier-{n}": now_ms - n for n in range(quota)})

        menu = discord.context_menu("Albumify", lee, post)
        note = private_note(discord, menu)
        assert note.content.startswith(f"You've made {quota} covers in the last"), note.content
        assert prompts(discord) == []  # nobody was pinged, nothing waits for jo
        assert not client.exists(keys.consent_request(discord.guild_id, menu.id))
        assert client.zcard(window) == quota  # asking spent no slot
    finally:
        client.close()
    assert photo_fetches(discord, post) == 0 and not job_made(stack, menu)
    stack.check_alive()
