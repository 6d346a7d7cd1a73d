"""The loopback Discord lives in `devtools.fakediscord` (installed: `albumify demo` uses it)."""

from devtools.fakediscord import FakeDiscord, FakeInteraction, FakeMessage, FakeUser
from devtools.fakediscord.stack import Stack

__all__ = ["FakeDiscord", "FakeInteraction", "FakeMessage", "FakeUser", "Stack"]
