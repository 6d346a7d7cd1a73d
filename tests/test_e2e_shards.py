"""End to end (#18 item 1): a sharded bot through real processes, Redis and the loopback
Discord.

Two `albumify bot` processes own shards 0–1 and 2–3 of 4 (`ALBUMIFY_SHARDS`), over four guilds
whose ids put one on each shard; the fake routes each guild's events to its shard's connection.
Every interaction is answered exactly once, by the process that owns its guild; the commands
are synced once; the "done once" loops (queue status log, retention sweep) run in one process
and move to the other when it stops. A second module-less stack runs one process with
automatic sharding (`GET /gateway/bot` says 2 shards).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis

from albumify import keys
from devtools.fakediscord import FakeDiscord
from devtools.fakediscord.gateway import shard_of
from devtools.fakediscord.model import FakeInteraction
from devtools.fakediscord.rest import RecordedRequest
from devtools.fakediscord.stack import Stack
from tests.support.e2e import MARKS

pytestmark = MARKS

LEASE_S = 3.0
"""A short leader lease, so the hand-over to the other process is quick."""
RANGES = {"bot-a": "0-1/4", "bot-b": "2-3/4"}
LOOPS = ("status", "retention")


def sharded_stack(shard_count: int, max_concurrency: int) -> Stack:
    """A stack whose fake recommends `shard_count` shards and has one guild on each."""
    # No DEV_GUILD_ID: every command is global, so it exists in every guild.
    stack = Stack({"DEV_GUILD_ID": "", "ALBUMIFY_LEADER_LEASE": str(LEASE_S)})
    fake = stack.fake
    fake.shard_count = shard_count
    fake.max_concurrency = max_concurrency
    first = shard_of(fake.guild_id, shard_count)
    for shard in range(shard_count):
        if shard != first:
            fake.add_guild(shard=shard, shard_count=shard_count)
    return stack


@dataclass
class Started:
    """The two-process stack, and what it did while starting (before any scenario's reset
    wipes the fake's request log and Redis)."""

    stack: Stack
    command_syncs: list[RecordedRequest]
    leaders: dict[str, str]
    """Loop → the holder of its lease in Redis."""


@pytest.fixture(scope="module")
def two_processes() -> Iterator[Started]:
    stack = sharded_stack(4, max_concurrency=2)
    bots = {name: {"ALBUMIFY_SHARDS": shards} for name, shards in RANGES.items()}
    stack.start(worker=False, bots=bots)
    try:
        client = stack.redis()
        try:
            leaders = stack.fake.wait_until(
                lambda: held_leases(client), "both loops led", timeout=60
            )
        finally:
            client.close()
        syncs = [r for r in stack.fake.requests if r.method == "PUT" and "/commands" in r.path]
        yield Started(stack, syncs, leaders)
    finally:
        stack.stop()


def held_leases(client: redis.Redis) -> dict[str, str] | None:
    holders = {loop: client.get(keys.leader(loop)) for loop in LOOPS}
    if not all(holders.values()):
        return None
    return {loop: holder.decode() for loop, holder in holders.items() if holder}


def owner(guild_id: int) -> str:
    """The bot process whose shard range holds the guild."""
    shard = shard_of(guild_id, 4)
    return "bot-a" if shard < 2 else "bot-b"


def ask_status_everywhere(fake: FakeDiscord, rounds: int = 3) -> list[FakeInteraction]:
    """`/albumify-status` by several members in every guild, in one burst."""
    members = [fake.add_member(f"member-{n}") for n in range(rounds)]
    prepared = [
        fake.prepare_slash("albumify-status", member, guild_id=guild_id)
        for member in members
        for guild_id in fake.guild_ids()
    ]
    return fake.send(*prepared)


def answered(fake: FakeDiscord, interactions: list[FakeInteraction]) -> None:
    fake.wait_until(
        lambda: all(i.callbacks for i in interactions), "every interaction answered", timeout=60
    )


def status_asks(stack: Stack, name: str) -> list[int]:
    return [int(g) for g in re.findall(r"status asked in guild (\d+)", stack.log(name))]


def test_each_guild_is_served_by_its_shard_s_process_once(two_processes: Started) -> None:
    stack = two_processes.stack
    with stack.scenario() as fake:
        assert {shard_of(g, 4) for g in fake.guild_ids()} == {0, 1, 2, 3}
        assert sorted((s, c) for _, s, c in fake.identify_log) == [(n, 4) for n in range(4)]
        first = ask_status_everywhere(fake)
        answered(fake, first)
        # A later burst is a barrier: a duplicate answer to the first would have come by now.
        answered(fake, ask_status_everywhere(fake, rounds=1))
        for interaction in first:
            assert len(interaction.callbacks) == 1, interaction.callbacks
            assert fake.response_to(interaction) is not None
        asked = {name: status_asks(stack, name) for name in RANGES}
        for guild_id in fake.guild_ids():
            for name in RANGES:
                times = asked[name].count(guild_id)
                assert times == (4 if name == owner(guild_id) else 0), (name, guild_id, asked)


def test_commands_are_synced_once_by_the_process_that_owns_shard_0(
    two_processes: Started,
) -> None:
    stack = two_processes.stack
    # No DEV_GUILD_ID: one PUT of the global commands, from bot-a (shards 0-1).
    assert len(two_processes.command_syncs) == 1, two_processes.command_syncs
    assert "global commands" in stack.log("bot-a")
    assert "global commands" not in stack.log("bot-b")
    assert "synced by the process that owns shard 0" in stack.log("bot-b")


def test_the_loops_run_in_one_process_and_move_when_it_stops(two_processes: Started) -> None:
    stack = two_processes.stack
    pids = {name: stack.processes[name].pid for name in RANGES}
    for loop, holder in two_processes.leaders.items():
        leading = [name for name, pid in pids.items() if f":{pid}:" in holder]
        assert len(leading) == 1, (loop, holder, pids)
        others = [name for name in RANGES if name not in leading]
        assert all(f"{loop}: this process leads" not in stack.log(n) for n in others), loop
    # The status loop's leader stops: the other process takes it over (the lease is released
    # or lapses), and the surviving shards keep answering.
    leader = next(n for n, pid in pids.items() if f":{pid}:" in two_processes.leaders["status"])
    other = next(n for n in RANGES if n != leader)
    stack.stop_process(leader)
    client = stack.redis()
    try:
        stack.fake.wait_until(
            lambda: all(
                f":{pids[other]}:" in (client.get(keys.leader(loop)) or b"").decode()
                for loop in LOOPS
            ),
            "the other process leading",
            timeout=LEASE_S * 10,
        )
    finally:
        client.close()
    assert "status: this process leads" in stack.log(other)
    fake = stack.fake
    theirs = [g for g in fake.guild_ids() if owner(g) == other]
    member = fake.add_member("after")
    asked = [fake.slash("albumify-status", member, guild_id=g) for g in theirs]
    answered(fake, asked)


@pytest.fixture(scope="module")
def auto_sharded() -> Iterator[Stack]:
    stack = sharded_stack(2, max_concurrency=1)
    stack.start(worker=False)  # no ALBUMIFY_SHARDS: one process, automatic sharding
    yield stack
    stack.stop()


def test_one_process_opens_the_shards_gateway_bot_recommends(auto_sharded: Stack) -> None:
    stack = auto_sharded
    with stack.scenario() as fake:
        assert sorted((s, c) for _, s, c in fake.identify_log) == [(0, 2), (1, 2)]
        interactions = ask_status_everywhere(fake)
        answered(fake, interactions)
        answered(fake, ask_status_everywhere(fake, rounds=1))
        assert all(len(i.callbacks) == 1 for i in interactions)
        # on_ready comes once every shard's guilds arrived (discord.py waits a moment more).
        fake.wait_until(lambda: "on shards [0, 1] of 2" in stack.log("bot"), "ready", timeout=30)
        asked = status_asks(stack, "bot")
        assert sorted(set(asked)) == sorted(fake.guild_ids())
