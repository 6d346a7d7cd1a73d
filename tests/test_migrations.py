"""Layouts 1, 2 and 3 → 4: a running deployment's results, votes and boards survive the upgrade.

`seed_layout_1` writes exactly what release 0.1.0 wrote (the worker's `result:` hash, the
leaderboard's `cover:` hash and voters, the indexes beside them), and `seed_layout_2` what the
one-record release wrote (re-roll fields in the record, raw uploads kept for an hour), so the
tests read data as an upgraded deployment finds it. Layouts 1–3 name keys without the
guild's hash tag (`old`); layout 4 (`test_layout_3_moves_under_the_guild_tag`) moves them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from datetime import UTC, datetime

import redis
import redis.asyncio as aioredis

from albumify import keys
from albumify.boards import LeaderboardStore
from albumify.forget import Forgetter
from albumify.migrations import LAYOUT, layout_of, merge_result, migrate
from albumify.periods import Periods
from albumify.results import UNPOSTED_TTL_S, ResultStore
from albumify.settings import Limits, Settings
from tests.support.jobs import cover_job
from tests.support.processes import bot_queue

GUILD, CHANNEL, CREATOR, AUTHOR = 111111, 222222, 500001, 500002
VOTERS = ("7", "8")
W48 = datetime(2026, 11, 27, 12, tzinfo=UTC).timestamp()


def old(name: str, **fields: object) -> str:
    """A key as layout 3 (and the layouts before it) named it."""
    return keys.LAYOUT3[name].format(**fields)


def seed_layout_1(client: redis.Redis) -> None:
    """Three results as 0.1.0 left them.

    - `posted`: posted and voted twice (worker hash + board hash + voters + boards);
    - `boardonly`: a board hash whose worker hash is gone (author = the creator);
    - `unboarded`: a worker hash whose board hash a moderator removed.
    """
    periods = Periods.at(W48)
    client.hset(
        "albumify:result:posted",
        mapping={
            "guild": GUILD,
            "channel": CHANNEL,
            "message": 900001,
            "requester": CREATOR,
            "photo_author": AUTHOR,
            "library_ids": json.dumps(["lib-1"]),
            "photo_hash": "f" * 64,
            "spoiler": "0",
            "title": "Liftoff",
            "artist": "",
            "advisory": "0",
            "seed": "7",
            "job_id": "albumify-cover-1",
            "created_at": f"{W48 - 5:.3f}",
        },
    )
    for rid, message, author in (("posted", 900001, AUTHOR), ("boardonly", 900002, "")):
        client.hset(
            f"albumify:cover:{rid}",
            mapping={
                "guild": GUILD,
                "channel": CHANNEL,
                "message": message,
                "creator": CREATOR,
                "author": author,
                "library_id": "lib-1",
                "library_title": "Abbey Road",
                "created_at": f"{W48:.3f}",
                "week": periods.week,
                "month": periods.month,
                "week_exp": periods.week_expires_at,
                "month_exp": periods.month_expires_at,
            },
        )
        client.sadd(old("member_covers", guild=GUILD, user=CREATOR), rid)
        client.set(old("message", message_id=message), rid)
    client.sadd(keys.user_guilds(CREATOR), GUILD)
    client.sadd("albumify:cover:posted:voters", *VOTERS)
    for voter in VOTERS:
        client.sadd(old("member_votes", guild=GUILD, user=voter), "posted")
        client.sadd(keys.user_guilds(voter), GUILD)
    for period in ("all", periods.key("week"), periods.key("month")):
        client.zadd(old("board", guild=GUILD, by="covers", period=period), {"posted": len(VOTERS)})
        creators = old("board", guild=GUILD, by="creators", period=period)
        client.zadd(creators, {str(CREATOR): len(VOTERS)})
    client.hset("albumify:result:unboarded", mapping={"guild": GUILD, "requester": CREATOR})


def assert_migrated(client: redis.Redis, url: str) -> None:
    """What `seed_layout_1` becomes, read through this release's stores."""
    assert layout_of(client) == LAYOUT
    assert list(client.scan_iter(match="albumify:cover:*")) == []
    # Retention: W48 is long past the re-roll window, so no title or photo hash is kept; the
    # posted records stay (their messages are up) and wait for the bot to look at them.
    for rid in ("posted", "boardonly"):
        assert client.ttl(keys.result(GUILD, rid)) == -1
        assert client.zscore(keys.posted(GUILD), rid) == 0
        assert not client.exists(keys.reroll(GUILD, rid))
    assert client.hmget(keys.result(GUILD, "posted"), "title", "photo_hash") == [None, None]
    assert 0 < client.ttl(keys.result(GUILD, "unboarded")) <= UNPOSTED_TTL_S  # never posted

    async def read() -> None:
        aio = aioredis.Redis.from_url(url, decode_responses=True)
        results, boards = ResultStore(aio), LeaderboardStore(aio, clock=lambda: W48)
        try:
            posted = await results.get(GUILD, "posted")
            assert posted is not None
            assert (posted.requester_id, posted.photo_author_id) == (CREATOR, AUTHOR)
            assert (posted.message_id, posted.library_title) == (900001, "Abbey Road")
            assert posted.title is None and posted.shown == () and posted.photo_hash == ""
            assert posted.created_at == W48  # the boards' periods win
            assert await boards.votes(GUILD, "posted") == len(VOTERS)
            # An unvote undoes exactly what the old vote did, on every board.
            assert (await boards.toggle_vote(GUILD, "posted", 7)).status == "removed"
            page = await boards.page(GUILD, "week")
            assert [(e.result_id, e.score, e.message_id) for e in page.entries] == [
                ("posted", 1, 900001)
            ]
            assert (await boards.toggle_vote(GUILD, "posted", CREATOR)).status == "self"
            assert (await boards.toggle_vote(GUILD, "posted", AUTHOR)).status == "self"

            board_only = await results.get(GUILD, "boardonly")
            assert board_only is not None
            assert board_only.requester_id == board_only.photo_author_id == CREATOR
            assert await results.for_message(GUILD, 900002) == "boardonly"
            assert (await boards.toggle_vote(GUILD, "boardonly", 9)).status == "added"

            assert (await boards.toggle_vote(GUILD, "unboarded", 9)).status == "missing"
            assert (await results.get(GUILD, "unboarded")).requester_id == CREATOR  # type: ignore[union-attr]
            forgetter = Forgetter(aio, bot_queue(client, Settings()), Limits())
            forgotten = await forgetter.forget(CREATOR)
            assert (forgotten.guilds, forgotten.covers, forgotten.kept) == (1, 2, 2)
            posted = await results.get(GUILD, "posted")  # ids only, so it can still be deleted
            assert posted is not None and posted.title is None and not posted.photo_hash
        finally:
            await aio.aclose()

    asyncio.run(read())


