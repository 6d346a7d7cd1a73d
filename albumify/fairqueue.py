"""Fair queueing across guilds: new covers wait per guild and enter RQ round-robin.

RQ's queue is one FIFO list, so a guild that asks for 200 covers at once would make every
other guild wait behind all 200. Here a new cover is saved as an ordinary RQ job (status
`deferred`: its retry, timeout and TTLs are set, `Job.fetch` finds it, Cancel and forget see
it) but its id goes into a sorted set, scored by its guild's next *round*:

- a guild's k-th waiting cover gets round `max(current, last_of_guild + 1)`, where `current`
  is the round of the last job moved into RQ: at most one cover per guild per round, and a
  guild with nothing waiting joins the round being served now;
- re-rolls and picked faces (a member is waiting on a cover they already have) get round
  `current - 1`: ahead of every new cover, as "Use another face"'s detect job is (`at_front`);
- ties go by arrival.

The *feeder* moves the lowest-scored job into RQ's list while RQ holds fewer than
`fair_buffer_per_worker` × live workers (at least 1) waiting jobs. Each move is one Lua
script that checks the head is still that job, takes it out, sets its RQ status `queued` and
RPUSHes it: a job is never in both places nor in neither, and any number of feeders (every
bot process, every worker before it dequeues) may run at once. Once in RQ a job is an RQ job
like any other: Retry, job_timeout, the abandoned-job maintenance.

The bound: with W workers, buffer b per worker, and G guilds with waiting covers, a new cover
of a guild with nothing waiting is moved after at most G−1 other guilds' covers (one each,
those of the current round) and then starts after the ≤ b·W jobs already in RQ: it starts
after at most b·W + G − 1 other jobs start, about 1 + (G−1)/W job-times at b = 1.

Everything here lives on the queue's Redis (RQ's synchronous connection), whose keys are
named in `albumify.keys`; every script gets all its keys in KEYS.
"""

from __future__ import annotations

from typing import Any

from rq import Queue
from rq.job import Job, JobStatus
from rq.utils import now, utcformat
from rq.worker_registration import WORKERS_BY_QUEUE_KEY

from albumify import keys
from albumify.settings import Limits

ROUND = 1 << 20
"""A score is round × ROUND + arrival (mod ROUND): exact in a double up to 2^33 rounds."""
MAX_MOVES = 1000
"""One `feed` call moves at most this many jobs (a bound, not a rate)."""

# KEYS: pending, job→guild, guilds, rounds, clock; ARGV: job id, guild, priority (1/0).
# Returns 1 if added (0: it waits already).
SUBMIT_LUA = """#!lua
local job, guild, priority = ARGV[1], ARGV[2], ARGV[3] == '1'
if redis.call('ZSCORE', KEYS[1], job) then return 0 end
local current = tonumber(redis.call('HGET', KEYS[5], 'round') or '0')
local seq = redis.call('HINCRBY', KEYS[5], 'seq', 1) % __ROUND__
local round
if priority then
  round = current - 1
else
  local last = tonumber(redis.call('ZSCORE', KEYS[4], guild) or '0')
  round = math.max(current, last + 1)
  redis.call('ZADD', KEYS[4], round, guild)
end
redis.call('ZADD', KEYS[1], round * __ROUND__ + seq, job)
redis.call('HSET', KEYS[2], job, guild)
redis.call('HINCRBY', KEYS[3], 'n:' .. guild, 1)
return 1
""".replace("__ROUND__", str(ROUND))

# Shared by move and remove: forget a job that left the pending set.
_LEFT = """
local function left(job)
  local guild = redis.call('HGET', KEYS[2], job)
  redis.call('HDEL', KEYS[2], job)
  if guild then
    if redis.call('HINCRBY', KEYS[3], 'n:' .. guild, -1) <= 0 then
      redis.call('HDEL', KEYS[3], 'n:' .. guild)
    end
  end
end
"""

# KEYS: pending, job→guild, guilds, rounds, clock, RQ queue, RQ workers of the queue, the job's
# hash; ARGV: job id (the head the caller saw), buffer per worker, enqueued_at. It may run on
# a full Redis (allow-oom): a move frees about what it takes, and finishing jobs free more.
MOVE_LUA = (
    "#!lua flags=allow-oom\n"
    + _LEFT
    + """
local depth = math.max(1, tonumber(ARGV[2]) * redis.call('SCARD', KEYS[7]))
if redis.call('LLEN', KEYS[6]) >= depth then return 'full' end
local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #head == 0 then return 'empty' end
if head[1] ~= ARGV[1] then return 'stale' end
redis.call('ZREM', KEYS[1], ARGV[1])
left(ARGV[1])
local round = math.floor(tonumber(head[2]) / __ROUND__)
if round > tonumber(redis.call('HGET', KEYS[5], 'round') or '0') then
  redis.call('HSET', KEYS[5], 'round', round)
  -- A guild whose last round has passed gets the current one anyway: forget it.
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(' .. round)
end
if redis.call('EXISTS', KEYS[8]) == 0 then return 'gone' end
redis.call('HSET', KEYS[8], 'status', 'queued', 'enqueued_at', ARGV[3])
redis.call('RPUSH', KEYS[6], ARGV[1])
return 'moved'
""".replace("__ROUND__", str(ROUND))
)

