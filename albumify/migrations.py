"""Key layouts across releases, and the migration that runs by itself when a process starts.

Layout 1 (up to 0.1.0) kept a result in two hashes: `albumify:result:<id>` (written by the
worker: ids, photo, options) and `albumify:cover:<id>` (written by the leaderboards: creator,
periods, message) with its voters in `albumify:cover:<id>:voters`. Layout 2 merges them into
the one `albumify:result:<id>` hash (`albumify.results.ResultRecord`) and moves the voters to
`albumify:result:<id>:voters`. Every other key kept its name.

`migrate(redis)` is called by `albumify bot` and `albumify worker` at start-up. Each result is
moved by one script (atomic, idempotent), so two processes migrating at once, or a migration
interrupted half-way, leave consistent data; the layout marker is written last.
"""

from __future__ import annotations

import logging
from typing import Any

from albumify import keys
from albumify.results import as_str

log = logging.getLogger(__name__)

LAYOUT = 2
"""The key layout this release reads and writes."""

_MERGE_COVER = """
-- KEYS: legacy cover hash, legacy voters, result hash, result voters
local cover = redis.call('HGETALL', KEYS[1])
if #cover > 0 then
  local c = {}
  for i = 1, #cover, 2 do c[cover[i]] = cover[i + 1] end
  -- The boards counted votes in the cover hash's periods, from its message: those win.
  for _, f in ipairs({'guild', 'channel', 'message', 'library_id', 'library_title',
                      'created_at', 'week', 'month', 'week_exp', 'month_exp'}) do
    if c[f] then redis.call('HSET', KEYS[3], f, c[f]) end
  end
  if c.creator then
    redis.call('HSETNX', KEYS[3], 'requester', c.creator)
    local author = c.author
    if author == nil or author == '' then author = c.creator end
    redis.call('HSETNX', KEYS[3], 'photo_author', author)
  end
  redis.call('DEL', KEYS[1])
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('SUNIONSTORE', KEYS[4], KEYS[4], KEYS[2])
  redis.call('DEL', KEYS[2])
end
return 1
"""


def layout_of(redis: Any) -> int:
    """The layout the data is in (1 where no marker was ever written)."""
    return int(as_str(redis.get(keys.LAYOUT) or b"1"))


def _legacy_result_ids(redis: Any) -> set[str]:
    prefix = keys.LEGACY_COVER.format(result_id="")
    found = set()
    for raw in redis.scan_iter(match=prefix + "*", count=1000):
        name = as_str(raw)[len(prefix) :]
        found.add(name.removesuffix(":voters"))
    return found


def merge_result(redis: Any, result_id: str) -> None:
    """Move one result's layout-1 board hash and voters into its layout-2 record (atomic)."""
    redis.register_script(_MERGE_COVER)(
        keys=[
            keys.LEGACY_COVER.format(result_id=result_id),
            keys.LEGACY_COVER_VOTERS.format(result_id=result_id),
            keys.result(result_id),
            keys.voters(result_id),
        ]
    )


def migrate(redis: Any) -> int:
    """Bring the data to `LAYOUT` (a synchronous client). Returns how many results moved."""
    if layout_of(redis) >= LAYOUT:
        return 0
    moved = 0
    for result_id in sorted(_legacy_result_ids(redis)):
        merge_result(redis, result_id)
        moved += 1
    redis.set(keys.LAYOUT, LAYOUT)
    if moved:
        log.info("migrated %d results to key layout %d", moved, LAYOUT)
    return moved
