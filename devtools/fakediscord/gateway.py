"""The gateway side of the loopback Discord: the bot's websocket and the events sent on it.

Speaks zlib-stream as discord.py asks for it: HELLO → IDENTIFY → READY → GUILD_CREATE,
heartbeats, RESUME (or INVALID_SESSION for a forgotten session). Events go to the newest
session.
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
from devtools.fakediscord.model import VIEW_CHANNEL, FakeInteraction, FakeMessage, guild_payload

GATEWAY_PATH = "/gateway"
HEARTBEAT_INTERVAL_MS = 41_250
MESSAGE_CONTENT_INTENT = 1 << 15


class GatewaySession:
    """One websocket connection: its own zlib stream, its sequence number from the session."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.compressor = zlib.compressobj()
        self.lock = asyncio.Lock()
        self.session_id: str | None = None
        self.intents = 0

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
        self.identifies = 0
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
        session.session_id = self._session_id
        self.sessions = [session]
        user = {**self.bot.payload(), "verified": True, "mfa_enabled": False, "flags": 0}
        await self._dispatch(
            "READY",
            {
                "v": 10,
                "user": user,
                "guilds": [{"id": str(self.guild_id), "unavailable": True}],
                "session_id": self._session_id,
                "resume_gateway_url": self.gateway_url,
                "application": {"id": str(self.application_id), "flags": 0},
                "private_channels": [],
                "relationships": [],
                "presences": [],
                "session_type": "normal",
                "_trace": ["fake-discord"],
            },
        )
        guild = guild_payload(
            self.guild_id,
            "Albumify Test Server",
            self.channel_payloads(),
            list(self.members.values()),
            bot_role=(self.bot_role_id, self.bot),
            roles_extra=[role.payload() for role in self.roles.values()],
            bot_role_permissions=self.bot_role_permissions,
            bot_role_position=self.bot_role_position,
        )
        await self._dispatch("GUILD_CREATE", guild)
        self.identifies += 1

    async def _resume(self, session: GatewaySession, data: dict[str, Any]) -> None:
        if data.get("token") != BOT_TOKEN or data.get("session_id") != self._session_id:
            await session.send({"op": 9, "d": False})  # invalid session: identify again
            return
        session.session_id = self._session_id
        self.sessions = [session]
        self.resumes += 1
        await self._dispatch("RESUMED", {"_trace": ["fake-discord"]})

    # -- events ----------------------------------------------------------------------------

    async def _dispatch(self, event: str, data: dict[str, Any]) -> None:
        if not self.sessions:
            raise RuntimeError(f"no gateway session to send {event} to")
        self._sequence += 1
        payload = {"op": 0, "t": event, "s": self._sequence, "d": data}
        await self.sessions[-1].send(payload)

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
        intents = self.sessions[-1].intents if self.sessions else 0
        stripped = not (
            intents & MESSAGE_CONTENT_INTENT
            or message.author.id == self.bot.id
            or self.bot in message.mentions
            or message.guild_id is None
        )
        return message.payload(stripped=stripped)
