"""End to end: Edit on a posted cover (issue 17, item 3), through the real processes.

Edit opens a form pre-filled with the cover's lettering; its submit edits the same message
with a new image, re-composited by the worker from the layers it kept (no model runs: the
unit tests in tests/test_edit.py spy on that). Only the creator may edit; after the layers
expired the member is told so and offered a re-roll; forget takes the layers too. Real
`albumify bot` and `albumify worker` processes, a private redis-server and the loopback
Discord, as in tests/test_e2e.py.
"""

from __future__ import annotations

import io

from PIL import Image

from albumify import keys
from devtools.fakediscord import FakeDiscord, FakeInteraction, FakeMessage, FakeUser
from devtools.fakediscord.stack import Stack
from tests.support.e2e import MARKS, fresh_conversation, module_stack
from tests.test_e2e import assert_cover, portrait, wait_final

pytestmark = MARKS
stack = module_stack()
discord = fresh_conversation()

MODAL, DEFERRED_UPDATE, DEFERRED_THINKING = 9, 6, 5


def edit_id(result_id: str) -> str:
    return f"albumify:edit:{result_id}"


def vote_labels(message: FakeMessage) -> list[str]:
    return [
        c.get("label", "")
        for row in message.components
        for c in row["components"]
        if c.get("custom_id", "").startswith("albumify:vote:")
    ]


def cover_bytes(fake: FakeDiscord, message: FakeMessage) -> bytes:
    (attachment,) = message.attachments
    return fake.attachment_bytes(attachment)


def form_of(stack: Stack, click: FakeInteraction) -> dict[str, str]:
    """The form the bot answered the click with: its text inputs' pre-filled values."""
    try:
        form = stack.fake.wait_until(lambda: click.modal, "the edit form", 20)
    except AssertionError as err:
        raise AssertionError(f"{err}\n{stack.logs()}") from None
    assert [c.type for c in click.acknowledged] == [MODAL]
    assert form["custom_id"].startswith("albumify:edit-form:")
    return {
        item["custom_id"]: item.get("value") or ""
        for row in form["components"]
        for item in row["components"]
    }


def private_note(stack: Stack, interaction: FakeInteraction, member: FakeUser) -> FakeMessage:
    fake = stack.fake
    try:
        note = fake.wait_until(
            lambda: next((m for m in fake.answers_to(interaction) if m.ephemeral), None),
            f"the private answer to interaction {interaction.id}",
            60,
        )
    except AssertionError as err:
        raise AssertionError(f"{err}\n{stack.logs()}") from None
    assert note.visible_to == member.id
    return note


def make_cover(stack: Stack, fake: FakeDiscord, member: FakeUser, variant: int, **options):
    photo = fake.upload(f"{member.username}.png", portrait(variant))
    cover = wait_final(stack, fake.slash("albumify", member, {"image": photo, **options}))
    return cover, assert_cover(fake, cover, member)


def test_edit_reletters_the_same_message(stack: Stack, discord: FakeDiscord) -> None:
    ada = discord.add_member("ada")
    cover, result_id = make_cover(stack, discord, ada, 40, title="First Light", artist="Ada")
    client = stack.redis()
    try:
        ttl = client.ttl(keys.layers(discord.guild_id, result_id))
        assert 0 < ttl <= client.ttl(keys.reroll(discord.guild_id, result_id)) + 1
        assert set(client.hkeys(keys.layers(discord.guild_id, result_id))) == {
            b"art",
            b"photo",
            b"alpha",
            b"meta",
        }
        zed = discord.add_member("zed")  # a vote first: its count stays on the button
        discord.click(zed, cover, f"albumify:vote:{result_id}")
        discord.wait_until(lambda: "Vote · 1" in vote_labels(cover), "the vote's count", 20)
        before = cover_bytes(discord, cover)
        content, custom_ids = cover.content, cover.custom_ids
        covers_before = [m.id for m in discord.channel() if m.attachments]

        click = discord.click(ada, cover, edit_id(result_id))
        assert form_of(stack, click) == {
            "artist": "Ada",
            "title": "First Light",
            "advisory": "no",
            "lettering": "yes",
        }
        submit = discord.submit_form(click, {"title": "Second Light", "advisory": "yes"})
        discord.wait_until(
            lambda: cover.attachments and cover_bytes(discord, cover) != before,
            "the cover's new image",
            90,
        )
        assert [c.type for c in submit.acknowledged] == [DEFERRED_UPDATE]
        after = Image.open(io.BytesIO(cover_bytes(discord, cover)))
        assert after.format == "JPEG" and after.size == (256, 256)
        assert cover.content == content and cover.custom_ids == custom_ids  # same buttons
        assert "Vote · 1" in vote_labels(cover)
        (embed,) = cover.embeds
        assert embed["image"]["url"] == "attachment://albumify.jpg"  # shows the new file
        assert not cover.deleted and [m.id for m in discord.channel() if m.attachments] == [
            *covers_before
        ]
        discord.wait_until(
            lambda: (
                client.hget(keys.reroll(discord.guild_id, result_id), "title") == b"Second Light"
            ),
            "the re-roll fields",
            10,
        )
        assert client.hget(keys.reroll(discord.guild_id, result_id), "advisory") == b"1"

        # The next form shows what the cover now says.
        again = discord.click(ada, cover, edit_id(result_id))
        assert form_of(stack, again)["title"] == "Second Light"
        assert discord.protocol_errors == []
    finally:
        client.close()


