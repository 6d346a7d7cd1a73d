"""A loopback Discord (REST v10 + gateway + CDN) that the real discord.py client accepts.

`FakeDiscord` is the whole server, built in layers, each a module that only uses the ones
below it:

- `rest.FakeDiscordREST`: the HTTP server in its own thread; records every request, scripted
  faults, CDN files, multipart parsing;
- `guild.Guild`: the model of one guild (members, synced commands, messages, interactions)
  and what a member sees of it;
- `gateway.Gateway`: the bot's zlib-stream websocket and the events dispatched on it;
- `routes.Routes`: the REST routes the bot and the worker call;
- `server.FakeDiscord` (here): the members' side, which tests and the demo drive.

Tests drive members from their own thread: `slash()`, `context_menu()`, `click()`,
`submit_form()` (a MODAL_SUBMIT for the form a callback type 9 opened), `post_message()`
dispatch gateway events; `wait_until()` polls the model;
`set_bot_permissions()` takes permissions from the bot in a channel (or gives them back), and
`set_age_restricted()` marks a channel age-restricted (`nsfw`), as a server admin would.
Protocol mistakes the real Discord would reject (a second callback, a late ack, an
Authorization header on a webhook call, a missing one on a bot call) are collected in
`protocol_errors`. Interaction tokens look like Discord's: base64 of "interaction:<id>:…".
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from devtools.fakediscord.guild import BOT_TOKEN
from devtools.fakediscord.model import (
    COMMAND_INTERACTION,
    COMPONENT_INTERACTION,
    LOADING,
    MEMBER_PERMISSIONS,
    MESSAGE_MENU,
    MODAL_SUBMIT_INTERACTION,
    SLASH,
    STRING_SELECT,
    TEXT_INPUT,
    Callback,
    FakeInteraction,
    FakeMessage,
    FakeRole,
    FakeUser,
    bot_role_payload,
    channel_payload,
)
from devtools.fakediscord.routes import Routes

T = TypeVar("T")

ATTACHMENT_LIMIT = 10 * 1024 * 1024
BOT_DM_CONTEXT = 1
"""Interaction context types: 0 a guild, 1 the bot's DM, 2 other private channels."""


