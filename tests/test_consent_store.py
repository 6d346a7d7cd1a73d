"""The consent store (`albumify.consent`) against a real Redis: ask once, the first answer
wins, Decline is remembered, a request expires by itself, and no token is ever stored."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import redis.asyncio as aioredis

from albumify import keys
from albumify.consent import (
    ALREADY_ASKED,
    ANSWERED_TTL_S,
    APPROVED,
    ASKED,
    DECLINED,
    EXPIRED,
    NOT_AUTHOR,
    PENDING,
    ConsentRequest,
    ConsentStore,
    photo_identity,
)
from albumify.settings import Limits

GUILD, REQUESTER, AUTHOR, OTHER = 1, 2, 3, 4
FIELDS = {"channel_id": 5, "title": "Night Drive", "image": {"url": "https://cdn/x.png"}}


def consent(
    request_id: int = 100, requester: int = REQUESTER, photo: str = "777"
) -> ConsentRequest:
    return ConsentRequest(request_id, GUILD, requester, AUTHOR, photo, FIELDS)


@pytest.fixture
def run(redis_url):
    """Runs `fn(store, client)` in its own loop with a fresh client."""

    def go(fn, limits: Limits | None = None):
        async def main():
            client = aioredis.Redis.from_url(redis_url, decode_responses=True)
            try:
                return await fn(ConsentStore(client, limits or Limits()), client)
            finally:
                await client.aclose()

        return asyncio.run(main())

    return go


def test_a_request_is_stored_with_its_fields_for_the_consent_window(run):
    async def scenario(store, client):
        before = time.time()
        asking = await store.ask(consent())
        stored = await client.hgetall(keys.consent_request(GUILD, 100))
        ttl = await client.ttl(keys.consent_request(GUILD, 100))
        asked = await client.get(keys.consent_asked(GUILD, REQUESTER, "777"))
        return before, asking, stored, ttl, asked

    before, asking, stored, ttl, asked = run(scenario, Limits(consent_ttl_s=600))
    assert asking.outcome == ASKED
    assert before + 600 <= asking.expires_at <= time.time() + 600
    assert stored["state"] == PENDING and stored["author"] == str(AUTHOR)
    assert json.loads(stored["fields"]) == FIELDS
    assert 0 < ttl <= 600 and asked == "100"


def test_a_second_request_for_the_same_photo_points_at_the_first(run):
    async def scenario(store, client):
        first = await store.ask(consent(100))
        again = await store.ask(consent(101))  # the same member, the same photo
        other_member = await store.ask(consent(102, requester=OTHER))
        other_photo = await store.ask(consent(103, photo="888"))
        return (
            first,
            again,
            other_member,
            other_photo,
            await client.exists(keys.consent_request(GUILD, 101)),
        )

    first, again, other_member, other_photo, stored_second = run(scenario)
    assert again.outcome == ALREADY_ASKED and again.expires_at == pytest.approx(first.expires_at)
    assert not stored_second  # nothing new to answer: the author is not asked twice
    assert other_member.outcome == ASKED and other_photo.outcome == ASKED


def test_approve_hands_over_the_request_once_and_drops_its_fields(run):
    async def scenario(store, client):
        await store.ask(consent())
        first = await store.answer(GUILD, 100, AUTHOR, approve=True)
        second = await store.answer(GUILD, 100, AUTHOR, approve=True)
        decline_late = await store.answer(GUILD, 100, AUTHOR, approve=False)
        left = await client.hgetall(keys.consent_request(GUILD, 100))
        ttl = await client.ttl(keys.consent_request(GUILD, 100))
        asked = await client.exists(keys.consent_asked(GUILD, REQUESTER, "777"))
        declined = await store.declined(GUILD, REQUESTER, "777")
        return first, second, decline_late, left, ttl, asked, declined

    first, second, decline_late, left, ttl, asked, declined = run(scenario)
    assert first.outcome == PENDING and first.request is not None
    assert first.request.fields == FIELDS and first.request.requester_id == REQUESTER
    assert second.outcome == APPROVED and second.request is None
    assert decline_late.outcome == APPROVED  # the first answer stands
    assert left["state"] == APPROVED and "fields" not in left  # no member text outlives it
    assert ANSWERED_TTL_S - 5 < ttl <= ANSWERED_TTL_S
    assert not asked and not declined  # the member may ask again another time


def test_only_the_author_can_answer(run):
    async def scenario(store, _):
        await store.ask(consent())
        stranger = await store.answer(GUILD, 100, OTHER, approve=True)
        author = await store.answer(GUILD, 100, AUTHOR, approve=True)
        return stranger, author

    stranger, author = run(scenario)
    assert stranger.outcome == NOT_AUTHOR and stranger.request is None
    assert author.outcome == PENDING  # the stranger's click changed nothing


def test_decline_is_final_for_that_photo_and_requester(run):
    async def scenario(store, client):
        await store.ask(consent())
        declined = await store.answer(GUILD, 100, AUTHOR, approve=False)
        again = await store.ask(consent(101))
        other_member = await store.ask(consent(102, requester=OTHER))
        ttl = await client.ttl(keys.consent_declined(GUILD, REQUESTER, "777"))
        return (
            declined,
            again,
            other_member,
            ttl,
            await client.exists(keys.consent_request(GUILD, 101)),
        )

    declined, again, other_member, ttl, stored = run(scenario, Limits(consent_decline_ttl_s=9000))
    assert declined.outcome == PENDING and declined.request is not None
    assert again.outcome == DECLINED and not stored
    assert other_member.outcome == ASKED  # another member may still ask
    assert 8990 < ttl <= 9000


def test_a_request_expires_by_itself(run):
    async def scenario(store, client):
        await store.ask(consent())
        while await client.exists(keys.consent_request(GUILD, 100)):
            await asyncio.sleep(0.05)
        late = await store.answer(GUILD, 100, AUTHOR, approve=True)
        again = await store.ask(consent(101))  # the asked key went with it
        return late, again

    late, again = run(scenario, Limits(consent_ttl_s=1))
    assert late.outcome == EXPIRED and late.request is None
    assert again.outcome == ASKED


def test_withdraw_forgets_a_request_that_never_reached_the_author(run):
    async def scenario(store, client):
        await store.ask(consent())
        await store.withdraw(consent())
        return await client.exists(keys.consent_request(GUILD, 100)), await store.ask(consent(101))

    left, again = run(scenario)
    assert not left and again.outcome == ASKED


def test_the_photo_is_named_by_its_attachment_or_its_url_without_signature():
    assert photo_identity(42, "https://cdn/a.png?ex=1") == "42"
    signed = photo_identity(None, "https://cdn/a.png?ex=1&hm=2")
    assert (
        signed
        == photo_identity(None, "https://cdn/a.png?ex=9")
        != photo_identity(None, "https://cdn/b.png")
    )
    assert ":" not in signed  # a key part


@pytest.mark.parametrize("who", [REQUESTER, AUTHOR], ids=["requester", "author"])
def test_a_forget_after_the_request_withdraws_it(run, who):
    async def scenario(store, client):
        await store.ask(consent())
        answer = await store.answer(GUILD, 100, AUTHOR, approve=True)
        assert answer.request is not None
        before = await store.forgotten_since_asked(answer.request)
        earlier = answer.request.asked_at - 5  # a forget before the request does not count
        await client.set(keys.forgotten(GUILD, who), f"{earlier:.3f}")
        old_forget = await store.forgotten_since_asked(answer.request)
        await client.set(keys.forgotten(GUILD, who), f"{time.time():.3f}")
        return before, old_forget, await store.forgotten_since_asked(answer.request)

    before, old_forget, after = run(scenario)
    assert not before and not old_forget and after
