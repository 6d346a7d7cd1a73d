"""The REST routes the bot and the worker call, answered from the guild's model.

Bot calls must carry the bot token; interaction callbacks and webhook calls must not carry an
Authorization header at all. Answers follow Discord's rules: one callback per interaction
within 3 s, the first follow-up after a "thinking…" defer replaces it, fetched messages of
others are stripped without the message-content intent. Mistakes the real Discord would
reject are recorded in `protocol_errors` as well as answered. Bot-token calls in a guild
channel are checked against the bot's permissions there (`permissions`); a DM to a member who
closed them gets 50007; `nonce` + `enforce_nonce` dedupe a sender's channel posts.
A new message of the bot's records whom it pings (`FakeMessage.pings`: its text's mentions as
`allowed_mentions` lets them through, `mentions`); an edit never pings.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from devtools.fakediscord.gateway import Gateway
from devtools.fakediscord.guild import BOT_TOKEN
from devtools.fakediscord.mentions import InvalidAllowedMentions, pings
from devtools.fakediscord.model import (
    EPHEMERAL,
    INTERACTION_DEADLINE_S,
    LOADING,
    MODAL_CALLBACK,
    MODAL_SUBMIT_INTERACTION,
    SLASH,
    Callback,
    FakeMessage,
    dm_channel_payload,
)
from devtools.fakediscord.permissions import CANNOT_DM, needed, refusal
from devtools.fakediscord.rest import API_PREFIX, RecordedRequest, json_response
from devtools.fakediscord.roles import member_role


class Routes(Gateway):
    """The guild and its gateway, answering REST: commands, callbacks, webhooks, messages."""

    def __init__(self, *, message_content_enabled: bool = True) -> None:
        super().__init__(message_content_enabled=message_content_enabled)
        self._background: set[asyncio.Task[None]] = set()
        """MESSAGE_CREATEs dispatched after a callback's reply, kept until they are sent."""

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
            refused = self._refused(method, parts, recorded)
            if refused is not None:
                return refused
            return await self._route(method, parts, recorded)

    def _refused(self, method: str, parts: list[str], req: RecordedRequest) -> web.Response | None:
        """Discord's answer to a bot-token call the bot may not make (None: it may)."""
        if len(parts) < 2 or parts[0] != "channels" or not parts[1].isdigit():
            return None
        channel_id = int(parts[1])
        body = req.payload or {}
        if channel_id in self.dm_channels.values():
            recipient = next(u for u, c in self.dm_channels.items() if c == channel_id)
            if method == "POST" and not self.members[recipient].accepts_dms:
                text = "Cannot send messages to this user"
                return json_response(403, {"message": text, "code": CANNOT_DM})
            return None
        rest = parts[2:]
        message = self._live(int(rest[1])) if len(rest) > 1 and rest[1].isdigit() else None
        own = message is not None and message.author.id == self.bot.id
        need = needed(method, rest, body, bool(req.files), own)
        refused = refusal(self.bot_permissions(channel_id), method, rest, body, need)
        return None if refused is None else json_response(*refused)

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
            case "GET", ["gateway", "bot"]:
                return json_response(200, self._gateway_bot())
            case "GET", ["channels", channel_id] if self._guild_channel(int(channel_id)):
                return json_response(200, self.channel_payload(int(channel_id)))
            case "GET", ["channels", channel_id, "messages", message_id]:
                return self._fetch_message(int(channel_id), int(message_id))
            case "GET", ["channels", channel_id, "messages"]:
                listed = [m.payload() for m in reversed(self.channel(int(channel_id)))]
                return json_response(200, listed)
            case "POST", ["users", "@me", "channels"]:
                return self._open_dm(body)
            case "POST", ["channels", channel_id, "messages"]:
                message = self._by_nonce(self.bot, body)
                if message is None:
                    message = self._new_message(int(channel_id), self.bot)
                    self._apply(message, body, req)
                    self._notify(message, body)
                    self._remember_nonce(message, body)
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
            case (("PUT" | "DELETE"), ["guilds", guild_id, "members", user_id, "roles", role_id]):
                return member_role(self, method, int(guild_id), int(user_id), int(role_id))
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
                self._notify(message, data)
        elif callback_type in (6, 7) and interaction.source_message_id:
            message = self._live(interaction.source_message_id)
            if message is not None and callback_type == 7:
                self._apply(message, data, req)
        elif callback_type == MODAL_CALLBACK:
            problem = _modal_problem(interaction.type, data)
            if problem is not None:
                self.protocol_errors.append(f"interaction {interaction_id}: {problem}")
                return json_response(400, {"message": problem, "code": 50035})
            interaction.modal = data
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
        self._notify(message, req.payload or {})
        await self._dispatch_message_create(message)
        return json_response(200, message.payload())

    def _notify(self, message: FakeMessage, body: dict[str, Any]) -> None:
        """A new message of the bot's: who it pings (`mentions`), as `allowed_mentions` says."""
        reference = message.message_reference or {}
        replied = self._live(int(reference.get("message_id") or 0))
        try:
            message.pings = pings(
                message.content,
                body.get("allowed_mentions"),
                replied.author.id if replied is not None else None,
            )
        except InvalidAllowedMentions as err:
            self.protocol_errors.append(f"message {message.id}: {err}")
            return
        message.mentions = [self.members[u] for u in message.pings.users if u in self.members]

    def _open_dm(self, body: dict[str, Any]) -> web.Response:
        """POST /users/@me/channels: the bot's DM channel with a member (made once)."""
        recipient = self.members.get(int(body.get("recipient_id") or 0))
        if recipient is None or recipient.bot:
            return json_response(400, {"message": "Invalid Recipient(s)", "code": 50033})
        channel_id = self.dm_channels.setdefault(recipient.id, self.snowflakes.next())
        return json_response(200, dm_channel_payload(channel_id, recipient))

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
            event = {"id": str(message.id), "channel_id": str(message.channel_id)}
            if message.guild_id is not None:
                event["guild_id"] = str(message.guild_id)
            await self._dispatch("MESSAGE_DELETE", event)
        return web.Response(status=204)

    def _gateway_bot(self) -> dict[str, Any]:
        """`GET /gateway/bot`: where to connect, how many shards, the session-start limit."""
        limit = self.session_start_limit()
        return {"url": self.gateway_url, "shards": self.shard_count, "session_start_limit": limit}

    def _guild_channel(self, channel_id: int) -> bool:
        return channel_id == self.channel_id or channel_id in self._guild_by_channel


def _modal_problem(interaction_type: int, data: dict[str, Any]) -> str | None:
    """What Discord would refuse in a MODAL callback (None: a form it shows)."""
    if interaction_type == MODAL_SUBMIT_INTERACTION:
        return "a form cannot answer a form"
    if not data.get("custom_id") or not data.get("title"):
        return "a form needs a custom_id and a title"
    rows = data.get("components") or []
    if not 1 <= len(rows) <= 5:
        return f"a form holds 1 to 5 components, not {len(rows)}"
    return None


def _unknown(message: str, code: int = 0) -> web.Response:
    return json_response(404, {"message": message, "code": code})
