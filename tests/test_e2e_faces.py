"""End to end, which face: real bot, worker (real pipeline), Redis and the loopback Discord.

A cover of a photo with several faces carries "Use another face"; its requester presses it,
sees the faces numbered in a private preview with a select, picks face 2, and a new cover is
posted, built on face 2 (the result record says so, and so does the cover's footer). A photo
with one face has no such button; others are refused; an expired photo is said plainly. The
covers come by a reply-mention, Apps → Albumify and /albumify: the button is on each.
"""

from __future__ import annotations

import functools
import io

from PIL import Image

from albumify import keys
from albumify.results import load_result
from devtools.fakediscord import FakeDiscord, FakeInteraction, FakeMessage, FakeUser
from devtools.fakediscord.stack import Stack
from tests.images import astronaut, encode, group_photo
from tests.support.e2e import MARKS, fresh_conversation, module_stack
from tests.support.state import guild_of_result

pytestmark = MARKS

stack = module_stack()
discord = fresh_conversation()


@functools.cache
def group(variant: int = 0) -> bytes:
    """Three faces (the astronaut large in the middle, two small copies in the corners)."""
    image = group_photo()
    return encode(image.resize((900 + 8 * variant, 700 + 8 * variant)), "PNG")


def settled(message: FakeMessage | None) -> FakeMessage | None:
    if message is None or message.deleted or message.loading:
        return None
    return message if message.attachments or message.content.startswith("⚠️") else None


def wait_for(stack: Stack, what: str, predicate, timeout: float = 120.0):
    try:
        return stack.fake.wait_until(predicate, what, timeout)
    except AssertionError as err:
        raise AssertionError(f"{err}\n{stack.logs()}") from None


def answer(stack: Stack, interaction: FakeInteraction) -> FakeMessage:
    """The interaction's response once it shows something other than "thinking…"."""
    fake = stack.fake

    def shown() -> FakeMessage | None:
        message = fake.response_to(interaction)
        return message if message is not None and not message.loading else None

    return wait_for(stack, f"the answer to interaction {interaction.id}", shown)


def cover_for(stack: Stack, interaction: FakeInteraction) -> FakeMessage:
    return wait_for(stack, "the cover", lambda: settled(stack.fake.response_to(interaction)))


def result_id_of(message: FakeMessage) -> str:
    return message.custom_ids[0].removeprefix("albumify:reroll:")


def faces_button(message: FakeMessage) -> str | None:
    return next((c for c in message.custom_ids if c.startswith("albumify:faces:")), None)


def record_of(stack: Stack, result_id: str):
    client = stack.redis()
    try:
        return load_result(client, guild_of_result(client, result_id), result_id)
    finally:
        client.close()


def press_for_faces(stack: Stack, member: FakeUser, cover: FakeMessage) -> FakeMessage:
    """Press "Use another face" and wait for the private, numbered preview."""
    button = faces_button(cover)
    assert button is not None
    press = stack.fake.click(member, cover, button)
    preview = answer(stack, press)
    assert preview.ephemeral and preview.visible_to == member.id, preview.content
    return preview


def test_a_reply_mention_cover_of_a_group_lets_its_requester_pick_face_2(
    stack: Stack, discord: FakeDiscord
) -> None:
    ana, ben = discord.add_member("ana"), discord.add_member("ben")
    mention = discord.post_message(
        ana, f"{discord.bot.mention} us!", attachments=[discord.upload("team.png", group())]
    )
    first = wait_for(
        stack,
        "the cover",
        lambda: next((m for m in discord.replies_to(mention) if settled(m)), None),
    )
    result_id = result_id_of(first)
    assert faces_button(first) == f"albumify:faces:{result_id}"
    assert record_of(stack, result_id).face == 1  # the default: the most prominent face

    stranger = discord.click(ben, first, f"albumify:faces:{result_id}")
    refusal = answer(stack, stranger)
    assert refusal.ephemeral and "Only the person who asked" in refusal.content
    assert not refusal.components and not refusal.attachments

    preview = press_for_faces(stack, ana, first)
    (attachment,) = preview.attachments
    assert attachment["filename"] == "faces.jpg"
    shown = Image.open(io.BytesIO(discord.attachment_bytes(attachment)))
    assert max(shown.size) == 640  # the small numbered preview, drawn by the worker
    select = preview.select(f"albumify:face:{result_id}")
    assert select is not None
    assert [o["label"] for o in select["options"]] == ["Face 1", "Face 2", "Face 3"]
    assert [o["value"] for o in select["options"] if o.get("default")] == ["1"]
    assert "I found 3 faces" in preview.content

    choice = discord.choose(ana, preview, f"albumify:face:{result_id}", ["2"])
    second = cover_for(stack, choice)
    assert second.id not in (first.id, preview.id) and not second.ephemeral
    assert second.content == f"{ana.mention}'s album cover (face 2)"
    second_id = result_id_of(second)
    record = record_of(stack, second_id)
    assert record.face == 2 and record.requester_id == ana.id
    assert record.library_id == record_of(stack, result_id).library_id  # same match, face 2
    assert "used face 2" in second.embeds[0]["footer"]["text"]
    assert faces_button(second) == f"albumify:faces:{second_id}"

    # The new cover's preview marks face 2 as the one in use.
    again = press_for_faces(stack, ana, second)
    marked = again.select(f"albumify:face:{second_id}")
    assert marked is not None
    assert [o["value"] for o in marked["options"] if o.get("default")] == ["2"]


def test_one_face_has_no_button_and_an_expired_photo_is_said_plainly(
    stack: Stack, discord: FakeDiscord
) -> None:
    cleo = discord.add_member("cleo")
    alone = discord.upload("me.png", encode(astronaut().resize((360, 360)), "PNG"))
    single = cover_for(stack, discord.slash("albumify", cleo, {"image": alone}))
    assert single.attachments and faces_button(single) is None

    post = discord.post_message(cleo, "crew", attachments=[discord.upload("crew.png", group(1))])
    cover = cover_for(stack, discord.context_menu("Albumify", cleo, post))  # Apps → Albumify
    assert faces_button(cover) is not None
    result_id = result_id_of(cover)
    client = stack.redis()
    try:
        client.delete(keys.photo(record_of(stack, result_id).photo_hash))  # its hour is up
    finally:
        client.close()
    press = discord.click(cleo, cover, f"albumify:faces:{result_id}")
    gone = answer(stack, press)
    assert gone.ephemeral and "this one is gone" in gone.content
    assert not gone.components and not gone.attachments
