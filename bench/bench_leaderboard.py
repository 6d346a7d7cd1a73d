"""Leaderboard benchmark: vote throughput and board query latency on a 100k-cover guild.

`python -m bench.bench_leaderboard` starts a private redis-server (no persistence), fills
one guild with 100k recorded covers using pipelined writes, then measures, in the same run:

- votes/s: a naive client-side vote (one command per key, ~15 round trips, not atomic)
  against the store's Lua script, sequentially, concurrently (asyncio.gather over a pool)
  and pipelined; each row checks the boards end with exactly the votes cast;
- query latency: a page of the board (top 10, page 100) through `LeaderboardStore.page`,
  against a naive read of the whole board sorted in Python.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis
import redis.asyncio as aioredis

from albumify import keys, lua, plans
from albumify.boards import LeaderboardStore
from albumify.periods import Periods
from albumify.results import ResultRecord, save_result
from bench.report import Table

GUILD = 424242
COVERS = 100_000
CREATORS = 5_000
SEQUENTIAL_VOTES = 2_000
CONCURRENT_VOTES = 4_000
PIPELINED_VOTES = 10_000
CONCURRENCY = 64
PIPELINE = 200


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Server:
    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server is not on PATH")
        self.dir = tempfile.TemporaryDirectory(prefix="bench-redis-")
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        args = f"--port {self.port} --bind 127.0.0.1 --appendonly no --dir {self.dir.name}"
        self.process = subprocess.Popen(
            [binary, *args.split(), "--save", ""],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self.dir.cleanup()


async def _wait(client: aioredis.Redis) -> None:
    for _ in range(250):
        try:
            await client.ping()
            return
        except (ConnectionError, OSError, aioredis.ConnectionError):
            await asyncio.sleep(0.02)
    raise RuntimeError("redis-server did not start")


def _populate(url: str, now: float) -> None:
    """100k covers on record, with vote scores on every board (pipelined, in chunks).

    Uses the synchronous client (as the worker records covers): less overhead per command.
    """
    rng = random.Random(7)
    client = redis.Redis.from_url(url)
    periods = Periods.at(now)
    ids = [f"c{i}" for i in range(COVERS)]
    creator_of = {rid: 1_000_000 + rng.randrange(CREATORS) for rid in ids}
    scores = {rid: rng.randrange(1, 500) for rid in ids}
    for start in range(0, COVERS, 5_000):
        pipe = client.pipeline(transaction=False)
        for rid in ids[start : start + 5_000]:
            result = ResultRecord(
                rid,
                GUILD,
                1,
                creator_of[rid],
                creator_of[rid],
                message_id=2_000_000 + int(rid[1:]),
                library_id="lib",
                library_title=f"Library cover {rid}",
                created_at=now,
            )
            save_result(pipe, result)
        pipe.execute()
    creators: dict[str, int] = {}
    for rid, score in scores.items():
        creators[str(creator_of[rid])] = creators.get(str(creator_of[rid]), 0) + score
    pipe = client.pipeline(transaction=False)
    for name in ("all", "week", "month"):
        for start in range(0, COVERS, 10_000):
            chunk = {rid: scores[rid] for rid in ids[start : start + 10_000]}
            pipe.zadd(keys.board(GUILD, "covers", periods.key(name)), chunk)
        pipe.zadd(keys.board(GUILD, "creators", periods.key(name)), creators)
    pipe.execute()
    client.close()


async def _naive_vote(client: aioredis.Redis, rid: str, voter: int, now: int) -> None:
    """The baseline: the same effects as the Lua script, one command (round trip) at a time."""
    guild, creator, author, week, month, week_exp, month_exp = await client.hmget(
        keys.result(GUILD, rid),
        "guild",
        "requester",
        "photo_author",
        "week",
        "month",
        "week_exp",
        "month_exp",
    )
    if await client.sismember(keys.voters(GUILD, rid), str(voter)):
        raise AssertionError("the benchmark only adds votes")
    self_votes = await client.hget(keys.guild_settings(guild), "self_votes")
    if str(voter) in (creator, author) and self_votes:
        return
    await client.sadd(keys.voters(GUILD, rid), str(voter))
    await client.sadd(keys.member_votes(guild, voter), rid)
    await client.sadd(keys.user_guilds(voter), guild)
    for suffix, exp in (("all", None), (f"week:{week}", week_exp), (f"month:{month}", month_exp)):
        for by, member in (("covers", rid), ("creators", creator)):
            key = keys.board(guild, by, suffix)
            await client.zincrby(key, 1, member)
            if exp is not None:
                await client.expire(key, int(exp) - now)
    await client.scard(keys.voters(GUILD, rid))


async def _timed(run: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await run()
    return time.perf_counter() - started


async def _votes(table: Table, store: LeaderboardStore, pool_store: LeaderboardStore) -> None:
    client = store.redis
    now = int(store.clock())
    voter_base = iter(range(10_000_000, 10**9, 100_000))

    async def check(target: str, cast: int) -> str:
        board = await client.zscore(keys.board(GUILD, "covers", "all"), target)
        week = await client.zscore(keys.board(GUILD, "covers", Periods.at(now).key("week")), target)
        base = 1  # c1..c5 start with score 1 (reset below)
        ok = board == week == base + cast and await client.scard(keys.voters(GUILD, target)) == cast
        return "exact" if ok else f"MISMATCH {board}/{week}"

    async def fresh(target: str) -> None:
        for name in ("all", "week", "month"):
            await client.zadd(keys.board(GUILD, "covers", Periods.at(now).key(name)), {target: 1})
        await client.delete(keys.voters(GUILD, target))

    async def row(method: str, target: str, n: int, body: Callable[[int], Awaitable[Any]]) -> None:
        await fresh(target)
        first = next(voter_base)
        seconds = await _timed(lambda: body(first))
        table.add(
            "vote",
            method,
            f"{n:,}",
            f"{seconds:.2f} s",
            f"{n / seconds:,.0f} votes/s",
            await check(target, n),
        )

    async def naive_seq(first: int) -> None:
        for i in range(SEQUENTIAL_VOTES):
            await _naive_vote(client, "c1", first + i, now)

    async def lua_seq(first: int) -> None:
        for i in range(SEQUENTIAL_VOTES):
            await store.toggle_vote(GUILD, "c2", first + i)

    async def naive_concurrent(first: int) -> None:
        await _gather_bounded(
            _naive_vote(pool_store.redis, "c3", first + i, now) for i in range(SEQUENTIAL_VOTES)
        )

    async def lua_concurrent(first: int) -> None:
        await _gather_bounded(
            pool_store.toggle_vote(GUILD, "c4", first + i) for i in range(CONCURRENT_VOTES)
        )

    async def lua_pipelined(first: int) -> None:
        fields = await client.hmget(keys.result(GUILD, "c5"), *lua.FINGERPRINT_FIELDS)
        plan = plans.Plan(str(GUILD), "c5", tuple(f or "" for f in fields))  # read once
        for start in range(0, PIPELINED_VOTES, PIPELINE):
            pipe = client.pipeline(transaction=False)
            for i in range(start, start + PIPELINE):
                voter_keys = [*plan.keys(), keys.member_votes(GUILD, first + i)]
                args = [*plan.args(), "c5", first + i, now]
                await store._toggle(keys=voter_keys, args=args, client=pipe)
            await pipe.execute()

    await row("naive per-key commands, sequential (baseline)", "c1", SEQUENTIAL_VOTES, naive_seq)
    await row("Lua script, sequential", "c2", SEQUENTIAL_VOTES, lua_seq)
    await row(
        f"naive, {CONCURRENCY} concurrent (not atomic)", "c3", SEQUENTIAL_VOTES, naive_concurrent
    )
    await row(f"Lua script, {CONCURRENCY} concurrent", "c4", CONCURRENT_VOTES, lua_concurrent)
    await row(f"Lua script, pipelined ×{PIPELINE}", "c5", PIPELINED_VOTES, lua_pipelined)


async def _gather_bounded(coros: Any) -> None:
    """asyncio.gather, at most CONCURRENCY in flight (the pool holds that many connections)."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(coro: Awaitable[Any]) -> None:
        async with gate:
            await coro

    await asyncio.gather(*(one(c) for c in coros))


