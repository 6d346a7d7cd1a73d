"""The awards scheduler: every bot process looks for due awards every `awards_interval_s`.

Several processes (or shards) may run it at once: `albumify.awards` makes each award once.
Only guilds this process is in are looked at. An error in one guild is logged and the loop
goes on.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING

from discord.ext import commands

from albumify.awards import AwardsStore, Done, due
from albumify.periods import Clock
from bot.awards.post import AwardMaker

if TYPE_CHECKING:
    from bot.client import AlbumifyBot

log = logging.getLogger(__name__)


def offset_clock(path: Path | None) -> Clock:
    """The time, plus the seconds written in `path` (tests move past a period's end this way;
    `ALBUMIFY_CLOCK_OFFSET_FILE`). No file configured: the plain clock."""
    if path is None:
        return time.time

    def now() -> float:
        try:
            return time.time() + float(path.read_text().strip() or 0)
        except (OSError, ValueError):
            return time.time()

    return now


class Awards(commands.Cog):
    """Cover of the Week / Month: posts each server's winner once per period."""

    def __init__(self, bot: AlbumifyBot, *, clock: Clock | None = None) -> None:
        self.bot = bot
        self.clock = clock or offset_clock(bot.settings.clock_offset_file)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        """Who holds a claim: this process."""
        self._maker: AwardMaker | None = None
        self._loop: asyncio.Task[None] | None = None

    @property
    def maker(self) -> AwardMaker:
        """Built on first use: the bot's Redis and boards exist once `setup_hook` ran."""
        if self._maker is None:
            self._maker = AwardMaker(
                self.bot, AwardsStore(self.bot.redis, self.bot.boards), self.owner
            )
        return self._maker

    @property
    def store(self) -> AwardsStore:
        return self.maker.store

    async def cog_load(self) -> None:
        self._loop = asyncio.create_task(self.run_forever())

    async def cog_unload(self) -> None:
        if self._loop is not None:
            self._loop.cancel()

    async def run_forever(self) -> None:
        await self.bot.wait_until_ready()
        interval = self.bot.settings.limits.awards_interval_s
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis away, Discord down: try again next time
                log.exception("awards: a round failed; trying again in %.0f s", interval)
            await asyncio.sleep(interval)

    async def tick(self) -> list[Done]:
        """Make every award due now in the guilds this process is in; what was made."""
        now = self.clock()
        delay = self.bot.settings.limits.awards_delay_s
        made = []
        for guild_id in await self.store.guilds():
            if self.bot.get_guild(guild_id) is None:
                continue  # another shard's, or a server the bot left
            settings = await self.bot.guild_settings.get(guild_id)
            for kind in settings.awards_kinds:
                period = due(kind, now, delay, settings.awards_since)
                if period is None or await self.store.done(guild_id, period) is not None:
                    continue
                try:
                    done = await self.maker.make(guild_id, settings, period, now)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("awards: %s in guild %s failed; retried", period.key, guild_id)
                    continue
                if done is not None:
                    made.append(done)
        return made


async def setup(bot: AlbumifyBot) -> None:
    await bot.add_cog(Awards(bot))
