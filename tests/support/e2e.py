"""What each end-to-end module shares: its markers, one stack per module, a fresh
conversation per test (tests/test_e2e.py wrote these first)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devtools.fakediscord import FakeDiscord
from devtools.fakediscord.stack import Stack

MARKS = [
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]


def module_stack(make: Callable[[], Stack] = Stack) -> Any:
    """A module-scoped `stack` fixture: the processes start once per module."""

    @pytest.fixture(scope="module")
    def stack() -> Iterator[Stack]:
        running = make().start()
        yield running
        running.stop()

    return stack


def fresh_conversation() -> Any:
    """A `discord` fixture: an idle queue, no app state, a fresh fake conversation."""

    @pytest.fixture
    def discord(stack: Stack) -> Iterator[FakeDiscord]:
        with stack.scenario() as fake:
            yield fake

    return discord