def test_migration_merges_results_and_keeps_votes(redis_url, redis_sync) -> None:
    seed_layout_1(redis_sync)
    assert layout_of(redis_sync) == 1
    assert migrate(redis_sync) == 2 + 3 + 3  # two merged, three split, three moved (layout 4)
    assert migrate(redis_sync) == 0  # the marker: nothing to do twice
    assert_migrated(redis_sync, redis_url)


def test_an_interrupted_migration_finishes_on_the_next_start(redis_url, redis_sync) -> None:
    seed_layout_1(redis_sync)
    merge_result(redis_sync, "posted")  # then the process died: no marker written
    assert layout_of(redis_sync) == 1
    assert migrate(redis_sync) == 1 + 3 + 3  # the rest
    assert_migrated(redis_sync, redis_url)


PHOTO = b"\x89PNG\r\n\x1a\n" + b"a photo the worker decoded" * 10
UPLOAD = b"<!DOCTYPE html><html>a refused upload, kept raw by the old worker</html>"


def seed_layout_2(client: redis.Redis, now: float) -> dict[str, str]:
    """Results as the one-record release (layout 2) left them, with its kept raw uploads.

    - `fresh`: posted ten minutes ago, voted twice, its photo still kept for re-rolls;
    - `stale`: posted two days ago (its photo long gone), title and photo hash still there;
    - `unposted`: saved by a worker whose every post failed.
    """
    photos = {"fresh": hashlib.sha256(PHOTO).hexdigest(), "refused": "e" * 64}
    created = {"fresh": now - 600, "stale": now - 2 * 86400, "unposted": now - 60}
    for n, (rid, at) in enumerate(created.items()):
        p = Periods.at(at)
        client.hset(
            old("result", result_id=rid),
            mapping={
                "guild": GUILD,
                "channel": CHANNEL,
                "message": "" if rid == "unposted" else 910000 + n,
                "requester": CREATOR,
                "photo_author": AUTHOR,
                "library_id": "lib-2",
                "library_title": "Blue Train",
                "library_ids": json.dumps(["lib-2"]),
                "photo_hash": photos.get(rid, "d" * 64),
                "spoiler": "0",
                "title": f"{rid} title",
                "artist": "Alice",
                "advisory": "0",
                "seed": "3",
                "job_id": f"albumify-cover-{rid}",
                "created_at": f"{at:.3f}",
                "week": p.week,
                "month": p.month,
                "week_exp": str(p.week_expires_at),
                "month_exp": str(p.month_expires_at),
            },
        )
    client.set(old("message", message_id=910000), "fresh")
    client.sadd(old("member_covers", guild=GUILD, user=CREATOR), "fresh", "stale")
    client.sadd(old("voters", result_id="fresh"), *VOTERS)
    fresh = Periods.at(created["fresh"])
    for voter in VOTERS:
        client.sadd(old("member_votes", guild=GUILD, user=voter), "fresh")
    for period in ("all", fresh.key("week"), fresh.key("month")):
        client.zadd(old("board", guild=GUILD, by="covers", period=period), {"fresh": len(VOTERS)})
        creators = old("board", guild=GUILD, by="creators", period=period)
        client.zadd(creators, {str(CREATOR): len(VOTERS)})
    client.set(keys.photo(photos["fresh"]), PHOTO, ex=3000)
    client.set(keys.photo(photos["refused"]), UPLOAD, ex=3500)
    client.set(keys.LAYOUT, 2)
    return photos


