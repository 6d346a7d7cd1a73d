"""`python -m tests.support.worker_main [--burst] [--name N]`: `albumify worker` for tests.

Runs the real `worker.service.run` (RQ loop, heartbeat, reconnect loop, logging) with a test
pipeline preloaded, chosen by environment variables that only this launcher reads:

- `ALBUMIFY_TEST_PIPELINE=fake|real` (default fake: `tests.support.fake_pipeline`);
- `ALBUMIFY_TEST_STAGE_DELAY=SECONDS`: each cover sleeps this long before the pipeline runs,
  after setting `test:slow-started:<job id>` in Redis, so a test can kill or stop the worker
  mid-job deterministically;
- `ALBUMIFY_TEST_DONE_DELAY=SECONDS`: after a cover is posted and recorded (stage "done"),
  set `test:done:<job id>` and sleep, so a test can kill the worker after it answered but
  before RQ marks the job finished.

Production code has no such hooks.
"""

from __future__ import annotations

import argparse
import faulthandler
import os
import signal
import time
from typing import Any

from rq import get_current_job

from albumify.settings import Settings
from worker import job as job_module
from worker.service import run

STARTED_KEY = "test:slow-started:{job_id}"
DONE_KEY = "test:done:{job_id}"


def pause_when_done(delay: float) -> None:
    from worker.job import CoverTask

    set_stage = CoverTask._set_stage

    def _set_stage(self: CoverTask, stage: str) -> None:
        set_stage(self, stage)
        if stage == "done" and self.rq_job is not None:
            key = DONE_KEY.format(job_id=self.rq_job.id)
            self.rq_job.connection.set(key, str(os.getpid()), ex=600)
            time.sleep(delay)

    CoverTask._set_stage = _set_stage  # type: ignore[method-assign]


class SlowPipeline:
    def __init__(self, inner: Any, delay: float) -> None:
        self.inner = inner
        self.delay = delay

    def make_cover(self, photo: Any, options: Any, progress: Any = None) -> Any:
        rq_job = get_current_job()
        if rq_job is not None:
            key = STARTED_KEY.format(job_id=rq_job.id)
            rq_job.connection.set(key, str(os.getpid()), ex=600)
        time.sleep(self.delay)
        return self.inner.make_cover(photo, options, progress=progress)


def main() -> int:
    # A test that finds the worker stuck sends SIGUSR1: every thread's stack goes to stderr.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    parser = argparse.ArgumentParser()
    parser.add_argument("--burst", action="store_true")
    parser.add_argument("--name")
    arguments = parser.parse_args()
    settings = Settings.from_env()
    if os.environ.get("ALBUMIFY_TEST_PIPELINE", "fake") == "real":
        from worker.pipeline import Pipeline

        pipeline: Any = Pipeline.load(settings)
    else:
        from tests.support import fake_pipeline

        pipeline = fake_pipeline.FakePipeline()
    delay = float(os.environ.get("ALBUMIFY_TEST_STAGE_DELAY", "0") or 0)
    if delay > 0:
        pipeline = SlowPipeline(pipeline, delay)
    done_delay = float(os.environ.get("ALBUMIFY_TEST_DONE_DELAY", "0") or 0)
    if done_delay > 0:
        pause_when_done(done_delay)
    job_module.set_pipeline(pipeline, settings)
    return run(settings, burst=arguments.burst, name=arguments.name)


if __name__ == "__main__":
    raise SystemExit(main())
