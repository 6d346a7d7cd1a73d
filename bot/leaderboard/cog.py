"""Leaderboards: the Vote button, /leaderboard, /cover top, stats, moderation, settings.

A thin adapter over `LeaderboardStore`: every decision (toggle semantics, self-votes,
periods, exact undo) lives in the store's Lua scripts; this turns Discord objects into store
calls and store results into embeds. Nothing here pings anyone (allowed_mentions none).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from albumify.boards import Entry, LeaderboardStore, Page
from albumify.buttons import VOTE_EMOJI
from albumify.guilds import parse_channels
from albumify.results import ResultStore
from bot.awards.config import awards_changes, awards_text
from bot.leaderboard.embeds import (
    EMBED_COLOUR,
    NO_MENTIONS,
    board_embed,
    cover_title,
    entry_line,
    settings_text,
)
from bot.leaderboard.retention import GONE, MessageWatch
from bot.leaderboard.views import BoardView, VoteButton, relabel_vote
from bot.shards import once_per_deployment
from bot.utils.busy import REDIS_UNAVAILABLE, answer_busy

if TYPE_CHECKING:
    from bot.client import AlbumifyBot

log = logging.getLogger(__name__)

Period = Literal["week", "month", "all"]
By = Literal["covers", "creators"]

SELF_VOTE = "You can't vote for your own cover here (a server manager can allow it)."
NOT_ON_RECORD = "This cover isn't on the leaderboards (it was removed or is too old)."


class Leaderboard(commands.Cog):
    """Members vote on covers; each server has its hall of fame."""

    cover = app_commands.guild_only(
        app_commands.Group(name="cover", description="Albumify covers", guild_only=True)
    )

    def __init__(self, bot: AlbumifyBot) -> None:
        self.bot = bot
        self.watch = MessageWatch(bot)
        self._sweeper: asyncio.Task[None] | None = None

    async def cog_load(self) -> None:
        # One process sweeps for the whole deployment (the lease's holder), not one per shard.
        self._sweeper = once_per_deployment(self.bot, "retention", self.watch.sweep_forever)

    async def cog_unload(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()

    @property
    def store(self) -> LeaderboardStore:
        return self.bot.boards

    @property
    def results(self) -> ResultStore:
        return self.bot.results

    # -- voting -----------------------------------------------------------------------------

    async def vote(self, interaction: discord.Interaction, result_id: str) -> None:
        """Toggle the member's vote, then show the live count on the button."""
        try:
            guild_id = interaction.guild_id or 0  # a result's buttons are in its guild
            outcome = await self.store.toggle_vote(guild_id, result_id, interaction.user.id)
        except REDIS_UNAVAILABLE as err:  # full: the vote script was refused whole
            await answer_busy(interaction, err)
            return
        if outcome.status in ("self", "missing"):
            text = SELF_VOTE if outcome.status == "self" else NOT_ON_RECORD
            await interaction.response.send_message(
                text, ephemeral=True, allowed_mentions=NO_MENTIONS
            )
            return
        if interaction.message is None:  # should not happen for a component
            await interaction.response.defer()
            return
        view = relabel_vote(interaction.message, result_id, outcome.votes)
        await interaction.response.edit_message(view=view, allowed_mentions=NO_MENTIONS)

    # -- boards -----------------------------------------------------------------------------

    async def cover_image(self, entry: Entry, message: discord.Message | None = None) -> str | None:
        """A fresh URL of the cover's first attachment (CDN URLs expire: never stored), from
        its message (fetched unless the board just looked at it)."""
        if message is None:
            if not entry.message_id or not entry.channel_id:
                return None
            found = await self.watch.fetch(entry.channel_id, entry.message_id)
            if found is GONE and entry.result_id:
                await self.results.delete(entry.guild_id, entry.result_id)  # deleted meanwhile
            if found is None or found is GONE:
                return None
            message = found
        if not message.attachments or message.attachments[0].is_spoiler():
            return None  # embed images cannot be spoilered
        return message.attachments[0].url

    async def read_page(
        self, guild_id: int, period: str, by: str, number: int
    ) -> tuple[Page, discord.Embed]:
        """A board page and its embed, without covers whose message is gone: the covers on
        it that are due are looked at first (`MessageWatch`). The first cover is the image."""
        page = await self.store.page(guild_id, period, by, number)
        messages: dict[int, discord.Message] = {}
        if page.by == "covers" and page.entries:
            ids = [e.result_id or "" for e in page.entries]
            gone, messages = await self.watch.check(guild_id, ids)
            if gone:  # the next covers moved up
                page = await self.store.page(guild_id, period, by, number)
        image = None
        if page.by == "covers" and page.entries:
            top = page.entries[0]
            image = await self.cover_image(top, messages.get(top.message_id))
        return page, board_embed(page, image)

    @app_commands.command(name="leaderboard", description="This server's best covers")
    @app_commands.guild_only()
    @app_commands.describe(
        period="Which votes count (default: this week)", by="Rank covers or creators"
    )
    async def leaderboard(
        self, interaction: discord.Interaction, period: Period = "week", by: By = "covers"
    ) -> None:
        assert interaction.guild_id is not None
        # Acknowledge first: the board's reads and its top cover's message may take a while.
        await interaction.response.defer(thinking=True)
        page, embed = await self.read_page(interaction.guild_id, period, by, 0)
        if page.pages == 1:
            await interaction.edit_original_response(embed=embed, allowed_mentions=NO_MENTIONS)
            return
        view = BoardView(interaction.user.id, page, self.turn_page)
        # The view is kept to drop its buttons when it times out.
        view.message = await interaction.edit_original_response(
            embed=embed, view=view, allowed_mentions=NO_MENTIONS
        )

    async def turn_page(self, page: Page, number: int) -> tuple[Page, discord.Embed]:
        """Page `number` of the board `page` is from (read live) and its embed."""
        return await self.read_page(page.guild_id, page.period, page.by, number)

    @cover.command(name="top", description="Post this week's best cover")
    async def cover_top(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        await interaction.response.defer(thinking=True)  # before the reads and the fetch
        entry = await self.store.top_cover(interaction.guild_id, "week")
        if entry is not None and entry.result_id:
            gone, _ = await self.watch.check(interaction.guild_id, [entry.result_id])
            if gone:  # deleted while we were away: the next one is the top
                entry = await self.store.top_cover(interaction.guild_id, "week")
        if entry is None:
            # A refusal stays private: the public "thinking…" goes, an ephemeral note comes.
            await interaction.delete_original_response()
            await interaction.followup.send(
                f"No votes this week yet. Press {VOTE_EMOJI} **Vote** on a cover you like.",
                ephemeral=True,
                allowed_mentions=NO_MENTIONS,
            )
            return
        embed = discord.Embed(
            title="🏆 Cover of the week",
            colour=EMBED_COLOUR,
            description=(
                f"<@{entry.creator_id}> · {VOTE_EMOJI} {entry.score} · {cover_title(entry)}"
            ),
            url=entry.jump_url,
        )
        image = await self.cover_image(entry)
        if image:
            embed.set_image(url=image)
        await interaction.edit_original_response(embed=embed, allowed_mentions=NO_MENTIONS)

    @app_commands.command(name="albumify-stats", description="Covers and votes of a member")
    @app_commands.guild_only()
    @app_commands.describe(member="Whose stats (default: yours)")
    async def albumify_stats(
        self, interaction: discord.Interaction, member: discord.Member | None = None
    ) -> None:
        assert interaction.guild_id is not None
        user = member or interaction.user
        stats = await self.store.member_stats(interaction.guild_id, user.id)
        lines = [
            f"**Covers:** {stats.covers}",
            f"**Votes received:** {stats.votes_received} ({stats.week_votes} this week)",
            f"**Votes given:** {stats.votes_given}",
        ]
        if stats.best is not None:
            lines.append(f"**Best cover:** #{stats.best.rank} all time · {entry_line(stats.best)}")
        embed = discord.Embed(
            title="Albumify stats", description=f"<@{user.id}>\n" + "\n".join(lines)
        )
        embed.colour = EMBED_COLOUR
        await interaction.response.send_message(embed=embed, allowed_mentions=NO_MENTIONS)

    # -- moderation and settings --------------------------------------------------------------

    @app_commands.command(name="leaderboard-remove", description="Take a cover off the boards")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_messages=True)
    @app_commands.describe(cover="The cover's message link, message id, or result id")
    async def leaderboard_remove(self, interaction: discord.Interaction, cover: str) -> None:
        """The post stays; its votes leave every board and its creator's scores."""
        if not interaction.permissions.manage_messages:
            text = "You need the Manage Messages permission to do that."
        else:
            guild_id = interaction.guild_id or 0
            result_id = await self.results.resolve(guild_id, cover)
            record = await self.results.get(guild_id, result_id) if result_id else None
            if record is None or record.guild_id != interaction.guild_id:
                text = "I can't find that cover on this server's boards."
            else:
                await self.results.unboard(guild_id, record.result_id)
                text = "Removed from the leaderboards."
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)

    @app_commands.command(name="albumify-config", description="Albumify settings for this server")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.describe(
        self_votes="Let members vote for their own covers",
        channels="Channels Albumify works in (mentions or ids), or 'all'",
        allow_others="Let members albumify other members' photos without asking their author",
        awards_channel="Where Cover of the Week/Month is posted",
        awards_period="Which awards are posted (off: none)",
        winner_role="A role for the latest winner (@everyone: no role)",
    )
    async def albumify_config(
        self,
        interaction: discord.Interaction,
        self_votes: bool | None = None,
        channels: str | None = None,
        allow_others: bool | None = None,
        awards_channel: discord.TextChannel | None = None,
        awards_period: Literal["week", "month", "both", "off"] | None = None,
        winner_role: discord.Role | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        if not interaction.permissions.manage_guild:
            await interaction.response.send_message(
                "You need the Manage Server permission to change these settings.",
                ephemeral=True,
                allowed_mentions=NO_MENTIONS,
            )
            return
        notes = []
        channel_ids = None
        if channels is not None:
            channel_ids = () if channels.strip().lower() in ("all", "any", "") else None
            if channel_ids is None:
                channel_ids, unknown = self._guild_channels(interaction, parse_channels(channels))
                if unknown:
                    notes.append(f"Ignored {len(unknown)} id(s) that are not channels here.")
                if not channel_ids:
                    channel_ids = None
                    notes.append("No channel given: the channel list is unchanged.")
        awards, award_notes = await awards_changes(
            interaction, self.bot.guild_settings, awards_channel, awards_period, winner_role
        )
        settings = await self.bot.guild_settings.update(
            interaction.guild_id,
            self_votes=self_votes,
            channels=channel_ids,
            allow_others=allow_others,
            **awards,
        )
        text = "\n".join([settings_text(settings), awards_text(settings), *notes, *award_notes])
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)

    @staticmethod
    def _guild_channels(
        interaction: discord.Interaction, ids: tuple[int, ...]
    ) -> tuple[tuple[int, ...], tuple[int, ...]]:
        guild = interaction.guild
        if guild is None:
            return ids, ()
        known = tuple(i for i in ids if guild.get_channel_or_thread(i) is not None)
        return known, tuple(i for i in ids if i not in known)

    # -- deleted covers -----------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        """A deleted result leaves every board and the records (whoever deleted it, however)."""
        await self._forget_messages(payload.guild_id, [payload.message_id])

    @commands.Cog.listener()
    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        await self._forget_messages(payload.guild_id, list(payload.message_ids))

    async def _forget_messages(self, guild_id: int | None, message_ids: list[int]) -> None:
        if guild_id is None:  # a direct message: no cover is ever posted there
            return
        for message_id in message_ids:
            result_id = await self.results.for_message(guild_id, message_id)
            if result_id is None:
                continue
            try:
                await self.results.delete(guild_id, result_id)
            except Exception:  # a listener must not die on one bad key; the log says which
                log.exception("could not remove deleted result %s from the boards", result_id)


async def setup(bot: AlbumifyBot) -> None:
    await bot.add_cog(Leaderboard(bot))
    bot.add_dynamic_items(VoteButton)
