"""Make a private redis-server full, as a deployment reaching its `maxmemory` is."""

from __future__ import annotations

import redis

FILLER = "test:filler:{n}"


def fill(client: redis.Redis) -> int:
    """Cap Redis just above what it holds and fill it until it refuses writes. Returns how
    many filler keys it took (give it to `unfill`).

    The cap then drops 1 MiB below what Redis holds: a refused write frees its own buffer, and
    client buffers come and go, so a Redis *just* at its cap takes small writes again now and
    then; this one stays full until `unfill`.
    """
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory", used + 2 * 1024 * 1024)
    written = 0
    while True:
        try:
            client.set(FILLER.format(n=written), b"x" * 4096)
        except redis.exceptions.OutOfMemoryError:
            break
        written += 1
    client.config_set("maxmemory", int(client.info("memory")["used_memory"]) - 1024 * 1024)
    try:
        client.set(FILLER.format(n="probe"), b"x")
    except redis.exceptions.OutOfMemoryError:
        return written
    raise AssertionError("Redis still takes writes")


def unfill(client: redis.Redis, written: int) -> None:
    """Room again: the filler goes and the cap is lifted."""
    client.delete(*[FILLER.format(n=n) for n in range(written + 1)])
    client.config_set("maxmemory", 0)
