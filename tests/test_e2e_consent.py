"""End to end: a cover of someone else's photo waits for its author's Approve (issue 17, 2).

Real `albumify bot` and `albumify worker` processes, a private redis-server and the loopback
Discord, as in tests/test_e2e.py. In a server that did not open covers of anyone's photo to
all, Apps → Albumify or a reply-mention on another member's photo sends its author one prompt
— the one message that pings anybody, and only them — and nothing is downloaded or queued
until they press Approve. Decline is final, a stranger's click changes nothing, a second
request does not ping again, and the buttons work after a bot restart. (Expiry:
tests/test_e2e_consent_expiry.py.)
"""

from __future__ import annotations

from albumify import keys
from albumify.buttons import CONSENT_APPROVE_ID, CONSENT_DECLINE_ID
from albumify.schema import job_id_for
from devtools.fakediscord import FakeDiscord, FakeInteraction, FakeMessage, FakeUser
from devtools.fakediscord.mentions import Pings
from devtools.fakediscord.model import VIEW_CHANNEL
from devtools.fakediscord.stack import Stack
from tests.support.e2e import MARKS, fresh_conversation, module_stack
from tests.test_e2e import assert_cover, faceless, settled

pytestmark = MARKS
stack = module_stack()
discord = fresh_conversation()

APPROVE_PREFIX = CONSENT_APPROVE_ID.split("{", 1)[0]


def photo_post(discord: FakeDiscord, author: FakeUser, variant: int) -> FakeMessage:
    return discord.post_message(
        author, "", attachments=[discord.upload(f"{author.username}.png", faceless(variant))]
    )


def is_prompt(message: FakeMessage) -> bool:
    return any(custom_id.startswith(APPROVE_PREFIX) for custom_id in message.custom_ids)


def prompts(discord: FakeDiscord) -> list[FakeMessage]:
    """Every consent prompt the bot sent in this conversation (answered ones included)."""
    with discord._model_lock:
        return [m for m in discord.messages.values() if m.author.bot and m.pings.users]


def wait_prompt(stack: Stack, find, what: str) -> FakeMessage:
    try:
        return stack.fake.wait_until(lambda: next((m for m in find() if is_prompt(m)), None), what)
    except AssertionError as err:
        raise AssertionError(f"{err}\n{stack.logs()}") from None


def private_note(discord: FakeDiscord, interaction: FakeInteraction) -> FakeMessage:
    """What the requester alone was told (an ephemeral follow-up)."""
    note = discord.wait_until(
        lambda: next((m for m in discord.answers_to(interaction) if m.ephemeral), None),
        f"the private answer to interaction {interaction.id}",
    )
    assert note.visible_to == interaction.user.id and note.pings == Pings()
    return note


def wait_cover(stack: Stack, message: FakeMessage) -> FakeMessage:
    try:
        return stack.fake.wait_until(
            lambda: settled(stack.fake, message), f"a cover in message {message.id}", 90
        )
    except AssertionError as err:
        raise AssertionError(f"{err}\n{stack.logs()}") from None


def buttons(prompt: FakeMessage, author: FakeUser) -> tuple[str, str]:
    """The prompt's Approve and Decline: its request and its author are in the custom ids."""
    approve, decline = prompt.custom_ids
    request_id = approve.split(":")[3]
    assert approve == CONSENT_APPROVE_ID.format(request_id=request_id, author_id=author.id)
    assert decline == CONSENT_DECLINE_ID.format(request_id=request_id, author_id=author.id)
    return approve, decline


def photo_fetches(discord: FakeDiscord, post: FakeMessage) -> int:
    """How often anyone downloaded the post's photo from the (fake) CDN."""
    return len(discord.calls("GET", f"/{post.attachments[0]['id']}/"))


def job_made(stack: Stack, *requests: FakeInteraction | FakeMessage) -> bool:
    """Whether any of these requests (by interaction or message id) ever became an RQ job."""
    client = stack.redis()
    try:
        return any(client.exists(f"rq:job:{job_id_for(request.id)}") for request in requests)
    finally:
        client.close()


def only_the_prompts_pinged(discord: FakeDiscord) -> None:
    """Every message the bot sent pinged nobody, but a prompt: its photo's author alone."""
    with discord._model_lock:
        sent = [m for m in discord.messages.values() if m.author.bot]
    for message in sent:
        if message.pings == Pings():
            continue
        (author,) = message.pings.users
        first = message.history[0]
        assert first.startswith(f"<@{author}>, ") and "would like to make" in first, first
        assert message.pings == Pings(users=[author])


