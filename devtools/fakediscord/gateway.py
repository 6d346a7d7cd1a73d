"""The gateway side of the loopback Discord: the bot's websocket and the events sent on it.

Speaks zlib-stream as discord.py asks for it: HELLO → IDENTIFY → READY → GUILD_CREATE,
heartbeats, RESUME (or INVALID_SESSION for a forgotten session).

Sharding as Discord does it: `GET /gateway/bot` (routes) recommends `shard_count` shards and
says `max_concurrency`; an IDENTIFY carries `shard: [id, count]`, and that connection gets
READY and GUILD_CREATE for the guilds it owns (`(guild_id >> 22) % count`), and each guild's
events, DMs on shard 0 (a shard of more than 2,500 guilds is refused: 4011). Per shard, events
go to its newest session. IDENTIFYs of one rate-limit bucket (`shard_id % max_concurrency`)
closer than 5 s apart are a protocol error.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import zlib
from collections.abc import Iterable
from typing import Any

from aiohttp import WSMsgType, web

from devtools.fakediscord.guild import BOT_TOKEN, Guild
from devtools.fakediscord.model import (
    VIEW_CHANNEL,
    FakeInteraction,
    FakeMessage,
    channel_payload,
    guild_payload,
)

GATEWAY_PATH = "/gateway"
HEARTBEAT_INTERVAL_MS = 41_250
MESSAGE_CONTENT_INTENT = 1 << 15
MAX_GUILDS_PER_SHARD = 2_500
"""Discord closes a session with more guilds than this (4011, sharding required)."""
IDENTIFY_WINDOW_S = 5.0
"""Discord: one IDENTIFY per rate-limit bucket per 5 s."""
IDENTIFY_SLACK_S = 1.0
"""Loopback scheduling jitter forgiven when checking that window (a burst is ~0 s apart)."""


def shard_of(guild_id: int | None, shard_count: int) -> int:
    """Discord's rule (DMs: shard 0). Kept here too: devtools do not import the product."""
    if guild_id is None or shard_count <= 1:
        return 0
    return (guild_id >> 22) % shard_count


