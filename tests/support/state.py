"""Finding a result's guild in tests that only know the result id (keys carry the guild)."""

from __future__ import annotations

import re
from typing import Any

from albumify import keys


def guild_of_result(client: Any, result_id: str) -> int:
    """The guild whose hash tag holds `result_id`'s record (0 when there is none)."""
    for raw in client.scan_iter(match=keys.result("*", result_id), count=1000):
        found = re.match(r"albumify:\{(\d+)\}:", raw.decode() if isinstance(raw, bytes) else raw)
        if found:
            return int(found.group(1))
    return 0
