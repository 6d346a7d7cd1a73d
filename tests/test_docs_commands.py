"""docs/discord.md documents every command the bot registers: its options, who may use it and
where (issue 16, item 14). The command tree is the one `albumify bot` builds: the feature
extensions loaded into an `AlbumifyBot`, as tests/test_bot_intake.py loads them."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

import discord
import redis.asyncio as aioredis
from discord import app_commands

from albumify.settings import Settings
from bot.app import EXTENSIONS
from bot.client import AlbumifyBot
from tests.conftest import ROOT

PAGE = ROOT / "docs" / "discord.md"
PERMISSION_NAMES = {"manage_guild": "Manage Server", "manage_messages": "Manage Messages"}
"""How Discord's client names a permission flag (others: the flag in title case)."""


@dataclass(frozen=True)
class Registered:
    name: str
    """As a member types or finds it: `/cover top`, `Apps → Albumify`."""
    options: tuple[str, ...]
    permissions: tuple[str, ...]
    in_dms: bool


def registered_commands(redis_url: str) -> dict[str, Registered]:
    async def walk() -> dict[str, Registered]:
        bot = AlbumifyBot(Settings(redis_url=redis_url))
        bot.redis = aioredis.Redis.from_url(redis_url, decode_responses=True)  # as setup_hook
        try:
            for extension in EXTENSIONS:
                await bot.load_extension(extension)
            found: dict[str, Registered] = {}
            for command in bot.tree.get_commands(type=None):
                for entry in _entries(command):
                    found[entry.name] = entry
            return found
        finally:
            await bot.redis.aclose()
            await bot.close()

    return asyncio.run(walk())


def _entries(command: object) -> list[Registered]:
    contexts = getattr(command, "allowed_contexts", None)
    in_dms = contexts is None or bool(contexts.dm_channel)
    permissions = getattr(command, "default_permissions", None)
    needed = tuple(
        PERMISSION_NAMES.get(flag, flag.replace("_", " ").title())
        for flag, on in (permissions or discord.Permissions.none())
        if on
    )
    if isinstance(command, app_commands.ContextMenu):
        return [Registered(f"Apps → {command.name}", (), needed, in_dms)]
    if isinstance(command, app_commands.Group):
        return [
            Registered(
                f"/{command.name} {sub.name}",
                tuple(p.name for p in sub.parameters),
                needed,
                in_dms,
            )
            for sub in command.commands
            if isinstance(sub, app_commands.Command)
        ]
    assert isinstance(command, app_commands.Command)
    return [
        Registered(f"/{command.name}", tuple(p.name for p in command.parameters), needed, in_dms)
    ]


def documented_rows() -> dict[str, list[str]]:
    """The command table: command → its cells (options, who may use it, where)."""
    text = PAGE.read_text()
    table = text[text.index("| command | options | who may use it | where |") :]
    rows = {}
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        name = cells[0].replace("**", "")  # `/cover top`, or **Apps → Albumify** (on a …)
        name = name.split("`")[1] if name.startswith("`/") else name.split(" (")[0]
        rows[name] = cells[1:]
    return rows


def test_every_registered_command_is_documented_with_its_options_and_users(redis_url) -> None:
    registered = registered_commands(redis_url)
    rows = documented_rows()
    assert set(rows) == set(registered), (
        f"undocumented: {sorted(set(registered) - set(rows))}; "
        f"documented but not registered: {sorted(set(rows) - set(registered))}"
    )
    for name, command in registered.items():
        options, users, where = rows[name]
        written = set(re.findall(r"`([a-z_]+)`", options))
        assert set(command.options) <= written, (name, command.options, options)
        for permission in command.permissions:
            assert permission in users, (name, permission, users)
        if not command.permissions:
            assert "every member" in users, (name, users)
        assert ("DMs" in where) is command.in_dms, (name, where)


def test_the_page_names_no_command_that_does_not_exist(redis_url) -> None:
    registered = {name.split()[0] for name in registered_commands(redis_url)}
    mentioned = set(re.findall(r"`(/[a-z][a-z-]*)(?=[ `])", PAGE.read_text()))  # not paths
    assert mentioned <= registered, sorted(mentioned - registered)
    assert "/albumify-config" in mentioned and "/albumify-forget" in mentioned
