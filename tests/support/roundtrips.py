"""Count round trips to Redis: each time a client sends (a command, or a whole pipeline).

Answers must fit Discord's 3 s whatever the size of the data, so tests assert how many round
trips a command makes before it answers instead of timing it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis.asyncio.connection as async_connection
import redis.connection as sync_connection


class RoundTrips:
    def __init__(self) -> None:
        self.count = 0


@contextmanager
def counting_round_trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[RoundTrips]:
    """Counts sends on every Redis connection, sync (RQ) and asyncio (the bot), while open.

    Warm the clients up first: a new connection's handshake is a round trip too.
    """
    trips = RoundTrips()
    async_send = async_connection.AbstractConnection.send_packed_command
    sync_send = sync_connection.AbstractConnection.send_packed_command

    async def counted_async(self: Any, command: Any, check_health: bool = True) -> None:
        trips.count += 1
        await async_send(self, command, check_health)

    def counted_sync(self: Any, command: Any, check_health: bool = True) -> None:
        trips.count += 1
        sync_send(self, command, check_health)

    with monkeypatch.context() as patch:
        patch.setattr(async_connection.AbstractConnection, "send_packed_command", counted_async)
        patch.setattr(sync_connection.AbstractConnection, "send_packed_command", counted_sync)
        yield trips
