"""`python -m tests.support.worker_main [--burst] [--name N]`: `albumify worker` for tests.

Runs the real `worker.service.run` (RQ loop, heartbeat, reconnect loop, logging) with a test
pipeline preloaded, chosen by environment variables that only this launcher reads:

- `ALBUMIFY_TEST_PIPELINE=fake|real` (default fake: `tests.support.fake_pipeline`);
- `ALBUMIFY_TEST_STAGE_DELAY=SECONDS`: each cover sleeps this long before the pipeline runs,
  after setting `test:slow-started:<job id>` in Redis, so a test can kill or stop the worker
  mid-job deterministically;
- `ALBUMIFY_TEST_DONE_DELAY=SECONDS`: after a cover is posted and recorded (stage "done"),
  set `test:done:<job id>` and sleep, so a test can kill the worker after it answered but
  before RQ marks the job finished;
- `ALBUMIFY_TEST_POSTED_DELAY=SECONDS`: right after Discord answered a channel post with a
  file (the cover), set `test:posted:<job id>` and sleep: killed there, nothing of the answer
  is recorded yet;
- `ALBUMIFY_TEST_RECORDED_DELAY=SECONDS`: right after the posted cover's record is written
  (`result_posted`), set `test:recorded:<job id>` and sleep;
- `ALBUMIFY_TEST_HOLDS=1`: points where a test can hold a job until it lets it go
  (`tests.support.holds`);
- `ALBUMIFY_TEST_NSFW_SCORE=SCORE`: the content check's real detector runs, but reports
  SCORE for `FEMALE_BREAST_EXPOSED` on every photo (the refusal path without an explicit
  image).

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
POSTED_KEY = "test:posted:{job_id}"
RECORDED_KEY = "test:recorded:{job_id}"


def pause_here(key: str, delay: float) -> None:
    rq_job = get_current_job()
    if rq_job is not None:
        rq_job.connection.set(key.format(job_id=rq_job.id), str(os.getpid()), ex=600)
    time.sleep(delay)


def pause_after_channel_post(delay: float) -> None:
    from worker.discord_api import DiscordAPI

    create_message = DiscordAPI.create_message

    def posted(self: DiscordAPI, channel_id: int, payload: Any, files: Any = (), **kw: Any) -> Any:
        message = create_message(self, channel_id, payload, files, **kw)
        if files:
            pause_here(POSTED_KEY, delay)
        return message

    DiscordAPI.create_message = posted  # type: ignore[method-assign]


def pause_after_recording(delay: float) -> None:
    result_posted = job_module.result_posted

    def recorded(*args: Any, **kwargs: Any) -> Any:
        done = result_posted(*args, **kwargs)
        pause_here(RECORDED_KEY, delay)
        return done

    job_module.result_posted = recorded  # type: ignore[assignment]


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


def stub_nudity_score(score: float) -> None:
    from models.nudity import NudityDetector

    scores = NudityDetector.scores

    def stubbed(self: NudityDetector, rgb: Any) -> dict[str, float]:
        return {**scores(self, rgb), "FEMALE_BREAST_EXPOSED": score}

    NudityDetector.scores = stubbed  # type: ignore[method-assign]


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
    posted_delay = float(os.environ.get("ALBUMIFY_TEST_POSTED_DELAY", "0") or 0)
    if posted_delay > 0:
        pause_after_channel_post(posted_delay)
    recorded_delay = float(os.environ.get("ALBUMIFY_TEST_RECORDED_DELAY", "0") or 0)
    if recorded_delay > 0:
        pause_after_recording(recorded_delay)
    nsfw_score = os.environ.get("ALBUMIFY_TEST_NSFW_SCORE", "")
    if nsfw_score:
        stub_nudity_score(float(nsfw_score))
    if os.environ.get("ALBUMIFY_TEST_HOLDS"):
        from tests.support import holds

        holds.install()
    job_module.set_pipeline(pipeline, settings)
    return run(settings, burst=arguments.burst, name=arguments.name)


if __name__ == "__main__":
    raise SystemExit(main())
