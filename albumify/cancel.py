"""Cancel vs. finish: one atomic claim per job decides which of the two happened.

A member's Cancel (the bot) claims CANCELLED; the worker claims FINISHING right before it posts
the cover. Both go through `CLAIM_LUA` on `keys.job_outcome(job_id)`: the first claim sets the
key, every later one reads the winner. So a cancel that races the finished cover leaves exactly
one outcome: either the cover is posted (and the late Cancel is told it is done) or nothing is.
The claim doubles as the cancel flag the worker reads at each stage boundary, and a retry of
the same job re-claims its own FINISHING and goes on.
"""

from __future__ import annotations

from typing import Any

from albumify import keys
from albumify.schema import CoverJob, request_identity

CANCELLED, FINISHING = "cancelled", "finishing"
OUTCOME_TTL_S = 24 * 3600
"""Longer than any job lives (its timeout, its retries, a token's 15 minutes)."""

CANCELLED_TEXT = "🚫 Cancelled."
"""What the progress message says once a job was cancelled (bot and worker write the same)."""

# KEYS: the job's outcome; ARGV: the outcome claimed, its TTL (s). Returns the winner.
CLAIM_LUA = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', tonumber(ARGV[2])) then return ARGV[1] end
return redis.call('GET', KEYS[1])
"""


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def claim(redis: Any, job_id: str, outcome: str) -> str:
    """Claim `outcome` for the job (a synchronous client: the worker). Returns the winner:
    `outcome` itself when this claim (or an earlier one of the same kind) won."""
    winner = redis.eval(CLAIM_LUA, 1, keys.job_outcome(job_id), outcome, OUTCOME_TTL_S)
    return _text(winner) or outcome


async def claim_async(redis: Any, job_id: str, outcome: str) -> str:
    """`claim` with an asyncio client (the bot)."""
    winner = await redis.eval(CLAIM_LUA, 1, keys.job_outcome(job_id), outcome, OUTCOME_TTL_S)
    return _text(winner) or outcome


def outcome_of(redis: Any, job_id: str) -> str | None:
    """The claimed outcome so far (synchronous client), None while nobody claimed."""
    return _text(redis.get(keys.job_outcome(job_id)))


def request_dedup_key(job: CoverJob) -> str | None:
    """The bot's dedup key of the request that queued `job` (`Intake.dedup_key`), rebuilt
    from the job: a cancelled request must not make the next identical one a duplicate."""
    if job.rerolled_from or not job.job_id.startswith("albumify-cover-"):
        return None
    photo = job.photo
    if photo.attachment_id is not None:
        source = f"attachment:{photo.attachment_id}"
    elif photo.url:
        source = "url:" + photo.url.split("?", 1)[0]
    else:
        return None
    identity = request_identity(source, job)
    return keys.dedup_request(job.guild_id, job.requester_id, identity)