def test_layout_2_records_keep_only_what_their_posts_need(redis_url, redis_sync) -> None:
    now = time.time()
    photos = seed_layout_2(redis_sync, now)
    assert migrate(redis_sync) == 3 + 3  # split (layout 3), moved (layout 4)
    assert migrate(redis_sync) == 0
    assert layout_of(redis_sync) == LAYOUT

    # The fresh result's re-roll fields moved beside it and expire with its kept photo.
    assert (
        redis_sync.hmget(keys.result(GUILD, "fresh"), "title", "photo_hash", "artist") == [None] * 3
    )
    assert 0 < redis_sync.ttl(keys.reroll(GUILD, "fresh")) <= Limits().photo_ttl_s - 600
    assert redis_sync.get(keys.photo(photos["fresh"])) == PHOTO
    # The stale one's are gone; a refused upload nobody's cover came from is gone.
    assert not redis_sync.exists(keys.reroll(GUILD, "stale"))
    assert not redis_sync.exists(keys.photo(photos["refused"]))
    # Posted records stay (and wait to be looked at); the unposted one expires.
    for rid in ("fresh", "stale"):
        assert (
            redis_sync.ttl(keys.result(GUILD, rid)) == -1
            and redis_sync.zscore(keys.posted(GUILD), rid) == 0
        )
    assert 0 < redis_sync.ttl(keys.result(GUILD, "unposted")) <= UNPOSTED_TTL_S
    assert redis_sync.zscore(keys.posted(GUILD), "unposted") is None

    async def read() -> None:
        aio = aioredis.Redis.from_url(redis_url, decode_responses=True)
        results, boards = ResultStore(aio), LeaderboardStore(aio, clock=lambda: now - 600)
        try:
            fresh = await results.get(GUILD, "fresh")
            assert fresh is not None and (fresh.title, fresh.artist) == ("fresh title", "Alice")
            assert (fresh.photo_hash, fresh.shown, fresh.seed) == (photos["fresh"], ("lib-2",), 3)
            assert (fresh.requester_id, fresh.message_id) == (CREATOR, 910000)
            stale = await results.get(GUILD, "stale")
            assert stale is not None and stale.title is None and stale.photo_hash == ""
            assert stale.library_title == "Blue Train" and stale.message_id == 910001
            assert await boards.votes(GUILD, "fresh") == len(VOTERS)
            assert (await boards.toggle_vote(GUILD, "fresh", 7)).status == "removed"  # exact undo
            page = await boards.page(GUILD, "all")
            assert [(e.result_id, e.score) for e in page.entries] == [("fresh", 1)]
        finally:
            await aio.aclose()

    asyncio.run(read())


