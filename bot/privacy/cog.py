"""`/albumify-forget` and `/albumify-forget-member`: what Albumify keeps about a member goes.

`/albumify-forget` is the one command offered in the bot's DMs as well as in servers, so a
member who left every server can still use it; it walks every server the member was in.
`/albumify-forget-member` lets a moderator (Manage Messages) forget a user id — someone who
left included — in their own server only. Both ask for a confirmation first; the work is
`albumify.forget.Forgetter`, and the answer says exactly what is kept.
"""

from __future__ import annotations

import contextlib
import logging
import re
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from albumify.forget import CancelledRequest, Forgotten
from bot.privacy.views import NO_MENTIONS, ForgetView

if TYPE_CHECKING:
    from bot.client import AlbumifyBot

log = logging.getLogger(__name__)

ASK_SELF = (
    "This makes Albumify forget you **in every server**: the covers you asked for and the "
    "covers others made of your photos leave the leaderboards, your votes are taken back, "
    "your requests still waiting are cancelled, and the photos and request details Albumify "
    "stored are deleted. Posted covers stay up; Albumify keeps only their ids, so that you "
    "can still delete them with their 🗑️ button. This can't be undone."
)
CANCELLED = "⚠️ This request was cancelled: someone in the photo asked Albumify to forget them."


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' * (count != 1)}"


def confirmation(done: Forgotten, marker_minutes: int, *, subject: str = "you") -> str:
    """What was removed, and exactly what is still kept. `subject`: "you" or a mention."""
    if done.guilds == 0:
        return f"Albumify keeps nothing about {subject}: there was nothing to forget."
    whose = "your" if subject == "you" else "their"
    lines = [
        f"Done: Albumify forgot {subject} in {plural(done.guilds, 'server')}: "
        f"{plural(done.covers, 'cover')} of {subject} or {whose} photos off the leaderboards; "
        f"{plural(done.votes, 'vote')} taken back; {plural(done.jobs, 'request')} removed "
        f"from the queue and its records; {plural(done.photos, 'stored photo')} deleted."
    ]
    if done.running:
        lines.append(
            f"{plural(done.running, 'cover')} being made right now will be dropped, not posted."
        )
    lines.append(
        f"What Albumify still keeps: for each of the {plural(done.kept, 'cover')} still "
        "posted, only its ids (the cover, its server, channel and message, who asked for it "
        "and whose photo it is), so that it can still be deleted with its 🗑️ button; no "
        f"title, artist or photo. For the next {marker_minutes} minutes it also keeps that "
        f"{subject} asked to be forgotten (the id and the time), so that a cover already "
        "being made is dropped."
    )
    return "\n".join(lines)


def parse_user_id(text: str) -> int | None:
    """A user id or mention (`<@123>`, `<@!123>`); members who left have no mention menu."""
    match = re.fullmatch(r"\s*(?:<@!?)?(\d{15,21})>?\s*", text)
    return int(match[1]) if match else None


class Privacy(commands.Cog):
    def __init__(self, bot: AlbumifyBot) -> None:
        self.bot = bot

    @property
    def marker_minutes(self) -> int:
        return max(1, round(self.bot.forgetter.marker_ttl_s / 60))

    @app_commands.command(
        name="albumify-forget",
        description="Remove what Albumify keeps about you, in every server",
    )
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)
    @app_commands.allowed_installs(guilds=True, users=False)
    async def albumify_forget(self, interaction: discord.Interaction) -> None:
        user_id = interaction.user.id

        async def forget() -> str:
            done = await self.bot.forgetter.forget(user_id)
            await self.tell_cancelled(done.cancelled)
            return confirmation(done, self.marker_minutes)

        await interaction.response.send_message(
            ASK_SELF,
            view=ForgetView(user_id, forget),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    @app_commands.command(
        name="albumify-forget-member",
        description="Remove what Albumify keeps about a member (or someone who left) here",
    )
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_messages=True)
    @app_commands.describe(user="Their user id or mention (works for members who left)")
    async def albumify_forget_member(self, interaction: discord.Interaction, user: str) -> None:
        guild_id, user_id = interaction.guild_id, parse_user_id(user)
        assert guild_id is not None
        if not interaction.permissions.manage_messages:
            text = "You need the Manage Messages permission to do that."
        elif user_id is None:
            text = "That isn't a user id or mention (copy the id from their profile)."
        else:
            subject = f"<@{user_id}>"

            async def forget() -> str:
                done = await self.bot.forgetter.forget(user_id, guild_id)
                await self.tell_cancelled(done.cancelled)
                return confirmation(done, self.marker_minutes, subject=subject)

            await interaction.response.send_message(
                f"This makes Albumify forget {subject} **on this server**: the covers they "
                "asked for and covers of their photos leave the leaderboards, their votes "
                "are taken back, their waiting requests are cancelled and what Albumify "
                "stored is deleted. Posted covers stay up (ids only). This can't be undone.",
                view=ForgetView(interaction.user.id, forget, label="Forget them"),
                ephemeral=True,
                allowed_mentions=NO_MENTIONS,
            )
            return
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)

    async def tell_cancelled(self, requests: list[CancelledRequest]) -> None:
        """A cancelled request's "queued" message says so (best effort)."""
        for request in requests:
            with contextlib.suppress(discord.HTTPException):
                if request.token and request.application_id:
                    webhook = discord.Webhook.partial(
                        request.application_id, request.token, client=self.bot
                    )
                    await webhook.edit_message(
                        "@original", content=CANCELLED, view=None, allowed_mentions=NO_MENTIONS
                    )  # view=None: its Cancel button goes too
                elif request.reply_to_message_id:
                    channel = self.bot.get_partial_messageable(
                        request.channel_id, guild_id=request.guild_id
                    )
                    await channel.get_partial_message(request.reply_to_message_id).reply(
                        CANCELLED, mention_author=False, allowed_mentions=NO_MENTIONS
                    )


async def setup(bot: AlbumifyBot) -> None:
    await bot.add_cog(Privacy(bot))
