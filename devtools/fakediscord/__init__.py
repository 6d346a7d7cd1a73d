"""A loopback Discord (REST v10 + zlib-stream gateway + CDN) that the real discord.py client
accepts, and `Stack`, which runs redis-server, `albumify bot` and `albumify worker` against it.
Used by the end-to-end tests, `bench.bench_e2e` and `albumify demo`; `server`'s docstring
explains how `FakeDiscord` is layered."""

from devtools.fakediscord.model import FakeInteraction, FakeMessage, FakeUser
from devtools.fakediscord.server import FakeDiscord

__all__ = ["FakeDiscord", "FakeInteraction", "FakeMessage", "FakeUser"]
