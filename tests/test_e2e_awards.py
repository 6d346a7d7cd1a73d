"""End to end (#17 item 5): Cover of the Week through the real bot, worker, Redis and the
loopback Discord.

The bot's awards clock is moved with `ALBUMIFY_CLOCK_OFFSET_FILE` (the seconds in the file are
added to the time), so a scenario steps past a week's end + the awards delay without waiting;
the covers and votes are real, made now. One stack per module (tests/support/e2e.py).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from albumify import keys
from albumify.awards import EMPTY, POSTED, Period, last_closed
from albumify.periods import week_end
from albumify.settings import Limits
from bot.awards.post import ROLE_REFUSED
from devtools.fakediscord import FakeDiscord, FakeMessage, FakeUser
from devtools.fakediscord.mentions import Pings
from devtools.fakediscord.model import MANAGE_ROLES, FakeRole
from devtools.fakediscord.rest import slow
from devtools.fakediscord.server import ChannelOption
from devtools.fakediscord.stack import Stack
from tests.support.e2e import MARKS, module_stack
from tests.test_e2e_data import make_cover, vote, vote_id

pytestmark = MARKS

OFFSET = Path(tempfile.mkdtemp(prefix="albumify-awards-")) / "clock-offset"
INTERVAL_S = 0.3
stack = module_stack(
    lambda: Stack(
        {"ALBUMIFY_AWARDS_INTERVAL": str(INTERVAL_S), "ALBUMIFY_CLOCK_OFFSET_FILE": str(OFFSET)}
    )
)
DELAY_S = Limits().awards_delay_s
AWARD_TITLE = "🏆 Cover of the Week"


@pytest.fixture
def discord(stack: Stack) -> Any:
    """A fresh conversation, the awards clock at the real time."""
    OFFSET.write_text("0")
    with stack.scenario() as fake:
        yield fake
    OFFSET.write_text("0")


# -- helpers -----------------------------------------------------------------------------------


def configure(fake: FakeDiscord, manager: FakeUser, role: FakeRole | None = None) -> str:
    """/albumify-config awards_channel:#general awards_period:week [winner_role:@role]."""
    options: dict[str, Any] = {
        "awards_channel": ChannelOption(fake.channel_id, fake.guild_id),
        "awards_period": "week",
    }
    if role is not None:
        options["winner_role"] = role
    interaction = fake.slash("albumify-config", manager, options)
    answer = fake.wait_until(lambda: fake.response_to(interaction), "the config answer", 15)
    return answer.content


def week_of(stack: Stack, cover: FakeMessage) -> Period:
    """The week the cover was made in (its votes count there), as the boards recorded it."""
    client = stack.redis()
    try:
        rid = vote_id(cover).removeprefix("albumify:vote:")
        week, created = client.hmget(keys.result(cover.guild_id or 0, rid), "week", "created_at")
    finally:
        client.close()
    return Period("week", f"week:{week.decode()}", week_end(float(created)))


def move_clock_past(period: Period, extra_s: float = 5.0) -> None:
    """The bots' awards clock: past the period's end + the awards delay."""
    OFFSET.write_text(str(period.ends_at + DELAY_S + extra_s - time.time()))


def awards(fake: FakeDiscord) -> list[FakeMessage]:
    with fake._model_lock:
        return [
            m
            for m in fake.channel()
            if m.author.id == fake.bot.id
            and any(str(e.get("title", "")).startswith(AWARD_TITLE) for e in m.embeds)
        ]


def award_posts(fake: FakeDiscord) -> int:
    """How many times a bot *asked* to post an award (Discord's nonce would fold a repeat
    into the first message, so the channel alone cannot tell)."""
    return sum(
        1
        for r in fake.calls("POST", f"/channels/{fake.channel_id}/messages")
        if r.payload
        and any(
            str(e.get("title", "")).startswith(AWARD_TITLE) for e in r.payload.get("embeds") or []
        )
    )


def done_status(stack: Stack, guild_id: int, period: Period) -> str | None:
    client = stack.redis()
    try:
        value = client.hget(keys.awards_done(guild_id, period.key), "status")
    finally:
        client.close()
    return value.decode() if value else None


