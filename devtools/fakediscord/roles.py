"""Member roles in the loopback Discord: `PUT/DELETE /guilds/{g}/members/{u}/roles/{r}`.

As Discord: the bot needs Manage Roles (in its guild permissions) and may only grant or take
roles below its own highest role (else 403 / 50013 Missing Permissions); an unknown role is
404 / 10011, an unknown member 404 / 10007; success is 204 and granting twice is no error.
Every grant and removal is kept in order in `Guild.role_changes` for tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from devtools.fakediscord.model import MANAGE_ROLES
from devtools.fakediscord.rest import json_response

if TYPE_CHECKING:
    from devtools.fakediscord.guild import Guild

UNKNOWN_MEMBER = 10007
UNKNOWN_ROLE = 10011
MISSING_PERMISSIONS = 50013


def member_role(
    guild: Guild, method: str, guild_id: int, user_id: int, role_id: int
) -> web.Response:
    """Grant (PUT) or take (DELETE) a role; Discord's answer."""
    if guild_id != guild.guild_id:
        return json_response(404, {"message": "Unknown Guild", "code": 10004})
    if not guild.bot_role_permissions & MANAGE_ROLES:
        return json_response(403, {"message": "Missing Permissions", "code": MISSING_PERMISSIONS})
    role = guild.roles.get(role_id)
    if role is None:
        return json_response(404, {"message": "Unknown Role", "code": UNKNOWN_ROLE})
    if role.position >= guild.bot_role_position:
        return json_response(403, {"message": "Missing Permissions", "code": MISSING_PERMISSIONS})
    member = guild.members.get(user_id)
    if member is None:
        return json_response(404, {"message": "Unknown Member", "code": UNKNOWN_MEMBER})
    if method == "PUT" and role_id not in member.roles:
        member.roles.append(role_id)
    elif method == "DELETE" and role_id in member.roles:
        member.roles.remove(role_id)
    guild.role_changes.append((method, user_id, role_id))
    return web.Response(status=204)
