"""A loopback Discord (REST + gateway + CDN) and a harness that runs the real processes."""

from tests.fakediscord.model import FakeInteraction, FakeMessage, FakeUser
from tests.fakediscord.server import FakeDiscord

__all__ = ["FakeDiscord", "FakeInteraction", "FakeMessage", "FakeUser"]
