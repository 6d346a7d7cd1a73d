"""End to end: a loopback Discord drives the real bot, real Redis and a real worker.

One stack per module (`albumify bot` and `albumify worker` processes, a private
redis-server, the fake Discord in a thread); each scenario starts from an idle queue, empty
app state and a fresh conversation. Assertions are about what members would see.
"""

from __future__ import annotations

import functools
import io
import time

import pytest
from PIL import Image

from devtools.fakediscord import FakeDiscord, FakeInteraction, FakeMessage, FakeUser
from devtools.fakediscord.model import INTERACTION_DEADLINE_S
from devtools.fakediscord.rest import ScriptedReply, rate_limited, server_error, slow
from devtools.fakediscord.stack import Stack
from tests.images import astronaut, encode, gradient
from tests.support.e2e import MARKS, fresh_conversation, module_stack

pytestmark = MARKS

CAPTION = "not everything can be an album cover"
DEFERRED_THINKING, CHANNEL_MESSAGE, UPDATE_MESSAGE = 5, 4, 7

stack = module_stack()
discord = fresh_conversation()


# -- photos --------------------------------------------------------------------------------


@functools.cache
def portrait(variant: int = 0) -> bytes:
    """The astronaut (a face), slightly different per variant so no two are duplicates."""
    image = astronaut()
    side = 360 + 8 * variant
    return encode(image.resize((side, side)), "PNG")


@functools.cache
def faceless(variant: int = 0) -> bytes:
    """A small gradient (no face): the cheapest real cover, tinted per variant."""
    image = gradient(160, 120)
    tint = Image.new("RGB", image.size, ((variant * 37) % 256, (variant * 91) % 256, 128))
    return encode(Image.blend(image, tint, 0.3), "PNG")


# -- helpers -------------------------------------------------------------------------------


def settled(discord: FakeDiscord, message: FakeMessage | None) -> FakeMessage | None:
    """The message once it shows a cover or a final refusal (not a progress text)."""
    if message is None or message.deleted or message.loading:
        return None
    return message if message.attachments or message.content.startswith("⚠️") else None


def wait_final(stack: Stack, interaction: FakeInteraction, timeout: float = 90.0) -> FakeMessage:
    fake = stack.fake
    try:
        return fake.wait_until(
            lambda: settled(fake, fake.response_to(interaction)),
            f"the answer to interaction {interaction.id}",
            timeout,
        )
    except AssertionError as err:
        raise AssertionError(f"{err}\n{stack.logs()}") from None


def wait_reply(stack: Stack, message: FakeMessage, timeout: float = 90.0) -> FakeMessage:
    fake = stack.fake
    try:
        return fake.wait_until(
            lambda: next((m for m in fake.replies_to(message) if answer_reply(m)), None),
            f"the bot's reply to message {message.id}",
            timeout,
        )
    except AssertionError as err:
        raise AssertionError(f"{err}\n{stack.logs()}") from None


def answer_reply(message: FakeMessage) -> bool:
    """A reply of the bot that answers a request: not the reply-mention's status reply, which
    only carries the Cancel button while the cover is made (docs/discord.md)."""
    status = any(i.startswith("albumify:cancel:") for i in message.custom_ids)
    return message.author.bot and not status


def private_answer(fake: FakeDiscord, interaction: FakeInteraction, timeout: float = 10.0):
    """A refusal decided after the acknowledgement: the public "thinking…" response is
    deleted and the member alone sees the answer (an ephemeral follow-up)."""
    answer = fake.wait_until(
        lambda: next((m for m in fake.answers_to(interaction) if m.ephemeral), None),
        f"the private answer to interaction {interaction.id}",
        timeout,
    )
    assert answer.visible_to == interaction.user.id
    deferred = fake.response_to(interaction)
    assert deferred is not None and (deferred.deleted or deferred is answer), deferred
    return answer


