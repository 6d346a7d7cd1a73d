"""The bot process: `run(settings)` is what `albumify bot` calls.

The bot never imports torch: it validates, rate-limits and enqueues; a worker makes the cover.
`EXTENSIONS` lists the features (one extension each: a cog and its views) that
`AlbumifyBot.setup_hook` loads.
"""

from __future__ import annotations

import asyncio
import logging

import discord
import yarl

from albumify.logs import add_secret
from albumify.logs import configure as configure_logging
from albumify.settings import Settings
from bot.client import AlbumifyBot

log = logging.getLogger(__name__)

EXTENSIONS: tuple[str, ...] = (
    "bot.cover.cog",
    "bot.cover.edit",
    "bot.leaderboard.cog",
    "bot.status.cog",
    "bot.privacy.cog",
    "bot.awards.cog",
)
"""One extension per feature."""


def point_at_discord(settings: Settings) -> None:
    """Use `DISCORD_API_BASE` / `DISCORD_GATEWAY_URL` (another Discord-compatible server)."""
    discord.http.Route.BASE = settings.api_base
    # A plain client dials DEFAULT_GATEWAY directly (also after an invalid session).
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.gateway_url)


async def _run(settings: Settings) -> None:
    async with AlbumifyBot(settings, EXTENSIONS) as bot:
        await bot.start(settings.discord_token)


def run(settings: Settings) -> int:
    """`albumify bot`: run until stopped. Exit 2 without a token, 1 when login fails."""
    # The workers' handler (ALBUMIFY_LOG_LEVEL, ALBUMIFY_LOG_FORMAT): every record, discord.py's
    # DEBUG gateway payloads included, passes its token redaction.
    configure_logging()
    add_secret(settings.discord_token)
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