def test_the_author_approves_and_the_requester_gets_the_cover(
    stack: Stack, discord: FakeDiscord
) -> None:
    ann, ben = discord.add_member("ann"), discord.add_member("ben")
    post = photo_post(discord, ann, 30)

    menu = discord.context_menu("Albumify", ben, post)
    prompt = wait_prompt(stack, lambda: discord.answers_to(menu), "the consent prompt")
    note = private_note(discord, menu)
    assert ann.mention in note.content and "asked" in note.content, note.content
    assert not prompt.ephemeral and prompt.interaction_id == menu.id  # a follow-up of ben's
    assert prompt.pings == Pings(users=[ann.id])  # ann, and nobody else: not ben, no role
    assert ann.mention in prompt.content and ben.mention in prompt.content
    assert str(post.id) in prompt.content  # a link to the photo
    approve, _ = buttons(prompt, ann)
    assert photo_fetches(discord, post) == 0 and not job_made(stack, menu)  # nothing yet

    click = discord.click(ann, prompt, approve)
    cover = wait_cover(stack, prompt)  # the prompt is the Approve click's message: the cover
    result_id = assert_cover(discord, cover, ben)  # attributed to the requester
    assert any("approved" in text for text in prompt.history), prompt.history
    assert [c.type for c in click.acknowledged] == [6]  # deferred update of the prompt
    assert photo_fetches(discord, post) == 1
    assert len(prompts(discord)) == 1
    only_the_prompts_pinged(discord)

    # The photo's author may still delete a cover of her photo.
    delete = discord.click(ann, cover, f"albumify:delete:{result_id}")
    discord.wait_until(lambda: cover.deleted and discord.answers_to(delete), "the delete", 30)


def test_in_a_channel_the_bot_cannot_see_everything_goes_through_interactions(
    stack: Stack, discord: FakeDiscord
) -> None:
    lea, max_ = discord.add_member("lea"), discord.add_member("max")
    post = photo_post(discord, lea, 34)
    discord.set_bot_permissions(deny=VIEW_CHANNEL)  # a server admin hides the channel

    menu = discord.context_menu("Albumify", max_, post)
    prompt = wait_prompt(stack, lambda: discord.answers_to(menu), "the consent prompt")
    assert prompt.pings == Pings(users=[lea.id])
    approve, _ = buttons(prompt, lea)
    discord.click(lea, prompt, approve)
    assert_cover(discord, wait_cover(stack, prompt), max_)
    assert discord.calls("POST", "/channels/") == []  # no bot-token post: all by interaction
    assert discord.protocol_errors == []


def test_a_stranger_cannot_answer_and_a_decline_is_final(
    stack: Stack, discord: FakeDiscord
) -> None:
    cat, dan, eve = discord.add_member("cat"), discord.add_member("dan"), discord.add_member("eve")
    post = photo_post(discord, cat, 31)
    menu = discord.context_menu("Albumify", dan, post)
    prompt = wait_prompt(stack, lambda: discord.answers_to(menu), "the consent prompt")
    approve, decline = buttons(prompt, cat)

    for presser in (eve, dan):  # a bystander, and the requester himself
        stranger = discord.click(presser, prompt, approve)
        (refusal,) = discord.wait_until(
            lambda click=stranger: discord.answers_to(click), "the refusal", 30
        )
        assert refusal.ephemeral and refusal.visible_to == presser.id
        assert "Only" in refusal.content and refusal.pings == Pings()
    assert prompt.custom_ids == [approve, decline]  # still waiting for cat

    discord.click(cat, prompt, decline)
    discord.wait_until(lambda: not prompt.custom_ids, "the declined prompt", 30)
    assert "declined" in prompt.content and "No cover" in prompt.content, prompt.content

    again = discord.context_menu("Albumify", dan, post)
    refusal = private_note(discord, again)
    assert "declined" in refusal.content, refusal.content
    stack.wait_idle()
    assert len(prompts(discord)) == 1  # cat was not asked again
    assert photo_fetches(discord, post) == 0 and not job_made(stack, menu, again)  # nothing made
    assert not [m for m in discord.channel() if m.attachments and m.author.bot]
    only_the_prompts_pinged(discord)


def test_a_reply_mention_asks_once_and_the_buttons_survive_a_restart(
    stack: Stack, discord: FakeDiscord
) -> None:
    fay, gus = discord.add_member("fay"), discord.add_member("gus")
    post = photo_post(discord, fay, 32)

    mention = discord.post_message(gus, f"{discord.bot.mention} this one!", reply_to=post)
    prompt = wait_prompt(stack, lambda: discord.replies_to(mention), "the prompt as a reply")
    assert prompt.pings == Pings(users=[fay.id]) and gus.mention in prompt.content
    approve, _ = buttons(prompt, fay)

    # Asking again while fay has not answered: told so, and fay is not pinged again.
    menu = discord.context_menu("Albumify", gus, post)
    note = private_note(discord, menu)
    assert "already asked" in note.content, note.content
    assert len(prompts(discord)) == 1 and photo_fetches(discord, post) == 0
    assert not job_made(stack, mention, menu)

    stack.stop_process("bot")  # persistent buttons: a new bot process answers the click
    identified = discord.identifies
    stack.start_bot()
    discord.wait_until(lambda: discord.identifies > identified, "the bot back online", 90)

    discord.click(fay, prompt, approve)
    assert_cover(discord, wait_cover(stack, prompt), gus)
    assert photo_fetches(discord, post) == 1
    only_the_prompts_pinged(discord)


def test_a_server_open_to_all_makes_the_cover_without_asking(
    stack: Stack, discord: FakeDiscord
) -> None:
    hal, ida = discord.add_member("hal"), discord.add_member("ida")
    client = stack.redis()
    try:
        client.hset(keys.guild_settings(discord.guild_id), "allow_others", "1")
    finally:
        client.close()
    post = photo_post(discord, hal, 33)

    menu = discord.context_menu("Albumify", ida, post)
    cover = wait_cover(stack, discord.wait_until(lambda: discord.response_to(menu), "the ack"))
    assert_cover(discord, cover, ida)
    assert prompts(discord) == []
    only_the_prompts_pinged(discord)
