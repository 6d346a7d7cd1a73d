"""Fixtures of the end-to-end modules (registered by tests/conftest.py's pytest_plugins).

`stack`: one real stack per module that uses it (`albumify bot`, `albumify worker`, a
private redis-server, the loopback Discord); `discord`: its fake Discord, starting each test
from an idle queue, empty app state and a fresh conversation, and checked after it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devtools.fakediscord import FakeDiscord
from devtools.fakediscord.stack import Stack


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    running = Stack().start()
    yield running
    running.stop()


@pytest.fixture
def discord(stack: Stack) -> Iterator[FakeDiscord]:
    stack.reset()
    yield stack.fake
    stack.check_alive()
    assert stack.fake.protocol_errors == [], stack.fake.protocol_errors
