"""The loopback Discord lives in `bot.devtools.fakediscord` (installed: `albumify demo` uses it)."""

from bot.devtools.fakediscord import FakeDiscord, FakeInteraction, FakeMessage, FakeUser
from bot.devtools.fakediscord.stack import Stack

__all__ = ["FakeDiscord", "FakeInteraction", "FakeMessage", "FakeUser", "Stack"]
