"""End to end: the same photo asked for again, and what counts as asking (issue 16, 1 and 13).

A member who asks again gets a cover or a link to one, never a promise that nothing keeps:
new options make a new cover; an identical request points at the first (while it is made,
and once it is posted); a request whose acknowledgement failed leaves nothing behind. A
mention is what Discord parsed (the bot's user or its managed role), and the bot never makes
a cover of its own covers. Real `albumify bot` and `albumify worker` processes, a private
redis-server and the loopback Discord, as in tests/test_e2e.py.
"""

from __future__ import annotations

import pytest

from albumify import keys
from devtools.fakediscord import FakeDiscord, FakeInteraction, FakeMessage
from devtools.fakediscord.rest import ScriptedReply
from devtools.fakediscord.stack import Stack
from tests.support.e2e import MARKS, fresh_conversation, module_stack
from tests.test_e2e import assert_cover, faceless, wait_reply

pytestmark = MARKS
stack = module_stack()
discord = fresh_conversation()


def jump_url(discord: FakeDiscord, message: FakeMessage) -> str:
    return f"https://discord.com/channels/{discord.guild_id}/{message.channel_id}/{message.id}"


def final_answer(stack: Stack, interaction: FakeInteraction, timeout: float = 90.0) -> FakeMessage:
    """The member's answer: a cover, a ⚠️ notice, or a private (ephemeral) reply."""
    fake = stack.fake

    def answer() -> FakeMessage | None:
        for message in reversed(fake.answers_to(interaction)):
            if message.loading:
                continue
            if message.attachments or message.ephemeral or message.content.startswith("⚠️"):
                return message
        return None

    try:
        return fake.wait_until(answer, f"the answer to interaction {interaction.id}", timeout)
    except AssertionError as err:
        raise AssertionError(f"{err}\n{stack.logs()}") from None


def covers(discord: FakeDiscord) -> list[FakeMessage]:
    return [m for m in discord.channel() if m.attachments and m.author.bot]


# -- 1. the same photo again ----------------------------------------------------------------


def test_new_options_on_the_same_attachment_make_a_new_cover(
    stack: Stack, discord: FakeDiscord
) -> None:
    alice = discord.add_member("alice")
    photo = discord.upload("me.png", faceless(20))
    first = final_answer(stack, discord.slash("albumify", alice, {"image": photo}))
    assert_cover(discord, first, alice)

    titled = discord.slash("albumify", alice, {"image": photo, "title": "Second Take"})
    second = final_answer(stack, titled)
    assert second.id != first.id, second.content
    result_id = assert_cover(discord, second, alice)
    client = stack.redis()
    try:  # the title is lettered into the image; the record says which request it was
        assert client.hget(keys.reroll(discord.guild_id, result_id), "title") == b"Second Take"
    finally:
        client.close()

    advisory = discord.slash(
        "albumify", alice, {"image": photo, "title": "Second Take", "advisory": True}
    )
    assert_cover(discord, final_answer(stack, advisory), alice)
    assert len(covers(discord)) == 3


def test_an_identical_request_points_at_the_first_which_still_arrives(
    stack: Stack, discord: FakeDiscord
) -> None:
    bea = discord.add_member("bea")
    photo = discord.upload("bea.png", faceless(21))
    first, again = discord.send(
        discord.prepare_slash("albumify", bea, {"image": photo, "title": "Twice"}),
        discord.prepare_slash("albumify", bea, {"image": photo, "title": "Twice"}),
    )

    # Sent at once: whichever the bot admits first makes the cover, the other points at it.
    answers = [final_answer(stack, first), final_answer(stack, again)]
    cover, pointer = sorted(answers, key=lambda message: not message.attachments)
    assert_cover(discord, cover, bea)
    assert pointer.ephemeral and pointer.visible_to == bea.id, pointer.content
    assert jump_url(discord, cover) in pointer.content
    assert covers(discord) == [cover]  # one cover, the first answer

    later = discord.slash("albumify", bea, {"image": photo, "title": "Twice"})
    answer = final_answer(stack, later)
    if answer.attachments:  # "a link to it, or a new cover"
        assert_cover(discord, answer, bea)
    else:
        assert answer.ephemeral and jump_url(discord, cover) in answer.content, answer.content


