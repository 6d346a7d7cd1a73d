"""Layout 3 → 4: keys move under their guild's hash tag, on one Redis and on a Redis Cluster.

`seed_layout_3` writes what release 0.3 (layout 3) keeps: results with their re-roll hash,
layers and voters, the one posted index, message links, boards, member sets, settings,
awards records, declined consent, forget markers, a job's answer, and the short-lived
admission keys that the migration lets expire. The migration runs on the state's client
(SCAN walks every node of the cluster) and the stores then read the moved data.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from albumify import keys
from albumify.boards import LeaderboardStore
from albumify.connections import async_state_redis, is_cluster_url, sync_state_redis
from albumify.guilds import GuildSettingsStore
from albumify.migrations import LAYOUT, layout_of, migrate
from albumify.periods import Periods
from albumify.results import ResultStore
from albumify.settings import Settings
from tests.test_migrations import W48, old

G, G2, CREATOR, AUTHOR = 111111, 222222, 500001, 500002
PERIODS = Periods.at(W48)


def settings_for(url: str) -> Settings:
    return Settings(redis_url=url, state_redis_url=url if is_cluster_url(url) else "")


@pytest.fixture
def state(state_url: str) -> Iterator[Any]:
    client = sync_state_redis(settings_for(state_url))
    yield client
    client.close()


def seed_layout_3(client: Any) -> None:
    record = {
        "guild": G,
        "channel": 333,
        "message": 900001,
        "requester": CREATOR,
        "photo_author": AUTHOR,
        "library_title": "Abbey Road",
        "created_at": f"{W48:.3f}",
        "week": PERIODS.week,
        "month": PERIODS.month,
        "week_exp": PERIODS.week_expires_at,
        "month_exp": PERIODS.month_expires_at,
    }
    client.hset(old("result", result_id="r1"), mapping=record)
    client.hset(old("reroll", result_id="r1"), mapping={"title": "Liftoff"})
    client.expire(old("reroll", result_id="r1"), 600)
    client.hset(old("layers", result_id="r1"), mapping={"meta": "{}"})
    client.expire(old("layers", result_id="r1"), 600)
    client.sadd(old("voters", result_id="r1"), "7", "8")
    unposted = {**record, "guild": G2, "message": ""}
    client.hset(old("result", result_id="r2"), mapping=unposted)
    client.expire(old("result", result_id="r2"), 3600)
    client.hset(old("reroll", result_id="gone"), mapping={"title": "orphan"})  # no record
    client.zadd(old("posted"), {"r1": 123, "ghost": 0})
    client.set(old("message", message_id=900001), "r1")
    client.set(old("message", message_id=999), "ghost")
    for period in ("all", PERIODS.key("week"), PERIODS.key("month")):
        client.zadd(old("board", guild=G, by="covers", period=period), {"r1": 2})
        client.zadd(old("board", guild=G, by="creators", period=period), {str(CREATOR): 2})
    client.expire(old("board", guild=G, by="covers", period=PERIODS.key("week")), 9000)
    client.sadd(old("member_covers", guild=G, user=CREATOR), "r1")
    client.sadd(old("member_photo_covers", guild=G, user=AUTHOR), "r1")
    for voter in ("7", "8"):
        client.sadd(old("member_votes", guild=G, user=voter), "r1")
    client.sadd(old("member_jobs", guild=G, user=CREATOR), "albumify-cover-1")
    client.expire(old("member_jobs", guild=G, user=CREATOR), 7200)
    client.hset(old("guild_settings", guild=G), mapping={"self_votes": "1"})
    client.hset(old("awards_done", guild=G, period="week:2026-W48"), "status", "posted")
    client.expire(old("awards_done", guild=G, period="week:2026-W48"), 86400)
    client.hset(old("awards_role_holder", guild=G), mapping={"role": "5", "member": "6"})
    client.set(old("consent_declined", guild=G, requester=CREATOR, photo="777"), "1", ex=86400)
    client.set(old("forgotten", guild=G, user=AUTHOR), "1.0", ex=600)
    client.set(old("job_result", job_id="albumify-cover-1"), "r1", ex=3600)
    # Admission bookkeeping lives minutes: left to expire under its old name.
    client.zadd(f"albumify:quota:member:{G}:{CREATOR}", {"albumify-cover-1": 1})
    client.set(keys.LAYOUT, 3)


def test_layout_3_moves_under_the_guild_tag(state_url: str, state: Any) -> None:
    seed_layout_3(state)
    assert migrate(state) == 2  # r1 and r2
    assert layout_of(state) == LAYOUT == 4
    assert migrate(state) == 0

    # Nothing is left under a layout-3 name but what expires by itself.
    leftover = sorted(k.decode() for k in state.scan_iter(match="albumify:*") if b"{" not in k)
    expected = [keys.LAYOUT, f"albumify:quota:member:{G}:{CREATOR}", keys.POSTED_GUILDS]
    assert leftover == expected, leftover
    # TTLs travel with the keys; a record's guild decides where it goes.
    assert 0 < state.ttl(keys.reroll(G, "r1")) <= 600
    assert 0 < state.ttl(keys.layers(G, "r1")) <= 600
    assert state.ttl(keys.result(G, "r1")) == -1
    assert 0 < state.ttl(keys.result(G2, "r2")) <= 3600
    assert 0 < state.ttl(keys.board(G, "covers", PERIODS.key("week"))) <= 9000
    assert 0 < state.ttl(keys.member_jobs(G, CREATOR)) <= 7200
    assert state.zscore(keys.posted(G), "r1") == 123
    assert state.smembers(keys.POSTED_GUILDS) == {str(G).encode()}
    assert state.get(keys.job_result(G, "albumify-cover-1")) == b"r1"
    assert state.exists(keys.consent_declined(G, CREATOR, "777"))
    assert state.exists(keys.forgotten(G, AUTHOR))
    assert state.hget(keys.awards_done(G, "week:2026-W48"), "status") == b"posted"
    assert state.hget(keys.awards_role_holder(G), "member") == b"6"
    assert state.smembers(keys.member_photo_covers(G, AUTHOR)) == {b"r1"}

    async def read() -> None:
        client = async_state_redis(settings_for(state_url))
        results = ResultStore(client)
        boards = LeaderboardStore(client, clock=lambda: W48)
        try:
            assert await results.for_message(G, 900001) == "r1"
            assert await results.for_message(G, 999) is None
            record = await results.get(G, "r1")
            assert record is not None and record.title == "Liftoff"
            assert await boards.votes(G, "r1") == 2
            assert (await GuildSettingsStore(client).get(G)).self_votes
            # An unvote undoes exactly what the old vote did, on every moved board.
            assert (await boards.toggle_vote(G, "r1", 7)).status == "removed"
            page = await boards.page(G, "week")
            assert [(e.result_id, e.score) for e in page.entries] == [("r1", 1)]
            assert await client.smembers(keys.member_votes(G, 7)) == set()
            assert (await boards.toggle_vote(G, "r1", CREATOR)).status == "added"  # self: on
        finally:
            await client.aclose()

    asyncio.run(read())


def test_an_interrupted_layout_4_move_keeps_the_new_copy(state: Any) -> None:
    """Cut off between RESTORE and DEL: the next start drops the old key, keeps the new."""
    seed_layout_3(state)
    voters = old("voters", result_id="r1")
    state.restore(keys.voters(G, "r1"), 0, state.dump(voters))  # then the process died
    state.sadd(keys.voters(G, "r1"), "9")  # and a vote landed on the new copy meanwhile
    assert migrate(state) == 2
    assert not state.exists(voters)
    assert state.smembers(keys.voters(G, "r1")) == {b"7", b"8", b"9"}
