"""`/albumify-forget`: a member's data leaves Albumify, in every guild they were in.

What a member is in: the results they asked for and the results others made of their photo
(`keys.member_covers`, `keys.member_photo_covers`), their votes, the photos kept for
re-rolls, the RQ jobs of their requests and of requests of their photo (`keys.member_jobs`:
queued ones are cancelled, finished and failed ones lose their hash, which holds titles and
CDN URLs), and their request window and dedup keys. A result still posted keeps only the
ids its Delete button needs (`albumify.lua.KEPT_AFTER_FORGET`), so the member can still take
it down.

The member's guilds are walked one at a time (`forget_in_guild`), and in a guild each result
is forgotten by one script (`albumify.lua`, in the guild's hash slot: Redis Cluster keeps a
guild on one node) that takes it off the member's lists; the guild leaves the member's list
(`keys.USER_GUILDS`, the record of progress) only once everything in it is done. So an
interrupted forget resumes where it stopped (the next `/albumify-forget` finds the guilds
and results still listed), and a forget run twice finds nothing the second time. A job
already being made cannot be stopped from here: a marker (`keys.forgotten`, a few
minutes) makes its worker drop the cover instead of keeping it (`forgotten_since`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from rq import Queue
from rq.exceptions import DeserializationError
from rq.job import Job, JobStatus

from albumify import keys, lua, plans
from albumify.fairqueue import FairQueue
from albumify.results import as_str
from albumify.settings import Limits

FAILED_JOB_TTL_S = 24 * 3600
"""How long RQ keeps a failed job (the bot enqueues with this `failure_ttl`): its hash holds
the request, so a member's job ids are indexed (`keys.member_jobs`) a little longer."""
JOB_INDEX_TTL_S = FAILED_JOB_TTL_S + 3600
NOT_STARTED = frozenset(
    {JobStatus.CREATED, JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED}
)


def marker_ttl_s(limits: Limits) -> int:
    """Long enough for a job that had started to finish every attempt (RQ retries twice,
    waiting up to 30 s; an abandoned one is retried after its timeout and grace)."""
    attempt = limits.job_timeout_s + limits.abandoned_grace_s + limits.maintenance_interval_s
    return 3 * attempt + 60


@dataclass(frozen=True)
class CancelledRequest:
    """A queued request that forget cancelled: where to tell its requester."""

    guild_id: int
    channel_id: int
    application_id: int | None = None
    token: str | None = field(default=None, repr=False)
    reply_to_message_id: int | None = None