def test_a_failed_acknowledgement_leaves_nothing_behind(stack: Stack, discord: FakeDiscord) -> None:
    cleo = discord.add_member("cleo")
    photo = discord.upload("cleo.png", faceless(22))
    expired = ScriptedReply(404, {"message": "Unknown interaction", "code": 10062})
    discord.script("POST", "/interactions/", expired)

    lost = discord.slash("albumify", cleo, {"image": photo})
    discord.wait_until(lambda: lost.callbacks or discord.calls("POST", "/interactions/"), "ack")
    retry = discord.slash("albumify", cleo, {"image": photo})
    assert_cover(discord, final_answer(stack, retry), cleo)
    assert lost.acknowledged == [] and discord.answers_to(lost) == []


@pytest.mark.parametrize("posted_first", [False, True], ids=["right-after", "once-posted"])
def test_reply_mention_after_the_context_menu_gets_a_cover_or_a_link(
    stack: Stack, discord: FakeDiscord, posted_first: bool
) -> None:
    dan = discord.add_member("dan")
    post = discord.post_message(dan, "", attachments=[discord.upload("dan.png", faceless(23))])
    menu = discord.context_menu("Albumify", dan, post)
    if posted_first:
        final_answer(stack, menu)
    mention = discord.post_message(dan, f"{discord.bot.mention} this one", reply_to=post)

    # Whichever the bot admits first makes the cover; the other gets it or a link to it.
    answers = [wait_reply(stack, mention), final_answer(stack, menu)]
    made = [answer for answer in answers if answer.attachments]
    assert made, [answer.content for answer in answers]
    for answer in made:
        assert_cover(discord, answer, dan)
    # A link to a cover, or (while it is made) to the message that it will reply to.
    targets = [jump_url(discord, cover) for cover in made] + [jump_url(discord, mention)]
    for answer in answers:
        if not answer.attachments:
            assert any(target in answer.content for target in targets), answer.content


# -- 13. what counts as a mention -----------------------------------------------------------


def test_a_mention_of_the_bots_managed_role_is_a_request(
    stack: Stack, discord: FakeDiscord
) -> None:
    eve = discord.add_member("eve")
    post = discord.post_message(eve, "", attachments=[discord.upload("eve.png", faceless(24))])
    mention = discord.post_message(eve, f"<@&{discord.bot_role_id}> please", reply_to=post)
    assert_cover(discord, wait_reply(stack, mention), eve)


def test_the_bot_never_makes_a_cover_of_its_own_cover(stack: Stack, discord: FakeDiscord) -> None:
    fay = discord.add_member("fay")
    cover = final_answer(
        stack, discord.slash("albumify", fay, {"image": discord.upload("f.png", faceless(25))})
    )
    assert_cover(discord, cover, fay)

    client = stack.redis()
    try:  # a server open to covers of anyone's photos: still never of the bot's own posts
        client.hset(keys.guild_settings(discord.guild_id), "allow_others", "1")
    finally:
        client.close()

    praise = discord.post_message(fay, "love it", reply_to=cover, reply_ping=True)
    explicit = discord.post_message(fay, f"{discord.bot.mention} again!", reply_to=cover)
    answer = wait_reply(stack, explicit)
    assert not answer.attachments and "one of my covers" in answer.content, answer.content

    # A request after them is answered: everything before it has been handled.
    post = discord.post_message(fay, "", attachments=[discord.upload("g.png", faceless(26))])
    later = discord.post_message(fay, f"{discord.bot.mention}", reply_to=post)
    assert_cover(discord, wait_reply(stack, later), fay)
    stack.wait_idle()
    assert discord.replies_to(praise) == []  # a reply-ping to a cover is not a request
    assert len(covers(discord)) == 2  # of fay's two photos; no cover of a cover