def assert_cover(fake: FakeDiscord, message: FakeMessage, requester: FakeUser) -> str:
    """A finished result: one JPEG file, the embed, Re-roll/Delete. Returns the result id."""
    assert message.content.startswith(f"{requester.mention}'s album cover")
    (attachment,) = message.attachments
    assert attachment["filename"] == "albumify.jpg"
    cover = Image.open(io.BytesIO(fake.attachment_bytes(attachment)))
    assert cover.format == "JPEG" and cover.size == (256, 256)
    (embed,) = message.embeds
    assert CAPTION in embed["description"]
    assert embed["image"]["url"] == "attachment://albumify.jpg"
    assert {field["name"] for field in embed["fields"]} >= {"Matched cover", "Similarity"}
    reroll, delete = message.custom_ids[:2]
    result_id = reroll.removeprefix("albumify:reroll:")
    assert reroll.startswith("albumify:reroll:") and delete == f"albumify:delete:{result_id}"
    return result_id


def assert_worker_owned_the_message(message: FakeMessage) -> None:
    """Once the worker shows a stage or the result, no 'queued' text may come back."""
    started = next(
        (n for n, text in enumerate(message.history) if not text.startswith("⏳") and text),
        len(message.history),
    )
    late = [text for text in message.history[started:] if text.startswith("⏳")]
    assert not late, f"queue-position edits after the worker took over: {message.history}"


def matched_cover(message: FakeMessage) -> str:
    fields = {field["name"]: field["value"] for field in message.embeds[0]["fields"]}
    return fields["Matched cover"]


def only_acknowledged_once(interaction: FakeInteraction, callback_type: int) -> None:
    assert [c.type for c in interaction.acknowledged] == [callback_type]
    latency = interaction.ack_latency
    assert latency is not None and latency < INTERACTION_DEADLINE_S


# -- 1. /albumify --------------------------------------------------------------------------


def test_slash_command_turns_a_photo_into_a_cover(stack: Stack, discord: FakeDiscord) -> None:
    alice = discord.add_member("alice")
    photo = discord.upload("me.png", portrait(), "image/png")

    interaction = discord.slash(
        "albumify", alice, {"image": photo, "title": "Liftoff", "artist": "Alice"}
    )
    final = wait_final(stack, interaction)

    only_acknowledged_once(interaction, DEFERRED_THINKING)
    assert_cover(discord, final, alice)
    progress = final.history[1:-1]
    assert progress and all(text.startswith(("⏳", "⚙️")) for text in progress), final.history
    assert not final.ephemeral
    assert discord.channel(viewer=alice) == [final]  # one public message, nothing else
    upload = discord.calls("PATCH", f"/webhooks/{discord.application_id}/")[-1]
    assert upload.files and upload.payload["allowed_mentions"] == {"parse": []}


# -- 2. Apps → Albumify, @mention, reply-mention -------------------------------------------


def test_context_menu_on_own_message_and_asking_on_someone_elses(
    stack: Stack, discord: FakeDiscord
) -> None:
    bob, carol = discord.add_member("bob"), discord.add_member("carol")
    post = discord.post_message(
        bob, "holiday!", attachments=[discord.upload("beach.png", portrait(1))]
    )

    own = discord.context_menu("Albumify", bob, post)
    assert_cover(discord, wait_final(stack, own), bob)
    only_acknowledged_once(own, DEFERRED_THINKING)

    others = discord.context_menu("Albumify", carol, post)
    note = private_answer(discord, others)  # consent is read from Redis: after the ack
    only_acknowledged_once(others, DEFERRED_THINKING)
    assert "asked them first" in note.content  # bob decides (tests/test_e2e_consent.py)
    assert note not in discord.channel(viewer=bob)


