"""Hold a test worker at named points until the test lets it go (orderings without sleeps).

Installed by `tests.support.worker_main` when `ALBUMIFY_TEST_HOLDS=1`. A test arms a point
for one job (`test:hold:<point>:<job id>`) or for every job (`test:hold:<point>`); a worker
that reaches an armed point sets `test:held:<point>:<job id>` and waits until the test deletes
the hold key (at most `PATIENCE_S`). Points:

- `stage`: right after the job's first progress update (its message shows the Cancel
  button), before the next stage boundary;
- `claim`: just before the worker claims the job's outcome to post the cover;
- `claimed`: just after it claimed it, before it posts.

Production code has no such hooks.
"""

from __future__ import annotations

import time
from typing import Any

HOLD_KEY = "test:hold:{point}"
JOB_HOLD_KEY = "test:hold:{point}:{job_id}"
HELD_KEY = "test:held:{point}:{job_id}"
PATIENCE_S = 120.0


def hold(redis: Any, point: str, job_id: str) -> None:
    armed = [HOLD_KEY.format(point=point), JOB_HOLD_KEY.format(point=point, job_id=job_id)]
    if not redis.exists(*armed):
        return
    redis.set(HELD_KEY.format(point=point, job_id=job_id), "1", ex=600)
    deadline = time.monotonic() + PATIENCE_S
    while redis.exists(*armed) and time.monotonic() < deadline:
        time.sleep(0.02)


def install() -> None:
    from worker.cancel import CancelWatch
    from worker.job import CoverTask

    progress = CoverTask.progress
    claim_finish = CancelWatch.claim_finish

    def held_progress(self: CoverTask, stage: str) -> None:
        progress(self, stage)
        if not getattr(self, "_test_held", False):
            self._test_held = True  # type: ignore[attr-defined]
            hold(self.redis, "stage", self.job.job_id)

    def held_claim(self: CancelWatch) -> None:
        hold(self.redis, "claim", self.job_id)
        claim_finish(self)
        hold(self.redis, "claimed", self.job_id)

    CoverTask.progress = held_progress  # type: ignore[method-assign]
    CancelWatch.claim_finish = held_claim  # type: ignore[method-assign]
