"""The award post's embed (`bot.awards.post.award_embed`): winner, votes, link, runners-up,
ties and the role line; mentions only as text (the post is sent with allowed_mentions none)."""

from __future__ import annotations

from albumify.awards import Period
from albumify.boards import Entry
from albumify.buttons import VOTE_EMOJI
from bot.awards.post import ROLE_REFUSED, award_embed

WEEK = Period("week", "week:2026-W48", 1_796_000_000.0)


def entry(rank: int, score: int, creator: int, message: int) -> Entry:
    return Entry(
        rank=rank,
        score=score,
        creator_id=creator,
        result_id=str(message),
        guild_id=1,
        channel_id=2,
        message_id=message,
        library_title="Abbey [Road]",
    )


def test_the_post_names_the_winner_votes_link_and_runners_up() -> None:
    entries = [entry(1, 5, 501, 901), entry(2, 3, 502, 902), entry(3, 1, 503, 903)]
    embed = award_embed(
        WEEK, entries, "https://cdn.example/c.png", "<@501> now holds <@&7>.", grace_s=3600
    )
    assert embed.title == "🏆 Cover of the Week — 2026-W48"
    assert "By <@501>" in embed.description and "5 votes" in embed.description
    assert embed.url == "https://discord.com/channels/1/2/901"
    assert "(Road)" in embed.description  # brackets would break the link's markdown
    assert "<@501> now holds <@&7>." in embed.description
    assert embed.image.url == "https://cdn.example/c.png"
    (field,) = embed.fields
    assert field.name == "Runners-up"
    lines = field.value.splitlines()
    assert lines[0].startswith(f"**2.** <@502> · {VOTE_EMOJI} 3 votes · [Abbey (Road)](")
    assert "1 vote ·" in lines[1] and "<@503>" in lines[1]
    assert "tie" not in embed.description
    assert embed.footer.text == "Final: votes counted until 1 hour after the week ended (UTC)."


def test_a_tie_says_the_earlier_cover_wins_and_a_lone_winner_has_no_runners_up() -> None:
    tied = award_embed(WEEK, [entry(1, 2, 501, 901), entry(1, 2, 502, 902)], None, None, 5400)
    assert "A tie: the earlier cover takes it." in tied.description
    assert tied.image.url is None
    assert tied.footer.text.startswith("Final: votes counted until 90 minutes after")
    alone = award_embed(WEEK, [entry(1, 1, 501, 901)], None, ROLE_REFUSED.format(role=7), 3600)
    assert alone.fields == [] and "1 vote" in alone.description
    assert "Manage Roles" in alone.description
