"""`/albumify-forget` against a real redis-server and real RQ jobs (issue 16, item 4).

A member is in results they asked for, results others made of their photo, votes, kept
photos, queued, running, finished and failed jobs, in two servers. After a forget, Redis holds
nothing of theirs but the ids a posted cover's Delete button needs, and the forget marker; the
Delete still works; a second forget finds nothing; a moderator's forget stays in its server;
an interrupted forget resumes with the servers it had not walked.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from albumify import keys, lua
from albumify.boards import LeaderboardStore
from albumify.connections import async_state_redis, sync_state_redis
from albumify.forget import Forgetter, forgotten_since
from albumify.results import ResultRecord, ResultStore, save_result
from albumify.schema import CoverJob
from albumify.settings import Limits, Settings
from bot.cover.intake import Intake
from bot.privacy.cog import confirmation
from tests.support.jobs import cover_job
from tests.support.processes import bot_queue

G1, G2, CHANNEL = 111111, 222222, 333333
MEMBER, OTHER, VOTER = 700000000000000001, 700000000000000002, 700000000000000003
NOW = datetime(2026, 11, 27, 12, tzinfo=UTC).timestamp()
SECRETS = ("Private Title", "Private Artist", "cdn.example/private.png")


def aio(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return wrapper


def photo_hash(n: int) -> str:
    return f"{n:x}" * 64


@dataclass
class World:
    client: Any
    sync: redis.Redis
    """The queue's Redis (RQ)."""
    state: Any
    """The state's Redis (the same server, or the local Redis Cluster), as the worker's."""
    forgetter: Forgetter
    boards: LeaderboardStore
    results: ResultStore
    intake: Intake


@asynccontextmanager
async def world(url: str, state_url: str) -> AsyncIterator[World]:
    """The queue on `url`; the state on `state_url` (the same, or a Redis Cluster)."""
    settings = Settings(redis_url=url, state_redis_url="" if state_url == url else state_url)
    client = async_state_redis(settings)
    sync = redis.Redis.from_url(url)
    state = sync_state_redis(settings)
    queue = bot_queue(sync, settings)
    try:
        yield World(
            client,
            sync,
            state,
            Forgetter(client, queue, settings.limits, clock=lambda: NOW),
            LeaderboardStore(client, clock=lambda: NOW),
            ResultStore(client),
            Intake(client, queue, settings, clock=lambda: NOW),
        )
    finally:
        await client.aclose()
        sync.close()
        state.close()


def cover(rid: str, guild: int, requester: int, author: int, n: int, **kw: Any) -> ResultRecord:
    values: dict[str, Any] = dict(
        result_id=rid,
        guild_id=guild,
        channel_id=CHANNEL,
        message_id=900000 + n,
        requester_id=requester,
        photo_author_id=author,
        library_id="lib-1",
        library_title="Abbey Road",
        photo_hash=photo_hash(n),
        title="Private Title",
        artist="Private Artist",
        job_id=f"albumify-cover-{n}",
        created_at=NOW,
    )
    values.update(kw)
    return ResultRecord(**values)


def job(n: int, guild: int, requester: int, author: int) -> CoverJob:
    return cover_job(
        "https://cdn.example/private.png",
        job_id=f"albumify-cover-{n}",
        result_id=str(n),
        guild_id=guild,
        channel_id=CHANNEL,
        requester_id=requester,
        photo_author_id=author,
        title="Private Title",
        artist="Private Artist",
        token_expires_at=NOW + 900,
        response_message_id=800000 + n,
        requested_at=NOW - 10,
    )


