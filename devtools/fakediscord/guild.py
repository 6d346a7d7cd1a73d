"""The state of the loopback Discord's one guild, and the rules for changing a message.

`Guild` is the lowest layer of `FakeDiscord` (see the package docstring): the application and
its bot user, the members, the synced commands, every message and interaction, and the
protocol mistakes seen so far. It also answers what a member would see (`channel()`,
`response_to()`, `answers_to()`, `replies_to()`, `dms()`); the layers above read and change this
state. The bot's permissions are per channel (`bot_permissions()`: the guild's @everyone
permissions with the bot's own overwrite in that channel); `permissions` says how Discord
enforces them.
"""

from __future__ import annotations

import mimetypes
import threading
import time
from typing import Any

from devtools.fakediscord.model import (
    LOADING,
    MEMBER_PERMISSIONS,
    FakeInteraction,
    FakeMessage,
    FakeRole,
    FakeUser,
    Snowflakes,
    channel_payload,
    iso_now,
)
from devtools.fakediscord.permissions import overwrite
from devtools.fakediscord.rest import FakeDiscordREST, RecordedRequest

BOT_TOKEN = "fake-bot-token"
"""The one bot token this Discord accepts (on REST calls, IDENTIFY and RESUME)."""
NONCE_WINDOW_S = 300.0
"""`enforce_nonce`: a sender's repeated nonce within this window returns the first message."""


