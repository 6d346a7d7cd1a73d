"""Leaderboard store on a real redis-server: votes, periods, removal, AOF (forget: test_forget)."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
import redis

from albumify import keys, periods
from albumify.boards import LeaderboardStore
from albumify.connections import async_state_redis, is_cluster_url, sync_state_redis
from albumify.guilds import GuildSettingsStore, parse_channels
from albumify.results import ResultRecord, ResultStore, save_result
from albumify.settings import Settings
from devtools.redis_server import RedisProcess

GUILD = 111111
CREATOR = 500001
W48 = datetime(2026, 11, 27, 12, tzinfo=UTC).timestamp()  # Friday, 2026-W48, November
W49_DEC = datetime(2026, 12, 2, 9, tzinfo=UTC).timestamp()  # Wednesday, 2026-W49, December
W49_NOV = datetime(2026, 11, 30, 8, tzinfo=UTC).timestamp()  # Monday, 2026-W49, November


def aio(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test body in a fresh loop (no pytest-asyncio here)."""

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return wrapper


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def opened(url: str, clock: Clock) -> AsyncIterator[LeaderboardStore]:
    """The state's client as the bot opens it: on one redis-server (a blocking pool: 200
    concurrent votes wait for one of 20 connections), or on the local Redis Cluster."""
    client = async_state_redis(state_settings(url), max_connections=20, pool_timeout=20)
    try:
        yield LeaderboardStore(client, clock=clock)
    finally:
        await client.aclose()


def state_settings(url: str) -> Settings:
    """`url` as the state's Redis (a `redis+cluster://` URL, or a single server's)."""
    return Settings(redis_url=url, state_redis_url=url if is_cluster_url(url) else "")


def sync_client(url: str) -> Any:
    """A bytes client on the state, as the worker's."""
    return sync_state_redis(state_settings(url))


def meta(rid: str, creator: int = CREATOR, created: float = W48, **kw: Any) -> ResultRecord:
    """A posted result (it has a message id)."""
    values: dict[str, Any] = dict(
        result_id=rid,
        guild_id=GUILD,
        channel_id=222222,
        message_id=900000 + int(rid.rsplit("-", 1)[-1]) if rid[-1].isdigit() else 999999,
        requester_id=creator,
        photo_author_id=creator,
        library_id="lib-1",
        library_title="Abbey Road",
        created_at=created,
    )
    values.update(kw)
    return ResultRecord(**values)


def results(store: LeaderboardStore) -> ResultStore:
    return ResultStore(store.redis)


def guilds(store: LeaderboardStore) -> GuildSettingsStore:
    return GuildSettingsStore(store.redis)


def boards(created: float, by: str = "covers") -> list[str]:
    p = periods.Periods.at(created)
    return [keys.board(GUILD, by, p.key(name)) for name in ("all", "week", "month")]


async def scores(store: LeaderboardStore, member: str | int, created: float, by: str) -> list:
    return [await store.redis.zscore(key, str(member)) for key in boards(created, by)]


def test_period_keys() -> None:
    assert periods.week_key(W48) == "2026-W48"
    assert periods.month_key(W48) == "2026-11"
    assert periods.week_key(W49_NOV) == "2026-W49"
    assert periods.month_key(W49_NOV) == "2026-11"
    new_year = datetime(2025, 12, 29, tzinfo=UTC).timestamp()
    assert periods.week_key(new_year) == "2026-W01"
    assert periods.month_key(new_year) == "2025-12"
    p = periods.Periods.at(W48)
    assert p.week_expires_at == datetime(2026, 12, 8, tzinfo=UTC).timestamp()  # Mon 30 + 8 d
    assert p.month_expires_at == datetime(2026, 12, 9, tzinfo=UTC).timestamp()
    dec = periods.Periods.at(datetime(2026, 12, 31, 23, 59, tzinfo=UTC).timestamp())
    assert dec.month == "2026-12"
    assert dec.month_expires_at == datetime(2027, 1, 9, tzinfo=UTC).timestamp()