async def _queries(table: Table, store: LeaderboardStore) -> None:
    client = store.redis

    async def latency(method: str, what: str, reps: int, call: Callable[[], Awaitable[Any]]):
        samples = []
        for _ in range(reps):
            started = time.perf_counter()
            await call()
            samples.append((time.perf_counter() - started) * 1000)
        p50 = statistics.median(samples)
        p95 = sorted(samples)[max(0, int(len(samples) * 0.95) - 1)]
        table.add(what, method, f"{reps} queries", f"p50 {p50:.2f} ms", f"p95 {p95:.2f} ms", "")

    async def naive_page(number: int) -> list[tuple[str, float]]:
        everything = await client.zrange(keys.board(GUILD, "covers", "all"), 0, -1, withscores=True)
        everything.sort(key=lambda pair: -pair[1])
        return everything[number * 10 : number * 10 + 10]

    for number, what in ((0, "top-10 page"), (99, "page 100")):
        await latency(
            "store.page (ZREVRANGE + HMGET)",
            f"covers {what}",
            300,
            lambda n=number: store.page(GUILD, "all", "covers", n),
        )
    await latency(
        "whole board + sort in Python (baseline)", "covers page 100", 3, lambda: naive_page(99)
    )
    await latency(
        "store.page", "creators page 100", 300, lambda: store.page(GUILD, "all", "creators", 99)
    )


async def _run() -> Table:
    table = Table(
        f"Leaderboards: one guild with {COVERS:,} covers, {CREATORS:,} creators (local Redis)",
        ["what", "method", "n", "time", "rate / latency", "check"],
    )
    server = _Server()
    client = aioredis.Redis.from_url(server.url, decode_responses=True)
    pool = aioredis.BlockingConnectionPool.from_url(
        server.url, decode_responses=True, max_connections=CONCURRENCY, timeout=30
    )
    pooled = aioredis.Redis(connection_pool=pool)
    try:
        await _wait(client)
        now = time.time()
        started = time.perf_counter()
        _populate(server.url, now)
        table.add(
            "populate",
            "pipelined record script + ZADD",
            f"{COVERS:,} covers",
            f"{time.perf_counter() - started:.2f} s",
            "",
            "",
        )
        store = LeaderboardStore(client, clock=lambda: now)
        await _votes(table, store, LeaderboardStore(pooled, clock=lambda: now))
        await _queries(table, store)
        memory = (await client.info("memory"))["used_memory_human"]
        table.add("memory", "used_memory", "", "", memory, "")
    finally:
        await client.aclose()
        await pooled.aclose()
        await pool.aclose()
        server.close()
    return table


def run() -> Table:
    return asyncio.run(_run())


if __name__ == "__main__":
    started = time.perf_counter()
    print(run().markdown())
    print(f"({time.perf_counter() - started:.1f} s)", file=sys.stderr)