async def seed(w: World) -> None:
    """What MEMBER is in, in two servers, next to what is not theirs."""
    for record in (
        cover("mine", G1, MEMBER, MEMBER, 1),
        cover("of-my-photo", G1, OTHER, MEMBER, 2),
        cover("others", G1, OTHER, OTHER, 3, title="Other Title", artist="Other Artist"),
        cover("mine-elsewhere", G2, MEMBER, MEMBER, 4),
        cover("5", G1, MEMBER, MEMBER, 5, message_id=None),  # job 5's, never posted
    ):
        await save_result(w.client, record, reroll_ttl_s=3600)  # within the re-roll window
        await w.client.set(keys.photo(record.photo_hash), b"photo", ex=3600)
    for rid, voter in (("mine", VOTER), ("of-my-photo", VOTER), ("others", MEMBER)):
        assert (await w.boards.toggle_vote(G1, rid, voter)).status == "added"
    # Jobs, enqueued as the bot enqueues them (indexed under requester and photo author).
    intake = w.intake
    for n, requester, author in ((5, MEMBER, MEMBER), (6, MEMBER, MEMBER), (7, OTHER, MEMBER)):
        await intake.submit(job(n, G1, requester, author), f"token-{n}")
    await intake.submit(job(8, G1, MEMBER, MEMBER), "token-8")
    await intake.submit(job(9, G1, OTHER, OTHER), "token-9")
    serializer = JSONSerializer
    finished = Job.fetch("albumify-cover-5", connection=w.sync, serializer=serializer)
    finished.set_status(JobStatus.FINISHED)  # its result "5" was saved, never posted
    failed = Job.fetch("albumify-cover-7", connection=w.sync, serializer=serializer)
    failed.meta["photo_hash"] = photo_hash(7)  # what the worker notes after the download
    failed.save_meta()
    failed.set_status(JobStatus.FAILED)
    await w.client.set(keys.photo(photo_hash(7)), b"photo", ex=3600)
    running = Job.fetch("albumify-cover-8", connection=w.sync, serializer=serializer)
    running.set_status(JobStatus.STARTED)
    # albumify-cover-6 stays queued; its admission left a request window and a dedup key.
    await w.client.zadd(keys.member_quota(G1, MEMBER), {"albumify-cover-6": NOW * 1000})
    await w.client.set(keys.dedup_request(G1, MEMBER, "f00d"), "albumify-cover-6", ex=60)
    await w.client.set(keys.dedup_photo(G1, MEMBER, "beef"), "albumify-cover-6", ex=60)


def everything(w: World) -> dict[str, str]:
    """Every key of the state and the queue, with a readable dump of its value."""
    return {**_dump(w.sync), **_dump(w.state)}


def _dump(sync: Any) -> dict[str, str]:
    dump = {}
    for raw in sync.scan_iter(count=1000):
        key = raw.decode()
        kind = sync.type(key).decode()
        if kind == "string":
            value: Any = sync.get(key)
        elif kind == "hash":
            value = sync.hgetall(key)
        elif kind == "set":
            value = sync.smembers(key)
        elif kind == "zset":
            value = sync.zrange(key, 0, -1, withscores=True)
        elif kind == "list":
            value = sync.lrange(key, 0, -1)
        else:  # streams (RQ results)
            value = sync.xrange(key)
        dump[key] = repr(value)
    return dump


def about(dump: dict[str, str], *needles: str) -> dict[str, str]:
    return {k: v for k, v in dump.items() if any(n in k or n in v for n in needles)}


@aio
async def test_forget_leaves_only_the_ids_a_posted_cover_needs(
    redis_url: str, state_url: str
) -> None:
    async with world(redis_url, state_url) as w:
        await seed(w)
        done = await w.forgetter.forget(MEMBER)

        assert (done.guilds, done.covers, done.kept, done.votes) == (2, 4, 3, 1)
        assert (done.jobs, done.running) == (3, 1)  # queued, finished, failed; 8 is running
        assert done.photos == 5  # of "mine", "of-my-photo", "mine-elsewhere", "5", job 7
        assert [c.token for c in done.cancelled] == ["token-6"]  # the queued one is told

        # Posted covers keep exactly the ids that let their Delete button work.
        for rid in ("mine", "of-my-photo", "mine-elsewhere"):
            kept = await w.client.hgetall(keys.result(G2 if "elsewhere" in rid else G1, rid))
            assert set(kept) == set(lua.KEPT_AFTER_FORGET), kept
        assert not await w.client.exists(keys.result(G1, "5"))
        mine = await w.results.get(G1, "mine")
        assert mine is not None and mine.may_delete(MEMBER, manages_messages=False)
        assert (await w.boards.toggle_vote(G1, "mine", VOTER)).status == "missing"

        # Nothing else of theirs: no title, artist, CDN URL, photo; no job hash but the
        # running one (its worker drops the cover); no vote; no index.
        dump = everything(w)
        leaks = about(dump, *SECRETS, *(photo_hash(n) for n in (1, 2, 4, 5, 7)))
        assert set(leaks) <= {"rq:job:albumify-cover-8", "rq:job:albumify-cover-9"}, leaks
        # RQ compresses a job's arguments: which job hashes are left is checked by name.
        job_hashes = {k for k in dump if k.startswith("rq:job:")}
        assert job_hashes == {
            "rq:job:albumify-cover-8",
            "rq:job:albumify-cover-9",
        }  # running; not theirs
        assert not any(f"albumify-cover-{n}" in k for n in (5, 6, 7) for k in dump)
        assert not any(f"token-{n}" in v for n in (5, 6, 7) for v in dump.values())
        remaining = about(dump, str(MEMBER))
        expected = {keys.result(G1, r) for r in ("mine", "of-my-photo")}
        expected.add(keys.result(G2, "mine-elsewhere"))
        expected |= {keys.forgotten(G1, MEMBER), keys.forgotten(G2, MEMBER)}
        assert set(remaining) == expected, sorted(remaining)
        assert await w.client.scard(keys.voters(G1, "others")) == 0
        others = await w.results.get(G1, "others")
        assert others is not None and others.title == "Other Title"  # not theirs: untouched
        assert w.sync.exists("rq:job:albumify-cover-9")  # on the queue's Redis

        # The Delete button still works for them; a second forget finds nothing.
        assert await w.results.delete(G1, "mine")
        again = await w.forgetter.forget(MEMBER)
        assert (again.guilds, again.covers, again.jobs) == (0, 0, 0)
        assert "nothing to forget" in confirmation(again, 14)


