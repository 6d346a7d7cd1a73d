"""Tiny RQ job functions for the fair queue's tests (a worker imports them by name)."""

from __future__ import annotations

from typing import Any

from rq import get_current_job

ATTEMPTS_KEY = "test:fair:attempts:{job_id}"
RAN_KEY = "test:fair:ran"


def record(payload: dict[str, Any]) -> str:
    """Note the job's id in the order jobs ran."""
    job = get_current_job()
    assert job is not None
    job.connection.rpush(RAN_KEY, job.id)
    return "ok"


def flaky(payload: dict[str, Any]) -> str:
    """Fails on its first attempt (a retry must run it again), then records it ran."""
    job = get_current_job()
    assert job is not None
    if job.connection.incr(ATTEMPTS_KEY.format(job_id=job.id)) == 1:
        raise RuntimeError("the first attempt fails on purpose")
    return record(payload)
