"""Redis key names shared by the bot and the worker (everything lives under `albumify:`)."""

from __future__ import annotations

PREFIX = "albumify"


def token(job_id: str) -> str:
    """Interaction token for a job: a secret, so never in job args (RQ logs those)."""
    return f"{PREFIX}:token:{job_id}"


def photo(photo_hash: str) -> str:
    """Photo bytes kept for re-rolls (attachment URLs expire); short TTL."""
    return f"{PREFIX}:photo:{photo_hash}"


def result(result_id: str) -> str:
    """Hash describing a posted result: ids only, never CDN URLs."""
    return f"{PREFIX}:result:{result_id}"


def guild_settings(guild_id: int) -> str:
    return f"{PREFIX}:guild:{guild_id}:settings"


def member_quota(guild_id: int, member_id: int) -> str:
    return f"{PREFIX}:quota:member:{guild_id}:{member_id}"


def guild_quota(guild_id: int) -> str:
    return f"{PREFIX}:quota:guild:{guild_id}"


def dedup_attachment(guild_id: int, member_id: int, attachment_id: int) -> str:
    return f"{PREFIX}:dedup:{guild_id}:{member_id}:attachment:{attachment_id}"


def dedup_content(guild_id: int, member_id: int, photo_hash: str) -> str:
    return f"{PREFIX}:dedup:{guild_id}:{member_id}:sha256:{photo_hash}"


def job_result(job_id: str) -> str:
    """Which result a finished job produced (lets a duplicate request point at it)."""
    return f"{PREFIX}:job:{job_id}:result"


def job_started(job_id: str) -> str:
    """Set by the worker when it takes over the job's message (the bot stops editing it)."""
    return f"{PREFIX}:job:{job_id}:started"


def queue_edit(job_id: str) -> str:
    """Held by the bot while a 'queued' edit is in flight; the worker waits for it."""
    return f"{PREFIX}:job:{job_id}:queue-edit"