@aio
async def test_vote_toggles_and_unvote_undoes_it(state_url: str) -> None:
    async with opened(state_url, Clock(W48)) as store:
        await save_result(store.redis, meta("r-1"))
        first = await store.toggle_vote(GUILD, "r-1", 7)
        assert (first.status, first.votes) == ("added", 1)
        assert await scores(store, "r-1", W48, "covers") == [1, 1, 1]
        assert await scores(store, CREATOR, W48, "creators") == [1, 1, 1]
        assert await store.has_voted(GUILD, "r-1", 7)

        second = await store.toggle_vote(GUILD, "r-1", 7)
        assert (second.status, second.votes) == ("removed", 0)
        for key in boards(W48) + boards(W48, "creators"):
            assert await store.redis.exists(key) == 0  # zero scores leave the board
        assert await store.redis.scard(keys.member_votes(GUILD, 7)) == 0

        again = await store.toggle_vote(GUILD, "r-1", 7)
        assert (again.status, again.votes) == ("added", 1)
        assert (await store.toggle_vote(GUILD, "r-404", 7)).status == "missing"


@aio
async def test_self_votes_refused_by_default_and_allowed_by_setting(state_url: str) -> None:
    async with opened(state_url, Clock(W48)) as store:
        await save_result(store.redis, meta("r-1", photo_author_id=42))
        for self_voter in (CREATOR, 42):  # the creator and the photo's author
            outcome = await store.toggle_vote(GUILD, "r-1", self_voter)
            assert (outcome.status, outcome.votes) == ("self", 0)
        assert await store.redis.exists(*boards(W48)) == 0

        settings = await guilds(store).update(GUILD, self_votes=True)
        assert settings.self_votes
        assert (await store.toggle_vote(GUILD, "r-1", CREATOR)).status == "added"
        assert await scores(store, CREATOR, W48, "creators") == [1, 1, 1]
        # Turning the setting off again never blocks taking a vote back.
        await guilds(store).update(GUILD, self_votes=False)
        assert (await store.toggle_vote(GUILD, "r-1", CREATOR)).status == "removed"


@aio
async def test_record_is_idempotent_and_keeps_votes(state_url: str) -> None:
    async with opened(state_url, Clock(W48)) as store:
        await save_result(store.redis, meta("r-1"))
        await store.toggle_vote(GUILD, "r-1", 7)
        worker_client = sync_client(state_url)  # bytes, as the worker's
        save_result(worker_client, meta("r-1", message_id=123456))
        worker_client.close()
        assert await store.votes(GUILD, "r-1") == 1
        assert await results(store).for_message(GUILD, 123456) == "r-1"
        assert (
            await results(store).resolve(GUILD, "https://discord.com/channels/1/2/123456") == "r-1"
        )
        assert await results(store).resolve(GUILD, "r-1") == "r-1"
        assert await results(store).resolve(GUILD, "nothing") is None
        record = await results(store).get(GUILD, "r-1")
        assert record is not None and record.library_title == "Abbey Road"


@aio
async def test_200_concurrent_votes_all_count(state_url: str) -> None:
    async with opened(state_url, Clock(W48)) as store:
        await save_result(store.redis, meta("r-1"))
        outcomes = await asyncio.gather(
            *(store.toggle_vote(GUILD, "r-1", 10_000 + i) for i in range(200))
        )
        assert {o.status for o in outcomes} == {"added"}
        assert sorted(o.votes for o in outcomes) == list(range(1, 201))
        assert await scores(store, "r-1", W48, "covers") == [200, 200, 200]
        assert await scores(store, CREATOR, W48, "creators") == [200, 200, 200]


