"""The records the fake Discord keeps (users, messages, interactions; `guild` holds them).

Payload builders here produce the JSON shapes discord.py 2.7 parses (users, members,
messages, guilds, interactions), so the other modules only route and record.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from devtools.fakediscord.mentions import Pings

DISCORD_EPOCH_MS = 1_420_070_400_000
EPHEMERAL = 1 << 6
LOADING = 1 << 7
INTERACTION_DEADLINE_S = 3.0
"""Discord drops an interaction that is not acknowledged within 3 s (10062 Unknown)."""
SLASH, USER_MENU, MESSAGE_MENU = 1, 2, 3
"""Application command types."""
COMMAND_INTERACTION, COMPONENT_INTERACTION, MODAL_SUBMIT_INTERACTION = 2, 3, 5
"""Interaction types: a command used, a button clicked, a form (modal) submitted."""
STRING_SELECT = 3
"""A component's type: a string select (choosing in it sends `values`)."""
MODAL_CALLBACK = 9
"""The interaction callback that opens a form (modal) for the member."""
TEXT_INPUT = 4

VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
ADD_REACTIONS = 1 << 6
USE_APPLICATION_COMMANDS = 1 << 31
MANAGE_GUILD = 1 << 5
MANAGE_ROLES = 1 << 28
MEMBER_PERMISSIONS = (
    VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | ADD_REACTIONS
    | USE_APPLICATION_COMMANDS
)


class Snowflakes:
    """Real-looking snowflakes: discord.py derives `created_at` (and token age) from them."""

    def __init__(self) -> None:
        self._counter = itertools.count()
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            increment = next(self._counter) & 0x3FFFFF
        return ((int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22) | increment


def iso_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


@dataclass
class FakeUser:
    id: int
    username: str
    bot: bool = False
    moderator: bool = False
    """Has Manage Messages in the fake guild."""
    roles: list[int] = field(default_factory=list)
    """Role ids in the guild (the bot has its managed role)."""
    accepts_dms: bool = True
    """False: the member closed DMs from server members (the bot's DMs get 50007)."""
    manager: bool = False
    """Has Manage Server in the fake guild (`/albumify-config`)."""

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.username,
            "global_name": self.username.title(),
            "discriminator": "0",
            "avatar": None,
            "bot": self.bot,
        }

    @property
    def permissions(self) -> int:
        return (
            MEMBER_PERMISSIONS
            | (MANAGE_MESSAGES if self.moderator else 0)
            | (MANAGE_GUILD if self.manager else 0)
        )

    def member_payload(self, *, with_permissions: bool = False) -> dict[str, Any]:
        member: dict[str, Any] = {
            "user": self.payload(),
            "roles": [str(role) for role in self.roles],
            "joined_at": "2024-01-01T00:00:00+00:00",
            "deaf": False,
            "mute": False,
            "flags": 0,
            "nick": None,
        }
        if with_permissions:
            member["permissions"] = str(self.permissions)
        return member

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"


@dataclass
class FakeRole:
    """A role of the guild; the bot may grant it only below its own role (`Guild.bot_role`)."""

    id: int
    name: str
    position: int = 1
    permissions: int = 0

    def payload(self) -> dict[str, Any]:
        return role_payload(self.id, self.name, self.permissions, position=self.position)


@dataclass
class FakeMessage:
    """One message as members would see it (the latest state) plus its edit history."""

    id: int
    channel_id: int
    guild_id: int | None
    """None in a DM channel."""
    author: FakeUser
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    flags: int = 0
    mentions: list[FakeUser] = field(default_factory=list)
    mention_roles: list[int] = field(default_factory=list)
    message_reference: dict[str, Any] | None = None
    interaction_id: int | None = None
    """The interaction whose response this message is."""
    visible_to: int | None = None
    """Ephemeral messages: the only member who sees them."""
    reactions: list[str] = field(default_factory=list)
    timestamp: str = field(default_factory=iso_now)
    edited_timestamp: str | None = None
    history: list[str] = field(default_factory=list)
    """Every content this message showed, in order (progress edits, then the result)."""
    deleted: bool = False
    pings: Pings = field(default_factory=Pings)
    """Who the bot's message notified when it was created (`mentions`; edits never ping)."""

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def loading(self) -> bool:
        return bool(self.flags & LOADING)

    @property
    def custom_ids(self) -> list[str]:
        return [
            component["custom_id"]
            for row in self.components
            for component in row.get("components", [])
            if "custom_id" in component
        ]

    def select(self, custom_id: str) -> dict[str, Any] | None:
        """The string select with this custom id, if the message has one."""
        for row in self.components:
            for component in row.get("components", []):
                if (
                    component.get("type") == STRING_SELECT
                    and component.get("custom_id") == custom_id
                ):
                    return component
        return None

    def payload(self, *, stripped: bool = False) -> dict[str, Any]:
        """The message object; `stripped` = without Message Content (text, files, embeds)."""
        data: dict[str, Any] = {
            "id": str(self.id),
            "channel_id": str(self.channel_id),
            "author": self.author.payload(),
            "content": "" if stripped else self.content,
            "embeds": [] if stripped else self.embeds,
            "components": [] if stripped else self.components,
            "attachments": [] if stripped else self.attachments,
            "flags": self.flags,
            "mentions": [user.payload() for user in self.mentions],
            "mention_roles": [str(role) for role in self.mention_roles],
            "mention_everyone": False,
            "pinned": False,
            "tts": False,
            "type": 19 if self.message_reference else 0,
            "timestamp": self.timestamp,
            "edited_timestamp": self.edited_timestamp,
        }
        if self.message_reference:
            data["message_reference"] = self.message_reference
        if self.author.bot:
            data["application_id"] = str(self.author.id)
        return data


