"""End to end where the bot is shut out of the channel, with every process logging at DEBUG.

The real `albumify bot` and `albumify worker` against the loopback Discord and a private
redis-server (one stack for the module, `ALBUMIFY_LOG_LEVEL=DEBUG`). Slash commands and their
answers go through the interaction (no channel permission needed), so they work in a channel
the bot cannot see; Delete does too, and says so honestly when Discord refuses it; a cover
that must fall back to the channel reaches the member by DM instead. And at DEBUG, where
discord.py logs every gateway event, no interaction token and no bot token reach the output.
"""

from __future__ import annotations

from albumify import keys
from devtools.fakediscord import FakeDiscord
from devtools.fakediscord.guild import BOT_TOKEN
from devtools.fakediscord.model import VIEW_CHANNEL
from devtools.fakediscord.rest import ScriptedReply
from devtools.fakediscord.stack import Stack
from tests.support.e2e import MARKS, fresh_conversation, module_stack
from tests.test_e2e import DEFERRED_THINKING, assert_cover, faceless, wait_final

pytestmark = MARKS

INTERACTION_TOKEN_PREFIX = "aW50ZXJhY3Rpb246"
"""Every interaction token, the loopback Discord's as Discord's: base64 of "interaction:"."""


stack = module_stack(lambda: Stack({"ALBUMIFY_LOG_LEVEL": "DEBUG"}))
discord = fresh_conversation()


def shut_out(discord: FakeDiscord) -> None:
    """A server admin hides the channel from the bot (members still use its commands)."""
    discord.set_bot_permissions(deny=VIEW_CHANNEL)


def test_slash_command_and_delete_in_a_channel_the_bot_cannot_see(
    stack: Stack, discord: FakeDiscord
) -> None:
    shut_out(discord)
    ann = discord.add_member("ann")
    photo = discord.upload("ann.png", faceless(20))
    interaction = discord.slash("albumify", ann, {"image": photo})
    cover = wait_final(stack, interaction)
    assert [c.type for c in interaction.acknowledged] == [DEFERRED_THINKING]
    result_id = assert_cover(discord, cover, ann)
    assert discord.calls("POST", "/channels/") == []  # all of it through the interaction

    delete = discord.click(ann, cover, f"albumify:delete:{result_id}")
    (said,) = discord.wait_until(
        lambda: cover.deleted and discord.answers_to(delete), "the delete", 20
    )
    assert said.ephemeral and said.content == "Deleted."
    client = stack.redis()
    try:
        assert not client.exists(keys.result(discord.guild_id, result_id))
    finally:
        client.close()


def test_a_delete_discord_refuses_is_reported_and_the_cover_keeps_its_record(
    stack: Stack, discord: FakeDiscord
) -> None:
    shut_out(discord)
    ben = discord.add_member("ben")
    cover = wait_final(
        stack, discord.slash("albumify", ben, {"image": discord.upload("b.png", faceless(21))})
    )
    result_id = assert_cover(discord, cover, ben)
    refused = ScriptedReply(403, {"message": "Missing Permissions", "code": 50013})
    discord.script("DELETE", "/webhooks/", refused)

    delete = discord.click(ben, cover, f"albumify:delete:{result_id}")
    (said,) = discord.wait_until(lambda: discord.answers_to(delete), "the answer", 20)
    assert said.ephemeral and said.content.startswith("⚠️") and "still up" in said.content
    assert not cover.deleted
    client = stack.redis()
    try:
        assert client.exists(keys.result(discord.guild_id, result_id))  # its buttons keep working
    finally:
        client.close()


def test_a_cover_that_falls_back_to_a_hidden_channel_reaches_the_member_by_dm(
    stack: Stack, discord: FakeDiscord
) -> None:
    shut_out(discord)
    cleo = discord.add_member("cleo")
    unknown_webhook = ScriptedReply(404, {"message": "Unknown Webhook", "code": 10015})
    discord.script("PATCH", "/webhooks/", *[unknown_webhook] * 50)  # the token died meanwhile

    discord.slash("albumify", cleo, {"image": discord.upload("c.png", faceless(22))})
    (dm,) = discord.wait_until(lambda: discord.dms(cleo), "the DM", 60)
    stack.wait_idle()
    assert "View Channel" in dm.content and f"<#{discord.channel_id}>" in dm.content
    assert discord.dms(cleo) == [dm]
    posts = discord.calls("POST", f"/channels/{discord.channel_id}/messages")
    assert len(posts) == 1 and posts[0].files  # offered once: the pipeline did not run again
    assert [m for m in discord.channel() if m.attachments] == []
    warnings = [line for line in stack.log("worker").splitlines() if "WARNING" in line]
    assert any("View Channel" in line for line in warnings), warnings


def test_no_token_reaches_the_output_at_debug(stack: Stack, discord: FakeDiscord) -> None:
    dina = discord.add_member("dina")
    interaction = discord.slash("albumify", dina, {"image": discord.upload("d.png", faceless(23))})
    cover = wait_final(stack, interaction)
    result_id = assert_cover(discord, cover, dina)
    delete = discord.click(dina, cover, f"albumify:delete:{result_id}")
    discord.wait_until(lambda: cover.deleted and discord.answers_to(delete), "the delete", 20)
    stack.wait_idle()

    bot, worker = stack.log("bot"), stack.log("worker")
    # Really at DEBUG: discord.py's gateway payloads and the HTTP lines are in the output.
    assert "INTERACTION_CREATE" in bot and "/interactions/" in bot
    assert "/webhooks/" in worker
    for token in (interaction.token, delete.token):
        assert token not in bot and token not in worker
    # Every interaction of this module, whichever test made it, and the bot token.
    assert INTERACTION_TOKEN_PREFIX not in bot + worker
    assert BOT_TOKEN not in bot + worker
