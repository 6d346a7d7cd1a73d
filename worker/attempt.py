"""What every attempt of a worker job starts from: its job, settings, state Redis, RQ job,
clock, Discord client and interaction token (`worker.job.CoverTask`, `worker.edit.EditTask`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from redis import Redis
from rq.job import Job

from albumify import keys
from albumify.settings import Settings
from worker.discord_api import DiscordAPI, shared_budget


class QueuedJob(Protocol):
    @property
    def job_id(self) -> str: ...

    @property
    def via_interaction(self) -> bool: ...


JobT = TypeVar("JobT", bound=QueuedJob)


def bot_api(settings: Settings) -> DiscordAPI:
    """The bot's REST client, sharing this process's invalid-request budget (Discord bans an
    IP that sends too many 401/403/429s, whichever job sent them)."""
    budget = shared_budget(settings.limits.discord_invalid_budget)
    return DiscordAPI(settings.api_base, settings.discord_token, budget=budget)


def stored_token(redis: Redis, job_id: str) -> str | None:
    """The interaction token the bot kept for `job_id` (None: none, or it expired)."""
    raw = redis.get(keys.token(job_id))
    if raw is None:
        return None
    return raw.decode() if isinstance(raw, bytes) else str(raw)


class JobAttempt(Generic[JobT]):
    """One attempt of one job: RQ may run a job up to three times."""

    def __init__(
        self,
        job: JobT,
        settings: Settings,
        redis: Redis,
        rq_job: Job | None,
        *,
        api: DiscordAPI | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.job = job
        self.settings = settings
        self.redis = redis
        self.rq_job = rq_job
        self.clock = clock
        self.api = api or bot_api(settings)
        self.token = stored_token(redis, job.job_id) if job.via_interaction else None
        self._prepare()

    def _prepare(self) -> None:
        """What a kind of job sets up once its attempt has its clients (nothing by default)."""

    def _last_attempt(self) -> bool:
        """No retry follows this attempt: the member must be told of a failure now."""
        return self.rq_job is None or not self.rq_job.retries_left