class Guild(FakeDiscordREST):
    """One guild with one channel, the bot in it; the model every route reads and writes."""

    def __init__(self, *, message_content_enabled: bool = True) -> None:
        super().__init__()
        self.snowflakes = Snowflakes()
        self.message_content_enabled = message_content_enabled
        """The developer-portal toggle: without it, fetched messages of others come stripped."""
        self.application_id = self.snowflakes.next()
        self.bot_role_id = self.snowflakes.next()
        """The bot's managed role (members may mention it instead of the bot)."""
        self.bot = FakeUser(self.application_id, "albumify", bot=True, roles=[self.bot_role_id])
        self.bot_role_permissions = MEMBER_PERMISSIONS
        """The bot's guild permissions (its managed role's): add MANAGE_ROLES to grant roles."""
        self.bot_role_position = 10
        """Roles at or above this position are out of the bot's reach (403 on a grant)."""
        self.roles: dict[int, FakeRole] = {}
        """The guild's roles besides @everyone and the bot's (`FakeDiscord.add_role`)."""
        self.role_changes: list[tuple[str, int, int]] = []
        """Role grants the bot made, in order: (PUT or DELETE, member id, role id)."""
        self.guild_id = self.snowflakes.next()
        self.channel_id = self.snowflakes.next()
        self.other_guilds: dict[int, int] = {}
        """More guilds the bot is in (`add_guild`): guild id → its one channel. The members,
        roles and permissions are the first guild's; only ids (and so shards) differ."""
        self._guild_by_channel: dict[int, int] = {}
        self.members: dict[int, FakeUser] = {self.bot.id: self.bot}
        self.commands: dict[int | None, list[dict[str, Any]]] = {}
        """Synced application commands per guild id (None = global)."""
        self.messages: dict[int, FakeMessage] = {}
        self.interactions: dict[int, FakeInteraction] = {}
        self._by_token: dict[str, FakeInteraction] = {}
        self.protocol_errors: list[str] = []
        self.bot_overwrites: dict[int, tuple[int, int]] = {}
        """Channel id → (allow, deny) on top of the bot's guild permissions there."""
        self.nsfw_channels: set[int] = set()
        """Channels marked age-restricted (`nsfw: true` in their channel objects)."""
        self.dm_channels: dict[int, int] = {}
        """Member id → the id of the bot's DM channel with them."""
        self.nonce_window_s = NONCE_WINDOW_S
        self._nonces: dict[tuple[int, str], tuple[int, float]] = {}
        self._model_lock = threading.RLock()

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
            self._nonces.clear()
            self.nonce_window_s = NONCE_WINDOW_S
            self.role_changes.clear()

    # -- the bot's permissions -------------------------------------------------------------

    def bot_permissions(self, channel_id: int | None = None) -> int:
        """What the bot may do in the channel (Discord's bitfield)."""
        allow, deny = self.bot_overwrites.get(channel_id or self.channel_id, (0, 0))
        return (self.bot_role_permissions & ~deny) | allow

    def channel_payloads(self) -> list[dict[str, Any]]:
        """The guild's channels with the bot's overwrites, as GUILD_CREATE carries them."""
        return [self.channel_payload(self.channel_id)]

    def channel_payload(self, channel_id: int) -> dict[str, Any]:
        rule = self.bot_overwrites.get(channel_id)
        overwrites = [overwrite(self.bot.id, *rule)] if rule else []
        nsfw = channel_id in self.nsfw_channels
        guild_id = self.guild_of(channel_id) or self.guild_id
        return channel_payload(guild_id, channel_id, overwrites, nsfw=nsfw)

    # -- more guilds -----------------------------------------------------------------------

    def add_guild(self, *, shard: int | None = None, shard_count: int = 1) -> int:
        """Another guild with one channel; with `shard`, its id is chosen so that Discord's
        rule `(guild_id >> 22) % shard_count` puts it on that shard. Returns the guild id
        (its channel: `other_guilds[guild_id]`). Call before the bot identifies."""
        guild_id = self.snowflakes.next()
        if shard is not None:
            stamp = guild_id >> 22
            stamp += (shard - stamp) % shard_count
            guild_id = (stamp << 22) | (guild_id & 0x3FFFFF)
        with self._model_lock:
            channel_id = self.snowflakes.next()
            self.other_guilds[guild_id] = channel_id
            self._guild_by_channel[channel_id] = guild_id
        return guild_id

    def guild_ids(self) -> list[int]:
        return [self.guild_id, *self.other_guilds]

    def channel_of(self, guild_id: int | None) -> int:
        """A guild's channel (the first guild's for None)."""
        if guild_id is None or guild_id == self.guild_id:
            return self.channel_id
        return self.other_guilds[guild_id]

    def guild_of(self, channel_id: int) -> int | None:
        """The guild a channel is in; None for a DM channel."""
        if self.is_dm(channel_id):
            return None
        return self._guild_by_channel.get(channel_id, self.guild_id)

    # -- attachments -----------------------------------------------------------------------

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

    def attachment_bytes(self, attachment: dict[str, Any]) -> bytes:
        path = attachment["url"].removeprefix(self.base)
        return self._files[path][0]

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

    def answers_to(self, interaction: FakeInteraction) -> list[FakeMessage]:
        """What the interaction told its member in messages of its own, oldest first: its live
        response (callback 4 or 5; a deferred one that was deleted is gone) and its follow-ups,
        not the message a button click updated."""
        with self._model_lock:
            return [
                m
                for m in self.messages.values()
                if m.interaction_id == interaction.id and not m.deleted
            ]

    def dm_channel(self, user: FakeUser) -> int:
        """The id of the member's DM channel with the bot."""
        with self._model_lock:
            return self.dm_channels.setdefault(user.id, self.snowflakes.next())

    def is_dm(self, channel_id: int) -> bool:
        return channel_id in self.dm_channels.values()

    def dms(self, member: FakeUser) -> list[FakeMessage]:
        """What the bot sent the member in DMs, oldest first."""
        with self._model_lock:
            channel_id = self.dm_channels.get(member.id)
            return [] if channel_id is None else self.channel(channel_id)

    def replies_to(self, message: FakeMessage) -> list[FakeMessage]:
        with self._model_lock:
            return [
                m
                for m in self.messages.values()
                if m.message_reference
                and m.message_reference.get("message_id") == str(message.id)
                and not m.deleted
            ]

    # -- the message model -----------------------------------------------------------------

    def _new_message(self, channel_id: int, author: FakeUser) -> FakeMessage:
        guild_id = self.guild_of(channel_id)
        message = FakeMessage(self.snowflakes.next(), channel_id, guild_id, author)
        self.messages[message.id] = message
        return message

    def _by_nonce(self, author: FakeUser, body: dict[str, Any]) -> FakeMessage | None:
        """With `enforce_nonce`, the sender's message with the same nonce in the last minutes."""
        if body.get("nonce") is None or not body.get("enforce_nonce"):
            return None
        seen = self._nonces.get((author.id, str(body["nonce"])))
        if seen is None or time.monotonic() - seen[1] > self.nonce_window_s:
            return None
        return self._live(seen[0])

    def _remember_nonce(self, message: FakeMessage, body: dict[str, Any]) -> None:
        if body.get("nonce") is not None and body.get("enforce_nonce"):
            key = (message.author.id, str(body["nonce"]))
            self._nonces[key] = (message.id, time.monotonic())

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
