"""Private redis-server processes for tests (the class lives in `devtools.redis_server`,
which the e2e stack and `albumify demo` use too); a missing redis-server skips the test."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools import redis_server
from devtools.redis_server import free_port

__all__ = ["RedisProcess", "free_port"]


class RedisProcess(redis_server.RedisProcess):
    def __init__(self, directory: Path, *extra: str) -> None:
        try:
            super().__init__(directory, *extra)
        except redis_server.RedisServerMissing:
            pytest.skip("redis-server is not installed")
