"""Sizing: many guilds over sharded bot processes, Redis memory per guild and per cover, votes/s.

`python -m bench.bench_sizing [--guilds N] [--covers N] [--quick]` measures, in one run, a
sharded deployment against a baseline of the same code:

- Gateway and acks (real `albumify bot` processes, real Redis, the loopback Discord): the
  baseline is one process, one shard, 4 guilds; the sharded case is 2 processes × 2 shards
  (`ALBUMIFY_SHARDS=0-1/4`, `2-3/4`) over `--guilds` guilds (10,000 by default) spread evenly
  over the 4 shards. Reported: start → every shard's process ready, the bot processes' RSS, and
  ack p50/p99 of 100 `/albumify` interactions at once (INTERACTION_CREATE leaving the fake →
  the defer callback arriving there) in guilds picked at random, one cold burst and 5 warm ones,
  the two deployments running side by side and their bursts interleaved.
  No worker runs: the jobs are dropped from the queue after each burst (as bench_e2e does).
- Redis memory (a private redis-server, the real stores): `used_memory` before and after
  configuring `--guilds` guilds (`GuildSettingsStore.update`: channels + Cover of the Week),
  saving and posting `--covers` covers (`save_result`, `result_posted`) across those guilds,
  and one vote on each (`LeaderboardStore.toggle_vote`); MEMORY USAGE of one cover's keys.
- Votes/s through the real vote path (the Lua script, 64 concurrent), on a Redis holding
  1,000 covers of one guild (baseline) and on the full one.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import redis
import redis.asyncio as aioredis

from albumify import keys
from albumify.boards import LeaderboardStore
from albumify.guilds import GuildSettingsStore
from albumify.results import ResultRecord, result_posted, save_result
from bench.bench_e2e import BURST, burst_acks, percentile
from bench.bench_leaderboard import _Server, _wait
from bench.report import Table
from devtools.fakediscord.gateway import shard_of
from devtools.fakediscord.stack import Stack

GUILDS = 10_000
COVERS = 100_000
BASELINE_GUILDS = 4
BASELINE_COVERS = 1_000
WARM_BURSTS = 5
CONCURRENCY = 64
VOTER = 1_000_000_000
VOTE_ROUNDS = 5
ROUND_VOTES = 2_000
QUICK = (1_000, 20_000)
SHARDED = {"bot-a": "0-1/4", "bot-b": "2-3/4"}


# -- gateway and acks --------------------------------------------------------------------------


def start_stack(guilds: int, shard_count: int, bots: dict[str, dict[str, str]]) -> Stack:
    """The fake holds `guilds` guilds spread evenly over `shard_count` shards."""
    stack = Stack({"DEV_GUILD_ID": "", "ALBUMIFY_PROGRESS_INTERVAL": "2.0"})
    fake = stack.fake
    fake.shard_count = shard_count
    fake.max_concurrency = shard_count  # every shard identifies at once
    first = shard_of(fake.guild_id, shard_count)
    for n in range(1, guilds):
        fake.add_guild(shard=(first + n) % shard_count, shard_count=shard_count)
    return stack.start(worker=False, bots=bots, timeout=900)


def wait_ready(stack: Stack, names: list[str], timeout: float = 900) -> None:
    """Until every bot process logged on_ready (all its shards' guilds arrived)."""
    stack.fake.wait_until(
        lambda: all("ready as" in stack.log(n) for n in names), "every bot ready", timeout, 0.2
    )


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Deployment:
    """One running stack and what was measured on it."""

    def __init__(self, guilds: int, shard_count: int, bots: dict[str, dict[str, str]]) -> None:
        started = time.monotonic()
        self.guilds = guilds
        self.bots = list(bots)
        self.stack = start_stack(guilds, shard_count, bots)
        wait_ready(self.stack, self.bots)
        self.ready_s = time.monotonic() - started
        self.rss = [rss_mib(self.stack.processes[name].pid) for name in self.bots]
        self.bursts: list[list[float]] = []
        self.rng = random.Random(18)

    def burst(self) -> None:
        first = BURST * len(self.bursts)
        fake = self.stack.fake
        acks = burst_acks(
            fake, self.stack, first, guild_ids=fake.guild_ids(), rng=self.rng, timeout=120
        )
        self.bursts.append(acks)

    def acks(self) -> dict[str, tuple[float, float]]:
        cold, warm = self.bursts[0], self.bursts[1:]
        return {
            "cold": (percentile(cold, 0.5), percentile(cold, 0.99)),
            "warm": (
                statistics.median(percentile(b, 0.5) for b in warm),
                statistics.median(percentile(b, 0.99) for b in warm),
            ),
        }

    def check(self) -> None:
        assert self.stack.fake.protocol_errors == [], self.stack.fake.protocol_errors
        for name in self.bots:
            assert "Traceback" not in self.stack.log(name), self.stack.log(name)[-3000:]


def measure_both(guilds: int) -> tuple[Deployment, Deployment]:
    """The baseline and the sharded deployment, their bursts interleaved (the machine's load
    then weighs on both alike)."""
    print("sizing: baseline stack …", file=sys.stderr)
    base = Deployment(BASELINE_GUILDS, 1, {"bot": {}})
    big = None
    try:
        print(f"sizing: {guilds:,} guilds on 2 × 2 shards …", file=sys.stderr)
        bots = {name: {"ALBUMIFY_SHARDS": shards} for name, shards in SHARDED.items()}
        big = Deployment(guilds, 4, bots)
        for _ in range(1 + WARM_BURSTS):
            base.burst()
            big.burst()
        base.check()
        big.check()
        return base, big
    finally:
        base.stack.stop()
        if big is not None:
            big.stack.stop()


# -- Redis memory and votes --------------------------------------------------------------------


async def used_memory(client: aioredis.Redis) -> int:
    return int((await client.info("memory"))["used_memory"])


async def bounded(calls: list[Callable[[], Awaitable[Any]]]) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(call: Callable[[], Awaitable[Any]]) -> None:
        async with gate:
            await call()

    await asyncio.gather(*(one(call) for call in calls))


async def configure_guilds(client: aioredis.Redis, guild_ids: list[int]) -> None:
    store = GuildSettingsStore(client)
    await bounded(
        [
            lambda g=g: store.update(
                g, channels=(g + 1,), awards_channel=g + 1, awards_period="week"
            )
            for g in guild_ids
        ]
    )


def cover(n: int, guild_id: int, now: float) -> ResultRecord:
    return ResultRecord(
        f"r{n}",
        guild_id,
        guild_id + 1,
        5_000_000 + n % 50_000,
        5_000_000 + n % 50_000,
        message_id=9_000_000_000 + n,
        library_id=f"lib{n % 3000}",
        library_title=f"Library cover {n % 3000}",
        created_at=now,
    )


def post_covers(
    url: str, guild_ids: list[int], count: int, now: float, first: int = 0
) -> list[tuple[int, str]]:
    """`count` covers as the worker records and posts them: the synchronous client, pipelined
    (as bench_leaderboard populates). Returns their (guild id, result id)s."""
    client = redis.Redis.from_url(url)
    ids = []
    try:
        for start in range(first, first + count, 2_000):
            pipe = client.pipeline(transaction=False)
            for n in range(start, min(first + count, start + 2_000)):
                record = cover(n, guild_ids[n % len(guild_ids)], now)
                save_result(pipe, record)
                result_posted(
                    pipe,
                    record.result_id,
                    record.channel_id,
                    record.message_id or 0,
                    now,
                    guild_id=record.guild_id,
                    requester_id=record.requester_id,
                    photo_author_id=record.photo_author_id,
                )
                ids.append((record.guild_id, record.result_id))
            pipe.execute()
    finally:
        client.close()
    return ids


async def votes_per_s(
    store: LeaderboardStore, result_ids: list[tuple[int, str]], first_voter: int
) -> float:
    """One vote per entry (a cover may repeat) by a member of its own, CONCURRENCY at a time;
    each must count."""
    outcomes: list[str] = []

    async def vote(result: tuple[int, str], voter: int) -> None:
        outcomes.append((await store.toggle_vote(*result, voter)).status)

    started = time.perf_counter()
    await bounded([lambda r=r, v=v: vote(r, first_voter + v) for v, r in enumerate(result_ids)])
    elapsed = time.perf_counter() - started
    counted = outcomes.count("added")
    if counted != len(result_ids):
        raise RuntimeError(f"{counted} of {len(result_ids)} votes counted: {set(outcomes)}")
    return len(result_ids) / elapsed


async def memory_and_votes(guilds: int, covers: int) -> dict[str, float]:
    server = _Server()
    pools = [
        aioredis.BlockingConnectionPool.from_url(
            f"{server.url[:-1]}{db}", max_connections=CONCURRENCY, timeout=30
        )
        for db in (0, 1)
    ]
    full, small = (aioredis.Redis(connection_pool=pool) for pool in pools)
    try:
        await _wait(full)
        now = time.time()
        # Open the pool's connections first: their buffers are not the data's memory.
        await bounded([full.ping for _ in range(CONCURRENCY * 4)])
        empty = await used_memory(full)
        guild_ids = [(n << 22) | n for n in range(1, guilds + 1)]
        await configure_guilds(full, guild_ids)
        after_guilds = await used_memory(full)
        ids = post_covers(server.url, guild_ids, covers, now)
        after_covers = await used_memory(full)
        full_store = LeaderboardStore(full, clock=lambda: now)
        bulk_vps = await votes_per_s(full_store, ids, VOTER)
        after_votes = await used_memory(full)
        one = ids[len(ids) // 2]
        usage = 0
        for key in (keys.result(*one), keys.voters(*one)):
            usage += int(await full.memory_usage(key) or 0)
        # Votes/s, baseline vs full, in interleaved rounds of fresh voters (db 1: one guild).
        few = post_covers(server.url[:-1] + "1", [1 << 40], BASELINE_COVERS, now, first=covers)
        small_store = LeaderboardStore(small, clock=lambda: now)
        rng = random.Random(6)
        rates: dict[str, list[float]] = {"baseline": [], "full": []}
        for round_ in range(VOTE_ROUNDS):
            voter = VOTER * 2 + round_ * ROUND_VOTES
            on_few = [few[n % len(few)] for n in range(ROUND_VOTES)]
            rates["baseline"].append(await votes_per_s(small_store, on_few, voter))
            on_full = rng.sample(ids, ROUND_VOTES)
            rates["full"].append(await votes_per_s(full_store, on_full, voter))
        return {
            "per_guild": (after_guilds - empty) / guilds,
            "per_100k_covers": (after_covers - after_guilds) / covers * 100_000,
            "per_100k_votes": (after_votes - after_covers) / covers * 100_000,
            "one_cover_keys": usage,
            "bulk_vps": bulk_vps,
            "baseline_vps": statistics.median(rates["baseline"]),
            "vps": statistics.median(rates["full"]),
            "total": after_votes,
        }
    finally:
        for client in (full, small):
            await client.aclose()
        for pool in pools:
            await pool.aclose()
        server.close()


# -- the report --------------------------------------------------------------------------------


def mib(value: float) -> str:
    return f"{value / 1024 / 1024:.1f} MiB"


def run(guilds: int = GUILDS, covers: int = COVERS, *, quick: bool = False) -> Table:
    """`quick` (`python -m bench --quick`): 1,000 guilds and 20,000 covers."""
    if quick:
        guilds, covers = QUICK
    table = Table(
        f"Sizing: {guilds:,} guilds on 2 bot processes × 2 shards vs 1 process, 1 shard, "
        f"{BASELINE_GUILDS} guilds (loopback Discord, local Redis)",
        ["measure", "baseline", "sharded", "ratio"],
    )
    base, big = measure_both(guilds)
    table.add("guilds", f"{BASELINE_GUILDS}", f"{guilds:,}", f"{guilds / BASELINE_GUILDS:,.0f}×")
    table.add(
        "start → every process ready",
        f"{base.ready_s:.1f} s",
        f"{big.ready_s:.1f} s",
        f"{big.ready_s / base.ready_s:.2f}×",
    )
    per_process = statistics.mean(big.rss)
    table.add(
        "bot process RSS (each), once ready",
        f"{base.rss[0]:.0f} MiB",
        " / ".join(f"{r:.0f}" for r in big.rss) + " MiB",
        f"{per_process / base.rss[0]:.2f}×",
    )
    extra_kib = (per_process - base.rss[0]) * 1024 / (guilds / 2)
    table.add("bot RSS per guild (sharded − baseline)", "", f"{extra_kib:.1f} KiB", "")
    for name, key in (("cold burst", "cold"), (f"median of {WARM_BURSTS} warm bursts", "warm")):
        (b50, b99), (s50, s99) = base.acks()[key], big.acks()[key]
        table.add(
            f"ack p50 / p99, {BURST} `/albumify` at once, {name}",
            f"{b50 * 1000:.0f} / {b99 * 1000:.0f} ms",
            f"{s50 * 1000:.0f} / {s99 * 1000:.0f} ms",
            f"p99 {s99 / b99:.2f}×",
        )
    print(f"sizing: Redis with {guilds:,} guilds and {covers:,} covers …", file=sys.stderr)
    memory = asyncio.run(memory_and_votes(guilds, covers))
    table.add(
        "Redis per configured guild (settings + awards set)", "", f"{memory['per_guild']:.0f} B", ""
    )
    table.add(
        "Redis per 100k posted covers (record, posted, message index)",
        "",
        mib(memory["per_100k_covers"]),
        "",
    )
    table.add(
        "Redis per 100k votes (voters, boards, member stats)", "", mib(memory["per_100k_votes"]), ""
    )
    table.add(
        "MEMORY USAGE of one voted cover's record + voters", "", f"{memory['one_cover_keys']} B", ""
    )
    table.add(
        f"votes/s, Lua vote script, {CONCURRENCY} concurrent, median of {VOTE_ROUNDS} "
        f"interleaved rounds of {ROUND_VOTES:,}",
        f"{memory['baseline_vps']:,.0f} ({BASELINE_COVERS:,} covers, 1 guild)",
        f"{memory['vps']:,.0f} ({covers:,} covers, {guilds:,} guilds)",
        f"{memory['vps'] / memory['baseline_vps']:.2f}×",
    )
    table.add(
        f"votes/s, the first vote on each of the {covers:,} covers",
        "",
        f"{memory['bulk_vps']:,.0f}",
        "",
    )
    table.add("Redis used_memory at the end", "", mib(memory["total"]), "")
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guilds", type=int, default=GUILDS)
    parser.add_argument("--covers", type=int, default=COVERS)
    parser.add_argument("--quick", action="store_true", help="1,000 guilds, 20,000 covers")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    print(run(args.guilds, args.covers, quick=args.quick).markdown())
    print(f"({time.perf_counter() - started:.1f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