# KEYS: pending, job→guild, guilds; ARGV: job id. 1 if it was waiting here.
REMOVE_LUA = (
    _LEFT
    + """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
left(ARGV[1])
return 1
"""
)


class FairQueue:
    """The fair queue in front of one RQ queue (synchronous: the bot calls it in a thread)."""

    def __init__(self, queue: Queue, limits: Limits) -> None:
        self.queue = queue
        self.limits = limits
        self.redis = queue.connection
        name = queue.name
        self.pending_key = keys.fair_pending(name)
        self._keys = [
            self.pending_key,
            keys.fair_job_guild(name),
            keys.fair_guilds(name),
            keys.fair_rounds(name),
            keys.fair_clock(name),
        ]
        self._workers_key = WORKERS_BY_QUEUE_KEY % name
        self._submit = self.redis.register_script(SUBMIT_LUA)
        self._move = self.redis.register_script(MOVE_LUA)
        self._remove = self.redis.register_script(REMOVE_LUA)

    # -- the bot ---------------------------------------------------------------------------

    def queued(self) -> int:
        """Every cover waiting (for its turn here, and in RQ's list): the global cap's count."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.zcard(self.pending_key)
        pipe.llen(self.queue.key)
        pending, in_rq = pipe.execute()
        return int(pending) + int(in_rq)

    def guild_waiting(self, guild_id: int) -> int:
        """How many of the guild's covers wait for their turn (the per-guild queued cap)."""
        return int(self.redis.hget(self._keys[2], f"n:{guild_id}") or 0)

    def submit(
        self, function: str, payload: dict[str, Any], *, guild_id: int, priority: bool, **job: Any
    ) -> Job:
        """Save the RQ job (waiting: `deferred`) and put it in its guild's turn, atomically.

        `job` takes `Queue.create_job`'s keywords (job_id, timeout, retry, TTLs, meta…).
        """
        rq_job = self.queue.create_job(function, args=(payload,), status=JobStatus.DEFERRED, **job)
        rq_job.origin = self.queue.name
        pipe = self.redis.pipeline(transaction=True)
        rq_job.save(pipeline=pipe)
        pipe.sadd(self.queue.redis_queues_keys, self.queue.key)
        self._submit(
            keys=self._keys,
            args=[rq_job.id, guild_id, 1 if priority else 0],
            client=pipe,
        )
        pipe.execute()
        return rq_job

    def remove(self, job_id: str) -> bool:
        """Take a waiting job out (Cancel, forget). False when it is not waiting here."""
        return bool(self._remove(keys=self._keys[:3], args=[job_id]))

    def position(self, job_id: str) -> int | None:
        """A waiting job's 0-based place in line (RQ's list comes first), None if not here."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.llen(self.queue.key)
        pipe.zrank(self.pending_key, job_id)
        in_rq, rank = pipe.execute()
        return None if rank is None else int(in_rq) + int(rank)

    def place(self, job_id: str) -> int | None:
        """A queued job's 0-based place in line, wherever it waits (here, or RQ's list)."""
        position = self.position(job_id)
        return position if position is not None else self.queue.get_job_position(job_id)

    def waiting(self) -> int:
        """How many jobs wait in the fair queue (not yet in RQ's list)."""
        return int(self.redis.zcard(self.pending_key))

    # -- the feeder (bot processes and workers) --------------------------------------------

    def feed(self) -> int:
        """Move jobs into RQ, next turn first, while RQ's buffer has room. Returns how many.

        Safe to run anywhere at once: each move re-checks the head inside its script.
        """
        moved = 0
        per_worker = max(1, self.limits.fair_buffer_per_worker)
        for _ in range(MAX_MOVES):
            head = self.redis.zrange(self.pending_key, 0, 0)
            if not head:
                break
            job_id = head[0].decode() if isinstance(head[0], bytes) else str(head[0])
            result = self._move(
                keys=[
                    *self._keys,
                    self.queue.key,
                    self._workers_key,
                    self.queue.job_class.key_for(job_id),
                ],
                args=[job_id, per_worker, utcformat(now())],
            )
            outcome = result.decode() if isinstance(result, bytes) else str(result)
            if outcome in ("full", "empty"):
                break
            if outcome == "moved":
                moved += 1
        return moved