def test_only_the_creator_may_edit(stack: Stack, discord: FakeDiscord) -> None:
    bo, cy = discord.add_member("bo"), discord.add_member("cy")
    cover, result_id = make_cover(stack, discord, bo, 41)
    click = discord.click(cy, cover, edit_id(result_id))
    note = private_note(stack, click, cy)
    assert "Only the person who asked for this cover can edit it" in note.content
    assert click.modal is None


def test_an_edit_after_the_layers_expired_says_so_and_offers_a_reroll(
    stack: Stack, discord: FakeDiscord
) -> None:
    dee = discord.add_member("dee")
    cover, result_id = make_cover(stack, discord, dee, 42)
    client = stack.redis()
    try:
        # The form is open when the layers expire: the submit is told, privately.
        click = discord.click(dee, cover, edit_id(result_id))
        form_of(stack, click)
        client.pexpire(keys.layers(discord.guild_id, result_id), 1)
        discord.wait_until(
            lambda: not client.exists(keys.layers(discord.guild_id, result_id)), "expiry", 5
        )
        before = cover_bytes(discord, cover)
        submit = discord.submit_form(click, {"title": "Too Late"})
        note = private_note(stack, submit, dee)
        assert "layers are gone" in note.content and "Re-roll" in note.content
        assert cover_bytes(discord, cover) == before  # the cover stays as it was

        # Edit again: told at once, with the cover's Re-roll button, which works.
        click = discord.click(dee, cover, edit_id(result_id))
        note = private_note(stack, click, dee)
        assert click.modal is None and "layers are gone" in note.content
        reroll = f"albumify:reroll:{result_id}"
        assert note.custom_ids == [reroll]
        rerolled = discord.click(dee, note, reroll)
        assert_cover(discord, wait_final(stack, rerolled), dee)

        # Once the photo is gone too, nothing is offered that cannot work.
        photo_hash = client.hget(keys.reroll(discord.guild_id, result_id), "photo_hash").decode()
        client.delete(keys.photo(photo_hash))
        click = discord.click(dee, cover, edit_id(result_id))
        note = private_note(stack, click, dee)
        assert "Post the photo again" in note.content and note.custom_ids == []
        assert discord.protocol_errors == []
    finally:
        client.close()


def test_forget_takes_the_layers(stack: Stack, discord: FakeDiscord) -> None:
    eve = discord.add_member("eve")
    _, result_id = make_cover(stack, discord, eve, 43, title="Mine")
    client = stack.redis()
    try:
        assert client.exists(keys.layers(discord.guild_id, result_id))
        ask = discord.slash("albumify-forget", eve, dm=True)
        prompt = discord.wait_until(lambda: discord.response_to(ask), "the prompt", 10)
        (confirm,) = [
            c["custom_id"]
            for row in prompt.components
            for c in row["components"]
            if c.get("label") == "Forget me"
        ]
        discord.click(eve, prompt, confirm)
        discord.wait_until(lambda: prompt.content.startswith("Done"), "the confirmation", 30)
        assert not client.exists(keys.layers(discord.guild_id, result_id))
    finally:
        client.close()


def test_a_form_opened_before_a_bot_restart_still_edits(stack: Stack, discord: FakeDiscord) -> None:
    fay = discord.add_member("fay")
    cover, result_id = make_cover(stack, discord, fay, 44, title="Before")
    before = cover_bytes(discord, cover)
    click = discord.click(fay, cover, edit_id(result_id))
    form_of(stack, click)

    stack.stop_process("bot")  # the Modal object the bot sent is gone with it
    identified = discord.identifies
    stack.start_bot()
    discord.wait_until(lambda: discord.identifies > identified, "the bot back online", 90)

    submit = discord.submit_form(click, {"title": "After", "lettering": "no"})
    discord.wait_until(lambda: cover_bytes(discord, cover) != before, "the cover's new image", 90)
    assert [c.type for c in submit.acknowledged] == [DEFERRED_UPDATE]
    assert discord.protocol_errors == []


def test_a_wrong_answer_in_the_form_is_told_privately_and_changes_nothing(
    stack: Stack, discord: FakeDiscord
) -> None:
    gus = discord.add_member("gus")
    cover, result_id = make_cover(stack, discord, gus, 45, title="Stays")
    before = cover_bytes(discord, cover)
    click = discord.click(gus, cover, edit_id(result_id))
    form_of(stack, click)
    submit = discord.submit_form(click, {"advisory": "maybe"})
    note = private_note(stack, submit, gus)
    assert "yes or no" in note.content and "maybe" in note.content
    too_long = discord.submit_form(click, {"title": "x" * 61})
    assert "at most 60 characters" in private_note(stack, too_long, gus).content
    client = stack.redis()
    try:
        assert client.hget(keys.reroll(discord.guild_id, result_id), "title") == b"Stays"
        assert client.llen("rq:queue:albumify") == 0  # nothing was queued
    finally:
        client.close()
    assert cover_bytes(discord, cover) == before and discord.protocol_errors == []
