"""The leaderboard cog's commands and views, driven with small fake interactions (real Redis)."""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import discord
import redis.asyncio as aioredis

from albumify.boards import LeaderboardStore
from albumify.buttons import VOTE_ID, custom_id_pattern, result_buttons, vote_component
from albumify.guilds import GuildSettingsStore
from albumify.keys import board as board_key
from albumify.results import ResultRecord, ResultStore, save_result
from bot.leaderboard.cog import NOT_ON_RECORD, SELF_VOTE, Leaderboard
from bot.leaderboard.views import BoardView, VoteButton

GUILD, CHANNEL, CREATOR = 111111, 222222, 500001
NOW = datetime(2026, 11, 27, 12, tzinfo=UTC).timestamp()
CDN = "https://cdn.discordapp.com/attachments/222222/1/albumify.png?ex=fresh"


def aio(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return wrapper


class FakeResponse:
    """Records what the cog answers; the returned callback has no message (`resource`).

    Strict about the product rule: every message and edit must say allowed_mentions none.
    `events` is the order things happened in (shared with the channel's fetches).
    """

    def __init__(self, events: list[str]) -> None:
        self.sent: list[dict[str, Any]] = []
        self.edits: list[dict[str, Any]] = []
        self.events = events

    async def send_message(self, content: str | None = None, **kwargs: Any) -> None:
        assert pings_nobody(kwargs)
        self.events.append("send")
        self.sent.append({"content": content, **kwargs})

    async def edit_message(self, **kwargs: Any) -> None:
        assert pings_nobody(kwargs)
        self.events.append("edit")
        self.edits.append(kwargs)

    async def defer(self, **kwargs: Any) -> None:
        self.events.append("defer")


class FakeOriginal:
    """The deferred response: edited, deleted, or followed up (a webhook, after the ack)."""

    def __init__(self, events: list[str]) -> None:
        self.edits: list[dict[str, Any]] = []
        self.followups: list[dict[str, Any]] = []
        self.deleted = False
        self.events = events

    async def edit(self, **kwargs: Any) -> Any:
        assert pings_nobody(kwargs)
        self.events.append("edit-original")
        self.edits.append(kwargs)
        return SimpleNamespace(id=1)

    async def delete(self) -> None:
        self.events.append("delete-original")
        self.deleted = True

    async def send(self, content: str | None = None, **kwargs: Any) -> None:
        assert pings_nobody(kwargs)
        self.events.append("followup")
        self.followups.append({"content": content, **kwargs})


class FakeChannel:
    def __init__(
        self,
        attachments: list[Any] | None = None,
        fail: bool = False,
        gone: tuple[int, ...] = (),
    ) -> None:
        self.attachments = attachments if attachments is not None else [attachment()]
        self.fail = fail
        self.gone = set(gone)
        """Messages deleted while the bot was away: Discord answers 10008 Unknown Message."""
        self.fetched: list[int] = []
        self.events: list[str] = []

    async def fetch_message(self, message_id: int) -> Any:
        self.events.append("fetch")
        self.fetched.append(message_id)
        response = SimpleNamespace(status=404, reason="Not Found")
        if message_id in self.gone:
            raise discord.NotFound(response, {"code": 10008, "message": "Unknown Message"})
        if self.fail:
            raise discord.NotFound(response, "gone")  # no code: proves nothing
        return SimpleNamespace(id=message_id, attachments=self.attachments)


def attachment(url: str = CDN, spoiler: bool = False) -> Any:
    return SimpleNamespace(url=url, is_spoiler=lambda: spoiler)


def fake_bot(client: Any, channel: FakeChannel, boards: LeaderboardStore) -> Any:
    """What the cog uses of `AlbumifyBot`: the stores and `get_channel`."""
    bot = SimpleNamespace(
        redis=client,
        boards=boards,
        results=ResultStore(client),
        guild_settings=GuildSettingsStore(client),
    )
    bot.get_channel = lambda channel_id: channel if channel_id == CHANNEL else None
    return bot


def interaction(
    cog: Leaderboard,
    user_id: int,
    *,
    message: Any = None,
    events: list[str] | None = None,
    **permissions: bool,
) -> Any:
    known = {CHANNEL: object()}
    events = [] if events is None else events
    original = FakeOriginal(events)
    return SimpleNamespace(
        user=SimpleNamespace(id=user_id),
        guild_id=GUILD,
        guild=SimpleNamespace(id=GUILD, get_channel_or_thread=known.get),
        channel_id=CHANNEL,
        message=message,
        permissions=discord.Permissions(**permissions),
        client=cog.bot,
        response=FakeResponse(events),
        original=original,
        edit_original_response=original.edit,
        delete_original_response=original.delete,
        followup=SimpleNamespace(send=original.send),
        events=events,
    )


def result_message(result_id: str, message_id: int) -> Any:
    """The worker's result row (Re-roll, Delete, Vote), parsed as discord.py parses it."""
    row = {"type": 1, "components": result_buttons(result_id)}
    return SimpleNamespace(id=message_id, components=[discord.components.ActionRow(row)])


@asynccontextmanager
async def harness(
    url: str, channel: FakeChannel | None = None
) -> AsyncIterator[tuple[Leaderboard, LeaderboardStore]]:
    client = aioredis.Redis.from_url(url, decode_responses=True)
    store = LeaderboardStore(client, clock=lambda: NOW)
    cog = Leaderboard(fake_bot(client, channel or FakeChannel(), store))
    cog.bot.leaderboard = cog  # the bot's typed accessor
    try:
        yield cog, store
    finally:
        await client.aclose()


def cover(i: int, creator: int = CREATOR, guild: int = GUILD) -> ResultRecord:
    return ResultRecord(
        result_id=f"r-{i}",
        guild_id=guild,
        channel_id=CHANNEL,
        message_id=900000 + i,
        requester_id=creator,
        photo_author_id=creator,
        library_title=f"Cover [{i}]",
        created_at=NOW,
    )


def pings_nobody(kwargs: dict[str, Any]) -> bool:
    return kwargs["allowed_mentions"].to_dict() == {"parse": []}


def vote_label_of(view: discord.ui.View, result_id: str) -> str | None:
    custom_id = VOTE_ID.format(result_id=result_id)
    for item in view.children:
        if isinstance(item, discord.ui.Button) and item.custom_id == custom_id:
            return item.label
    return None


def test_worker_vote_button_matches_the_dynamic_item() -> None:
    template = re.compile(custom_id_pattern(VOTE_ID))
    match = template.match(vote_component("1234567890123456789")["custom_id"])
    assert match is not None and match["result_id"] == "1234567890123456789"
    assert VOTE_ID.format(result_id="x") == "albumify:vote:x"


@aio
async def test_vote_button_toggles_and_shows_the_live_count(redis_url: str) -> None:
    async with harness(redis_url) as (cog, store):
        await save_result(store.redis, cover(1))
        message = result_message("r-1", 900001)

        press = interaction(cog, 7, message=message)
        await VoteButton("r-1").callback(press)
        (edit,) = press.response.edits
        view = edit["view"]
        assert vote_label_of(view, "r-1") == "Vote · 1"
        assert view.is_finished()  # not stored as a second handler for the message
        assert [b.custom_id for b in view.children] == [
            "albumify:reroll:r-1",
            "albumify:delete:r-1",
            "albumify:vote:r-1",
            "albumify:edit:r-1",
        ]
        assert pings_nobody(edit)

        again = interaction(cog, 7, message=message)
        await VoteButton("r-1").callback(again)
        assert vote_label_of(again.response.edits[0]["view"], "r-1") == "Vote"

        own = interaction(cog, CREATOR, message=message)
        await VoteButton("r-1").callback(own)
        assert own.response.edits == []
        assert own.response.sent[0]["content"] == SELF_VOTE
        assert own.response.sent[0]["ephemeral"] is True

        gone = interaction(cog, 8, message=result_message("r-9", 900009))
        await VoteButton("r-9").callback(gone)
        assert gone.response.sent[0]["content"] == NOT_ON_RECORD


@aio
async def test_leaderboard_command_pages_for_its_caller_only(redis_url: str) -> None:
    channel = FakeChannel()
    async with harness(redis_url, channel) as (cog, store):
        for i in range(11):
            await save_result(store.redis, cover(i, creator=CREATOR + i))
            for voter in range(i + 1):  # cover i has i + 1 votes
                await store.toggle_vote(GUILD, f"r-{i}", 10 + voter)

        asked = interaction(cog, 42, events=channel.events)
        await cog.leaderboard.callback(cog, asked, "week", "covers")
        # Acknowledged before anything slow: the reads and the covers' messages, each looked
        # at once (never seen since this bot started); the top one's gives the image.
        assert channel.events == ["defer", *["fetch"] * 10, "edit-original"]
        assert sorted(channel.fetched) == list(range(900001, 900011))
        (sent,) = asked.original.edits
        embed: discord.Embed = sent["embed"]
        lines = embed.description.splitlines()
        assert len(lines) == 10
        assert lines[0] == (
            f"**1.** ⭐ 11 · <@{CREATOR + 10}> · "
            f"[Cover (10)](https://discord.com/channels/{GUILD}/{CHANNEL}/900010)"
        )
        assert embed.image.url == CDN  # fetched through the message, not stored
        assert embed.footer.text == "Page 1/2 · 11 covers"
        assert "2026-W48" in embed.title

        view: BoardView = sent["view"]
        assert view.previous.disabled and not view.next.disabled
        stranger = interaction(cog, 43)
        assert await view.interaction_check(stranger) is False
        assert stranger.response.sent[0]["ephemeral"] is True

        channel.events.clear()
        owner = interaction(cog, 42, events=channel.events)
        assert await view.interaction_check(owner) is True
        await view.next.callback(owner)
        assert channel.events == ["defer", "fetch", "edit-original"]
        (edit,) = owner.original.edits
        assert edit["embed"].description.startswith(f"**11.** ⭐ 1 · <@{CREATOR}>")
        assert edit["embed"].footer.text == "Page 2/2 · 11 covers"
        assert view.next.disabled and not view.previous.disabled
        channel.events.clear()
        back = interaction(cog, 42, events=channel.events)
        await view.previous.callback(back)
        assert back.original.edits[0]["embed"].description.startswith("**1.**")
        assert channel.events == ["defer", "fetch", "edit-original"]  # seen: only the image


@aio
async def test_leaderboard_without_image_or_votes(redis_url: str) -> None:
    for channel in (FakeChannel(fail=True), FakeChannel([attachment(spoiler=True)])):
        async with harness(redis_url, channel) as (cog, store):
            asked = interaction(cog, 42)
            await cog.leaderboard.callback(cog, asked, "all", "creators")
            (sent,) = asked.original.edits
            assert "No votes yet" in sent["embed"].description
            assert "view" not in sent  # one page: no buttons

            await save_result(store.redis, cover(1))
            await store.toggle_vote(GUILD, "r-1", 7)
            asked = interaction(cog, 42)
            await cog.leaderboard.callback(cog, asked, "all", "covers")
            assert asked.original.edits[0]["embed"].image.url is None
            await ResultStore(store.redis).delete(GUILD, "r-1")


@aio
async def test_covers_deleted_while_the_bot_was_away_leave_the_board(redis_url: str) -> None:
    """Item 16.12: the bot did not hear of these deletions; the board looks before it shows."""
    channel = FakeChannel(gone=(900003, 900005))
    async with harness(redis_url, channel) as (cog, store):
        for i in range(1, 7):
            await save_result(store.redis, cover(i, creator=CREATOR + i))
            for voter in range(i):
                await store.toggle_vote(GUILD, f"r-{i}", 10 + voter)

        asked = interaction(cog, 42)
        await cog.leaderboard.callback(cog, asked, "all", "covers")
        embed = asked.original.edits[0]["embed"]
        assert [line.split(" · ")[1] for line in embed.description.splitlines()] == [
            f"<@{CREATOR + i}>" for i in (6, 4, 2, 1)
        ]
        for gone in ("r-3", "r-5"):  # off the boards, and no record of them is kept
            assert await ResultStore(store.redis).get(GUILD, gone) is None
        assert await store.redis.zscore(board_key(GUILD, "creators", "all"), CREATOR + 5) is None
        assert await store.redis.zscore(board_key(GUILD, "covers", "all"), "r-4") == 4

        # What no one views goes too: the sweep looks at the results seen longest ago.
        await save_result(store.redis, cover(7))
        channel.gone.add(900007)
        assert await cog.watch.sweep() == 1  # r-7 (the others were seen just now)
        assert await ResultStore(store.redis).get(GUILD, "r-7") is None
        assert await cog.watch.sweep() == 0


@aio
async def test_cover_top_and_stats(redis_url: str) -> None:
    async with harness(redis_url) as (cog, store):
        nothing = interaction(cog, 7)
        await cog.cover_top.callback(cog, nothing)
        assert nothing.events == ["defer", "delete-original", "followup"]  # stays private
        assert nothing.original.followups[0]["ephemeral"] is True

        await save_result(store.redis, cover(1))
        await store.toggle_vote(GUILD, "r-1", 7)
        asked = interaction(cog, 7)
        await cog.cover_top.callback(cog, asked)
        assert asked.events == ["defer", "edit-original"]
        embed = asked.original.edits[0]["embed"]
        assert embed.url == f"https://discord.com/channels/{GUILD}/{CHANNEL}/900001"
        assert embed.image.url == CDN
        assert f"<@{CREATOR}>" in embed.description

        mine = interaction(cog, CREATOR)
        await cog.albumify_stats.callback(cog, mine, None)
        text = mine.response.sent[0]["embed"].description
        assert "**Covers:** 1" in text and "**Votes received:** 1 (1 this week)" in text


@aio
async def test_moderators_remove_a_cover_by_link(redis_url: str) -> None:
    async with harness(redis_url) as (cog, store):
        await save_result(store.redis, cover(1))
        await save_result(store.redis, cover(2, guild=GUILD + 1))
        await store.toggle_vote(GUILD, "r-1", 7)
        link = f"https://discord.com/channels/{GUILD}/{CHANNEL}/900001"

        member = interaction(cog, 7)
        await cog.leaderboard_remove.callback(cog, member, link)
        assert "Manage Messages" in member.response.sent[0]["content"]
        assert await store.votes(GUILD, "r-1") == 1

        moderator = interaction(cog, 8, manage_messages=True)
        await cog.leaderboard_remove.callback(cog, moderator, "r-2")  # another server's
        assert "can't find" in moderator.response.sent[0]["content"]
        moderator = interaction(cog, 8, manage_messages=True)
        await cog.leaderboard_remove.callback(cog, moderator, link)
        assert moderator.response.sent[0]["content"] == "Removed from the leaderboards."
        assert moderator.response.sent[0]["ephemeral"] is True
        assert await store.redis.exists(board_key(GUILD, "covers", "all")) == 0


@aio
async def test_deleted_result_message_leaves_the_boards(redis_url: str) -> None:
    async with harness(redis_url) as (cog, store):
        await save_result(store.redis, cover(1))
        await save_result(store.redis, cover(2))
        await store.toggle_vote(GUILD, "r-1", 7)
        await store.toggle_vote(GUILD, "r-2", 7)
        await cog.on_raw_message_delete(SimpleNamespace(guild_id=GUILD, message_id=900001))
        await cog.on_raw_bulk_message_delete(
            SimpleNamespace(guild_id=GUILD, message_ids={900002, 5})
        )
        assert await store.redis.exists(board_key(GUILD, "covers", "all")) == 0
        assert await store.redis.exists(board_key(GUILD, "creators", "all")) == 0


@aio
async def test_config_needs_manage_server_and_writes_the_shared_hash(redis_url: str) -> None:
    async with harness(redis_url) as (cog, store):
        member = interaction(cog, 7)
        await cog.albumify_config.callback(cog, member, True, None, None)
        assert "Manage Server" in member.response.sent[0]["content"]
        assert not (await GuildSettingsStore(store.redis).get(GUILD)).self_votes

        admin = interaction(cog, 8, manage_guild=True)
        await cog.albumify_config.callback(cog, admin, True, f"<#{CHANNEL}> 99999999", False)
        (sent,) = admin.response.sent
        assert sent["ephemeral"] is True
        assert "**Self-votes:** on" in sent["content"]
        assert f"<#{CHANNEL}>" in sent["content"] and "Ignored 1 id" in sent["content"]
        raw = await store.redis.hgetall(f"albumify:{{{GUILD}}}:settings")
        assert raw == {"self_votes": "1", "channels": str(CHANNEL), "allow_others": "0"}

        admin = interaction(cog, 8, manage_guild=True)
        await cog.albumify_config.callback(cog, admin, None, "all", None)
        assert (await GuildSettingsStore(store.redis).get(GUILD)).channels == ()


@aio
async def test_extension_setup_registers_commands_and_vote_item(redis_url: str) -> None:
    """What `setup_hook` does: load the extension into a real Bot and build the payloads."""
    from discord.ext import commands

    bot = commands.Bot(command_prefix="!", intents=discord.Intents.default())
    bot.redis = aioredis.Redis.from_url(redis_url, decode_responses=True)  # type: ignore[attr-defined]
    try:
        await bot.load_extension("bot.leaderboard.cog")
        payloads = {c.name: c.to_dict(bot.tree) for c in bot.tree.get_commands()}
        assert set(payloads) == {
            "cover",
            "leaderboard",
            "albumify-stats",
            "leaderboard-remove",
            "albumify-config",
        }
        options = {o["name"]: o for o in payloads["leaderboard"]["options"]}
        assert [c["value"] for c in options["period"]["choices"]] == ["week", "month", "all"]
        assert [c["value"] for c in options["by"]["choices"]] == ["covers", "creators"]
        assert payloads["cover"]["options"][0]["name"] == "top"
        assert payloads["albumify-config"]["default_member_permissions"] == 32  # Manage Server
        assert payloads["leaderboard-remove"]["default_member_permissions"] == 8192
        assert all(p["contexts"] == [0] for p in payloads.values())  # guild-only
        assert all(not c.allowed_contexts.dm_channel for c in bot.tree.get_commands())
        assert VoteButton in bot._connection._view_store._dynamic_items.values()
    finally:
        await bot.close()
        await bot.redis.aclose()  # type: ignore[attr-defined]
