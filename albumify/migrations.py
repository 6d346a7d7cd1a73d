"""Key layouts across releases, and the migration that runs by itself when a process starts.

Layout 1 (up to 0.1.0) kept a result in two hashes: `albumify:result:<id>` (written by the
worker: ids, photo, options) and `albumify:cover:<id>` (written by the leaderboards: creator,
periods, message) with its voters in `albumify:cover:<id>:voters`. Layout 2 merges them into
the one `albumify:result:<id>` hash (`albumify.results.ResultRecord`) and moves the voters to
`albumify:result:<id>:voters`. Every other key kept its name.

Layout 3 (retention and forget, #16):
- what only a re-roll needs (photo hash, title, artist, display name, the library covers shown,
  seed, advisory, spoiler) moves to `albumify:result:<id>:reroll`, which expires when the kept
  photo does (`created_at` + `ALBUMIFY_PHOTO_TTL`; already past: dropped). A record never
  posted expires (`results.UNPOSTED_TTL_S`); a posted one joins `keys.POSTED` as never seen,
  so the bot soon checks that its message is still up. Kept photos no result points at
  (uploads that were refused, kept by older workers before decoding) are deleted;
- what `/albumify-forget` needs to find everything a member is in is indexed: the posted
  results others made of their photo (`keys.member_photo_covers`) and the RQ jobs of their
  requests and of requests of their photo (`keys.member_jobs`), built from the results and
  jobs that layout 2 left (idempotent set adds).

Layout 4 (Redis Cluster, #18): keys under their guild's hash tag, `albumify.layout4`. The
steps before it ran on a single Redis only (no release wrote layouts 1–3 to a cluster), so
they name keys as layout 3 did (`keys.LAYOUT3`) and step 4 moves them.

`migrate(redis)` is called by `albumify bot` and `albumify worker` at start-up, on the state's
client (`ALBUMIFY_STATE_REDIS_URL`, else `REDIS_URL`); RQ's jobs are read on the queue's.
Each result is moved by one script or key by key (idempotent), so two processes migrating
at once, or a migration interrupted half-way, leave consistent data; the layout marker is
written after each layout.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from rq import Queue
from rq.job import Job
from rq.registry import (
    CanceledJobRegistry,
    DeferredJobRegistry,
    FailedJobRegistry,
    FinishedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)
from rq.serializers import JSONSerializer

from albumify import keys
from albumify.forget import JOB_INDEX_TTL_S, job_payload
from albumify.layout4 import to_layout_4
from albumify.results import REROLL_FIELDS, UNPOSTED_TTL_S, as_int, as_str
from albumify.settings import Limits

log = logging.getLogger(__name__)

OLD = keys.LAYOUT3

LAYOUT = 4
"""The key layout this release reads and writes."""
JOB_REGISTRIES = (
    StartedJobRegistry,
    FinishedJobRegistry,
    FailedJobRegistry,
    ScheduledJobRegistry,
    DeferredJobRegistry,
    CanceledJobRegistry,
)

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


_SPLIT_RESULT = """
-- KEYS: result hash, its re-roll hash, the posted index. ARGV: result id, now, photo TTL,
-- unposted TTL, then the re-roll fields. Returns the photo hash a live re-roll still needs.
local fields = {unpack(ARGV, 5)}
local values = redis.call('HMGET', KEYS[1], unpack(fields))
local created = tonumber(redis.call('HGET', KEYS[1], 'created_at') or '') or 0
local left = math.floor(created + tonumber(ARGV[3]) - tonumber(ARGV[2]))
local moving, photo = {}, ''
for i, field in ipairs(fields) do
  if values[i] then
    table.insert(moving, field)
    table.insert(moving, values[i])
  end
end
if #moving > 0 then
  if left > 0 then
    redis.call('HSET', KEYS[2], unpack(moving))
    redis.call('EXPIRE', KEYS[2], left)
    photo = values[1] or ''
  end
  redis.call('HDEL', KEYS[1], unpack(fields))
elseif redis.call('EXISTS', KEYS[2]) == 1 then
  photo = redis.call('HGET', KEYS[2], 'photo_hash') or ''
end
local message = redis.call('HGET', KEYS[1], 'message')
if message and message ~= '' then
  redis.call('ZADD', KEYS[3], 'NX', 0, ARGV[1])
elseif redis.call('TTL', KEYS[1]) == -1 then
  redis.call('EXPIRE', KEYS[1], ARGV[4])
end
return photo
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
            OLD["result"].format(result_id=result_id),
            OLD["voters"].format(result_id=result_id),
        ]
    )


def _to_layout_2(redis: Any, queue_name: str, queue_connection: Any) -> int:
    moved = 0
    for result_id in sorted(_legacy_result_ids(redis)):
        merge_result(redis, result_id)
        moved += 1
    return moved