class FakeDiscord(Routes):
    """The loopback Discord, and the members' actions on it (call from the test thread)."""

    def start(self) -> FakeDiscord:
        super().start()
        return self

    def reset(self) -> None:
        """As `Guild.reset`, and the bot gets its full permissions back in every channel;
        no channel stays age-restricted."""
        super().reset()
        self.set_bot_permissions()
        for channel_id in list(self.nsfw_channels):
            self.set_age_restricted(False, channel_id)
        self.set_bot_role_permissions()

    def environment(self) -> dict[str, str]:
        """What the bot and the worker need to talk to this server instead of Discord."""
        return {
            "DISCORD_TOKEN": BOT_TOKEN,
            "DISCORD_API_BASE": self.api_base,
            "DISCORD_GATEWAY_URL": self.gateway_url,
            "ALBUMIFY_CDN_HOSTS": "127.0.0.1",
            "DEV_GUILD_ID": str(self.guild_id),
        }

    # -- the server's settings -------------------------------------------------------------

    def set_bot_permissions(
        self, channel_id: int | None = None, *, deny: int = 0, allow: int = 0
    ) -> None:
        """The bot's overwrite in the channel (nothing denied or allowed: its guild permissions).

        The bot is told with CHANNEL_UPDATE, as Discord does, so its cache agrees.
        """
        channel_id = channel_id or self.channel_id
        with self._model_lock:
            before = self.bot_overwrites.get(channel_id)
            if deny or allow:
                self.bot_overwrites[channel_id] = (allow, deny)
            else:
                self.bot_overwrites.pop(channel_id, None)
            changed = before != self.bot_overwrites.get(channel_id)
            payload = {**self.channel_payload(channel_id), "guild_id": str(self.guild_id)}
        if changed and self.sessions:
            self._run(self._dispatch("CHANNEL_UPDATE", payload))

    def set_age_restricted(self, nsfw: bool = True, channel_id: int | None = None) -> None:
        """Mark the channel age-restricted (Discord's `nsfw`) or not, as a server admin
        would; the bot is told with CHANNEL_UPDATE, so its cache agrees."""
        channel_id = channel_id or self.channel_id
        with self._model_lock:
            changed = nsfw != (channel_id in self.nsfw_channels)
            if nsfw:
                self.nsfw_channels.add(channel_id)
            else:
                self.nsfw_channels.discard(channel_id)
            payload = {**self.channel_payload(channel_id), "guild_id": str(self.guild_id)}
        if changed and self.sessions:
            self._run(self._dispatch("CHANNEL_UPDATE", payload))

    # -- roles -------------------------------------------------------------------------------

    def add_role(self, name: str, *, position: int = 1) -> FakeRole:
        """A new role (GUILD_ROLE_CREATE tells the bot). At or above `bot_role_position` the
        bot cannot grant it."""
        role = FakeRole(self.snowflakes.next(), name, position)
        with self._model_lock:
            self.roles[role.id] = role
        if self.sessions:
            event = {"guild_id": str(self.guild_id), "role": role.payload()}
            self._run(self._dispatch("GUILD_ROLE_CREATE", event))
        return role

    def give_role(self, member: FakeUser, role: FakeRole) -> None:
        """A moderator hands the role out by hand (no bot involved)."""
        with self._model_lock:
            if role.id not in member.roles:
                member.roles.append(role.id)

    def set_bot_role_permissions(self, extra: int = 0) -> None:
        """The bot's guild permissions: the member set plus `extra` (e.g. MANAGE_ROLES);
        GUILD_ROLE_UPDATE tells the bot, as Discord does."""
        with self._model_lock:
            permissions = MEMBER_PERMISSIONS | extra
            changed = permissions != self.bot_role_permissions
            self.bot_role_permissions = permissions
            role = bot_role_payload(self.bot_role_id, self.bot, permissions, self.bot_role_position)
        if changed and self.sessions:
            event = {"guild_id": str(self.guild_id), "role": role}
            self._run(self._dispatch("GUILD_ROLE_UPDATE", event))

    # -- members and their actions ---------------------------------------------------------

    def add_member(self, name: str, *, moderator: bool = False, manager: bool = False) -> FakeUser:
        user = FakeUser(self.snowflakes.next(), name, moderator=moderator, manager=manager)
        with self._model_lock:
            self.members[user.id] = user
        return user

    def post_message(
        self,
        author: FakeUser,
        content: str = "",
        *,
        attachments: Iterable[dict[str, Any]] = (),
        reply_to: FakeMessage | None = None,
        reply_ping: bool = False,
        channel_id: int | None = None,
    ) -> FakeMessage:
        """A member posts; MESSAGE_CREATE goes out (stripped without the intent, as Discord).

        Mentions are parsed from `<@id>` and `<@&role>` in the text; `reply_ping` is the
        client's "mention the author" toggle on a reply, which adds the replied-to author to
        `mentions` without any text.
        """
        channel_id = channel_id or self.channel_id
        mentions = [u for u in self.members.values() if u.mention in content]
        if reply_to is not None and reply_ping and reply_to.author not in mentions:
            mentions.append(reply_to.author)
        roles = [self.bot_role_id] if f"<@&{self.bot_role_id}>" in content else []
        message = FakeMessage(
            id=self.snowflakes.next(),
            channel_id=channel_id,
            guild_id=self.guild_id,
            author=author,
            content=content,
            attachments=list(attachments),
            mentions=mentions,
            mention_roles=roles,
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
        self,
        name: str,
        user: FakeUser,
        options: dict[str, Any] | None = None,
        *,
        dm: bool = False,
        guild_id: int | None = None,
    ) -> FakeInteraction:
        """An INTERACTION_CREATE for a slash command, not sent yet (see `send`).

        `dm`: used in the member's DM with the bot, where only global commands that allow
        the bot-DM context exist (a guild command never shows up there). `guild_id`: used in
        another guild's channel (`add_guild`) instead of the first guild's.
        """
        command = self._command(name, SLASH, dm=dm, guild_id=guild_id)
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
        return self._interaction(COMMAND_INTERACTION, user, data, dm=dm, guild_id=guild_id)

    def slash(
        self,
        name: str,
        user: FakeUser,
        options: dict[str, Any] | None = None,
        *,
        dm: bool = False,
        guild_id: int | None = None,
    ) -> FakeInteraction:
        interaction = self.prepare_slash(name, user, options, dm=dm, guild_id=guild_id)
        return self.send(interaction)[0]

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
        dm = message.guild_id is None
        interaction = self._interaction(COMPONENT_INTERACTION, user, data, message, dm=dm)
        interaction.source_message_id = message.id
        return self.send(interaction)[0]

    def choose(
        self, user: FakeUser, message: FakeMessage, custom_id: str, values: list[str]
    ) -> FakeInteraction:
        """A choice in a string select on `message` (INTERACTION_CREATE type 3, component
        type 3, `values`); Discord only sends values the select offers, as many as it allows."""
        select = message.select(custom_id)
        if select is None:
            raise LookupError(f"{custom_id!r} is not a string select on message {message.id}")
        offered = [option["value"] for option in select.get("options", [])]
        low, high = int(select.get("min_values", 1)), int(select.get("max_values", 1))
        if not set(values) <= set(offered) or not low <= len(values) <= high:
            raise ValueError(f"{values!r} is not a choice {custom_id!r} allows ({offered})")
        data = {"custom_id": custom_id, "component_type": STRING_SELECT, "values": values}
        dm = message.guild_id is None
        interaction = self._interaction(COMPONENT_INTERACTION, user, data, message, dm=dm)
        interaction.source_message_id = message.id
        return self.send(interaction)[0]

    def submit_form(
        self, opened_by: FakeInteraction, values: dict[str, str] | None = None
    ) -> FakeInteraction:
        """The member submits the form (modal) the bot answered `opened_by` with: a
        MODAL_SUBMIT (type 5) carrying every text input's value — `values` by custom_id, else
        what the form pre-filled. A form opened from a button carries that button's message,
        so a deferred update (callback 6) or `@original` edits that message."""
        form = opened_by.modal
        if form is None:
            raise LookupError(f"interaction {opened_by.id} was not answered with a form")
        given = dict(values or {})
        rows = []
        for row in form.get("components", []):
            # An action row holds its input; a newer label (type 18) holds one `component`.
            for item in row.get("components") or [row.get("component") or {}]:
                if item.get("type") != TEXT_INPUT:
                    continue
                value = given.pop(item["custom_id"], item.get("value") or "")
                rows.append(
                    {
                        "type": 1,
                        "components": [
                            {"type": TEXT_INPUT, "custom_id": item["custom_id"], "value": value}
                        ],
                    }
                )
        if given:
            raise LookupError(f"the form has no text inputs {sorted(given)}")
        data = {"custom_id": form["custom_id"], "components": rows}
        with self._model_lock:
            source = self._live(opened_by.source_message_id or 0)
        dm = source is not None and source.guild_id is None
        interaction = self._interaction(
            MODAL_SUBMIT_INTERACTION, opened_by.user, data, source, dm=dm
        )
        interaction.source_message_id = opened_by.source_message_id
        return self.send(interaction)[0]

    def deferred(self, user: FakeUser) -> FakeInteraction:
        """A /albumify the bot has already deferred ("thinking…"): for a worker run without a
        bot, the interaction whose token and message the job answers through."""
        data = {"id": "0", "name": "albumify", "type": SLASH, "options": [], "resolved": {}}
        interaction = self._interaction(COMMAND_INTERACTION, user, data)
        with self._model_lock:
            message = self._new_message(interaction.channel_id, self.bot)
            message.interaction_id = interaction.id
            message.flags |= LOADING
            message.history.append("")
            interaction.sent_at = time.monotonic()
            interaction.callbacks.append(Callback(interaction.sent_at, 5, 200))
            interaction.response_message_id = message.id
        return interaction

    def send(self, *interactions: FakeInteraction) -> list[FakeInteraction]:
        """Dispatch the interactions back to back in one go (a burst, like a busy server)."""
        self._run(self._dispatch_interactions(interactions))
        return list(interactions)

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

    # -- interaction payloads --------------------------------------------------------------

    def _command(
        self, name: str, command_type: int, *, dm: bool = False, guild_id: int | None = None
    ) -> dict[str, Any]:
        scopes: tuple[int | None, ...] = (None,) if dm else (guild_id or self.guild_id, None)
        with self._model_lock:
            for scope in scopes:
                for command in self.commands.get(scope, []):
                    if command["name"] == name and command.get("type", 1) == command_type:
                        if dm and BOT_DM_CONTEXT not in (command.get("contexts") or [0, 1, 2]):
                            continue
                        return command
        where = " for DMs" if dm else ""
        raise LookupError(f"the bot has not synced a command {name!r} (type {command_type}){where}")

    def _interaction(
        self,
        interaction_type: int,
        user: FakeUser,
        data: dict[str, Any],
        message: FakeMessage | None = None,
        *,
        dm: bool = False,
        guild_id: int | None = None,
    ) -> FakeInteraction:
        interaction_id = self.snowflakes.next()
        secret = f"interaction:{interaction_id}:{secrets.token_urlsafe(96)}"
        token = base64.urlsafe_b64encode(secret.encode()).decode().rstrip("=")
        guild_id = guild_id or self.guild_id
        channel_id = self.dm_channel(user) if dm else self.channel_of(guild_id)
        where: dict[str, Any]
        if dm:
            channel = {"id": str(channel_id), "type": 1, "recipients": [user.payload()]}
            where = {
                "channel": channel,
                "user": user.payload(),
                "context": BOT_DM_CONTEXT,
                "app_permissions": str(self.bot.permissions),
            }
        else:
            where = {
                "guild_id": str(guild_id),
                "channel": {**self.channel_payload(channel_id), "permissions": "0"},
                "member": user.member_payload(with_permissions=True),
                "context": 0,
                "app_permissions": str(self.bot_permissions(channel_id)),
            }
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": interaction_type,
            "data": data,
            "channel_id": str(channel_id),
            **where,
            "token": token,
            "version": 1,
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(guild_id)},
            "attachment_size_limit": ATTACHMENT_LIMIT,
        }
        if message is not None:
            payload["message"] = message.payload()
        interaction = FakeInteraction(
            interaction_id, token, interaction_type, user, channel_id, payload
        )
        with self._model_lock:
            self.interactions[interaction_id] = interaction
            self._by_token[token] = interaction
        return interaction


@dataclass(frozen=True)
class ChannelOption:
    """A channel picked as a slash-command option (`slash(..., {"x": ChannelOption(id)})`)."""

    id: int
    guild_id: int


def _option_value(value: Any, resolved: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One slash-command option; attachments, users, roles and channels are ids that point
    into `resolved`."""
    if isinstance(value, FakeRole):
        resolved.setdefault("roles", {})[str(value.id)] = value.payload()
        return {"type": 8, "value": str(value.id)}
    if isinstance(value, ChannelOption):
        data = {**channel_payload(value.guild_id, value.id), "permissions": str(MEMBER_PERMISSIONS)}
        resolved.setdefault("channels", {})[str(value.id)] = data
        return {"type": 7, "value": str(value.id)}
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
