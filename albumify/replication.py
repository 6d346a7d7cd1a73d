"""An enqueue that a replica has, before the member is told "queued" (issue 18, item 3).

Redis replicates asynchronously: a primary that dies a moment after RQ's enqueue may take the
job with it, and the replica that Sentinel promotes never had it. So with
`Limits.queue_replicas` > 0 the bot confirms each enqueue with `WAIT`:

- `WAIT n timeout` waits until n replicas have the *calling connection's* last write. RQ's
  enqueue ran on whatever pooled connection its pipeline took, so the bot writes once more
  (`keys.QUEUE_ACK`) and WAITs on that connection, in one pipeline (not a transaction: WAIT
  inside MULTI does not wait). Replication is one ordered stream, so a replica that has this
  later write has the job. The same pipeline first checks that the job is there: after a
  fail-over in between, a new primary that never got it must not confirm it.
- Not confirmed in time (no replica, a lagging one, a fail-over mid-enqueue): the job is
  taken back from the queue (`WITHDRAW_LUA`, atomic against a worker's dequeue) and
  `EnqueueNotAcknowledged` is raised; the bot then tells the member to try again and gives
  the quota slot back (the cancelled marker also stops a copy that surfaces on a promoted
  replica). If a worker already took the job, it is being made: that counts as queued.

Why WAIT and not `min-replicas-to-write 1` on the server: that setting only refuses writes
while no replica is *connected* (lag below `min-replicas-max-lag` seconds); a write it accepts
can still be lost in the next second, and it would refuse every other write too (quotas,
votes). WAIT confirms this job, and only the enqueue waits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from redis import Redis
from rq.job import Job

from albumify import keys

ACK_TTL_MS = 60_000

# KEYS: the RQ queue list, the job's hash; ARGV: job id
WITHDRAW_LUA = """
if redis.call('LREM', KEYS[1], 0, ARGV[1]) > 0 then
  redis.call('DEL', KEYS[2])
  return 1
end
if redis.call('EXISTS', KEYS[2]) == 1 then return 2 end
return 0
"""
WITHDRAWN, TAKEN, MISSING = 1, 2, 0


class EnqueueNotAcknowledged(RuntimeError):
    """No replica confirmed the job in time, and it was taken back (or is gone)."""


@dataclass(frozen=True)
class Confirmation:
    present: bool
    """The job's hash was on the primary that answered."""
    replicas: int
    """Replicas that confirmed (WAIT's answer)."""


def confirm(connection: Redis, job_id: str, replicas: int, timeout_s: float) -> Confirmation:
    """Wait (at most `timeout_s`) until `replicas` replicas have the job `job_id`."""
    pipe = connection.pipeline(transaction=False)
    pipe.exists(Job.key_for(job_id))
    pipe.set(keys.QUEUE_ACK, job_id, px=ACK_TTL_MS)
    pipe.execute_command("WAIT", replicas, max(1, int(timeout_s * 1000)))
    present, _, acknowledged = pipe.execute()
    return Confirmation(bool(present), int(acknowledged))


def withdraw(connection: Redis, queue_key: str, job_id: str) -> int:
    """Take an unconfirmed job back: WITHDRAWN, TAKEN (a worker has it) or MISSING."""
    script = connection.register_script(WITHDRAW_LUA)
    return int(script(keys=[queue_key, Job.key_for(job_id)], args=[job_id]))


def ensure_replicated(
    connection: Redis,
    queue_key: str,
    job_id: str,
    replicas: int,
    timeout_s: float,
    *,
    leave_line: Callable[[str], bool] | None = None,
) -> None:
    """Return once `replicas` replicas have the job (or a worker took it); else take it
    back and raise EnqueueNotAcknowledged. Synchronous: the bot calls it in a thread.

    `leave_line` takes the job out of the line in front of RQ's list (`albumify.fairqueue`:
    a new cover waits there for its guild's turn), True when it was waiting there."""
    if replicas <= 0:
        return
    confirmation = confirm(connection, job_id, replicas, timeout_s)
    if confirmation.present and confirmation.replicas >= replicas:
        return
    if leave_line is not None and leave_line(job_id):
        connection.delete(Job.key_for(job_id))
        outcome = WITHDRAWN
    else:  # in RQ's list (fed already, or an edit at the front), or a worker has it
        outcome = withdraw(connection, queue_key, job_id)
    if outcome == TAKEN:
        return  # a worker dequeued it on the primary that holds it: it is being made
    raise EnqueueNotAcknowledged(
        f"job {job_id}: {confirmation.replicas} of {replicas} replicas confirmed it in "
        f"{timeout_s:g}s (job {'present' if confirmation.present else 'missing'}); "
        f"{'withdrawn' if outcome == WITHDRAWN else 'not on the primary'}"
    )
