"""`AlbumifyBot`: the discord.py Bot subclass both features run in.

`setup_hook` opens Redis, migrates data an older release left, builds the stores every feature
shares and loads the feature extensions it was given. Features reach each other through the
typed accessors below (`bot.features` says what each offers), never by cog name.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import discord
import redis
import redis.asyncio as aioredis
from discord.ext import commands
from rq import Queue
from rq.serializers import JSONSerializer

from albumify.boards import LeaderboardStore
from albumify.connections import async_redis, async_state_redis, sync_redis, sync_state_redis
from albumify.forget import Forgetter
from albumify.guilds import GuildSettingsStore
from albumify.lease import Lease, lead_forever, process_owner
from albumify.logs import DISCORD_PY_LOGGERS, add_secret, install_redaction
from albumify.migrations import migrate
from albumify.results import ResultStore
from albumify.settings import Settings
from bot.cover.intake import Intake
from bot.features import CoverFeature, LeaderboardFeature
from bot.shards import IdentifyGate, max_concurrency, shard_options, syncs_commands
from bot.utils.busy import on_app_command_error

log = logging.getLogger(__name__)


def intents_for(settings: Settings) -> discord.Intents:
    """The privileged Message Content intent only when configured (else close code 4014)."""
    intents = discord.Intents.default()
    intents.message_content = settings.message_content_intent
    intents.presences = False
    intents.members = False
    return intents


def offered_in_dms(command: discord.app_commands.Command | Any) -> bool:
    contexts = getattr(command, "allowed_contexts", None)
    return contexts is not None and bool(contexts.dm_channel)


class AlbumifyBot(commands.AutoShardedBot):
    """Always auto-sharded: one process opens every shard (as many as Discord recommends, one
    for a small bot) unless `ALBUMIFY_SHARDS` gives it a range (`bot.shards`)."""

    redis: aioredis.Redis
    queue: Queue
    intake: Intake
    results: ResultStore
    boards: LeaderboardStore
    guild_settings: GuildSettingsStore
    forgetter: Forgetter

    def __init__(self, settings: Settings, extensions: Sequence[str] = ()) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents_for(settings),
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
            **shard_options(settings.shards),
        )
        self.settings = settings
        self.owner = process_owner()
        """This process, in Redis leases and claims (host, pid, a random part)."""
        self.identify_gate: IdentifyGate | None = None
        self.feature_extensions = tuple(extensions)
        # discord.py logs request URLs at DEBUG; interaction tokens are part of some of them.
        install_redaction(DISCORD_PY_LOGGERS)
        add_secret(settings.discord_token)
        self._rq_redis: redis.Redis | None = None
        self.tree.error(on_app_command_error)  # a full or absent Redis: "busy, try again"

    # -- features, typed ---------------------------------------------------------------------

    def _feature(self, name: str) -> Any:
        cog = self.get_cog(name)
        if cog is None:
            raise RuntimeError(f"the {name} feature is not loaded")
        return cog

    @property
    def covers(self) -> CoverFeature:
        return self._feature("Covers")

    @property
    def leaderboard(self) -> LeaderboardFeature:
        return self._feature("Leaderboard")

    def lead(self, loop: str, work: Callable[[], Awaitable[object]]) -> asyncio.Task[None]:
        """Run a loop that must run once per deployment (not once per bot process) in
        whichever process holds its Redis lease (`albumify.lease`, docs/operating.md)."""
        lease = Lease(self.redis, loop, self.owner, self.settings.limits.leader_lease_s)
        return asyncio.create_task(lead_forever(lease, work))

    # -- lifecycle -------------------------------------------------------------------------

    async def setup_hook(self) -> None:
        settings = self.settings
        # A blocking pool: bursts (200 members voting at once) wait for a connection instead
        # of failing with MaxConnectionsError; both clients retry through a Redis restart.
        # Albumify's state: the queue's Redis, or its own (`ALBUMIFY_STATE_REDIS_URL`, a
        # Redis Cluster too); `queue_redis` reads the queue's health where RQ keeps it.
        self.redis = async_state_redis(settings, max_connections=64, pool_timeout=10)
        await self.redis.ping()
        self.queue_redis = self.redis
        if settings.state_redis_url:
            self.queue_redis = async_redis(settings.redis_url, max_connections=8)
        # RQ is synchronous: enqueues run in a thread on their own (bytes) connection.
        self._rq_redis = sync_redis(settings.redis_url)
        await asyncio.to_thread(self._migrate)
        self.identify_gate = IdentifyGate(self.redis, self.owner, await max_concurrency(self))
        self.queue = Queue(
            settings.queue_name, connection=self._rq_redis, serializer=JSONSerializer
        )
        self.intake = Intake(self.redis, self.queue, settings)
        self.results = ResultStore(self.redis)
        self.boards = LeaderboardStore(self.redis, vote_grace_s=settings.limits.vote_grace_s)
        self.guild_settings = self.intake.guilds
        self.forgetter = Forgetter(self.redis, self.queue, settings.limits)
        for extension in self.feature_extensions:
            await self.load_extension(extension)  # each registers its persistent DynamicItems
        await self.sync_commands()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Discord's `max_concurrency` buckets, across processes (`bot.shards.IdentifyGate`)."""
        if self.identify_gate is None:
            await super().before_identify_hook(shard_id, initial=initial)
        else:
            await self.identify_gate.wait(shard_id)

    async def sync_commands(self) -> None:
        """Arrange the tree (every process dispatches from it); sync it from one process."""
        if not syncs_commands(self.settings):
            if self.settings.dev_guild_id:
                self._arrange_for_dev_guild(discord.Object(id=self.settings.dev_guild_id))
            log.info("commands: synced by the process that owns shard 0, not this one")
            return
        if self.settings.dev_guild_id:
            # The development server gets its commands at once; a guild command never shows
            # in DMs, so the commands offered there (`/albumify-forget`) stay global, alone.
            guild = discord.Object(id=self.settings.dev_guild_id)
            self._arrange_for_dev_guild(guild)
            synced = await self.tree.sync(guild=guild)
            everywhere = await self.tree.sync()
            log.info(
                "synced %d commands to guild %s and %d global (DMs)",
                len(synced),
                guild.id,
                len(everywhere),
            )
        else:
            synced = await self.tree.sync()
            log.info("synced %d global commands", len(synced))

    def _arrange_for_dev_guild(self, guild: discord.Object) -> None:
        """The development server gets its commands at once; a guild command never shows
        in DMs, so the commands offered there (`/albumify-forget`) stay global, alone."""
        self.tree.copy_global_to(guild=guild)
        for command in self.tree.get_commands(type=None):
            kind = getattr(command, "type", discord.AppCommandType.chat_input)
            if offered_in_dms(command):
                self.tree.remove_command(command.name, guild=guild, type=kind)
            else:
                self.tree.remove_command(command.name, type=kind)

    async def on_message(self, message: discord.Message) -> None:
        """No prefix commands: mentions are handled by the cover feature's listener."""

    async def on_ready(self) -> None:
        log.info(
            "ready as %s (%s) in %d guilds on shards %s of %s",
            self.user,
            self.user and self.user.id,
            len(self.guilds),
            sorted(self.shards),
            self.shard_count,
        )

    def _migrate(self) -> None:
        """Bring the state to this release's key layout (`albumify.migrations`)."""
        settings = self.settings
        state = sync_state_redis(settings) if settings.state_redis_url else self._rq_redis
        try:
            migrate(state, settings.queue_name, queue_connection=self._rq_redis)
        finally:
            if state is not self._rq_redis:
                state.close()

    async def close(self) -> None:
        if not isinstance(self.loop, asyncio.AbstractEventLoop):
            # Never entered nor started (a tool or a test that only loads extensions): the
            # sharded client's close needs what `__aenter__` sets up first.
            await self._async_setup_hook()
        await super().close()
        if getattr(self, "redis", None) is not None:
            await self.redis.aclose()
        queue_redis = getattr(self, "queue_redis", None)
        if queue_redis is not None and queue_redis is not self.redis:
            await queue_redis.aclose()
        if self._rq_redis is not None:
            self._rq_redis.close()
