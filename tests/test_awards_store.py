"""Cover of the Week / Month in the core (`albumify.awards`) on a real redis-server: which
period is due, the claim that makes an award once, the final board after the vote grace."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis

from albumify import keys
from albumify.awards import (
    CLAIM_TTL_S,
    EMPTY,
    POSTED,
    AwardsStore,
    Done,
    Period,
    due,
    last_closed,
    nonce,
)
from albumify.boards import LeaderboardStore
from albumify.guilds import GuildSettingsStore
from albumify.results import save_result
from albumify.settings import Limits, Settings
from tests.test_leaderboard_store import GUILD, W48, Clock, aio, meta

HOUR = 3600.0
W48_END = datetime(2026, 11, 30, tzinfo=UTC).timestamp()  # Monday: 2026-W48 closes
NOV_END = datetime(2026, 12, 1, tzinfo=UTC).timestamp()


def test_the_last_closed_period_of_each_kind() -> None:
    assert last_closed("week", W48_END) == Period("week", "week:2026-W48", W48_END)
    assert last_closed("week", W48_END - 1).key == "week:2026-W47"
    assert last_closed("month", NOV_END) == Period("month", "month:2026-11", NOV_END)
    assert last_closed("month", NOV_END - 1).key == "month:2026-10"
    new_year = datetime(2027, 1, 1, 5, tzinfo=UTC).timestamp()
    assert last_closed("month", new_year).key == "month:2026-12"
    assert last_closed("week", new_year).key == "week:2026-W52"  # 2026-W53 ends 3 Jan
    assert Period("month", "month:2026-11", NOV_END).label == "November 2026"
    with pytest.raises(ValueError):
        last_closed("year", W48)


def test_an_award_is_due_after_the_delay_and_only_the_latest_after_a_downtime() -> None:
    delay = Limits().awards_delay_s
    assert due("week", W48_END + delay - 1, delay, since=0).key == "week:2026-W47"
    assert due("week", W48_END + delay, delay, since=0).key == "week:2026-W48"
    # Three weeks away: only the latest closed week is due, once; W48 is never posted.
    later = W48_END + 3 * 7 * 24 * HOUR + delay
    assert due("week", later, delay, since=0).key == "week:2026-W51"
    # Turned on in the middle of W48: W47 never is due, W48 is.
    assert due("week", W48_END - 1, delay, since=W48) is None
    assert due("week", W48_END + delay, delay, since=W48).key == "week:2026-W48"


def test_the_delay_may_not_be_shorter_than_the_vote_grace() -> None:
    with pytest.raises(ValueError, match="ALBUMIFY_AWARDS_DELAY"):
        Settings(limits=Limits(vote_grace_s=3600, awards_delay_s=600))


def test_the_post_nonce_is_the_same_for_a_period_and_fits_discord() -> None:
    week = Period("week", "week:2026-W48", W48_END)
    assert nonce(GUILD, week) == nonce(GUILD, week)
    assert nonce(GUILD, week) != nonce(GUILD, Period("month", "month:2026-11", NOV_END))
    assert len(nonce(GUILD, week)) <= 25


@aio
async def test_late_votes_count_during_the_grace_and_then_the_board_is_final(
    redis_url: str,
) -> None:
    clock = Clock(W48)
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        store = LeaderboardStore(client, clock=clock, vote_grace_s=int(HOUR))
        await save_result(client, meta("r-1"))
        week = keys.board(GUILD, "covers", "week:2026-W48")
        clock.now = W48_END + HOUR - 1  # within the grace: counts on W48
        assert (await store.toggle_vote(GUILD, "r-1", 7)).status == "added"
        assert await client.zscore(week, "r-1") == 1
        clock.now = W48_END + HOUR  # the board is final
        assert (await store.toggle_vote(GUILD, "r-1", 8)).status == "added"
        assert await client.zscore(week, "r-1") == 1
        assert await client.zscore(keys.board(GUILD, "covers", "all"), "r-1") == 2
        # An unvote after the grace leaves the final board alone too.
        assert (await store.toggle_vote(GUILD, "r-1", 7)).status == "removed"
        assert await client.zscore(week, "r-1") == 1
        assert await client.zscore(keys.board(GUILD, "covers", "all"), "r-1") == 1
    finally:
        await client.aclose()


@aio
async def test_one_claim_per_period_and_the_done_record(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        awards = AwardsStore(client, LeaderboardStore(client))
        week = Period("week", "week:2026-W48", W48_END)
        month = Period("month", "month:2026-11", NOV_END)
        # Many processes at once: exactly one claim.
        won = await asyncio.gather(*(awards.claim(GUILD, week, f"p{i}") for i in range(20)))
        assert won.count(True) == 1
        owner = f"p{won.index(True)}"
        ttl = await client.ttl(keys.awards_claim(GUILD, week.key))
        assert 0 < ttl <= CLAIM_TTL_S  # a process that dies lets another take over
        assert await awards.claim(GUILD, month, "p0")  # another period is another claim
        await awards.release(GUILD, week, "someone-else")  # not theirs to release
        assert not await awards.claim(GUILD, week, "p99")
        assert await awards.done(GUILD, week) is None
        await awards.mark_done(GUILD, week, Done(POSTED, 42, "r-1", 3), W48_END)
        await awards.release(GUILD, week, owner)
        assert await awards.claim(GUILD, week, "p99")  # free again, but the record says done
        assert await awards.done(GUILD, week) == Done(POSTED, 42, "r-1", 3)
        assert await client.ttl(keys.awards_done(GUILD, week.key)) > 31 * 24 * 3600
        await awards.mark_done(GUILD, month, Done(EMPTY), NOV_END)
        assert (await awards.done(GUILD, month)).status == EMPTY
    finally:
        await client.aclose()


@aio
async def test_standings_of_a_past_period_and_the_role_holder(redis_url: str) -> None:
    clock = Clock(W48)
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        boards = LeaderboardStore(client, clock=clock, vote_grace_s=int(HOUR))
        awards = AwardsStore(client, boards)
        for rid, creator in (("r-1", 501), ("r-2", 502), ("r-3", 503)):
            await save_result(client, meta(rid, creator=creator))
        for rid, voters in (("r-1", (7,)), ("r-2", (7, 8, 9)), ("r-3", (8, 9))):
            for voter in voters:
                await boards.toggle_vote(GUILD, rid, voter)
        clock.now = W48_END + 2 * HOUR  # read after the period, as the scheduler does
        week = Period("week", "week:2026-W48", W48_END)
        standings = await awards.standings(GUILD, week)
        assert [(e.result_id, e.score, e.rank, e.creator_id) for e in standings] == [
            ("r-2", 3, 1, 502),
            ("r-3", 2, 2, 503),
            ("r-1", 1, 3, 501),
        ]
        assert standings[0].jump_url  # the post links the winning cover
        assert await awards.standings(GUILD, Period("week", "week:2026-W47", W48)) == []
        assert await awards.role_holder(GUILD) == (0, 0)
        await awards.set_role_holder(GUILD, 77, 502)
        assert await awards.role_holder(GUILD) == (77, 502)
    finally:
        await client.aclose()


@aio
async def test_turning_awards_on_and_off_keeps_the_guild_list(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        guilds = GuildSettingsStore(client, clock=Clock(W48))
        awards = AwardsStore(client, LeaderboardStore(client))
        settings = await guilds.update(GUILD, awards_channel=1234)
        assert settings.awards_kinds == ()  # a channel alone is off here (the cog picks week)
        assert await awards.guilds() == []
        settings = await guilds.update(GUILD, awards_period="both", winner_role=55)
        assert settings.awards_kinds == ("week", "month")
        assert (settings.awards_channel, settings.winner_role) == (1234, 55)
        assert settings.awards_since == W48
        assert await awards.guilds() == [GUILD]
        # Changing the role leaves `since` alone; turning it off takes the guild off the list.
        assert (await guilds.update(GUILD, winner_role=0)).awards_since == W48
        assert (await guilds.update(GUILD, awards_period="off")).awards_kinds == ()
        assert await awards.guilds() == []
        with pytest.raises(ValueError):
            await guilds.update(GUILD, awards_period="year")
    finally:
        await client.aclose()
