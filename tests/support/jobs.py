"""Cover jobs as the bot enqueues them, for worker tests that run a job directly."""

from __future__ import annotations

import time

from albumify.schema import CoverJob, PhotoRef


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
