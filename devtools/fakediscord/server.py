"""A loopback Discord (REST v10 + gateway + CDN) that the real discord.py client accepts.

It extends `tests.support.fake_rest.FakeDiscordREST` (recording, scripted faults, CDN files,
multipart parsing) with a model of one guild: slash/context-menu commands synced by the bot,
messages per channel, interactions and their callbacks, and a gateway websocket speaking
zlib-stream (HELLO → IDENTIFY → READY → GUILD_CREATE, heartbeats, RESUME).

Tests drive members from their own thread: `slash()`, `context_menu()`, `click()`,
`post_message()` dispatch gateway events; `wait_until()` polls the model. Protocol mistakes the
real Discord would reject (a second callback, a late ack, an Authorization header on a
webhook call, a missing one on a bot call) are collected in `protocol_errors`.
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
import secrets
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from aiohttp import WSMsgType, web

from devtools.fakediscord.model import (
    EPHEMERAL,
    INTERACTION_DEADLINE_S,
    LOADING,
    Callback,
    FakeInteraction,
    FakeMessage,
    FakeUser,
    Snowflakes,
    channel_payload,
    guild_payload,
    iso_now,
)
from devtools.fakediscord.rest import (
    API_PREFIX,
    FakeDiscordREST,
    RecordedRequest,
    json_response,
)

T = TypeVar("T")

BOT_TOKEN = "fake-bot-token"
GATEWAY_PATH = "/gateway"
HEARTBEAT_INTERVAL_MS = 41_250
MESSAGE_CONTENT_INTENT = 1 << 15
SLASH, USER_MENU, MESSAGE_MENU = 1, 2, 3
COMMAND_INTERACTION, COMPONENT_INTERACTION = 2, 3
ATTACHMENT_LIMIT = 10 * 1024 * 1024


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


class FakeDiscord(FakeDiscordREST):
    def __init__(self, *, message_content_enabled: bool = True) -> None:
        super().__init__()
        self.snowflakes = Snowflakes()
        self.message_content_enabled = message_content_enabled
        """The developer-portal toggle: without it, fetched messages of others come stripped."""
        self.application_id = self.snowflakes.next()
        self.bot = FakeUser(self.application_id, "albumify", bot=True)
        self.guild_id = self.snowflakes.next()
        self.channel_id = self.snowflakes.next()
        self.members: dict[int, FakeUser] = {self.bot.id: self.bot}
        self.commands: dict[int | None, list[dict[str, Any]]] = {}
        """Synced application commands per guild id (None = global)."""
        self.messages: dict[int, FakeMessage] = {}
        self.interactions: dict[int, FakeInteraction] = {}
        self._by_token: dict[str, FakeInteraction] = {}
        self.protocol_errors: list[str] = []
        self.sessions: list[GatewaySession] = []
        self.identifies = 0
        self.resumes = 0
        self._sequence = 0
        self._session_id = secrets.token_hex(8)
        self._model_lock = threading.RLock()
        self._background: set[asyncio.Task[None]] = set()

    # -- lifecycle and addresses -----------------------------------------------------------

    def _add_routes(self, app: web.Application) -> None:
        app.router.add_get(GATEWAY_PATH, self._gateway)

    def start(self) -> FakeDiscord:
        super().start()
        return self

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{GATEWAY_PATH}"

    def environment(self) -> dict[str, str]:
        """What the bot and the worker need to talk to this server instead of Discord."""
        return {
            "DISCORD_TOKEN": BOT_TOKEN,
            "DISCORD_API_BASE": self.api_base,
            "DISCORD_GATEWAY_URL": self.gateway_url,
            "ALBUMIFY_CDN_HOSTS": "127.0.0.1",
            "DEV_GUILD_ID": str(self.guild_id),
        }

    def reset(self) -> None:
        """Forget messages, interactions, requests and faults; keep the session and commands."""
        with self._model_lock, self._lock:
            self.messages.clear()
            self.interactions.clear()
            self._by_token.clear()
            self.requests.clear()
            self._scripts.clear()
            self.protocol_errors.clear()
            self._files.clear()

    def _run(self, coro: Any, timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # -- members and their actions (call from the test thread) -----------------------------

    def add_member(self, name: str, *, moderator: bool = False) -> FakeUser:
        user = FakeUser(self.snowflakes.next(), name, moderator=moderator)
        with self._model_lock:
            self.members[user.id] = user
        return user

    def upload(
        self,
        filename: str,
        data: bytes,
        content_type: str | None = None,
        *,
        channel_id: int | None = None,
    ) -> dict[str, Any]:
        """A member's attachment: served from the CDN route, described as Discord does."""
        channel_id = channel_id or self.channel_id
        attachment_id = self.snowflakes.next()
        content_type = content_type or mimetypes.guess_type(filename)[0]
        path = f"/attachments/{channel_id}/{attachment_id}/{filename}"
        url = self.add_file(path, data, content_type or "application/octet-stream")
        attachment: dict[str, Any] = {
            "id": str(attachment_id),
            "filename": filename,
            "size": len(data),
            "url": url,
            "proxy_url": url,
        }
        if content_type:
            attachment["content_type"] = content_type
        return attachment

    def post_message(
        self,
        author: FakeUser,
        content: str = "",
        *,
        attachments: Iterable[dict[str, Any]] = (),
        reply_to: FakeMessage | None = None,
        channel_id: int | None = None,
    ) -> FakeMessage:
        """A member posts; MESSAGE_CREATE goes out (stripped without the intent, as Discord)."""
        channel_id = channel_id or self.channel_id
        mentions = [u for u in self.members.values() if u.mention in content]
        message = FakeMessage(
            id=self.snowflakes.next(),
            channel_id=channel_id,
            guild_id=self.guild_id,
            author=author,
            content=content,
            attachments=list(attachments),
            mentions=mentions,
        )
        if reply_to is not None:
            message.message_reference = {
                "message_id": str(reply_to.id),
                "channel_id": str(reply_to.channel_id),
                "guild_id": str(self.guild_id),
                "type": 0,
            }
        with self._model_lock:
            self.messages[message.id] = message
        self._run(self._dispatch_message_create(message))
        return message

    def prepare_slash(
        self, name: str, user: FakeUser, options: dict[str, Any] | None = None
    ) -> FakeInteraction:
        """An INTERACTION_CREATE for a slash command, not sent yet (see `send`)."""
        command = self._command(name, SLASH)
        resolved: dict[str, dict[str, Any]] = {}
        option_list = []
        for option_name, value in (options or {}).items():
            option_list.append({"name": option_name, **_option_value(value, resolved)})
        data: dict[str, Any] = {
            "id": command["id"],
            "name": name,
            "type": SLASH,
            "options": option_list,
            "resolved": resolved,
        }
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        return self._interaction(COMMAND_INTERACTION, user, data)

    def slash(
        self, name: str, user: FakeUser, options: dict[str, Any] | None = None
    ) -> FakeInteraction:
        return self.send(self.prepare_slash(name, user, options))[0]

    def context_menu(self, name: str, user: FakeUser, target: FakeMessage) -> FakeInteraction:
        """Apps → NAME on a message: the target arrives in full (no intent needed)."""
        command = self._command(name, MESSAGE_MENU)
        data: dict[str, Any] = {
            "id": command["id"],
            "name": name,
            "type": MESSAGE_MENU,
            "target_id": str(target.id),
            "resolved": {"messages": {str(target.id): target.payload()}},
        }
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        return self.send(self._interaction(COMMAND_INTERACTION, user, data))[0]

    def click(self, user: FakeUser, message: FakeMessage, custom_id: str) -> FakeInteraction:
        """A button click on `message` (INTERACTION_CREATE type 3)."""
        if custom_id not in message.custom_ids:
            raise LookupError(f"{custom_id!r} is not a button on message {message.id}")
        data = {"custom_id": custom_id, "component_type": 2}
        interaction = self._interaction(COMPONENT_INTERACTION, user, data, message)
        interaction.source_message_id = message.id
        return self.send(interaction)[0]

    def send(self, *interactions: FakeInteraction) -> list[FakeInteraction]:
        """Dispatch the interactions back to back in one go (a burst, like a busy server)."""
        self._run(self._dispatch_interactions(interactions))
        return list(interactions)

    def invalidate_session(self) -> None:
        """Forget the session: the next RESUME gets INVALID_SESSION and must IDENTIFY anew."""
        self._session_id = secrets.token_hex(8)

    def drop_gateway(self) -> None:
        """Close the bot's websocket with a resumable code (4000), as a network blip would."""

        async def close() -> None:
            for session in list(self.sessions):
                await session.ws.close(code=4000, message=b"fake: dropped")

        self._run(close())

    # -- what members would see (call from the test thread) --------------------------------

    def channel(self, channel_id: int | None = None, viewer: FakeUser | None = None) -> list:
        """Messages in the channel, oldest first; ephemeral ones only for their member."""
        channel_id = channel_id or self.channel_id
        with self._model_lock:
            return [
                m
                for m in self.messages.values()
                if m.channel_id == channel_id
                and not m.deleted
                and (m.visible_to is None or (viewer is not None and m.visible_to == viewer.id))
            ]

    def response_to(self, interaction: FakeInteraction) -> FakeMessage | None:
        with self._model_lock:
            if interaction.response_message_id is None:
                return None
            return self.messages.get(interaction.response_message_id)

    def replies_to(self, message: FakeMessage) -> list[FakeMessage]:
        with self._model_lock:
            return [
                m
                for m in self.messages.values()
                if m.message_reference
                and m.message_reference.get("message_id") == str(message.id)
                and not m.deleted
            ]

    def wait_until(
        self, predicate: Callable[[], T], what: str, timeout: float = 60.0, interval=0.05
    ) -> T:
        """Poll until `predicate()` is truthy; its value is returned."""
        deadline = time.monotonic() + timeout
        while True:
            with self._model_lock:
                value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(interval)

    # -- gateway ---------------------------------------------------------------------------

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
            self.guild_id, "Albumify Test Server", [self.channel_id], list(self.members.values())
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

    async def _dispatch(self, event: str, data: dict[str, Any]) -> None:
        if not self.sessions:
            raise RuntimeError(f"no gateway session to send {event} to")
        self._sequence += 1
        payload = {"op": 0, "t": event, "s": self._sequence, "d": data}
        await self.sessions[-1].send(payload)

    @property
    def connected(self) -> bool:
        return bool(self.sessions) and self.identifies > 0

    async def _dispatch_interactions(self, interactions: Iterable[FakeInteraction]) -> None:
        for interaction in interactions:
            interaction.sent_at = time.monotonic()
            await self._dispatch("INTERACTION_CREATE", interaction.payload)

    async def _dispatch_message_create(self, message: FakeMessage) -> None:
        if not self.sessions or message.ephemeral:
            return
        intents = self.sessions[-1].intents
        stripped = not (
            intents & MESSAGE_CONTENT_INTENT
            or message.author.id == self.bot.id
            or self.bot in message.mentions
        )
        data = message.payload(stripped=stripped)
        data["guild_id"] = str(self.guild_id)
        member = message.author.member_payload()
        member.pop("user")
        data["member"] = member
        await self._dispatch("MESSAGE_CREATE", data)

    # -- interaction payloads --------------------------------------------------------------

    def _command(self, name: str, command_type: int) -> dict[str, Any]:
        with self._model_lock:
            for scope in (self.guild_id, None):
                for command in self.commands.get(scope, []):
                    if command["name"] == name and command.get("type", 1) == command_type:
                        return command
        raise LookupError(f"the bot has not synced a command {name!r} (type {command_type})")

    def _interaction(
        self,
        interaction_type: int,
        user: FakeUser,
        data: dict[str, Any],
        message: FakeMessage | None = None,
    ) -> FakeInteraction:
        interaction_id = self.snowflakes.next()
        token = f"itok{interaction_id}x{secrets.token_hex(12)}"
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": interaction_type,
            "data": data,
            "guild_id": str(self.guild_id),
            "channel_id": str(self.channel_id),
            "channel": {**channel_payload(self.guild_id, self.channel_id), "permissions": "0"},
            "member": user.member_payload(with_permissions=True),
            "token": token,
            "version": 1,
            "app_permissions": str(self.bot.permissions),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(self.guild_id)},
            "context": 0,
            "attachment_size_limit": ATTACHMENT_LIMIT,
        }
        if message is not None:
            payload["message"] = message.payload()
        interaction = FakeInteraction(
            interaction_id, token, interaction_type, user, self.channel_id, payload
        )
        with self._model_lock:
            self.interactions[interaction_id] = interaction
            self._by_token[token] = interaction
        return interaction

    # -- REST ------------------------------------------------------------------------------

    async def _answer(self, request: web.Request, recorded: RecordedRequest) -> web.Response:
        path = request.path
        if not path.startswith(API_PREFIX):
            return _unknown("Not Found")
        parts = path[len(API_PREFIX) :].strip("/").split("/")
        method = request.method
        authorized = recorded.headers.get("Authorization") == f"Bot {BOT_TOKEN}"
        if parts[0] in ("interactions", "webhooks"):
            if "Authorization" in recorded.headers:
                self.protocol_errors.append(f"{method} {parts[0]} carried an Authorization header")
        elif not authorized:
            return json_response(401, {"message": "401: Unauthorized", "code": 0})
        with self._model_lock:
            return await self._route(method, parts, recorded)

    async def _route(self, method: str, parts: list[str], req: RecordedRequest) -> web.Response:
        body = req.payload or {}
        match method, parts:
            case "GET", ["users", "@me"]:
                return json_response(200, self.bot.payload())
            case "GET", ["oauth2", "applications", "@me"]:
                return json_response(200, self._application())
            case (("PUT" | "GET"), ["applications", app_id, "commands"]):
                return self._commands(method, app_id, None, body)
            case (("PUT" | "GET"), ["applications", app_id, "guilds", guild_id, "commands"]):
                return self._commands(method, app_id, int(guild_id), body)
            case "POST", ["interactions", interaction_id, token, "callback"]:
                return await self._callback(int(interaction_id), token, req)
            case _, ["webhooks", _app, token, "messages", which]:
                return await self._webhook_message(method, token, which, req)
            case "POST", ["webhooks", _app, token]:
                return await self._followup(token, req)
            case "GET", ["channels", channel_id, "messages", message_id]:
                return self._fetch_message(int(channel_id), int(message_id))
            case "GET", ["channels", channel_id, "messages"]:
                listed = [m.payload() for m in reversed(self.channel(int(channel_id)))]
                return json_response(200, listed)
            case "POST", ["channels", channel_id, "messages"]:
                message = self._new_message(int(channel_id), self.bot)
                self._apply(message, body, req)
                await self._dispatch_message_create(message)
                return json_response(200, message.payload())
            case "PATCH", ["channels", _channel, "messages", message_id]:
                message = self._live(int(message_id))
                if message is None:
                    return _unknown("Unknown Message", 10008)
                self._apply(message, body, req)
                return json_response(200, message.payload())
            case "DELETE", ["channels", _channel, "messages", message_id]:
                return await self._delete(int(message_id))
            case (
                ("PUT" | "DELETE"),
                ["channels", _, "messages", message_id, "reactions", e, "@me"],
            ):
                message = self._live(int(message_id))
                if message is None:
                    return _unknown("Unknown Message", 10008)
                if method == "PUT":
                    message.reactions.append(e)
                elif e in message.reactions:
                    message.reactions.remove(e)
                return web.Response(status=204)
        return _unknown(f"fake Discord has no route for {method} /{'/'.join(parts)}")

    def _application(self) -> dict[str, Any]:
        """discord.py 2.7 reads this at login to learn the application id."""
        owner = next(iter(m for m in self.members.values() if not m.bot), self.bot)
        return {
            "id": str(self.application_id),
            "name": "Albumify",
            "description": "Not everything can be an album cover.",
            "icon": None,
            "bot_public": False,
            "bot_require_code_grant": False,
            "owner": owner.payload(),
            "team": None,
            "verify_key": "0" * 64,
            "flags": 0,
            "bot": self.bot.payload(),
        }

    def _commands(self, method: str, app_id: str, guild_id: int | None, body: Any) -> web.Response:
        if int(app_id) != self.application_id:
            return _unknown("Unknown Application", 10002)
        if method == "PUT":
            synced = []
            for command in body or []:
                entry = {
                    **command,
                    "id": str(self.snowflakes.next()),
                    "application_id": app_id,
                    "version": str(self.snowflakes.next()),
                    "type": command.get("type", SLASH),
                    "description": command.get("description", ""),
                }
                if guild_id is not None:
                    entry["guild_id"] = str(guild_id)
                synced.append(entry)
            self.commands[guild_id] = synced
        return json_response(200, self.commands.get(guild_id, []))

    async def _callback(
        self, interaction_id: int, token: str, req: RecordedRequest
    ) -> web.Response:
        interaction = self.interactions.get(interaction_id)
        if interaction is None or interaction.token != token:
            return _unknown("Unknown interaction", 10062)
        if req.query.get("with_response") != "1":
            self.protocol_errors.append("interaction callback without ?with_response=1")
        callback_type = int((req.payload or {}).get("type", 0))
        if interaction.acknowledged:
            interaction.callbacks.append(Callback(req.at, callback_type, 400))
            self.protocol_errors.append(f"interaction {interaction_id} answered twice")
            return json_response(
                400, {"message": "Interaction has already been acknowledged.", "code": 40060}
            )
        if req.at - interaction.sent_at > INTERACTION_DEADLINE_S:
            interaction.callbacks.append(Callback(req.at, callback_type, 404))
            self.protocol_errors.append(f"interaction {interaction_id} acknowledged too late")
            return _unknown("Unknown interaction", 10062)
        data = (req.payload or {}).get("data") or {}
        flags = int(data.get("flags") or 0)
        message: FakeMessage | None = None
        if callback_type in (4, 5):  # a message, or "thinking…" to be edited later
            message = self._new_message(interaction.channel_id, self.bot)
            message.interaction_id = interaction.id
            if flags & EPHEMERAL:
                message.flags |= EPHEMERAL
                message.visible_to = interaction.user.id
            if callback_type == 5:
                message.flags |= LOADING
                message.history.append("")
            else:
                self._apply(message, data, req)
        elif callback_type in (6, 7) and interaction.source_message_id:
            message = self._live(interaction.source_message_id)
            if message is not None and callback_type == 7:
                self._apply(message, data, req)
        elif callback_type != 1:
            return json_response(400, {"message": f"callback type {callback_type}", "code": 0})
        interaction.callbacks.append(Callback(req.at, callback_type, 200))
        if message is not None:
            interaction.response_message_id = message.id
            if callback_type in (4, 5):  # after the reply: a burst's acks stay cheap to serve
                task = asyncio.get_running_loop().create_task(
                    self._dispatch_message_create(message)
                )
                self._background.add(task)
                task.add_done_callback(self._background.discard)
        return json_response(
            200,
            {
                "interaction": {
                    "id": str(interaction.id),
                    "type": interaction.type,
                    "response_message_id": str(message.id) if message else None,
                    "response_message_loading": callback_type == 5,
                    "response_message_ephemeral": bool(flags & EPHEMERAL),
                },
                "resource": {
                    "type": callback_type,
                    **({"message": message.payload()} if message else {}),
                },
            },
        )

    async def _webhook_message(
        self, method: str, token: str, which: str, req: RecordedRequest
    ) -> web.Response:
        interaction = self._by_token.get(token)
        if interaction is None:
            return _unknown("Unknown Webhook", 10015)
        message_id = interaction.response_message_id if which == "@original" else int(which)
        message = self._live(message_id) if message_id else None
        if message is None:
            return _unknown("Unknown Message", 10008)
        if method == "PATCH":
            self._apply(message, req.payload or {}, req)
        elif method == "DELETE":
            return await self._delete(message.id)
        elif method != "GET":
            return _unknown(f"{method} on a webhook message", 0)
        return json_response(200, message.payload())

    async def _followup(self, token: str, req: RecordedRequest) -> web.Response:
        """The first follow-up after a "thinking" defer replaces that message (as Discord)."""
        interaction = self._by_token.get(token)
        if interaction is None:
            return _unknown("Unknown Webhook", 10015)
        original = self._live(interaction.response_message_id or 0)
        if original is not None and original.loading:
            self._apply(original, req.payload or {}, req)
            return json_response(200, original.payload())
        message = self._new_message(interaction.channel_id, self.bot)
        message.interaction_id = interaction.id
        if int((req.payload or {}).get("flags") or 0) & EPHEMERAL:
            message.flags |= EPHEMERAL
            message.visible_to = interaction.user.id
        self._apply(message, req.payload or {}, req)
        await self._dispatch_message_create(message)
        return json_response(200, message.payload())

    def _fetch_message(self, channel_id: int, message_id: int) -> web.Response:
        message = self._live(message_id)
        if message is None or message.channel_id != channel_id or message.ephemeral:
            return _unknown("Unknown Message", 10008)
        stripped = not (
            self.message_content_enabled
            or message.author.id == self.bot.id
            or self.bot in message.mentions
        )
        return json_response(200, message.payload(stripped=stripped))

    async def _delete(self, message_id: int) -> web.Response:
        message = self._live(message_id)
        if message is None:
            return _unknown("Unknown Message", 10008)
        message.deleted = True
        if not message.ephemeral and self.sessions:
            await self._dispatch(
                "MESSAGE_DELETE",
                {
                    "id": str(message.id),
                    "channel_id": str(message.channel_id),
                    "guild_id": str(self.guild_id),
                },
            )
        return web.Response(status=204)

    # -- the message model -----------------------------------------------------------------

    def _new_message(self, channel_id: int, author: FakeUser) -> FakeMessage:
        message = FakeMessage(self.snowflakes.next(), channel_id, self.guild_id, author)
        self.messages[message.id] = message
        return message

    def _live(self, message_id: int) -> FakeMessage | None:
        message = self.messages.get(message_id)
        return None if message is None or message.deleted else message

    def _apply(self, message: FakeMessage, body: dict[str, Any], req: RecordedRequest) -> None:
        """Create/edit semantics: given fields replace; `attachments` is the list to keep."""
        if "content" in body:
            message.content = body["content"] or ""
        if "embeds" in body:
            message.embeds = body["embeds"] or []
        if "components" in body:
            message.components = body["components"] or []
        if body.get("message_reference"):
            message.message_reference = {
                k: str(v) if k.endswith("_id") else v for k, v in body["message_reference"].items()
            }
        uploads = self._uploads(message.channel_id, req.files)
        if "attachments" in body:
            kept: list[dict[str, Any]] = []
            existing = {a["id"]: a for a in message.attachments}
            for entry in body["attachments"] or []:
                key = str(entry.get("id"))
                if key in existing:
                    kept.append(existing[key])
                elif f"files[{key}]" in uploads:
                    kept.append(uploads[f"files[{key}]"])
            message.attachments = kept
        else:
            message.attachments = [*message.attachments, *uploads.values()]
        by_name = {f"attachment://{a['filename']}": a["url"] for a in message.attachments}
        for embed in message.embeds:
            for slot in ("image", "thumbnail"):
                media = embed.get(slot)
                if media and media.get("url") in by_name:
                    media["proxy_url"] = by_name[media["url"]]
        if message.history or message.loading:
            message.edited_timestamp = iso_now()
        message.flags &= ~LOADING
        message.history.append(message.content)

    def _uploads(
        self, channel_id: int, files: dict[str, tuple[str, bytes]]
    ) -> dict[str, dict[str, Any]]:
        return {
            name: self.upload(filename, data, channel_id=channel_id)
            for name, (filename, data) in files.items()
        }

    def attachment_bytes(self, attachment: dict[str, Any]) -> bytes:
        path = attachment["url"].removeprefix(self.base)
        return self._files[path][0]


def _option_value(value: Any, resolved: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One slash-command option; attachments and users are ids that point into `resolved`."""
    if isinstance(value, dict) and "filename" in value:
        resolved.setdefault("attachments", {})[value["id"]] = value
        return {"type": 11, "value": value["id"]}
    if isinstance(value, FakeUser):
        resolved.setdefault("users", {})[str(value.id)] = value.payload()
        member = value.member_payload()
        member.pop("user")
        resolved.setdefault("members", {})[str(value.id)] = member
        return {"type": 6, "value": str(value.id)}
    if isinstance(value, bool):
        return {"type": 5, "value": value}
    if isinstance(value, int):
        return {"type": 4, "value": value}
    return {"type": 3, "value": str(value)}


def _unknown(message: str, code: int = 0) -> web.Response:
    return json_response(404, {"message": message, "code": code})
