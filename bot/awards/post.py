"""One award, made once: the winner's post and the winner role (see `albumify.awards`).

Nothing here pings anyone (allowed_mentions none). A channel that refuses the post, or a role
the bot may not hand out, is logged and said, never raised: the scheduler keeps running.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any

import discord

from albumify.awards import EMPTY, POSTED, UNDELIVERABLE, AwardsStore, Done, Period, nonce
from albumify.boards import Entry
from albumify.buttons import VOTE_EMOJI
from albumify.guilds import GuildSettings

if TYPE_CHECKING:
    from bot.client import AlbumifyBot

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
AWARD_COLOUR = 0xF1C40F
GONE_CODES = frozenset({10003, 10008})
"""Unknown Channel, Unknown Message: the winning cover's post is gone."""
ROLE_REFUSED = (
    "⚠️ I couldn't hand out <@&{role}>: I need the **Manage Roles** permission and my own "
    "role must be above it (Server Settings → Roles)."
)
ROLE_GONE = "⚠️ I couldn't hand out the winner role: it no longer exists, or the winner left."


def title(period: Period) -> str:
    return f"🏆 Cover of the {period.kind.title()} — {period.label}"


def cover_name(entry: Entry) -> str:
    text = discord.utils.escape_markdown(entry.library_title or "cover")
    return text.replace("[", "(").replace("]", ")")[:80]


def votes(count: int) -> str:
    return f"{VOTE_EMOJI} {count} vote{'s' * (count != 1)}"


def runner_up(entry: Entry) -> str:
    link = f"[{cover_name(entry)}]({entry.jump_url})" if entry.jump_url else cover_name(entry)
    return f"**{entry.rank}.** <@{entry.creator_id}> · {votes(entry.score)} · {link}"


def duration(seconds: int) -> str:
    """`1 hour`, `90 minutes`, `2 hours`: how the footer says the vote grace."""
    if seconds % 3600 == 0 and seconds:
        hours = seconds // 3600
        return f"{hours} hour{'s' * (hours != 1)}"
    minutes = max(seconds // 60, 0)
    return f"{minutes} minute{'s' * (minutes != 1)}"


def award_embed(
    period: Period,
    entries: list[Entry],
    image: str | None,
    role_line: str | None,
    grace_s: int,
) -> discord.Embed:
    """The post: the winner (creator, votes, a link to the cover, its image), the runners-up."""
    winner, rest = entries[0], entries[1:]
    lines = [f"By <@{winner.creator_id}> · {votes(winner.score)}"]
    if winner.jump_url:
        lines.append(f"[{cover_name(winner)}]({winner.jump_url})")
    if rest and rest[0].rank == winner.rank:
        lines.append("A tie: the earlier cover takes it.")
    if role_line:
        lines.append(role_line)
    embed = discord.Embed(
        title=title(period), colour=AWARD_COLOUR, description="\n".join(lines), url=winner.jump_url
    )
    if rest:
        embed.add_field(name="Runners-up", value="\n".join(runner_up(e) for e in rest))
    if image:
        embed.set_image(url=image)
    embed.set_footer(
        text=f"Final: votes counted until {duration(grace_s)} after the {period.kind} ended (UTC)."
    )
    return embed


class AwardMaker:
    """Makes the awards that are due: claims, reads the final board, posts, moves the role."""

    def __init__(self, bot: AlbumifyBot, store: AwardsStore, owner: str) -> None:
        self.bot = bot
        self.store = store
        self.owner = owner
        """Who holds a claim: this process (host, pid, a random part)."""

    async def make(
        self, guild_id: int, settings: GuildSettings, period: Period, now: float
    ) -> Done | None:
        """The award of `period`, made by this process; None when another holds the claim."""
        if not await self.store.claim(guild_id, period, self.owner):
            return None
        try:
            done = await self.store.done(guild_id, period)  # after claiming: see albumify.awards
            if done is not None:
                return done
            done = await self._make(guild_id, settings, period)
            await self.store.mark_done(guild_id, period, done, now)
            log.info("award %s in guild %s: %s", period.key, guild_id, done.status)
            return done
        finally:
            await self.store.release(guild_id, period, self.owner)

    async def _make(self, guild_id: int, settings: GuildSettings, period: Period) -> Done:
        entries, message = await self._standings(guild_id, period)
        if not entries:
            return Done(EMPTY)
        winner = entries[0]
        role_line = None
        if settings.winner_role:
            role_line = await self.move_role(guild_id, settings.winner_role, winner.creator_id)
        grace_s = self.bot.settings.limits.vote_grace_s
        embed = award_embed(period, entries, _image(message), role_line, grace_s)
        channel = self.bot.get_partial_messageable(settings.awards_channel, guild_id=guild_id)
        try:
            sent = await channel.send(
                embed=embed, allowed_mentions=NO_MENTIONS, nonce=nonce(guild_id, period)
            )
        except (discord.Forbidden, discord.NotFound) as err:
            log.warning(
                "award %s in guild %s: channel %s refused the post (%s); not retried",
                period.key,
                guild_id,
                settings.awards_channel,
                err,
            )
            return Done(UNDELIVERABLE, 0, winner.result_id or "", winner.score)
        return Done(POSTED, sent.id, winner.result_id or "", winner.score)

    async def _standings(
        self, guild_id: int, period: Period
    ) -> tuple[list[Entry], dict[str, Any] | None]:
        """The final standings, without covers whose post was deleted while nobody heard it,
        and the winner's message (for its image; None when Discord would not show it)."""
        for _ in range(5):
            entries = await self.store.standings(guild_id, period)
            if not entries:
                return [], None
            top = entries[0]
            try:
                message = await self.bot.http.get_message(top.channel_id, top.message_id)
            except discord.NotFound as err:
                if err.code in GONE_CODES and top.result_id:
                    await self.bot.results.delete(guild_id, top.result_id)  # gone: next wins
                    continue
                return entries, None
            except discord.HTTPException:
                return entries, None
            return entries, message
        return await self.store.standings(guild_id, period), None

    async def move_role(self, guild_id: int, role_id: int, winner_id: int) -> str:
        """Take the role from whom the bot last gave it to, give it to the winner; the line
        the post says about it."""
        held_role, holder = await self.store.role_holder(guild_id)
        reason = "Albumify: Cover of the Week/Month winner"
        try:
            if holder and (holder, held_role) != (winner_id, role_id):
                with contextlib.suppress(discord.NotFound):  # they left, or the role is gone
                    await self.bot.http.remove_role(guild_id, holder, held_role, reason=reason)
            await self.bot.http.add_role(guild_id, winner_id, role_id, reason=reason)
        except discord.Forbidden as err:
            log.warning("guild %s: cannot manage the winner role %s (%s)", guild_id, role_id, err)
            return ROLE_REFUSED.format(role=role_id)
        except discord.NotFound as err:
            log.warning("guild %s: winner role %s or winner gone (%s)", guild_id, role_id, err)
            return ROLE_GONE
        await self.store.set_role_holder(guild_id, role_id, winner_id)
        return f"<@{winner_id}> now holds <@&{role_id}>."


def _image(message: dict[str, Any] | None) -> str | None:
    """A fresh URL of the cover from its message (CDN URLs expire: never stored); none for a
    spoilered cover (an embed image cannot be spoilered)."""
    attachments = (message or {}).get("attachments") or []
    if not attachments or str(attachments[0].get("filename", "")).startswith("SPOILER_"):
        return None
    return attachments[0].get("url")