def test_200_votes_from_4_threads_all_count(state_url: str) -> None:
    asyncio.run(_record(state_url, meta("r-1")))

    def voter_thread(first: int) -> None:
        async def votes() -> None:
            async with opened(state_url, Clock(W48)) as store:
                await asyncio.gather(
                    *(store.toggle_vote(GUILD, "r-1", first + i) for i in range(50))
                )

        asyncio.run(votes())

    threads = [threading.Thread(target=voter_thread, args=(20_000 + 50 * t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client = sync_client(state_url)
    assert client.scard(keys.voters(GUILD, "r-1")) == 200
    assert [client.zscore(k, "r-1") for k in boards(W48)] == [200, 200, 200]
    assert [client.zscore(k, str(CREATOR)) for k in boards(W48, "creators")] == [200, 200, 200]
    client.close()


async def _record(url: str, cover: ResultRecord) -> None:
    async with opened(url, Clock(cover.created_at)) as store:
        await save_result(store.redis, cover)


@aio
async def test_week_rollover_votes_count_in_the_creation_week(state_url: str) -> None:
    clock = Clock(W48)
    async with opened(state_url, clock) as store:
        await save_result(store.redis, meta("r-1"))
        clock.now = W49_DEC  # voted next week, next month
        assert (await store.toggle_vote(GUILD, "r-1", 7)).status == "added"
        assert await scores(store, "r-1", W48, "covers") == [1, 1, 1]  # W48 and November
        assert await scores(store, "r-1", W49_DEC, "covers") == [1, None, None]
        assert (await store.page(GUILD, "week")).entries == []  # this week's board: W49
        assert (await store.page(GUILD, "month")).entries == []
        assert (await store.page(GUILD, "all")).entries[0].result_id == "r-1"
        week_key = keys.board(GUILD, "covers", "week:2026-W48")
        expected = periods.Periods.at(W48).week_expires_at - int(W49_DEC)
        for key in (week_key, keys.board(GUILD, "creators", "week:2026-W48")):
            assert 0 < await store.redis.ttl(key) <= expected
        assert await store.redis.ttl(keys.board(GUILD, "covers", "month:2026-11")) > 0
        assert await store.redis.ttl(keys.board(GUILD, "covers", "all")) == -1

        clock.now = W48 + 3600  # back in W48, that cover is this week's
        assert (await store.top_cover(GUILD, "week")).result_id == "r-1"
        clock.now = W49_DEC
        assert (await store.toggle_vote(GUILD, "r-1", 7)).status == "removed"  # undoes W48 too
        assert await store.redis.exists(week_key) == 0


@aio
async def test_month_rollover_within_one_iso_week(state_url: str) -> None:
    clock = Clock(W49_NOV)  # Monday 30 November: ISO week 49, month of November
    async with opened(state_url, clock) as store:
        await save_result(store.redis, meta("r-1", created=W49_NOV))
        clock.now = W49_DEC
        await store.toggle_vote(GUILD, "r-1", 7)
        assert (await store.page(GUILD, "week")).entries[0].result_id == "r-1"
        assert (await store.page(GUILD, "month")).entries == []  # December
        assert await store.redis.zscore(keys.board(GUILD, "covers", "month:2026-11"), "r-1") == 1


@aio
async def test_votes_after_a_board_expired_do_not_recreate_it(state_url: str) -> None:
    clock = Clock(W48)
    async with opened(state_url, clock) as store:
        await save_result(store.redis, meta("r-1"))
        clock.now = periods.Periods.at(W48).week_expires_at + 1
        await store.toggle_vote(GUILD, "r-1", 7)
        assert await store.redis.exists(keys.board(GUILD, "covers", "week:2026-W48")) == 0
        assert await store.redis.zscore(keys.board(GUILD, "covers", "all"), "r-1") == 1
        await store.toggle_vote(GUILD, "r-1", 7)
        assert await store.redis.exists(keys.board(GUILD, "covers", "all")) == 0


async def votes_on_two_results(store: LeaderboardStore) -> None:
    """r-1 with 3 votes (7, 8, 9) and r-2 with 1 (7), both by CREATOR."""
    await save_result(store.redis, meta("r-1"))
    await save_result(store.redis, meta("r-2"))
    for voter in (7, 8, 9):
        await store.toggle_vote(GUILD, "r-1", voter)
    await store.toggle_vote(GUILD, "r-2", 7)


@aio
async def test_deleted_result_leaves_every_board_and_creator_scores(state_url: str) -> None:
    async with opened(state_url, Clock(W48)) as store:
        await votes_on_two_results(store)
        assert await scores(store, CREATOR, W48, "creators") == [4, 4, 4]

        assert await results(store).delete(GUILD, "r-1")
        assert await scores(store, "r-1", W48, "covers") == [None, None, None]
        assert await scores(store, CREATOR, W48, "creators") == [1, 1, 1]
        assert await store.redis.exists(keys.result(GUILD, "r-1"), keys.voters(GUILD, "r-1")) == 0
        assert await store.redis.smembers(keys.member_votes(GUILD, 7)) == {"r-2"}
        assert await store.redis.smembers(keys.member_votes(GUILD, 8)) == set()
        assert await store.redis.exists(keys.message(GUILD, 900001)) == 0
        assert (await store.toggle_vote(GUILD, "r-1", 10)).status == "missing"
        assert not await results(store).delete(GUILD, "r-1")

        await results(store).delete(GUILD, "r-2")
        assert await store.redis.exists(*boards(W48, "creators")) == 0


@aio
async def test_unboarded_result_leaves_the_boards_but_keeps_its_record(state_url: str) -> None:
    """A moderator's /leaderboard-remove: votes undone, the post's Re-roll and Delete work."""
    async with opened(state_url, Clock(W48)) as store:
        await votes_on_two_results(store)

        assert await results(store).unboard(GUILD, "r-1")
        assert await scores(store, "r-1", W48, "covers") == [None, None, None]
        assert await scores(store, CREATOR, W48, "creators") == [1, 1, 1]
        assert await store.redis.exists(keys.voters(GUILD, "r-1")) == 0
        assert await store.redis.smembers(keys.member_votes(GUILD, 7)) == {"r-2"}
        assert await store.redis.exists(keys.message(GUILD, 900001)) == 0
        assert (await store.toggle_vote(GUILD, "r-1", 10)).status == "missing"
        assert not await results(store).unboard(GUILD, "r-1")
        kept = await results(store).get(GUILD, "r-1")
        assert kept is not None and kept.requester_id == CREATOR and kept.message_id == 900001
        assert (await store.member_stats(GUILD, CREATOR)).covers == 1  # r-2 only


@pytest.mark.parametrize(("count", "pages"), [(0, 1), (10, 1), (11, 2), (25, 3)])
@aio
async def test_pagination_boundaries(state_url: str, count: int, pages: int) -> None:
    async with opened(state_url, Clock(W48)) as store:
        pipe = store.redis.pipeline()
        for i in range(count):  # cover i gets i + 1 votes: ranks are known
            rid = f"r-{i}"
            await save_result(store.redis, meta(rid, creator=CREATOR + i))
            for key in boards(W48):
                pipe.zadd(key, {rid: i + 1})
        await pipe.execute()
        seen = []
        for number in range(pages):
            page = await store.page(GUILD, "all", "covers", number)
            assert (page.page, page.pages, page.total) == (number, pages, count)
            assert len(page.entries) == min(10, count - 10 * number)
            seen += page.entries
        assert [e.rank for e in seen] == list(range(1, count + 1))
        assert [e.score for e in seen] == list(range(count, 0, -1))
        if count:
            assert (
                seen[0].jump_url
                == f"https://discord.com/channels/{GUILD}/222222/{900000 + count - 1}"
            )
            assert seen[0].creator_id == CREATOR + count - 1
        last = await store.page(GUILD, "all", "covers", 99)  # clamped to the last page
        assert last.page == pages - 1


# Snowflakes of 18 and 19 digits: as strings, neither creation nor numeric order.
SNOWFLAKES = [
    "100000000000000000",  # 18 digits: the oldest
    "100000000000000001",
    "999999999999999999",
    "1000000000000000000",  # 19 digits
    "1000000000000000007",
    "1200000000000000000",
]


@aio
async def test_ties_rank_the_earlier_cover_first_and_share_a_rank(state_url: str) -> None:
    async with opened(state_url, Clock(W48)) as store:
        ids = list(SNOWFLAKES)  # ascending = creation order (a snowflake carries its time)
        top = "1100000000000000000"  # created between the others, but with more votes
        creators = {rid: 700 + n for n, rid in enumerate(reversed([*ids, top]))}
        for rid in [top, *reversed(ids)]:  # saved in no particular order
            await save_result(store.redis, meta(rid, creator=creators[rid]))
        for rid in ids:
            await store.toggle_vote(GUILD, rid, 7)
        for voter in (7, 8):
            await store.toggle_vote(GUILD, top, voter)

        seen = []
        for number in range(3):  # pages of 3 cut the group of equal scores twice
            page = await store.page(GUILD, "all", "covers", number, per_page=3)
            seen += [(e.rank, e.score, e.result_id) for e in page.entries]
        assert seen == [(1, 2, top)] + [(2, 1, rid) for rid in ids]
        assert (await store.top_cover(GUILD, "all")).result_id == top  # type: ignore[union-attr]

        # The top cover back to one vote: seven covers tie, the earliest first, all rank 1.
        for voter in (7, 8):
            await store.toggle_vote(GUILD, top, voter)
        await store.toggle_vote(GUILD, top, 7)
        page = await store.page(GUILD, "all", "covers", 0, per_page=10)
        order = sorted([*ids, top], key=int)
        assert [(e.rank, e.score, e.result_id) for e in page.entries] == [
            (1, 1, rid) for rid in order
        ]
        scores = await store.redis.zrange(boards(W48)[0], 0, -1, withscores=True)
        assert {score for _, score in scores} == {1.0}  # votes only: undone exactly

        # The member's best cover: the earliest of their equal ones, at its shared rank.
        for rid in ids[:3]:
            await save_result(store.redis, meta(rid, creator=CREATOR))
        stats = await store.member_stats(GUILD, CREATOR)
        assert stats.best is not None and (stats.best.result_id, stats.best.rank) == (ids[0], 1)


@aio
async def test_tied_creators_are_ordered_by_numeric_id(state_url: str) -> None:
    async with opened(state_url, Clock(W48)) as store:
        users = [int(u) for u in SNOWFLAKES]
        for n, user in enumerate(reversed(users)):
            await save_result(store.redis, meta(f"r-{n}", creator=user))
            await store.toggle_vote(GUILD, f"r-{n}", 7)
        await save_result(store.redis, meta("r-99", creator=5))
        for voter in (7, 8, 9):
            await store.toggle_vote(GUILD, "r-99", voter)
        seen = []
        for number in range(4):
            page = await store.page(GUILD, "week", "creators", number, per_page=2)
            seen += [(e.rank, e.score, e.creator_id) for e in page.entries]
        assert seen == [(1, 3, 5)] + [(2, 1, user) for user in users]


@aio
async def test_creators_board_and_member_stats(state_url: str) -> None:
    async with opened(state_url, Clock(W48)) as store:
        await save_result(store.redis, meta("r-1"))
        await save_result(store.redis, meta("r-2"))
        await save_result(store.redis, meta("r-3", creator=600))
        for voter in (7, 8):
            await store.toggle_vote(GUILD, "r-2", voter)
        await store.toggle_vote(GUILD, "r-1", 7)
        await store.toggle_vote(GUILD, "r-3", CREATOR)
        page = await store.page(GUILD, "week", "creators")
        assert [(e.rank, e.creator_id, e.score, e.covers) for e in page.entries] == [
            (1, CREATOR, 3, 2),
            (2, 600, 1, 1),
        ]
        stats = await store.member_stats(GUILD, CREATOR)
        assert (stats.covers, stats.votes_received, stats.votes_given, stats.week_votes) == (
            2,
            3,
            1,
            3,
        )
        assert stats.best is not None and (stats.best.result_id, stats.best.rank) == ("r-2", 1)
        empty = await store.member_stats(GUILD, 999)
        assert (empty.covers, empty.votes_received, empty.best) == (0, 0, None)


@aio
async def test_settings_roundtrip(state_url: str) -> None:
    async with opened(state_url, Clock(W48)) as store:
        assert (await guilds(store).get(GUILD)).channel_allowed(1)
        channels = parse_channels("<#123456789>, 987654321 123456789")
        assert channels == (123456789, 987654321)
        settings = await guilds(store).update(GUILD, channels=channels, allow_others=True)
        assert settings.allow_others and not settings.self_votes
        assert settings.channel_allowed(987654321) and not settings.channel_allowed(5)
        raw = await store.redis.hgetall(f"albumify:{{{GUILD}}}:settings")  # under the guild tag
        assert raw == {"channels": "123456789,987654321", "allow_others": "1"}


def test_votes_survive_a_restart_with_aof(tmp_path) -> None:
    server = RedisProcess(tmp_path, "--appendonly", "yes", "--appendfsync", "always").start()
    try:
        asyncio.run(_vote_many(server.url, 25))
        server.stop()  # SIGTERM
        server.start()
        client = redis.Redis.from_url(server.url)
        assert client.scard(keys.voters(GUILD, "r-1")) == 25
        assert [client.zscore(k, "r-1") for k in boards(W48)] == [25, 25, 25]
        assert client.hget(keys.result(GUILD, "r-1"), "requester") == str(CREATOR).encode()
        client.close()
    finally:
        server.stop()


async def _vote_many(url: str, count: int) -> None:
    async with opened(url, Clock(W48)) as store:
        await save_result(store.redis, meta("r-1"))
        await asyncio.gather(*(store.toggle_vote(GUILD, "r-1", 100 + i) for i in range(count)))


def test_ids_read_back_exactly():
    """Snowflakes are above 2**53: read through a float they round to the wrong member."""
    from albumify.results import as_int

    snowflake = 1_575_205_921_682_882_561
    assert as_int(str(snowflake).encode()) == snowflake
    assert as_int("3.0") == 3 and as_int(None, 7) == 7