def wait_done(stack: Stack, fake: FakeDiscord, period: Period, timeout: float = 60) -> str:
    try:
        return fake.wait_until(
            lambda: done_status(stack, fake.guild_id, period), f"the {period.key} award", timeout
        )
    except AssertionError as err:
        raise AssertionError(f"{err}\n{stack.logs()}") from None


def some_rounds() -> None:
    """Long enough for every bot process to look again several times (absence checks)."""
    time.sleep(INTERVAL_S * 10)


def restart_bots(stack: Stack, *names: str) -> None:
    """Stop the named bot processes, then start "bot" alone and wait until it is connected."""
    for name in names:
        stack.stop_process(name)
        stack.processes.pop(name, None)
    before = stack.fake.identifies
    stack.start_bot()
    stack.fake.wait_until(lambda: stack.fake.identifies > before, "the bot again", 90)
    stack.fake.wait_until(lambda: "ready as" in stack.log("bot"), "the bot ready", 60)


def seed_role_holder(stack: Stack, fake: FakeDiscord, role: FakeRole, holder: FakeUser) -> None:
    """Last period's winner holds the role the bot handed them (as its record says)."""
    fake.give_role(holder, role)
    client = stack.redis()
    try:
        client.hset(
            keys.awards_role_holder(fake.guild_id),
            mapping={"role": str(role.id), "member": str(holder.id)},
        )
    finally:
        client.close()


# -- scenarios ---------------------------------------------------------------------------------


def test_the_week_s_winner_is_posted_once_with_runners_up_and_the_role_moves(
    stack: Stack, discord: FakeDiscord
) -> None:
    admin = discord.add_member("admin", manager=True)
    alice, bob, carol, dave, zoe = (
        discord.add_member(n) for n in ("alice", "bob", "carol", "dave", "zoe")
    )
    role = discord.add_role("Cover Star")
    discord.set_bot_role_permissions(MANAGE_ROLES)
    seed_role_holder(stack, discord, role, zoe)
    answer = configure(discord, admin, role)
    assert "Cover of the Week" in answer and f"<@&{role.id}>" in answer, answer

    first, second = make_cover(stack, alice, 11), make_cover(stack, bob, 12)
    for voter, cover in ((carol, second), (dave, second), (carol, first)):
        vote(discord, voter, cover)
    period = week_of(stack, second)
    some_rounds()
    assert awards(discord) == []  # the week is not over

    move_clock_past(period)
    assert wait_done(stack, discord, period) == POSTED
    some_rounds()
    (post,) = awards(discord)
    assert award_posts(discord) == 1
    embed = post.embeds[0]
    assert period.label in embed["title"]
    assert f"<@{bob.id}>" in embed["description"] and "2 votes" in embed["description"]
    assert embed["url"].endswith(f"/{second.id}")  # a link to the winning cover
    assert embed["image"]["url"] == second.attachments[0]["url"]  # its image
    (runners_up,) = embed["fields"]
    assert f"<@{alice.id}>" in runners_up["value"] and "1 vote" in runners_up["value"]
    assert f"<@{bob.id}> now holds <@&{role.id}>" in embed["description"]
    # The role moved from last period's winner to this one's; nobody was pinged.
    assert role.id in bob.roles and role.id not in zoe.roles
    assert discord.role_changes == [("DELETE", zoe.id, role.id), ("PUT", bob.id, role.id)]
    (request,) = [
        r
        for r in discord.calls("POST", f"/channels/{discord.channel_id}/messages")
        if r.payload and r.payload.get("embeds")
    ]
    assert request.payload["allowed_mentions"]["parse"] == []
    assert post.mentions == [] and post.mention_roles == [] and post.pings == Pings()


