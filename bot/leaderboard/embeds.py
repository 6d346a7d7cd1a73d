"""How the leaderboards look in Discord: board pages, rows, settings (no Redis, no state)."""

from __future__ import annotations

from datetime import UTC, datetime

import discord

from albumify.boards import Entry, Page
from albumify.buttons import VOTE_EMOJI
from albumify.guilds import GuildSettings

NO_MENTIONS = discord.AllowedMentions.none()
EMBED_COLOUR = 0xF1C40F


def period_title(page: Page) -> str:
    if page.period == "week":
        return f"This week ({page.period_key.removeprefix('week:')})"
    if page.period == "month":
        month = datetime.strptime(page.period_key.removeprefix("month:"), "%Y-%m")
        return f"This month ({month.replace(tzinfo=UTC):%B %Y})"
    return "All time"


def cover_title(entry: Entry) -> str:
    text = discord.utils.escape_markdown(entry.library_title or "cover")
    return text.replace("[", "(").replace("]", ")")[:80]


def entry_line(entry: Entry) -> str:
    """One row: rank, votes, creator mention (never pinged) and a jump link to the cover."""
    line = f"**{entry.rank}.** {VOTE_EMOJI} {entry.score} · <@{entry.creator_id}>"
    if entry.result_id is None:
        return line + f" · {entry.covers} cover{'s' if entry.covers != 1 else ''}"
    if entry.jump_url:
        return line + f" · [{cover_title(entry)}]({entry.jump_url})"
    return line + f" · {cover_title(entry)}"


def board_embed(page: Page, image_url: str | None = None) -> discord.Embed:
    embed = discord.Embed(
        title=f"🏆 {period_title(page)} — top {page.by}",
        colour=EMBED_COLOUR,
        description="\n".join(entry_line(e) for e in page.entries)
        or f"No votes yet. Press {VOTE_EMOJI} **Vote** on a cover you like.",
    )
    noun = "cover" if page.by == "covers" else "creator"
    embed.set_footer(
        text=f"Page {page.page + 1}/{page.pages} · {page.total} {noun}{'s' * (page.total != 1)}"
    )
    if image_url:
        embed.set_image(url=image_url)
    return embed


def settings_text(settings: GuildSettings) -> str:
    channels = " ".join(f"<#{c}>" for c in settings.channels) or "every channel"
    return (
        f"**Self-votes:** {'on' if settings.self_votes else 'off'}\n"
        f"**Albumify works in:** {channels}\n"
        f"**Others' photos without asking:** {'yes' if settings.allow_others else 'no'}"
    )
