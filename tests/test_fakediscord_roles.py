"""The loopback Discord's member roles (`devtools.fakediscord.roles`): grants need Manage Roles
and a role below the bot's, answered with Discord's codes. Plain HTTP, no bot."""

from __future__ import annotations

import requests

from devtools.fakediscord import FakeDiscord
from devtools.fakediscord.model import MANAGE_ROLES
from tests.support.bare_discord import BOT, bare_discord

discord = bare_discord()


def grant(discord: FakeDiscord, method: str, member_id: int, role_id: int) -> requests.Response:
    url = f"{discord.api_base}/guilds/{discord.guild_id}/members/{member_id}/roles/{role_id}"
    return requests.request(method, url, headers=BOT, timeout=10)


def code(response: requests.Response) -> tuple[int, int | None]:
    body = response.json() if response.content else {}
    return response.status_code, body.get("code")


def test_role_grants_follow_discords_rules(discord: FakeDiscord) -> None:
    ann = discord.add_member("ann")
    below = discord.add_role("Cover Star")
    above = discord.add_role("Admins", position=discord.bot_role_position)
    assert code(grant(discord, "PUT", ann.id, below.id)) == (403, 50013)  # no Manage Roles
    discord.set_bot_role_permissions(MANAGE_ROLES)
    assert code(grant(discord, "PUT", ann.id, above.id)) == (403, 50013)  # above the bot's role
    assert code(grant(discord, "PUT", ann.id, 12345)) == (404, 10011)
    assert code(grant(discord, "PUT", 12345, below.id)) == (404, 10007)
    assert ann.roles == [] and discord.role_changes == []
    for _ in range(2):  # granting twice is no error
        assert grant(discord, "PUT", ann.id, below.id).status_code == 204
    assert ann.roles == [below.id]
    assert grant(discord, "DELETE", ann.id, below.id).status_code == 204
    assert ann.roles == []
    assert discord.role_changes == [
        ("PUT", ann.id, below.id),
        ("PUT", ann.id, below.id),
        ("DELETE", ann.id, below.id),
    ]
    assert (
        requests.put(
            f"{discord.api_base}/guilds/{discord.guild_id}/members/{ann.id}/roles/{below.id}",
            timeout=10,
        ).status_code
        == 401
    )  # the bot token is required