@aio
async def test_a_forget_cut_off_inside_a_guild_finishes_on_the_next_one(
    redis_url: str, state_url: str
) -> None:
    """The process dies after the guild's covers went, before its votes: the guild stays on
    the member's list (the record of progress), and the next forget finishes it."""
    async with world(redis_url, state_url) as w:
        await seed(w)
        take_back = w.forgetter._take_back_votes

        async def dies(*args: Any) -> int:
            raise ConnectionError("the bot went away")

        w.forgetter._take_back_votes = dies  # type: ignore[method-assign]
        with pytest.raises(ConnectionError):
            await w.forgetter.forget(MEMBER, G1)
        assert G1 in await w.forgetter.guilds_of(MEMBER)  # not recorded as done
        mine = await w.results.get(G1, "mine")
        assert mine is not None and mine.title is None  # what was done stays done
        assert await w.client.scard(keys.voters(G1, "others")) == 1  # her vote: not yet

        w.forgetter._take_back_votes = take_back  # type: ignore[method-assign]
        done = await w.forgetter.forget(MEMBER)
        assert (done.guilds, done.votes) == (2, 1)
        assert await w.client.scard(keys.voters(G1, "others")) == 0
        assert await w.forgetter.guilds_of(MEMBER) == []
        again = await w.forgetter.forget(MEMBER)
        assert (again.guilds, again.covers, again.votes) == (0, 0, 0)


@aio
async def test_a_moderators_forget_stays_in_its_server_and_forget_resumes(
    redis_url: str, state_url: str
) -> None:
    async with world(redis_url, state_url) as w:
        await seed(w)
        in_g1 = await w.forgetter.forget(MEMBER, G1)
        assert in_g1.guilds == 1 and in_g1.kept == 2  # "mine", "of-my-photo"
        elsewhere = await w.results.get(G2, "mine-elsewhere")
        assert elsewhere is not None and elsewhere.title == "Private Title"  # G2 untouched
        assert await w.forgetter.guilds_of(MEMBER) == [G2]  # what a resumed forget walks
        rest = await w.forgetter.forget(MEMBER)
        assert rest.guilds == 1 and rest.kept == 1
        assert await w.forgetter.guilds_of(MEMBER) == []


@aio
async def test_a_job_running_during_a_forget_is_dropped_by_its_worker(
    redis_url: str, state_url: str
) -> None:
    async with world(redis_url, state_url) as w:
        running = job(10, G1, OTHER, MEMBER)  # someone else's cover of MEMBER's photo
        assert not forgotten_since(w.state, G1, (OTHER, MEMBER), running.requested_at)
        await w.forgetter.forget_in_guild(MEMBER, G1)
        assert forgotten_since(w.state, G1, (OTHER, MEMBER), running.requested_at)
        later = replace(running, requested_at=NOW + 1)  # asked after the forget: kept
        assert not forgotten_since(w.state, G1, (OTHER, MEMBER), later.requested_at)
        ttl = await w.client.ttl(keys.forgotten(G1, MEMBER))
        assert 0 < ttl <= 3 * (120 + 60 + 30) + 60


def test_the_confirmation_says_what_is_kept() -> None:
    from albumify.forget import Forgotten

    text = confirmation(Forgotten(guilds=2, covers=4, kept=3, votes=1, photos=5, jobs=3), 11)
    assert "in 2 servers" in text and "4 covers" in text and "1 vote " in text
    assert "3 covers still posted, only its ids" in text
    assert "no title, artist or photo" in text and "next 11 minutes" in text
    assert "being made" in text
    assert Limits().job_timeout_s == 120  # the marker TTL above assumes the defaults
