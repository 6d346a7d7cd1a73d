"""End to end (#16): a full Redis, leaderboards that answer first, covers deleted while away.

The real bot and worker (`albumify bot`, `albumify worker`), a private redis-server and the
loopback Discord, as in test_e2e (one stack per module, tests/support/e2e.py: a scenario here
fills Redis up to its `maxmemory`, another restarts the bot).
"""

from __future__ import annotations

import time

import redis

from albumify import keys
from bot.utils.busy import BUSY
from devtools.fakediscord import FakeDiscord, FakeMessage, FakeUser
from devtools.fakediscord.rest import slow
from devtools.fakediscord.stack import Stack
from tests.support.e2e import MARKS, fresh_conversation, module_stack
from tests.support.redis_full import fill, unfill
from tests.support.state import guild_of_result
from tests.test_e2e import DEFERRED_THINKING, faceless, private_answer, wait_reply

pytestmark = MARKS
stack = module_stack()
discord = fresh_conversation()

UPDATE_MESSAGE = 7


def make_cover(stack: Stack, member: FakeUser, variant: int) -> FakeMessage:
    fake = stack.fake
    upload = fake.upload(f"{member.username}.png", faceless(variant))
    interaction = fake.slash("albumify", member, {"image": upload})
    try:
        return fake.wait_until(
            lambda: (m := fake.response_to(interaction)) and m.attachments and m,
            f"{member.username}'s cover",
            90,
        )
    except AssertionError as err:
        raise AssertionError(f"{err}\n{stack.logs()}") from None


def vote_id(message: FakeMessage) -> str:
    return next(c for c in message.custom_ids if c.startswith("albumify:vote:"))


def vote(fake: FakeDiscord, member: FakeUser, message: FakeMessage) -> int:
    """Click Vote and wait for the answer; returns the callback type."""
    click = fake.click(member, message, vote_id(message))
    fake.wait_until(lambda: click.acknowledged, f"{member.username}'s vote", 10)
    return click.acknowledged[0].type


def board_state(client: redis.Redis, result_id: str) -> tuple:
    boards = sorted(client.scan_iter(match="albumify:*:lb:*"))
    return (
        sorted(client.smembers(keys.voters(guild_of_result(client, result_id), result_id))),
        [(name, client.zrange(name, 0, -1, withscores=True)) for name in boards],
    )


# -- item 5: Redis full ---------------------------------------------------------------------


def test_a_full_redis_says_busy_and_keeps_every_vote(stack: Stack, discord: FakeDiscord) -> None:
    alice, bob, carol, dave, erin = (
        discord.add_member(name) for name in ("alice", "bob", "carol", "dave", "erin")
    )
    cover = make_cover(stack, alice, 1)
    for member in (bob, carol):
        assert vote(discord, member, cover) == UPDATE_MESSAGE
    result_id = vote_id(cover).removeprefix("albumify:vote:")
    client = stack.redis()
    before = board_state(client, result_id)
    assert len(before[0]) == 2 and before[1]

    written = fill(client)
    try:
        # A cover: acknowledged, then refused privately, before anything is counted or queued.
        request = discord.slash("albumify", dave, {"image": discord.upload("d.png", faceless(2))})
        answer = private_answer(discord, request, timeout=15)
        assert [c.type for c in request.acknowledged] == [DEFERRED_THINKING]
        assert answer.content == BUSY
        # The same by @mention: a reply says so.
        mention = discord.post_message(
            dave, f"{discord.bot.mention} me", attachments=[discord.upload("m.png", faceless(5))]
        )
        assert wait_reply(stack, mention, timeout=15).content == BUSY
        # A vote, and an unvote: refused whole, privately; the button's count is untouched.
        for member in (erin, bob):
            click = discord.click(member, cover, vote_id(cover))
            refusal = discord.wait_until(lambda c=click: discord.response_to(c), "busy", 15)
            assert refusal.content == BUSY and refusal.ephemeral
        assert board_state(client, result_id) == before  # every stored vote survived
        time.sleep(3)  # the worker meets the full Redis too (dequeue, heartbeat)
        stack.check_alive()  # neither the bot nor the worker died of it
    finally:
        unfill(client, written)

    # Room again: the same member's cover is made, by the same worker, and votes count.
    assert make_cover(stack, dave, 2).attachments
    assert vote(discord, erin, cover) == UPDATE_MESSAGE
    assert len(board_state(client, result_id)[0]) == 3
    client.close()


# -- items 11 and 12: /leaderboard -----------------------------------------------------------


def test_leaderboard_answers_first_and_drops_covers_deleted_while_the_bot_was_away(
    stack: Stack, discord: FakeDiscord
) -> None:
    gina, hank, ivy = (discord.add_member(name) for name in ("gina", "hank", "ivy"))
    first, second = make_cover(stack, gina, 3), make_cover(stack, hank, 4)
    vote(discord, ivy, first)
    vote(discord, ivy, second)
    vote(discord, hank, first)  # gina's cover leads with 2

    # Discord is slow to hand over a cover's message: the board is acknowledged first.
    discord.script("GET", f"/channels/{discord.channel_id}/messages/", slow(2.5))
    board = discord.slash("leaderboard", ivy, {"period": "all"})
    shown = discord.wait_until(
        lambda: (m := discord.response_to(board)) and m.embeds and m, "the board", 20
    )
    fetches = discord.calls("GET", f"/channels/{discord.channel_id}/messages/")
    assert board.acknowledged and fetches
    assert board.acknowledged[0].at < fetches[0].at  # the defer came before the slow fetch
    assert gina.mention in shown.embeds[0]["description"]

    # The bot is away while gina deletes her cover: no MESSAGE_DELETE reaches it.
    stack.stop_process("bot")
    first.deleted = True
    identified = discord.identifies
    stack.start_bot()
    discord.wait_until(lambda: discord.identifies > identified, "the bot back online", 90)
    again = discord.slash("leaderboard", ivy, {"period": "all"})
    shown = discord.wait_until(
        lambda: (m := discord.response_to(again)) and m.embeds and m, "the board", 20
    )
    text = shown.embeds[0]["description"]
    assert gina.mention not in text and hank.mention in text, text
    client = stack.redis()
    gone = vote_id(first).removeprefix("albumify:vote:")
    guild = discord.guild_id
    assert not client.exists(keys.result(guild, gone))
    assert client.zscore(keys.posted(guild), gone) is None
    client.close()