def test_mention_with_a_photo_and_reply_mentions(stack: Stack, discord: FakeDiscord) -> None:
    dave = discord.add_member("dave")
    bot = discord.bot

    mention = discord.post_message(
        dave, f"{bot.mention} make me famous", attachments=[discord.upload("a.png", faceless(1))]
    )
    reply = wait_reply(stack, mention)
    assert_cover(discord, reply, dave)
    assert "⏳" in mention.reactions  # the bot's "on it" feedback

    photo_post = discord.post_message(dave, "", attachments=[discord.upload("b.png", faceless(2))])
    reply_mention = discord.post_message(dave, f"{bot.mention} this one", reply_to=photo_post)
    assert_cover(discord, wait_reply(stack, reply_mention), dave)
    # The gateway copy of a reply carries only a reference: the bot fetched the photo's post.
    assert discord.calls("GET", f"/channels/{discord.channel_id}/messages/{photo_post.id}")

    # Without the Message Content toggle, the replied-to photo is invisible to the bot.
    discord.message_content_enabled = False
    try:
        hidden = discord.post_message(dave, "", attachments=[discord.upload("c.png", faceless(3))])
        ask = discord.post_message(dave, f"{bot.mention} and this", reply_to=hidden)
        pointer = wait_reply(stack, ask, timeout=20)
    finally:
        discord.message_content_enabled = True
    assert "Apps → Albumify" in pointer.content and not pointer.attachments


# -- 3. Re-roll and Delete -----------------------------------------------------------------


def test_reroll_gives_another_cover_and_delete_removes_it(
    stack: Stack, discord: FakeDiscord
) -> None:
    erin, frank = discord.add_member("erin"), discord.add_member("frank")
    photo = discord.upload("erin.png", faceless(4))
    first = wait_final(stack, discord.slash("albumify", erin, {"image": photo}))
    result_id = assert_cover(discord, first, erin)

    reroll = discord.click(erin, first, f"albumify:reroll:{result_id}")
    second = wait_final(stack, reroll)
    only_acknowledged_once(reroll, DEFERRED_THINKING)
    assert second.id != first.id and "(re-roll)" in second.content
    second_id = assert_cover(discord, second, erin)
    assert matched_cover(second) != matched_cover(first)

    stolen = discord.click(frank, second, f"albumify:reroll:{second_id}")
    refusal = private_answer(discord, stolen)
    assert "Only the person who asked" in refusal.content

    not_theirs = discord.click(frank, second, f"albumify:delete:{second_id}")
    refusal = discord.wait_until(lambda: discord.response_to(not_theirs), "refusal", 10)
    assert refusal.ephemeral and "Only the person" in refusal.content
    assert not second.deleted

    delete = discord.click(erin, second, f"albumify:delete:{second_id}")
    (done,) = discord.wait_until(
        lambda: second.deleted and discord.answers_to(delete), "the delete", 10
    )
    assert done.ephemeral and done.content == "Deleted."
    assert discord.channel() == [first]  # what everyone sees: the first cover only
    assert [m.ephemeral for m in discord.channel(viewer=frank)] == [False, True, True]

    moderator = discord.add_member("sam", moderator=True)  # Manage Messages
    by_moderator = discord.click(moderator, first, f"albumify:delete:{result_id}")
    discord.wait_until(lambda: first.deleted and by_moderator.acknowledged, "moderation", 10)
    assert discord.channel() == []


# -- 4. votes and /leaderboard -------------------------------------------------------------


def test_votes_order_the_leaderboard(stack: Stack, discord: FakeDiscord) -> None:
    if not any(c["name"] == "leaderboard" for c in discord.commands.get(discord.guild_id, [])):
        pytest.skip("the leaderboard cog (branch `board`) is not in main yet: no /leaderboard")
    creators = [discord.add_member(name) for name in ("gina", "hank", "ivy")]
    voters = [discord.add_member(name) for name in ("jo", "kim", "lee")]
    results = []
    for variant, creator in enumerate(creators, start=10):
        photo = discord.upload(f"{creator.username}.png", faceless(variant))
        results.append(wait_final(stack, discord.slash("albumify", creator, {"image": photo})))
    vote_ids = [
        next((c for c in r.custom_ids if c.startswith("albumify:vote:")), None) for r in results
    ]
    if None in vote_ids:
        pytest.skip("the worker's result message has no Vote button yet (leaderboard wiring)")

    votes_per_result = {0: voters[:1], 1: voters, 2: voters[:2]}  # hank 3, ivy 2, gina 1
    for index, members in votes_per_result.items():
        for member in members:
            click = discord.click(member, results[index], vote_ids[index])
            discord.wait_until(lambda c=click: c.acknowledged, "the vote's ack", 10)
            assert click.acknowledged[0].type == UPDATE_MESSAGE  # the button shows the count

    labels = [
        next(c["label"] for row in r.components for c in row["components"] if c["custom_id"] == v)
        for r, v in zip(results, vote_ids, strict=True)
    ]
    assert labels == ["Vote · 1", "Vote · 3", "Vote · 2"]  # the live count on each button
    own = discord.click(creators[0], results[0], vote_ids[0])
    refusal = discord.wait_until(lambda: discord.response_to(own), "the self-vote refusal", 10)
    assert own.acknowledged and own.acknowledged[0].type == CHANNEL_MESSAGE
    assert refusal.ephemeral and "your own cover" in refusal.content

    board = discord.slash("leaderboard", voters[0], {"period": "all"})
    message = discord.wait_until(  # deferred first ("thinking…"), then the board
        lambda: (m := discord.response_to(board)) and m.embeds and m, "the leaderboard", 10
    )
    text = message.content + "".join(e.get("description", "") for e in message.embeds)
    order = sorted(creators, key=lambda member: text.find(member.mention))
    assert all(member.mention in text for member in creators), text
    assert [m.username for m in order] == ["hank", "ivy", "gina"], text