@dataclass
class Forgotten:
    """What one forget did (summed over the guilds it walked)."""

    guilds: int = 0
    covers: int = 0
    """Results the member asked for, or made of their photo, taken off the boards."""
    kept: int = 0
    """Of those, still posted: kept as ids only, so they can be deleted."""
    votes: int = 0
    photos: int = 0
    jobs: int = 0
    """Job hashes removed (queued ones cancelled among them)."""
    running: int = 0
    """Jobs being made right now: their worker drops the cover."""
    cancelled: list[CancelledRequest] = field(default_factory=list)

    def add(self, other: Forgotten) -> None:
        for name in ("guilds", "covers", "kept", "votes", "photos", "jobs", "running"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.cancelled.extend(other.cancelled)


@dataclass
class _Jobs:
    result_ids: set[str] = field(default_factory=set)
    photo_hashes: set[str] = field(default_factory=set)
    removed: list[str] = field(default_factory=list)
    running: int = 0
    cancelled: list[dict[str, Any]] = field(default_factory=list)


class Forgetter:
    """Forgets members. `redis` is a `redis.asyncio` client; `queue` the (sync) RQ queue."""

    def __init__(
        self,
        redis: Any,
        queue: Queue,
        limits: Limits,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.queue = queue
        self.fair = FairQueue(queue, limits)
        self.marker_ttl_s = marker_ttl_s(limits)
        self.clock = clock
        self._forget_result = redis.register_script(lua.FORGET_RESULT)
        self._unvote = redis.register_script(lua.UNVOTE)

    async def guilds_of(self, user_id: int) -> list[int]:
        return sorted(int(as_str(g)) for g in await self.redis.smembers(keys.user_guilds(user_id)))

    async def forget(self, user_id: int, guild_id: int | None = None) -> Forgotten:
        """Every guild the member is in, or only `guild_id` (a moderator's forget)."""
        total = Forgotten()
        guilds = [guild_id] if guild_id is not None else await self.guilds_of(user_id)
        for guild in guilds:
            total.add(await self.forget_in_guild(user_id, guild))
        return total

    async def forget_in_guild(self, user_id: int, guild_id: int) -> Forgotten:
        now = self.clock()
        # First: a job that is being made (or starts now) drops its cover from here on.
        await self.redis.set(keys.forgotten(guild_id, user_id), f"{now:.3f}", ex=self.marker_ttl_s)
        job_ids = sorted(
            as_str(j) for j in await self.redis.smembers(keys.member_jobs(guild_id, user_id))
        )
        tokens = dict(zip(job_ids, await self._tokens(job_ids), strict=True))
        jobs = await asyncio.to_thread(self._remove_jobs, job_ids)
        # Their request window and dedup keys (ids, minutes): gone too, as the answer says.
        pattern = keys.member_dedup_keys(guild_id, user_id)
        dedup = [key async for key in self.redis.scan_iter(match=pattern, count=1000)]
        await self.redis.delete(
            keys.member_quota(guild_id, user_id), *dedup, *_job_keys(guild_id, jobs.removed)
        )
        kept, removed, photos = await self._forget_results(guild_id, user_id, jobs.result_ids)
        votes = await self._take_back_votes(guild_id, user_id, now)
        deleted = 0
        for photo in sorted(jobs.photo_hashes | photos):  # kept photos span guilds: one by one
            deleted += int(await self.redis.delete(keys.photo(photo)))
        await self.redis.delete(
            keys.member_covers(guild_id, user_id),
            keys.member_photo_covers(guild_id, user_id),
            keys.member_votes(guild_id, user_id),
            keys.member_jobs(guild_id, user_id),
        )
        await self.redis.srem(keys.user_guilds(user_id), str(guild_id))  # this guild is done
        cancelled = [
            CancelledRequest(
                guild_id=guild_id,
                channel_id=int(payload["channel_id"]),
                application_id=payload.get("application_id"),
                token=tokens.get(payload["job_id"]),
                reply_to_message_id=payload.get("reply_to_message_id"),
            )
            for payload in jobs.cancelled
        ]
        return Forgotten(
            guilds=1,
            covers=int(kept) + int(removed),
            kept=int(kept),
            votes=votes,
            photos=deleted,
            jobs=len(jobs.removed),
            running=jobs.running,
            cancelled=cancelled,
        )

    async def _forget_results(
        self, guild_id: int, user_id: int, from_jobs: set[str]
    ) -> tuple[int, int, set[str]]:
        """Every result the member asked for or that was made of their photo (and those their
        jobs made), one script each. Returns (kept, removed, their kept photos' hashes)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.smembers(keys.member_covers(guild_id, user_id))
        pipe.smembers(keys.member_photo_covers(guild_id, user_id))
        covers, photo_covers = await pipe.execute()
        result_ids = {as_str(r) for r in (*covers, *photo_covers)} | from_jobs
        kept = removed = 0
        photos: set[str] = set()
        for rid in sorted(result_ids):
            what, *found = await plans.run_async(
                self.redis, self._forget_result, guild_id, rid, [rid], with_voters=True
            )
            kept += as_str(what) == "kept"
            removed += as_str(what) == "removed"
            photos.update(as_str(photo) for photo in found)
        return kept, removed, photos

    async def _take_back_votes(self, guild_id: int, user_id: int, now: float) -> int:
        """The member's votes in the guild, one script per result voted for."""
        votes = 0
        for rid in sorted(await self.redis.smembers(keys.member_votes(guild_id, user_id))):
            rid = as_str(rid)
            votes += int(
                await plans.run_async(
                    self.redis,
                    self._unvote,
                    guild_id,
                    rid,
                    [rid, user_id, int(now)],
                    extra_keys=[keys.member_votes(guild_id, user_id)],
                )
            )
        return votes

    async def _tokens(self, job_ids: list[str]) -> list[str | None]:
        """One GET each (a job's token is not under its guild's tag: no multi-key MGET)."""
        if not job_ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.get(keys.token(job_id))
        return [as_str(value) if value else None for value in await pipe.execute()]

    def _remove_jobs(self, job_ids: list[str]) -> _Jobs:
        """Synchronous (RQ): cancel what has not started, remove every hash but a running
        job's, and collect the results and photos the jobs made."""
        found = _Jobs()
        connection, serializer = self.queue.connection, self.queue.serializer
        for job in Job.fetch_many(job_ids, connection=connection, serializer=serializer):
            if job is None:
                continue
            payload = job_payload(job) or {}
            found.result_ids.add(str(payload.get("result_id") or ""))
            photo = payload.get("photo") or {}
            found.photo_hashes.update(
                h for h in (photo.get("photo_hash"), job.meta.get("photo_hash")) if h
            )
            status = job.get_status(refresh=False)
            if status == JobStatus.STARTED:
                found.running += 1
                continue
            if status in NOT_STARTED and payload.get("job_id"):
                found.cancelled.append(payload)
            self.fair.remove(job.id)  # waiting for its guild's turn: its place goes too
            job.delete()
            found.removed.append(job.id)
        found.result_ids.discard("")
        return found


def job_payload(job: Job | None) -> dict[str, Any] | None:
    """A job's cover payload; None for what is not one (a pickle someone pushed, another
    schema): the worker refuses those when it dequeues them; here they are skipped."""
    try:
        payload = job.args[0] if job is not None and job.args else None
    except DeserializationError:
        return None
    return payload if isinstance(payload, dict) else None


def _job_keys(guild_id: int, job_ids: Iterable[str]) -> list[str]:
    """What Albumify keeps per job beside RQ's hash (ids only, and the token)."""
    return [
        key
        for job_id in job_ids
        for key in (
            keys.token(job_id),
            keys.job_started(job_id),
            keys.queue_edit(job_id),
            keys.job_result(guild_id, job_id),
            keys.admission_cancelled(guild_id, job_id),
            keys.job_outcome(job_id),
            keys.status_message(job_id),
        )
    ]


def forgotten_since(redis: Any, guild_id: int, members: Iterable[int], requested_at: float) -> bool:
    """Whether one of `members` asked to be forgotten in the guild after a job was requested
    (a synchronous client: the worker's)."""
    for member in set(members):
        value = redis.get(keys.forgotten(guild_id, member))
        if value is not None and float(as_str(value)) >= requested_at:
            return True
    return False