class GatewaySession:
    """One websocket connection: its own zlib stream, its sequence number from the session."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.compressor = zlib.compressobj()
        self.lock = asyncio.Lock()
        self.session_id: str | None = None
        self.intents = 0
        self.shard = (0, 1)
        """`[id, count]` from IDENTIFY (unsharded: shard 0 of 1)."""

    async def send(self, payload: dict[str, Any]) -> None:
        async with self.lock:
            data = json.dumps(payload).encode()
            frame = self.compressor.compress(data) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
            await self.ws.send_bytes(frame)


class Gateway(Guild):
    """The guild plus its gateway: sessions, IDENTIFY/RESUME, and dispatching events."""

    def __init__(self, *, message_content_enabled: bool = True) -> None:
        super().__init__(message_content_enabled=message_content_enabled)
        self.sessions: list[GatewaySession] = []
        """The live session of each shard (the newest one per shard id)."""
        self.identifies = 0
        self.shard_count = 1
        """What `GET /gateway/bot` recommends (`shards`)."""
        self.max_concurrency = 1
        """`session_start_limit.max_concurrency` of `GET /gateway/bot`."""
        self.identify_log: list[tuple[float, int, int]] = []
        """Every accepted IDENTIFY: (monotonic time, shard id, shard count)."""
        self.resumes = 0
        self._sequence = 0
        self._session_id = secrets.token_hex(8)

    def _add_routes(self, app: web.Application) -> None:
        app.router.add_get(GATEWAY_PATH, self._gateway)

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{GATEWAY_PATH}"

    @property
    def connected(self) -> bool:
        return bool(self.sessions) and self.identifies > 0

    def connected_shards(self) -> set[int]:
        """The shard ids with a live session."""
        return {session.shard[0] for session in self.sessions if session.session_id}

    def session_start_limit(self) -> dict[str, int]:
        return {
            "total": 1000,
            "remaining": max(0, 1000 - self.identifies),
            "reset_after": 86_400_000,
            "max_concurrency": self.max_concurrency,
        }

    def _session_for(self, guild_id: int | None) -> GatewaySession | None:
        """The live session of the shard that owns the guild (DMs: shard 0)."""
        for session in reversed(self.sessions):
            shard_id, count = session.shard
            if shard_of(guild_id, count) == shard_id:
                return session
        return None

    def _take_over(self, session: GatewaySession) -> None:
        """The session is its shard's newest: it replaces an older one of the same shard."""
        self.sessions = [s for s in self.sessions if s.shard[0] != session.shard[0]]
        self.sessions.append(session)

    def _run(self, coro: Any, timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # -- faults a test can cause (call from the test thread) -------------------------------

    def invalidate_session(self) -> None:
        """Forget the session: the next RESUME gets INVALID_SESSION and must IDENTIFY anew."""
        self._session_id = secrets.token_hex(8)

    def drop_gateway(self) -> None:
        """Close the bot's websocket with a resumable code (4000), as a network blip would."""

        async def close() -> None:
            for session in list(self.sessions):
                await session.ws.close(code=4000, message=b"fake: dropped")

        self._run(close())

    # -- the websocket ---------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        if request.query.get("compress") != "zlib-stream":
            self.protocol_errors.append(f"gateway dialled without zlib-stream: {request.query}")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        session = GatewaySession(ws)
        await session.send({"op": 10, "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS}})
        async for frame in ws:
            if frame.type != WSMsgType.TEXT:
                continue
            message = json.loads(frame.data)
            op, data = message.get("op"), message.get("d")
            if op == 1:
                await session.send({"op": 11})
            elif op == 2:
                await self._identify(session, data)
            elif op == 6:
                await self._resume(session, data)
        if session in self.sessions:
            self.sessions.remove(session)
        return ws

    async def _identify(self, session: GatewaySession, data: dict[str, Any]) -> None:
        if data.get("token") != BOT_TOKEN:
            await session.ws.close(code=4004, message=b"Authentication failed.")
            return
        session.intents = int(data.get("intents", 0))
        if session.intents & MESSAGE_CONTENT_INTENT and not self.message_content_enabled:
            await session.ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        shard_id, count = (int(x) for x in (data.get("shard") or (0, 1)))
        if not 0 <= shard_id < count:
            await session.ws.close(code=4010, message=b"Invalid shard.")
            return
        owned = [g for g in self.guild_ids() if shard_of(g, count) == shard_id]
        if len(owned) > MAX_GUILDS_PER_SHARD:
            await session.ws.close(code=4011, message=b"Sharding required.")
            return
        self._check_identify_rate(shard_id)
        session.shard = (shard_id, count)
        session.session_id = f"{self._session_id}:{shard_id}"
        self._take_over(session)
        self.identify_log.append((time.monotonic(), shard_id, count))
        user = {**self.bot.payload(), "verified": True, "mfa_enabled": False, "flags": 0}
        await self._send(
            session,
            "READY",
            {
                "v": 10,
                "user": user,
                "guilds": [{"id": str(g), "unavailable": True} for g in owned],
                "session_id": session.session_id,
                "shard": [shard_id, count],
                "resume_gateway_url": self.gateway_url,
                "application": {"id": str(self.application_id), "flags": 0},
                "private_channels": [],
                "relationships": [],
                "presences": [],
                "session_type": "normal",
                "_trace": ["fake-discord"],
            },
        )
        for guild_id in owned:
            await self._send(session, "GUILD_CREATE", self._guild_create(guild_id))
        self.identifies += 1

    def _guild_create(self, guild_id: int) -> dict[str, Any]:
        if guild_id == self.guild_id:
            name, channels = "Albumify Test Server", self.channel_payloads()
        else:
            name = f"Albumify Test Server {guild_id}"
            channels = [channel_payload(guild_id, self.other_guilds[guild_id])]
        return guild_payload(
            guild_id,
            name,
            channels,
            list(self.members.values()),
            bot_role=(self.bot_role_id, self.bot),
            roles_extra=[role.payload() for role in self.roles.values()],
            bot_role_permissions=self.bot_role_permissions,
            bot_role_position=self.bot_role_position,
        )

    def _check_identify_rate(self, shard_id: int) -> None:
        """Discord refuses a second IDENTIFY of one bucket within 5 s; recorded here."""
        bucket = shard_id % self.max_concurrency
        now = time.monotonic()
        for at, other, _count in reversed(self.identify_log):
            if other % self.max_concurrency == bucket:
                if now - at < IDENTIFY_WINDOW_S - IDENTIFY_SLACK_S:
                    self.protocol_errors.append(
                        f"IDENTIFY of shard {shard_id} {now - at:.2f} s after shard {other}'s "
                        f"(bucket {bucket} of max_concurrency {self.max_concurrency})"
                    )
                break

    async def _resume(self, session: GatewaySession, data: dict[str, Any]) -> None:
        generation, _, shard = str(data.get("session_id")).rpartition(":")
        known = next((s for s in self.identify_log[::-1] if str(s[1]) == shard), None)
        if data.get("token") != BOT_TOKEN or generation != self._session_id or known is None:
            await session.send({"op": 9, "d": False})  # invalid session: identify again
            return
        session.session_id = str(data.get("session_id"))
        session.shard = (known[1], known[2])
        self._take_over(session)
        self.resumes += 1
        await self._send(session, "RESUMED", {"_trace": ["fake-discord"]})

    # -- events ----------------------------------------------------------------------------

    async def _dispatch(self, event: str, data: dict[str, Any]) -> None:
        """To the shard that owns the event's guild (`guild_id`; none: shard 0)."""
        guild_id = data.get("guild_id")
        session = self._session_for(int(guild_id) if guild_id else None)
        if session is None:
            raise RuntimeError(f"no gateway session to send {event} (guild {guild_id}) to")
        await self._send(session, event, data)

    async def _send(self, session: GatewaySession, event: str, data: dict[str, Any]) -> None:
        self._sequence += 1
        payload = {"op": 0, "t": event, "s": self._sequence, "d": data}
        await session.send(payload)

    async def _dispatch_interactions(self, interactions: Iterable[FakeInteraction]) -> None:
        for interaction in interactions:
            interaction.sent_at = time.monotonic()
            await self._dispatch("INTERACTION_CREATE", interaction.payload)

    async def _dispatch_message_create(self, message: FakeMessage) -> None:
        """To the bot, as Discord does: not ephemeral ones, not where it cannot see, no DMs."""
        if (
            not self.sessions
            or message.ephemeral
            or message.channel_id in self.dm_channels.values()
        ):
            return
        if not self.bot_permissions(message.channel_id) & VIEW_CHANNEL:
            return
        data = self._gateway_message(message)
        reference = message.message_reference or {}
        replied = self.messages.get(int(reference.get("message_id") or 0))
        if replied is not None and not replied.deleted:
            # A reply carries the message it replies to (content rules apply to it too).
            data["referenced_message"] = self._gateway_message(replied)
        if message.guild_id is not None:
            data["guild_id"] = str(message.guild_id)
            member = message.author.member_payload()
            member.pop("user")
            data["member"] = member
        await self._dispatch("MESSAGE_CREATE", data)

    def _gateway_message(self, message: FakeMessage) -> dict[str, Any]:
        """Without the Message Content intent, others' messages come stripped unless they
        mention the bot or are in a DM (this fake counts a mention of the bot user only, not
        of its role: the conservative reading of Discord's documentation)."""
        session = self._session_for(message.guild_id)
        intents = session.intents if session is not None else 0
        stripped = not (
            intents & MESSAGE_CONTENT_INTENT
            or message.author.id == self.bot.id
            or self.bot in message.mentions
            or message.guild_id is None
        )
        return message.payload(stripped=stripped)
