"""The bot process: an AlbumifyBot (commands.Bot) whose setup_hook wires Redis and the cogs.

`run(settings)` is what `albumify bot` calls. The bot never imports torch: it validates,
rate-limits and enqueues; a worker makes the cover.
"""

from __future__ import annotations

import asyncio
import logging

import discord
import redis
import redis.asyncio as aioredis
import yarl
from discord.ext import commands
from rq import Queue
from rq.serializers import JSONSerializer

from albumify.connections import async_redis, sync_redis
from albumify.settings import Settings
from bot.cogs import EXTENSIONS
from bot.intake import Intake
from worker.logs import DISCORD_PY_LOGGERS, add_secret, install_redaction

log = logging.getLogger(__name__)


def point_at_discord(settings: Settings) -> None:
    """Use `DISCORD_API_BASE` / `DISCORD_GATEWAY_URL` (another Discord-compatible server)."""
    discord.http.Route.BASE = settings.api_base
    # A plain client dials DEFAULT_GATEWAY directly (also after an invalid session).
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.gateway_url)


def intents_for(settings: Settings) -> discord.Intents:
    """The privileged Message Content intent only when configured (else close code 4014)."""
    intents = discord.Intents.default()
    intents.message_content = settings.message_content_intent
    intents.presences = False
    intents.members = False
    return intents


class AlbumifyBot(commands.Bot):
    redis: aioredis.Redis
    intake: Intake

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents_for(settings),
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
        )
        self.settings = settings
        # discord.py logs request URLs at DEBUG; interaction tokens are part of some of them.
        install_redaction(DISCORD_PY_LOGGERS)
        add_secret(settings.discord_token)
        self._rq_redis: redis.Redis | None = None

    async def setup_hook(self) -> None:
        settings = self.settings
        # A blocking pool: bursts (200 members voting at once) wait for a connection instead
        # of failing with MaxConnectionsError; both clients retry through a Redis restart.
        self.redis = async_redis(settings.redis_url, max_connections=64, pool_timeout=10)
        await self.redis.ping()
        # RQ is synchronous: enqueues run in a thread on their own (bytes) connection.
        self._rq_redis = sync_redis(settings.redis_url)
        queue = Queue(settings.queue_name, connection=self._rq_redis, serializer=JSONSerializer)
        self.intake = Intake(self.redis, queue, settings)
        for extension in EXTENSIONS:
            await self.load_extension(extension)  # each registers its persistent DynamicItems
        await self.sync_commands()

    async def sync_commands(self) -> None:
        if self.settings.dev_guild_id:
            guild = discord.Object(id=self.settings.dev_guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to guild %s", len(synced), guild.id)
        else:
            synced = await self.tree.sync()
            log.info("synced %d global commands", len(synced))

    async def on_message(self, message: discord.Message) -> None:
        """No prefix commands: mentions are handled by the albumify cog's listener."""

    async def on_ready(self) -> None:
        log.info(
            "ready as %s (%s) in %d guilds", self.user, self.user and self.user.id, len(self.guilds)
        )

    async def close(self) -> None:
        await super().close()
        if getattr(self, "redis", None) is not None:
            await self.redis.aclose()
        if self._rq_redis is not None:
            self._rq_redis.close()


async def _run(settings: Settings) -> None:
    async with AlbumifyBot(settings) as bot:
        await bot.start(settings.discord_token)


def run(settings: Settings) -> int:
    """`albumify bot`: run until stopped. Exit 2 without a token, 1 when login fails."""
    discord.utils.setup_logging()
    if not settings.discord_token:
        log.error("DISCORD_TOKEN is not set (see .env.example and docs/discord.md)")
        return 2
    point_at_discord(settings)
    try:
        asyncio.run(_run(settings))
    except discord.LoginFailure:
        log.error("Discord refused the token (DISCORD_TOKEN); check it in the developer portal")
        return 1
    except discord.PrivilegedIntentsRequired:
        log.error("ALBUMIFY_MESSAGE_CONTENT=1 but the Message Content toggle is off in the portal")
        return 1
    except KeyboardInterrupt:
        pass
    return 0
