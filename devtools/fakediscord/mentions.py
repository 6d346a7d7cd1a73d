"""Who a message notifies: its content's mentions as its `allowed_mentions` lets them through.

Discord notifies a member only when a message is created (an edit never pings), and only for
mentions that `allowed_mentions` allows: `parse` may name "users", "roles" and "everyone"
(all such mentions in the text); `users` / `roles` list the ids allowed one by one;
`replied_user` pings the author of the message a reply refers to. Without `allowed_mentions`
every mention in the text pings. Naming "users" in `parse` and listing `users` as well is
refused (400), as Discord does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

USER_MENTION = re.compile(r"<@!?(\d+)>")
ROLE_MENTION = re.compile(r"<@&(\d+)>")
EVERYONE = re.compile(r"@(everyone|here)\b")


class InvalidAllowedMentions(ValueError):
    """A body Discord answers with 400 (both `parse: users` and a `users` list, say)."""


@dataclass(frozen=True)
class Pings:
    users: list[int] = field(default_factory=list)
    roles: list[int] = field(default_factory=list)
    everyone: bool = False


def pings(content: str, allowed: dict[str, Any] | None, replied_author: int | None = None) -> Pings:
    """Who a newly created message with this text and `allowed_mentions` notifies."""
    users = [int(x) for x in dict.fromkeys(USER_MENTION.findall(content or ""))]
    roles = [int(x) for x in dict.fromkeys(ROLE_MENTION.findall(content or ""))]
    everyone = bool(EVERYONE.search(content or ""))
    if allowed is None:
        replied = [replied_author] if replied_author is not None else []
        return Pings(list(dict.fromkeys([*users, *replied])), roles, everyone)
    parse = set(allowed.get("parse") or [])
    listed_users = {int(x) for x in allowed.get("users") or []}
    listed_roles = {int(x) for x in allowed.get("roles") or []}
    if ("users" in parse and listed_users) or ("roles" in parse and listed_roles):
        raise InvalidAllowedMentions("allowed_mentions: parse and a list of the same kind")
    pinged_users = [u for u in users if "users" in parse or u in listed_users]
    if replied_author is not None and allowed.get("replied_user"):
        pinged_users = list(dict.fromkeys([*pinged_users, replied_author]))
    pinged_roles = [r for r in roles if "roles" in parse or r in listed_roles]
    return Pings(pinged_users, pinged_roles, everyone and "everyone" in parse)