@dataclass
class Callback:
    at: float
    type: int
    status: int


@dataclass
class FakeInteraction:
    id: int
    token: str
    type: int
    user: FakeUser
    channel_id: int
    payload: dict[str, Any]
    sent_at: float = 0.0
    """time.monotonic() when INTERACTION_CREATE went out on the gateway."""
    callbacks: list[Callback] = field(default_factory=list)
    response_message_id: int | None = None
    source_message_id: int | None = None
    """Component interactions: the message whose button was clicked."""
    modal: dict[str, Any] | None = None
    """The form (modal) the bot answered with (callback type 9): custom_id, title, rows."""

    @property
    def acknowledged(self) -> list[Callback]:
        return [c for c in self.callbacks if c.status == 200]

    @property
    def ack_latency(self) -> float | None:
        """Seconds from dispatch to the first accepted callback (None if never)."""
        accepted = self.acknowledged
        return accepted[0].at - self.sent_at if accepted else None


def guild_payload(
    guild_id: int,
    name: str,
    channels: list[dict[str, Any]],
    members: list[FakeUser],
    bot_role: tuple[int, FakeUser] | None = None,
    roles_extra: list[dict[str, Any]] | None = None,
    bot_role_permissions: int = MEMBER_PERMISSIONS,
    bot_role_position: int = 1,
) -> dict[str, Any]:
    """GUILD_CREATE: `member_count` equals the members sent (discord.py checks chunking).

    `bot_role` is (role id, bot user): the role Discord creates for a bot when it joins
    (managed, tagged with the bot's id); members can mention it as `<@&id>`.
    """
    roles = [role_payload(guild_id, "@everyone", MEMBER_PERMISSIONS, position=0)]
    if bot_role is not None:
        role_id, bot = bot_role
        managed = bot_role_payload(role_id, bot, bot_role_permissions, bot_role_position)
        roles.append(managed)
    roles.extend(roles_extra or [])
    return {
        "id": str(guild_id),
        "name": name,
        "icon": None,
        "owner_id": str(members[0].id),
        "roles": roles,
        "channels": channels,
        "members": [member.member_payload() for member in members],
        "member_count": len(members),
        "joined_at": "2024-01-01T00:00:00+00:00",
        "large": False,
        "unavailable": False,
        "features": [],
        "emojis": [],
        "stickers": [],
        "threads": [],
        "voice_states": [],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "premium_tier": 0,
        "preferred_locale": "en-US",
        "system_channel_flags": 0,
        "nsfw_level": 0,
        "premium_progress_bar_enabled": False,
        "afk_timeout": 300,
    }


def role_payload(role_id: int, name: str, permissions: int, *, position: int) -> dict[str, Any]:
    return {
        "id": str(role_id),
        "name": name,
        "permissions": str(permissions),
        "position": position,
        "color": 0,
        "hoist": False,
        "managed": False,
        "mentionable": False,
        "flags": 0,
    }


def bot_role_payload(
    role_id: int, bot: FakeUser, permissions: int, position: int
) -> dict[str, Any]:
    """The role Discord made for the bot (managed, tagged with the bot's id)."""
    managed = role_payload(role_id, bot.username.title(), permissions, position=position)
    return {**managed, "managed": True, "tags": {"bot_id": str(bot.id)}}


def channel_payload(
    guild_id: int,
    channel_id: int,
    overwrites: list[dict[str, Any]] | None = None,
    *,
    nsfw: bool = False,
) -> dict[str, Any]:
    return {
        "id": str(channel_id),
        "guild_id": str(guild_id),
        "type": 0,
        "name": f"general-{channel_id % 1000}",
        "position": 0,
        "permission_overwrites": overwrites or [],
        "nsfw": nsfw,
        "parent_id": None,
        "topic": None,
        "last_message_id": None,
        "rate_limit_per_user": 0,
    }


def dm_channel_payload(channel_id: int, recipient: FakeUser) -> dict[str, Any]:
    return {
        "id": str(channel_id),
        "type": 1,
        "recipients": [recipient.payload()],
        "last_message_id": None,
    }
