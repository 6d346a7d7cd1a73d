"""`ALBUMIFY_SHARDS` parsing, Discord's guild → shard rule, the leader lease and the identify
gate (#18 item 1), against a real redis-server. The processes themselves: test_e2e_shards.py."""

from __future__ import annotations

import asyncio
import os
from typing import Any
from unittest import mock

import pytest
import redis.asyncio as aioredis

from albumify import keys
from albumify.errors import ConfigError
from albumify.lease import Lease, lead_forever
from albumify.settings import Settings
from albumify.shards import ShardRange, parse_shards, shard_of
from bot.shards import IdentifyGate, shard_options, syncs_commands


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        ("", None),
        ("auto", None),
        (" AUTO ", None),
        ("0-3/16", ShardRange(0, 3, 16)),
        ("4-7/16", ShardRange(4, 7, 16)),
        ("2/4", ShardRange(2, 2, 4)),
        ("0-0/1", ShardRange(0, 0, 1)),
    ],
)
def test_shard_ranges_parse(raw: str | None, expected: ShardRange | None) -> None:
    assert parse_shards(raw) == expected


@pytest.mark.parametrize("raw", ["0-16/16", "3-1/4", "0-3/0", "x", "0-3", "-1-2/4", "1,2/4"])
def test_bad_shard_ranges_are_a_clear_config_error(raw: str) -> None:
    with pytest.raises(ConfigError, match="ALBUMIFY_SHARDS"):
        parse_shards(raw)


def test_settings_read_the_range_and_a_typo_fails_at_start_up() -> None:
    with mock.patch.dict(os.environ, {"ALBUMIFY_SHARDS": "2-3/4"}):
        assert Settings.from_env().shards == ShardRange(2, 3, 4)
    with mock.patch.dict(os.environ, {"ALBUMIFY_SHARDS": "4-5/4"}), pytest.raises(ConfigError):
        Settings.from_env()
    with mock.patch.dict(os.environ, {"ALBUMIFY_SHARDS": ""}):
        assert Settings.from_env().shards is None  # one process, automatic: no new setting


def test_a_guild_belongs_to_exactly_one_range_of_a_deployment() -> None:
    ranges = [ShardRange(0, 1, 4), ShardRange(2, 3, 4)]
    for guild_id in (81384788765712384, 41771983423143937, 1, 2**63 - 1, *range(0, 2**26, 2**21)):
        shard = (guild_id >> 22) % 4
        assert shard_of(guild_id, 4) == shard
        assert [r.owns(guild_id) for r in ranges].count(True) == 1
    assert shard_of(None, 4) == 0  # DMs
    assert ShardRange(0, 1, 4).owns(None) and not ShardRange(2, 3, 4).owns(None)


def test_auto_passes_nothing_and_only_shard_0_s_owner_syncs_commands() -> None:
    assert shard_options(None) == {}
    assert shard_options(ShardRange(2, 3, 4)) == {"shard_ids": [2, 3], "shard_count": 4}
    assert syncs_commands(Settings())
    assert syncs_commands(Settings(shards=ShardRange(0, 1, 4)))
    assert not syncs_commands(Settings(shards=ShardRange(2, 3, 4)))


def run(redis_url: str, scenario: Any) -> Any:
    async def main() -> Any:
        client = aioredis.from_url(redis_url)
        try:
            return await scenario(client)
        finally:
            await client.aclose()

    return asyncio.run(main())


def test_one_lease_holder_at_a_time_and_release_hands_it_over(redis_url: str) -> None:
    async def scenario(client: Any) -> None:
        first = Lease(client, "loop", "a", ttl_s=30)
        second = Lease(client, "loop", "b", ttl_s=30)
        assert await first.acquire()
        assert not await second.acquire()
        assert await first.renew() and not await second.renew()
        assert await second.holder() == "a"
        await second.release()  # not its lease: nothing happens
        assert await first.holder() == "a"
        await first.release()
        assert await second.acquire() and await second.holder() == "b"
        assert not await first.renew()  # it moved on: the old holder must stop

    run(redis_url, scenario)


def test_a_lapsed_lease_goes_to_the_next_process(redis_url: str) -> None:
    async def scenario(client: Any) -> None:
        gone = Lease(client, "loop", "gone", ttl_s=0.2)
        assert await gone.acquire()
        successor = Lease(client, "loop", "next", ttl_s=30)
        assert not await successor.acquire()
        await asyncio.sleep(0.4)
        assert await successor.acquire()
        assert not await gone.renew()

    run(redis_url, scenario)


def test_lead_forever_runs_the_work_in_one_of_two_processes_and_stops_it_when_lost(
    redis_url: str,
) -> None:
    running: list[str] = []
    most_at_once = 0

    def work(owner: str) -> Any:
        async def loop() -> None:
            nonlocal most_at_once
            running.append(owner)
            most_at_once = max(most_at_once, len(running))
            try:
                await asyncio.Event().wait()
            finally:
                running.remove(owner)

        return loop

    async def until(predicate: Any, what: str, timeout: float = 20.0) -> None:
        """Wait for a state, however loaded the machine is (the lease's pace is its TTL)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            assert asyncio.get_running_loop().time() < deadline, what
            await asyncio.sleep(0.05)

    async def scenario(client: Any) -> None:
        # A 3 s lease renewed every second: only a stall of 2 s could let it lapse.
        leases = [Lease(client, "loop", owner, ttl_s=3.0) for owner in ("a", "b")]
        tasks = [asyncio.create_task(lead_forever(lease, work(lease.owner))) for lease in leases]
        await until(lambda: len(running) == 1, "nobody took the lease")
        leader = running[0]
        # Someone else takes the key (as after a lapse): the leader stops its work at its
        # next renewal, and one of ours leads again once the intruder's lease lapsed.
        await client.set(keys.leader("loop"), "intruder", px=3000)
        await until(lambda: running == [], "the leader kept working after losing its lease")
        await until(lambda: len(running) == 1, "nobody took the lease back")
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert running == [] and await client.get(keys.leader("loop")) is None
        assert leader in ("a", "b") and most_at_once == 1

    run(redis_url, scenario)


def test_identify_gate_lets_one_shard_per_bucket_through_per_window(redis_url: str) -> None:
    async def scenario(client: Any) -> None:
        gate = IdentifyGate(client, "p", max_concurrency=2)
        assert [gate.bucket(s) for s in range(4)] == [0, 1, 0, 1]
        await gate.wait(0)
        await gate.wait(1)  # another bucket: at once
        assert await client.pttl(keys.identify_bucket(0)) > 0
        taken = asyncio.create_task(gate.wait(2))  # bucket 0 again: waits for the window
        await asyncio.sleep(0.5)
        assert not taken.done()
        await client.delete(keys.identify_bucket(0))  # the window passes
        await asyncio.wait_for(taken, 5)

    run(redis_url, scenario)
