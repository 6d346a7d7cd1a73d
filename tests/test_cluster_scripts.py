"""Every Lua script and transaction runs on a Redis Cluster: its keys share one hash slot.

redis-py's cluster client refuses a script or a transaction whose keys map to different
slots (and Redis answers CROSSSLOT where one slipped through), so each of them is run here,
through the code that calls it, on the local 3-master cluster (`devtools.redis_cluster`),
with two guilds whose tags hash to different slots. No script builds a key name itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from redis.cluster import key_slot

from albumify import cancel, consent, keys, lease, lua, migrations, quotas
from albumify.awards import AwardsStore, last_closed
from albumify.boards import LeaderboardStore
from albumify.connections import async_state_redis, sync_state_redis
from albumify.consent import ConsentRequest, ConsentStore
from albumify.guilds import GuildSettingsStore
from albumify.quotas import QuotaGate
from albumify.results import (
    ResultRecord,
    ResultStore,
    discard_result,
    load_result,
    result_posted,
    save_result,
)
from albumify.settings import Limits, Settings
from tests.test_leaderboard_store import W48

G1, G2, CREATOR, AUTHOR, VOTER = 111111, 222222, 500001, 500002, 700001

SCRIPTS = {
    **{f"lua.{name}": source for name, source in lua.SCRIPTS.items()},
    "quotas.RESERVE_LUA": quotas.RESERVE_LUA,
    "quotas.RELEASE_IF_HELD_LUA": quotas.RELEASE_IF_HELD_LUA,
    "lease.RELEASE_IF_HELD_LUA": lease.RELEASE_IF_HELD_LUA,
    "lease._RENEW": lease._RENEW,
    "consent.ASK_LUA": consent.ASK_LUA,
    "consent.ANSWER_LUA": consent.ANSWER_LUA,
    "cancel.CLAIM_LUA": cancel.CLAIM_LUA,
    "migrations._MERGE_COVER": migrations._MERGE_COVER,
    "migrations._SPLIT_RESULT": migrations._SPLIT_RESULT,
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_no_script_builds_a_key_name(name: str) -> None:
    """A key a script touches comes in KEYS: no key prefix in its source."""
    assert f"{keys.PREFIX}:" not in SCRIPTS[name]
    assert "KEYS[" in SCRIPTS[name]


def test_the_two_guilds_live_in_different_slots() -> None:
    """Otherwise the cluster runs below could not catch keys of two guilds mixed."""
    assert key_slot(keys.result(G1, "r").encode()) != key_slot(keys.result(G2, "r").encode())
    assert key_slot(keys.result(G1, "r").encode()) == key_slot(keys.board(G1, "a", "b").encode())


@pytest.fixture
def cluster_settings(redis_cluster: Any, redis_url: str) -> Iterator[Settings]:
    """The state on the local cluster, the queue on the single redis-server."""
    redis_cluster.flush()
    yield Settings(redis_url=redis_url, state_redis_url=redis_cluster.url)


def record(rid: str, guild: int, message_id: int | None = 900001) -> ResultRecord:
    return ResultRecord(
        result_id=rid,
        guild_id=guild,
        channel_id=333,
        requester_id=CREATOR,
        photo_author_id=AUTHOR,
        message_id=message_id,
        title="Liftoff",
        photo_hash="f" * 64,
        created_at=W48,
    )


def test_the_workers_result_scripts_run_on_a_cluster(cluster_settings: Settings) -> None:
    state = sync_state_redis(cluster_settings)
    try:
        save_result(state, record("r1", G1, message_id=None), reroll_ttl_s=600)
        result_posted(
            state,
            "r1",
            333,
            900001,
            W48,
            guild_id=G1,
            requester_id=CREATOR,
            photo_author_id=AUTHOR,
            job_id="albumify-cover-1",
        )
        posted = load_result(state, G1, "r1")
        assert posted is not None and posted.message_id == 900001
        assert state.get(keys.job_result(G1, "albumify-cover-1")) == b"r1"
        assert state.get(keys.message(G1, 900001)) == b"r1"
        state.hset(keys.layers(G1, "r1"), "meta", "{}")
        edited = state.register_script(lua.RESULT_EDITED)  # as `worker.edit` runs it
        edited(keys=[keys.reroll(G1, "r1"), keys.layers(G1, "r1")], args=["{}", "title", "B"])
        assert state.hget(keys.reroll(G1, "r1"), "title") == b"B"
        save_result(state, record("r2", G2))
        assert discard_result(state, G2, "r2") == 1
        assert load_result(state, G2, "r2") is None
    finally:
        state.close()


def test_the_bots_scripts_and_transactions_run_on_a_cluster(cluster_settings: Settings) -> None:
    async def scenario() -> None:
        client = async_state_redis(cluster_settings)
        limits = Limits()
        try:
            for guild, rid in ((G1, "r1"), (G2, "r2")):
                await save_result(client, record(rid, guild))
            boards = LeaderboardStore(client, clock=lambda: W48)
            results = ResultStore(client)
            assert (await boards.toggle_vote(G1, "r1", VOTER)).status == "added"
            assert (await boards.toggle_vote(G2, "r2", VOTER)).status == "added"
            assert await results.unboard(G1, "r1")
            assert await results.delete(G2, "r2")

            gate = QuotaGate(client, limits, queue_length=_empty_queue)
            member, guild = keys.member_quota(G1, CREATOR), keys.guild_quota(G1)
            dedup = keys.dedup_request(G1, CREATOR, "abc")
            reserved = await gate.reserve(
                guild_id=G1, member_key=member, guild_key=guild, job_id="j1", now=W48,
                dedup_key=dedup,
            )  # fmt: skip
            assert reserved.ok
            await gate.release(
                guild_id=G1, member_key=member, guild_key=guild, job_id="j1", dedup_key=dedup
            )
            assert not await gate.forget_duplicate(dedup, "j1")

            store = ConsentStore(client, limits)
            request = ConsentRequest(42, G1, CREATOR, AUTHOR, "777", {"title": "x"})
            assert (await store.ask(request)).outcome == consent.ASKED
            assert (await store.ask(request)).outcome == consent.ALREADY_ASKED
            answered = await store.answer(G1, 42, AUTHOR, approve=False)
            assert answered.outcome == consent.PENDING
            assert await store.declined(G1, CREATOR, "777")
            await store.withdraw(ConsentRequest(43, G1, CREATOR, AUTHOR, "778"))

            assert await cancel.claim_async(client, "j1", cancel.CANCELLED) == cancel.CANCELLED
            period = last_closed("week", W48)
            awards_store = AwardsStore(client, boards)
            assert await awards_store.claim(G1, period, "me")
            await awards_store.release(G1, period, "me")
            settings = GuildSettingsStore(client, clock=lambda: W48)
            await settings.update(G1, awards_channel=5, awards_period="week")
            assert await awards_store.guilds() == [G1]
        finally:
            await client.aclose()

    asyncio.run(scenario())


async def _empty_queue() -> int:
    return 0
