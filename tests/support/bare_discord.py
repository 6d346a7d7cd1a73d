"""A loopback Discord with no bot attached, for tests that speak its HTTP API themselves or
enqueue what the bot would (`discord = bare_discord()` in a test module)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devtools.fakediscord import FakeDiscord
from devtools.fakediscord.guild import BOT_TOKEN

BOT = {"Authorization": f"Bot {BOT_TOKEN}"}
"""The headers of a request made with the bot's token."""


def bare_discord() -> Any:
    """A `discord` fixture: a fresh loopback Discord per test, and no bot."""

    @pytest.fixture
    def discord() -> Iterator[FakeDiscord]:
        server = FakeDiscord().start()
        yield server
        server.stop()

    return discord
