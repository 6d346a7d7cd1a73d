"""What the bot may do in a channel of the loopback Discord, and how Discord says no.

Discord checks the bot's permissions in the channel on every bot-token call there and answers
403 with a JSON code: **50001 Missing Access** when the bot cannot see the channel (View
Channel; Read Message History too, to fetch one message), **50013 Missing Permissions** for the
rest: Send Messages to post, Attach Files with files, Embed Links with embeds, Manage Messages
to delete someone else's message, Read Message History and Add Reactions to react. A reply
without Read Message History is refused with 400 / 160002. Interaction callbacks and
interaction webhooks are never checked: slash commands and their answers work in channels the
bot cannot see, as on the real Discord.
"""

from __future__ import annotations

from typing import Any

from devtools.fakediscord.model import (
    ADD_REACTIONS,
    ATTACH_FILES,
    EMBED_LINKS,
    MANAGE_MESSAGES,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    VIEW_CHANNEL,
)

MISSING_ACCESS = 50001
MISSING_PERMISSIONS = 50013
CANNOT_DM = 50007
REPLY_NEEDS_HISTORY = 160002

NAMES = {
    VIEW_CHANNEL: "View Channel",
    SEND_MESSAGES: "Send Messages",
    ATTACH_FILES: "Attach Files",
    EMBED_LINKS: "Embed Links",
    READ_MESSAGE_HISTORY: "Read Message History",
    MANAGE_MESSAGES: "Manage Messages",
    ADD_REACTIONS: "Add Reactions",
}


def needed(
    method: str, rest: list[str], payload: dict[str, Any], has_files: bool, own_message: bool
) -> list[int]:
    """The permissions a bot-token call on `/channels/{id}/<rest>` needs, in Discord's order."""
    need = [VIEW_CHANNEL]
    match method, rest:
        case "GET", ["messages", _]:
            need.append(READ_MESSAGE_HISTORY)
        case "POST", ["messages"]:
            need.append(SEND_MESSAGES)
            if has_files:
                need.append(ATTACH_FILES)
            if payload.get("embeds"):
                need.append(EMBED_LINKS)
        case "DELETE", ["messages", _] if not own_message:
            need.append(MANAGE_MESSAGES)
        case "PUT", ["messages", _, "reactions", *_]:
            need.extend((READ_MESSAGE_HISTORY, ADD_REACTIONS))
    return need


def refusal(
    have: int, method: str, rest: list[str], payload: dict[str, Any], need: list[int]
) -> tuple[int, dict[str, Any]] | None:
    """(status, body) of Discord's refusal, or None when the bot may do it."""
    for bit in need:
        if have & bit:
            continue
        if bit == VIEW_CHANNEL or (method == "GET" and bit == READ_MESSAGE_HISTORY):
            return 403, {"message": "Missing Access", "code": MISSING_ACCESS}
        return 403, {"message": "Missing Permissions", "code": MISSING_PERMISSIONS}
    replying = method == "POST" and rest == ["messages"] and payload.get("message_reference")
    if replying and not have & READ_MESSAGE_HISTORY:
        return 400, {
            "message": "Cannot reply without permission to read message history",
            "code": REPLY_NEEDS_HISTORY,
        }
    return None


def overwrite(member_id: int, allow: int, deny: int) -> dict[str, Any]:
    """A channel's permission overwrite for one member (type 1), as GUILD_CREATE carries it."""
    return {"id": str(member_id), "type": 1, "allow": str(allow), "deny": str(deny)}
