"""`/albumify-status`: queue depth and live workers (ephemeral), plus a periodic log line."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.shards import once_per_deployment
from bot.status.health import QueueStatus, log_status_forever, queue_status

if TYPE_CHECKING:
    from bot.client import AlbumifyBot

log = logging.getLogger(__name__)


class Status(commands.Cog):
    def __init__(self, bot: AlbumifyBot) -> None:
        self.bot = bot
        self._logger: asyncio.Task[None] | None = None

    async def current(self) -> QueueStatus:
        return await queue_status(self.bot.queue_redis, self.bot.queue)

    async def cog_load(self) -> None:
        # The queue is the deployment's: one process logs its depth (the lease's holder).
        self._logger = once_per_deployment(
            self.bot, "status", lambda: log_status_forever(self.current)
        )

    async def cog_unload(self) -> None:
        if self._logger is not None:
            self._logger.cancel()

    @app_commands.command(name="albumify-status", description="How busy the cover makers are")
    @app_commands.guild_only()
    async def albumify_status(self, interaction: discord.Interaction) -> None:
        current = await self.current()
        log.info("status asked in guild %s: %s", interaction.guild_id, current.line())
        text = (
            f"⏳ {current.queued} waiting · ⚙️ {current.running} in progress · "
            f"🔁 {current.retrying} retrying · 🖥️ {current.workers} "
            f"worker{'s' if current.workers != 1 else ''} online"
        )
        if current.workers == 0:
            text += "\nNo cover maker is online right now: requests wait in line until one is."
        await interaction.response.send_message(text, ephemeral=True)


async def setup(bot: AlbumifyBot) -> None:
    await bot.add_cog(Status(bot))
