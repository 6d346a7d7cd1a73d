"""Cover jobs as the bot enqueues them, and worker settings, for worker tests that run a job
directly."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from albumify import keys
from albumify.edits import EditJob
from albumify.schema import CoverJob, PhotoRef
from albumify.settings import Limits, Settings

if TYPE_CHECKING:
    from redis import Redis

    from worker.job import CoverTask

TOKEN = "interaction-token-secret"
"""The interaction token the bot stored for a job (`keys.token`)."""


def worker_settings(api_base: str, redis_url: str, **limits) -> Settings:
    """A worker's settings against a loopback Discord at `api_base` that also serves the
    photos (its host is the only CDN host allowed), with `limits` changed."""
    return Settings(
        discord_token="bot-token",
        redis_url=redis_url,
        api_base=api_base,
        cdn_hosts=("127.0.0.1",),
        cdn_hosts_explicit=True,
        limits=Limits(**limits),
    )


def cover_job(url: str | None, **overrides) -> CoverJob:
    """An interaction job (guild 10, channel 20, member 30 albumifying their own photo)."""
    values = dict(
        job_id="albumify-cover-111",
        result_id="r111",
        guild_id=10,
        channel_id=20,
        requester_id=30,
        photo_author_id=30,
        photo=PhotoRef(filename="me.png", url=url, attachment_id=5, content_type="image/png"),
        application_id=99,
        token_expires_at=time.time() + 900,
        response_message_id=555,
        requested_at=time.time(),
    )
    values.update(overrides)
    return CoverJob(**values)


def edit_job(**overrides) -> EditJob:
    """An Edit of cover r1 (message 40) by member 30, through interaction 99's token."""
    values = dict(
        job_id="albumify-edit-1",
        result_id="r1",
        guild_id=10,
        channel_id=20,
        requester_id=30,
        message_id=40,
        photo_author_id=30,
        application_id=99,
        token_expires_at=None,
    )
    values.update(overrides)
    return EditJob(**values)


def cover_task(
    job: CoverJob,
    settings: Settings,
    redis: Redis,
    *,
    token: str | None = TOKEN,
    sleep: Callable[[float], None] = lambda _s: None,
) -> CoverTask:
    """The worker's attempt at `job`, with the bot's stored token (None: none) and Discord's
    rate-limit waits handed to `sleep` instead of slept."""
    from worker.discord_api import DiscordAPI
    from worker.job import CoverTask

    if token:
        redis.set(keys.token(job.job_id), token, ex=900)
    api = DiscordAPI(settings.api_base, settings.discord_token, sleep=sleep)
    return CoverTask(job, settings, redis, None, api=api)