def _result_ids(redis: Any) -> set[str]:
    """Every result on record (`albumify:result:<id>`, not its voters or re-roll hash)."""
    prefix = OLD["result"].format(result_id="")
    return {
        name
        for raw in redis.scan_iter(match=prefix + "*", count=1000)
        if ":" not in (name := as_str(raw)[len(prefix) :])
    }


def split_result(redis: Any, result_id: str, now: float, photo_ttl_s: int) -> str:
    """Move one result's re-roll fields to their expiring hash (atomic, idempotent). Returns
    the photo hash its re-roll still needs ('' when none)."""
    found = redis.register_script(_SPLIT_RESULT)(
        keys=[
            OLD["result"].format(result_id=result_id),
            OLD["reroll"].format(result_id=result_id),
            OLD["posted"],
        ],
        args=[result_id, now, photo_ttl_s, UNPOSTED_TTL_S, *REROLL_FIELDS],
    )
    return as_str(found or b"")


def index_photo_covers(redis: Any) -> int:
    """Layout 3: each posted result made of someone else's photo, under its photo's author."""
    prefix = OLD["result"].format(result_id="")
    indexed = 0
    for raw in redis.scan_iter(match=prefix + "*", count=1000):
        name = as_str(raw)
        result_id = name[len(prefix) :]
        if ":" in result_id:  # a result's voters set
            continue
        guild, requester, author, message = redis.hmget(
            name, "guild", "requester", "photo_author", "message"
        )
        if not (guild and author and message) or as_int(author) == as_int(requester):
            continue
        photo_covers = OLD["member_photo_covers"].format(guild=as_str(guild), user=as_str(author))
        redis.sadd(photo_covers, result_id)
        redis.sadd(keys.user_guilds(as_str(author)), as_str(guild))
        indexed += 1
    return indexed


def index_jobs(redis: Any, queue_name: str, queue_connection: Any = None) -> int:
    """Layout 3: each job RQ still keeps (queued, running, kept after it ended), under the
    members it concerns."""
    connection = queue_connection if queue_connection is not None else redis
    queue = Queue(queue_name, connection=connection, serializer=JSONSerializer)
    job_ids = set(queue.get_job_ids())
    for registry in JOB_REGISTRIES:
        job_ids.update(registry(queue=queue).get_job_ids())
    indexed = 0
    for job in Job.fetch_many(sorted(job_ids), connection=connection, serializer=JSONSerializer):
        payload = job_payload(job)
        if payload is None or not payload.get("guild_id"):
            continue
        guild = payload["guild_id"]
        for member in {payload.get("requester_id"), payload.get("photo_author_id")} - {None}:
            member_jobs = OLD["member_jobs"].format(guild=guild, user=member)
            redis.sadd(member_jobs, job.id)  # type: ignore[union-attr]
            redis.expire(member_jobs, JOB_INDEX_TTL_S)
            redis.sadd(keys.user_guilds(member), guild)
        indexed += 1
    return indexed


def _to_layout_3(redis: Any, queue_name: str, queue_connection: Any) -> int:
    now, limits = time.time(), Limits.from_env()
    needed, moved = set(), 0
    for result_id in sorted(_result_ids(redis)):
        needed.add(split_result(redis, result_id, now, limits.photo_ttl_s))
        moved += 1
    prefix = keys.photo("")
    for raw in list(redis.scan_iter(match=prefix + "*", count=1000)):
        if as_str(raw)[len(prefix) :] not in needed:  # an upload no cover came from
            redis.delete(raw)
    covers = index_photo_covers(redis)
    jobs = index_jobs(redis, queue_name, queue_connection)
    log.info("layout 3: %d photo covers and %d jobs indexed for forget", covers, jobs)
    return moved


STEPS: tuple[tuple[int, Callable[[Any, str, Any], int]], ...] = (
    (2, _to_layout_2),
    (3, _to_layout_3),
    (4, to_layout_4),
)
"""Each layout and the step that brings data from the one before it."""


def migrate(redis: Any, queue_name: str = "albumify", *, queue_connection: Any = None) -> int:
    """Bring the data to `LAYOUT` (a synchronous client for the state, a `RedisCluster`
    too; `queue_connection`: RQ's, when the queue lives elsewhere). Returns how many results
    moved (a result moved by several steps counts once per step)."""
    start = layout_of(redis)
    if start >= LAYOUT:
        return 0
    moved = 0
    for layout, step in STEPS:
        if start < layout:
            count = step(redis, queue_name, queue_connection)
            redis.set(keys.LAYOUT, layout)
            if count:
                log.info("migrated %d results to key layout %d", count, layout)
            moved += count
    return moved