def test_two_bot_processes_at_the_period_s_end_post_once(
    stack: Stack, discord: FakeDiscord
) -> None:
    admin, erin, finn = (
        discord.add_member(n, manager=n == "admin") for n in ("admin", "erin", "finn")
    )
    configure(discord, admin)
    cover = make_cover(stack, erin, 13)
    vote(discord, finn, cover)
    period = week_of(stack, cover)
    stack.start_bot("bot2")  # a second process beside the first, on the same Redis
    try:
        discord.wait_until(lambda: "ready as" in stack.log("bot2"), "the second bot", 90)
        # Discord is slow to show the winning cover, so whoever starts the award is still at
        # it while the other process looks (every 0.3 s): without the claim, both would post.
        cover_path = f"/channels/{cover.channel_id}/messages/{cover.id}"
        # The retention sweep runs in one process (the lease's holder, the first bot: #18), so
        # the new process does not look at the cover on its own.
        looked = len(discord.calls("GET", cover_path))
        discord.script("GET", cover_path, slow(1.5), slow(1.5))
        move_clock_past(period)  # both see the award due at the same moment
        assert wait_done(stack, discord, period) == POSTED
        some_rounds()
        assert len(awards(discord)) == 1
        # One process made it: one look at the cover, one post (not a second one that
        # Discord's nonce folded into the first).
        assert len(discord.calls("GET", cover_path)) == looked + 1
        assert award_posts(discord) == 1
        stack.check_alive()
    finally:
        restart_bots(stack, "bot2", "bot")  # events went to the newest session: one bot again


def test_a_bot_down_at_the_period_s_end_catches_up_once_and_a_restart_posts_nothing_more(
    stack: Stack, discord: FakeDiscord
) -> None:
    admin, gina, hank = (
        discord.add_member(n, manager=n == "admin") for n in ("admin", "gina", "hank")
    )
    configure(discord, admin)
    cover = make_cover(stack, gina, 14)
    vote(discord, hank, cover)
    period = week_of(stack, cover)
    stack.stop_process("bot")
    move_clock_past(period, extra_s=3 * 24 * 3600)  # back three days after the post was due
    restart_bots(stack)
    assert wait_done(stack, discord, period) == POSTED
    assert len(awards(discord)) == 1
    restart_bots(stack, "bot")  # after posting: nothing more
    some_rounds()
    assert len(awards(discord)) == 1 and award_posts(discord) == 1


def test_after_weeks_away_only_the_latest_closed_week_is_due_and_older_ones_are_skipped(
    stack: Stack, discord: FakeDiscord
) -> None:
    admin, lena, mark = (
        discord.add_member(n, manager=n == "admin") for n in ("admin", "lena", "mark")
    )
    configure(discord, admin)
    cover = make_cover(stack, lena, 17)
    vote(discord, mark, cover)
    period = week_of(stack, cover)
    stack.stop_process("bot")
    three_weeks = 3 * 7 * 24 * 3600
    move_clock_past(period, extra_s=three_weeks)
    latest = last_closed("week", period.ends_at + 5 + three_weeks)  # the clock less the delay
    assert latest.ends_at == period.ends_at + three_weeks
    restart_bots(stack)
    assert wait_done(stack, discord, latest) == EMPTY  # nobody voted in that week
    some_rounds()
    assert done_status(stack, discord.guild_id, period) is None  # never posted, by design
    assert awards(discord) == []


def test_a_week_without_votes_posts_nothing(stack: Stack, discord: FakeDiscord) -> None:
    admin, ivy = (discord.add_member(n, manager=n == "admin") for n in ("admin", "ivy"))
    configure(discord, admin)
    period = week_of(stack, make_cover(stack, ivy, 15))  # a cover, but no votes
    move_clock_past(period)
    assert wait_done(stack, discord, period) == EMPTY
    some_rounds()
    assert awards(discord) == []


def test_without_manage_roles_the_post_is_made_and_says_so(
    stack: Stack, discord: FakeDiscord
) -> None:
    admin, jack, kate = (
        discord.add_member(n, manager=n == "admin") for n in ("admin", "jack", "kate")
    )
    role = discord.add_role("Cover Star")  # the bot lacks Manage Roles
    answer = configure(discord, admin, role)
    assert "Manage Roles" in answer  # the manager is told at once
    cover = make_cover(stack, jack, 16)
    vote(discord, kate, cover)
    period = week_of(stack, cover)
    move_clock_past(period)
    assert wait_done(stack, discord, period) == POSTED
    (post,) = awards(discord)
    assert ROLE_REFUSED.format(role=role.id) in post.embeds[0]["description"]
    assert role.id not in jack.roles and discord.role_changes == []
    stack.check_alive()  # the refusal crashed nothing
