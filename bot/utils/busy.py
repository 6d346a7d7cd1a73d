"""When Redis cannot take a request: a clear "busy, try again" instead of a dead interaction.

Redis runs with `maxmemory` and `noeviction`: when it is full it refuses writes (an OOM error;
the scripts in `albumify.lua` are refused whole, before they change anything) and keeps
everything it has. A command or button that meets that, or a Redis that is away, answers
the member privately with `BUSY`; nothing else is logged as a crash.
"""

from __future__ import annotations

import contextlib
import logging

import discord
import redis.exceptions
from discord import app_commands

log = logging.getLogger(__name__)

BUSY = "Albumify is busy, try again in a minute."
REDIS_UNAVAILABLE = (
    redis.exceptions.OutOfMemoryError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
)
"""Redis is full, away, or still loading its data: the request may work in a minute."""


async def answer_busy(interaction: discord.Interaction, error: BaseException) -> None:
    """Tell the member privately, whether or not the interaction was answered already."""
    log.warning("Redis could not take a request (%s): told the member to retry", error)
    with contextlib.suppress(discord.HTTPException):  # the interaction may be gone by now
        if interaction.response.is_done():
            await interaction.followup.send(BUSY, ephemeral=True)
        else:
            await interaction.response.send_message(BUSY, ephemeral=True)


async def on_app_command_error(
    interaction: discord.Interaction, error: app_commands.AppCommandError
) -> None:
    """The command tree's error handler: Redis trouble is "busy"; the rest is logged."""
    original = getattr(error, "original", error)
    if isinstance(original, REDIS_UNAVAILABLE):
        await answer_busy(interaction, original)
        return
    command = interaction.command.name if interaction.command else "?"
    log.error("Ignoring exception in command %r", command, exc_info=error)
