"""The loopback Discord's sharding (#18 item 1): `GET /gateway/bot`, IDENTIFY with `shard`,
READY/GUILD_CREATE per shard, each guild's events on its shard's connection, Discord's refusals
(4010 invalid shard, 4011 sharding required) and the IDENTIFY rate per `max_concurrency`
bucket. Plain websockets against the server, no bot."""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
import requests

from devtools.fakediscord import FakeDiscord
from devtools.fakediscord.gateway import MAX_GUILDS_PER_SHARD, shard_of
from devtools.fakediscord.guild import BOT_TOKEN

BOT = {"Authorization": f"Bot {BOT_TOKEN}"}
SUFFIX = b"\x00\x00\xff\xff"


@pytest.fixture
def discord() -> Iterator[FakeDiscord]:
    server = FakeDiscord()
    server.shard_count = 2
    server.max_concurrency = 2
    server.start()
    yield server
    server.stop()


class Shard:
    """A gateway connection as discord.py makes one: zlib-stream, IDENTIFY with `shard`."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.inflate = zlib.decompressobj()

    async def receive(self, timeout: float = 5.0) -> dict[str, Any]:
        buffer = b""
        while not buffer.endswith(SUFFIX):
            message = await asyncio.wait_for(self.ws.receive(), timeout)
            if message.type != aiohttp.WSMsgType.BINARY:
                return {"closed": self.ws.close_code}
            buffer += message.data
        return json.loads(self.inflate.decompress(buffer))

    async def events(self, count: int) -> list[dict[str, Any]]:
        return [await self.receive() for _ in range(count)]


async def identify(
    session: aiohttp.ClientSession, discord: FakeDiscord, shard: list[int] | None
) -> Shard:
    ws = await session.ws_connect(discord.gateway_url + "?v=10&encoding=json&compress=zlib-stream")
    connection = Shard(ws)
    assert (await connection.receive())["op"] == 10  # HELLO
    data: dict[str, Any] = {"token": BOT_TOKEN, "intents": 1, "properties": {}}
    if shard is not None:
        data["shard"] = shard
    await ws.send_str(json.dumps({"op": 2, "d": data}))
    return connection


def run(scenario: Any) -> Any:
    async def main() -> Any:
        async with aiohttp.ClientSession() as session:
            return await scenario(session)

    return asyncio.run(main())


def test_gateway_bot_says_the_shard_count_and_the_session_start_limit(discord) -> None:
    answer = requests.get(f"{discord.api_base}/gateway/bot", headers=BOT, timeout=10).json()
    assert answer["url"] == discord.gateway_url and answer["shards"] == 2
    assert answer["session_start_limit"]["max_concurrency"] == 2
    assert requests.get(f"{discord.api_base}/gateway/bot", timeout=10).status_code == 401


def test_each_shard_gets_its_guilds_and_their_interactions(discord: FakeDiscord) -> None:
    first = shard_of(discord.guild_id, 2)
    other = discord.add_guild(shard=1 - first, shard_count=2)
    assert shard_of(other, 2) == 1 - first
    owner = {first: discord.guild_id, 1 - first: other}
    command = {"name": "ping", "description": "p", "type": 1}
    url = f"{discord.api_base}/applications/{discord.application_id}/commands"
    assert requests.put(url, json=[command], headers=BOT, timeout=10).status_code == 200
    member = discord.add_member("ann")

    async def scenario(session: aiohttp.ClientSession) -> None:
        shards = [await identify(session, discord, [n, 2]) for n in range(2)]
        for n, shard in enumerate(shards):
            ready, created = await shard.events(2)
            assert ready["t"] == "READY" and ready["d"]["shard"] == [n, 2]
            assert [g["id"] for g in ready["d"]["guilds"]] == [str(owner[n])]
            assert created["t"] == "GUILD_CREATE" and created["d"]["id"] == str(owner[n])
        assert discord.connected_shards() == {0, 1}
        for n in (0, 1):
            sent = discord.prepare_slash("ping", member, guild_id=owner[n])
            await asyncio.to_thread(discord.send, sent)
            event = await shards[n].receive()
            assert event["t"] == "INTERACTION_CREATE" and event["d"]["guild_id"] == str(owner[n])
            assert event["d"]["channel_id"] == str(discord.channel_of(owner[n]))
        # Nothing else went to either shard: the next event each gets is its own DM or none.
        dm = discord.prepare_slash("ping", member, dm=True)
        await asyncio.to_thread(discord.send, dm)
        assert (await shards[0].receive())["d"]["id"] == str(dm.id)  # DMs: shard 0
        with pytest.raises(TimeoutError):
            await shards[1].receive(timeout=0.5)

    run(scenario)
    assert discord.protocol_errors == []


def test_discord_refuses_a_bad_shard_and_a_shard_with_too_many_guilds(discord) -> None:
    async def scenario(session: aiohttp.ClientSession) -> list[Any]:
        invalid = await identify(session, discord, [2, 2])
        closed = [await invalid.receive()]
        for _ in range(MAX_GUILDS_PER_SHARD):
            discord.add_guild()
        unsharded = await identify(session, discord, None)
        closed.append(await unsharded.receive())
        return closed

    assert run(scenario) == [{"closed": 4010}, {"closed": 4011}]


def test_identifies_of_one_bucket_within_5_s_are_a_protocol_error(discord) -> None:
    async def scenario(session: aiohttp.ClientSession) -> None:
        for shard in ([0, 2], [1, 2]):  # two buckets (max_concurrency 2): both at once is fine
            assert (await (await identify(session, discord, shard)).receive())["t"] == "READY"
        assert discord.protocol_errors == []
        again = await identify(session, discord, [0, 2])  # bucket 0 again at once
        assert (await again.receive())["t"] == "READY"

    run(scenario)
    assert len(discord.protocol_errors) == 1 and "bucket 0" in discord.protocol_errors[0]