# -- 5. bad inputs -------------------------------------------------------------------------


def test_bad_inputs_get_a_clear_message_and_the_worker_lives_on(
    stack: Stack, discord: FakeDiscord
) -> None:
    mia = discord.add_member("mia")

    not_image = discord.slash(
        "albumify", mia, {"image": discord.upload("notes.txt", b"hello\n", "text/plain")}
    )
    huge = discord.slash(
        "albumify", mia, {"image": discord.upload("huge.png", b"\0" * (26 * 1024 * 1024))}
    )
    for interaction, expected in ((not_image, "isn't a photo"), (huge, "too large")):
        answer = discord.wait_until(lambda i=interaction: discord.response_to(i), expected, 10)
        only_acknowledged_once(interaction, CHANNEL_MESSAGE)
        assert answer.ephemeral and expected in answer.content, answer.content

    broken = discord.upload("broken.png", b"\x89PNG\r\n\x1a\n" + b"garbage" * 100, "image/png")
    refused = wait_final(stack, discord.slash("albumify", mia, {"image": broken}))
    assert refused.content.startswith("⚠️") and len(refused.content) > 20, refused.content
    assert not refused.attachments and not refused.components and not refused.embeds

    no_face = wait_final(
        stack, discord.slash("albumify", mia, {"image": discord.upload("sky.png", faceless(5))})
    )
    assert_cover(discord, no_face, mia)
    assert "no face found" in no_face.embeds[0]["footer"]["text"]
    stack.check_alive()


# -- 6. a burst of 100 ---------------------------------------------------------------------


def test_a_hundred_interactions_at_once(stack: Stack, discord: FakeDiscord) -> None:
    members = [discord.add_member(f"member{n}") for n in range(100)]
    burst = [
        discord.prepare_slash(
            "albumify", member, {"image": discord.upload(f"p{n}.png", faceless(100 + n))}
        )
        for n, member in enumerate(members)
    ]
    discord.send(*burst)

    finals = [wait_final(stack, interaction, timeout=240) for interaction in burst]
    for interaction, member, final in zip(burst, members, finals, strict=True):
        only_acknowledged_once(interaction, DEFERRED_THINKING)
        assert_cover(discord, final, member)
    stack.wait_idle()
    time.sleep(0.5)  # a bot-side 'queued' edit in flight would land by now
    for final in finals:
        assert_worker_owned_the_message(final)
    covers = [m for m in discord.channel() if m.attachments]
    assert len(covers) == 100 and len({m.id for m in covers}) == 100
    uploads = [r for r in discord.calls("PATCH", "/messages/@original") if r.files]
    assert len(uploads) == 100  # every result delivered exactly once