def test_a_fresh_database_is_marked_current(redis_sync) -> None:
    assert migrate(redis_sync) == 0
    assert redis_sync.get(keys.LAYOUT) == str(LAYOUT).encode()


def test_the_bot_migrates_when_it_starts(redis_url, redis_sync) -> None:
    """`AlbumifyBot.setup_hook` (what `albumify bot` runs) migrates before loading features."""
    from bot.client import AlbumifyBot

    seed_layout_1(redis_sync)

    async def start() -> None:
        bot = AlbumifyBot(Settings(redis_url=redis_url))

        async def no_sync() -> None:  # registering commands needs Discord
            return None

        bot.sync_commands = no_sync  # type: ignore[method-assign]
        try:
            await bot.setup_hook()
        finally:
            await bot.close()

    asyncio.run(start())
    assert_migrated(redis_sync, redis_url)


def test_layout_2_is_indexed_for_forget(redis_url, redis_sync) -> None:
    """Layout 2 → 3: results of someone's photo and jobs already in RQ are found by forget."""
    redis_sync.set(keys.LAYOUT, 2)
    record = {
        "guild": GUILD,
        "channel": CHANNEL,
        "message": 900009,
        "requester": CREATOR,
        "photo_author": AUTHOR,
        "title": "Liftoff",
        "photo_hash": "e" * 64,
    }
    redis_sync.hset(old("result", result_id="of-author"), mapping=record)
    queue = bot_queue(redis_sync, Settings())
    for n, status in ((1, "queued"), (2, "failed")):
        job = cover_job(
            "https://cdn.example/me.png",
            job_id=f"albumify-cover-{n}",
            guild_id=GUILD,
            requester_id=CREATOR,
            photo_author_id=AUTHOR,
        )
        queued = queue.enqueue("worker.job.make_cover", job.to_dict(), job_id=job.job_id)
        if status == "failed":
            queue.remove(queued)
            queued.set_status(status)
            queue.failed_job_registry.add(queued, ttl=3600)

    assert migrate(redis_sync) == 1 + 1  # its one result split (layout 3), moved (layout 4)
    assert layout_of(redis_sync) == LAYOUT
    assert redis_sync.smembers(keys.member_photo_covers(GUILD, AUTHOR)) == {b"of-author"}
    jobs = {b"albumify-cover-1", b"albumify-cover-2"}
    assert redis_sync.smembers(keys.member_jobs(GUILD, AUTHOR)) == jobs
    assert redis_sync.smembers(keys.member_jobs(GUILD, CREATOR)) == jobs

    async def forget_author() -> None:
        aio = aioredis.Redis.from_url(redis_url, decode_responses=True)
        try:
            done = await Forgetter(aio, queue, Limits()).forget(AUTHOR)
        finally:
            await aio.aclose()
        assert (done.guilds, done.kept, done.jobs) == (1, 1, 2)

    asyncio.run(forget_author())
    assert redis_sync.hget(keys.result(GUILD, "of-author"), "title") is None
    assert not list(redis_sync.scan_iter("rq:job:*"))