# -- 7. faults: 429, 5xx, slow Discord, dropped gateway ------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param([rate_limited(0.4)], id="429-then-200"),
        pytest.param([server_error(502), rate_limited(0.2)], id="502-429-then-200"),
        pytest.param([slow(2.0)], id="slow-upload"),
    ],
)
def test_discord_faults_on_the_upload_still_deliver_once(
    stack: Stack, discord: FakeDiscord, fault: list
) -> None:
    nina = discord.add_member("nina")
    discord.script("POST", "/interactions/", rate_limited(0.3))  # the defer is retried too
    discord.script("PATCH", "/webhooks/", *fault, match=lambda request: bool(request.files))

    interaction = discord.slash("albumify", nina, {"image": discord.upload("n.png", faceless(6))})
    final = wait_final(stack, interaction)

    only_acknowledged_once(interaction, DEFERRED_THINKING)
    assert len(discord.calls("POST", "/interactions/")) == 2  # 429, then the accepted defer
    assert_cover(discord, final, nina)
    uploads = [r for r in discord.calls("PATCH", "/messages/@original") if r.files]
    assert len(uploads) == len(fault) + (0 if fault[0].passthrough else 1)
    assert len(final.attachments) == 1
    assert [m for m in discord.channel() if m.attachments] == [final]


@pytest.mark.parametrize("invalidated", [False, True], ids=["resume", "invalid-session"])
def test_bot_reconnects_after_the_gateway_drops(
    stack: Stack, discord: FakeDiscord, invalidated: bool
) -> None:
    olga = discord.add_member("olga")
    resumes, identifies = discord.resumes, discord.identifies
    if invalidated:  # RESUME is refused: discord.py must dial DEFAULT_GATEWAY and IDENTIFY
        discord.invalidate_session()
    discord.drop_gateway()
    if invalidated:
        discord.wait_until(lambda: discord.identifies > identifies, "a new IDENTIFY", 30)
    else:
        discord.wait_until(lambda: discord.resumes > resumes and discord.sessions, "RESUME", 30)

    interaction = discord.slash("albumify", olga, {"image": discord.upload("o.png", faceless(7))})
    assert_cover(discord, wait_final(stack, interaction), olga)
    only_acknowledged_once(interaction, DEFERRED_THINKING)


# -- more of what members meet: dead tokens, duplicates, spoilers --------------------------


def test_dead_interaction_token_falls_back_to_a_channel_reply(
    stack: Stack, discord: FakeDiscord
) -> None:
    pia = discord.add_member("pia")
    unknown_webhook = ScriptedReply(404, {"message": "Unknown Webhook", "code": 10015})
    discord.script("PATCH", "/webhooks/", *[unknown_webhook] * 50)

    interaction = discord.slash("albumify", pia, {"image": discord.upload("p.png", faceless(8))})
    deferred = discord.wait_until(lambda: discord.response_to(interaction), "the defer", 10)
    reply = wait_reply(stack, deferred)

    assert_cover(discord, reply, pia)
    posts = discord.calls("POST", f"/channels/{discord.channel_id}/messages")
    assert len(posts) == 1 and posts[0].headers["Authorization"].startswith("Bot ")


def test_the_same_photo_again_points_at_its_cover(stack: Stack, discord: FakeDiscord) -> None:
    quinn = discord.add_member("quinn")
    first = wait_final(
        stack, discord.slash("albumify", quinn, {"image": discord.upload("q.png", faceless(9))})
    )
    again = discord.slash(  # a new upload (another attachment id) of the same bytes
        "albumify", quinn, {"image": discord.upload("q-again.png", faceless(9))}
    )
    notice = discord.wait_until(
        lambda: (m := discord.response_to(again)) and "same photo" in m.content and m,
        "the duplicate notice",
        60,
    )
    assert f"/channels/{discord.guild_id}/{discord.channel_id}/{first.id}" in notice.content
    assert not notice.attachments and not notice.components
    assert [m for m in discord.channel() if m.attachments] == [first]


def test_a_spoilered_photo_gives_a_spoilered_cover(stack: Stack, discord: FakeDiscord) -> None:
    rex = discord.add_member("rex")
    photo = discord.upload("SPOILER_me.png", faceless(10))
    final = wait_final(stack, discord.slash("albumify", rex, {"image": photo}))
    (attachment,) = final.attachments
    assert attachment["filename"] == "SPOILER_albumify.jpg"
    assert "image" not in final.embeds[0]  # embed images cannot be spoilered
