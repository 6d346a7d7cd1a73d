"""Content safety (worker/safety.py): the verdict, the refusal, the age-restricted skip, the
threshold setting and the bot's reading of a channel's `nsfw` flag. The detector's scores are
stubbed here; tests/test_nudity.py runs the real model."""

from __future__ import annotations

import os
import subprocess
import sys
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from albumify.errors import ConfigError, MissingAsset
from albumify.schema import CoverJob, PhotoRef
from albumify.settings import Limits, Settings
from bot.cover.channels import age_restricted
from models.nudity import LABELS
from worker import safety
from worker.safety import EXPOSED, REFUSAL, ExplicitPhoto, judge, screen


class StubDetector:
    """Scores every photo the same; counts its calls."""

    name = "stub"

    def __init__(self, **scores: float) -> None:
        self.values = {label: 0.0 for label in LABELS} | scores
        self.calls = 0

    def scores(self, rgb: np.ndarray) -> dict[str, float]:
        self.calls += 1
        return dict(self.values)


class RQJob:
    def __init__(self, meta: dict[str, Any]) -> None:
        self.meta = meta
        self.saved = 0
        self.result_ttl = 3600

    def save_meta(self) -> None:
        self.saved += 1


def job(**fields: Any) -> CoverJob:
    return CoverJob(
        "job-1", "1", 10, 20, 30, 30, PhotoRef("me.png", url="http://x/me.png"), **fields
    )


PHOTO = np.zeros((8, 8, 3), np.uint8)


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch):
    def install(**scores: float) -> StubDetector:
        detector = StubDetector(**scores)
        monkeypatch.setitem(safety._detector, "model", detector)
        return detector

    return install


def test_only_exposed_classes_count() -> None:
    harmless = {label: 0.99 for label in LABELS if label not in EXPOSED}
    assert not judge(harmless, 0.5).explicit  # faces, covered parts, a bare chest or belly
    for label in EXPOSED:
        verdict = judge({**harmless, label: 0.8}, 0.5)
        assert verdict.explicit and verdict.label == label and verdict.score == pytest.approx(0.8)
    assert judge({"BUTTOCKS_EXPOSED": 0.5}, 0.5).explicit  # reaching the threshold is enough
    assert not judge({"BUTTOCKS_EXPOSED": 0.49}, 0.5).explicit


def test_an_explicit_photo_is_refused_kindly_and_its_hash_leaves_the_job(stub) -> None:
    detector = stub(FEMALE_BREAST_EXPOSED=0.93)
    rq_job = RQJob({"stage": "downloading", "photo_hash": "ab" * 32})
    with pytest.raises(ExplicitPhoto) as refused:
        screen(PHOTO, job(), 0.5, rq_job)
    assert str(refused.value) == REFUSAL
    assert "age-restricted" in REFUSAL and "Nothing of the photo was kept" in REFUSAL
    assert "photo_hash" not in rq_job.meta and rq_job.saved == 1
    assert rq_job.result_ttl == 0  # RQ deletes the finished job
    assert detector.calls == 1


def test_a_photo_below_the_threshold_goes_on(stub) -> None:
    stub(FEMALE_BREAST_EXPOSED=0.3, FACE_FEMALE=0.9)
    rq_job = RQJob({"photo_hash": "cd" * 32})
    verdict = screen(PHOTO, job(), 0.5, rq_job)
    assert verdict is not None and not verdict.explicit
    assert rq_job.meta["photo_hash"] == "cd" * 32  # kept: a cover will be made of it
    assert rq_job.result_ttl == 3600
    with pytest.raises(ExplicitPhoto):  # an operator's stricter threshold refuses it
        screen(PHOTO, job(), 0.25)


def test_age_restricted_channels_skip_the_check(stub) -> None:
    detector = stub(MALE_GENITALIA_EXPOSED=0.99)
    assert screen(PHOTO, job(channel_nsfw=True), 0.5) is None
    assert detector.calls == 0
    with pytest.raises(ExplicitPhoto):
        screen(PHOTO, job(), 0.5)


def test_jobs_without_the_flag_are_checked() -> None:
    """An older bot's payload has no `channel_nsfw`: not age-restricted, so checked."""
    payload = job().to_dict()
    del payload["channel_nsfw"]
    assert CoverJob.from_dict(payload).channel_nsfw is False
    assert CoverJob.from_dict(job(channel_nsfw=True).to_dict()).channel_nsfw is True


def test_the_threshold_has_a_default_and_may_be_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALBUMIFY_NSFW_THRESHOLD", raising=False)
    assert Limits.from_env().nsfw_threshold == 0.5
    monkeypatch.setenv("ALBUMIFY_NSFW_THRESHOLD", "0.35")
    assert Settings.from_env().limits.nsfw_threshold == 0.35


@pytest.mark.parametrize("raw", ["0", "1", "1.5", "-0.2", "off", "nan"])
def test_a_threshold_outside_0_to_1_is_a_clear_config_error(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    monkeypatch.setenv("ALBUMIFY_NSFW_THRESHOLD", raw)
    with pytest.raises(ConfigError, match="ALBUMIFY_NSFW_THRESHOLD"):
        Limits.from_env()


def test_the_worker_refuses_to_start_with_a_bad_threshold() -> None:
    env = dict(os.environ, ALBUMIFY_NSFW_THRESHOLD="2", REDIS_URL="redis://127.0.0.1:1/0")
    done = subprocess.run(
        [sys.executable, "-m", "albumify", "worker", "--burst"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "ALBUMIFY_NSFW_THRESHOLD must be a number between 0 and 1" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_bot_reads_the_channels_age_restriction() -> None:
    def channel(nsfw: bool) -> SimpleNamespace:
        return SimpleNamespace(is_nsfw=lambda: nsfw)

    class Thread:  # discord.py's Thread.is_nsfw: its parent's flag
        def __init__(self, parent: Any) -> None:
            self.parent = parent

        def is_nsfw(self) -> bool:
            return self.parent is not None and self.parent.is_nsfw()

    assert age_restricted(channel(True)) and not age_restricted(channel(False))
    assert age_restricted(Thread(channel(True))) and not age_restricted(Thread(None))
    assert not age_restricted(None)  # unknown: checked
    assert not age_restricted(SimpleNamespace(id=1))  # a partial channel: checked


def test_a_missing_detector_is_an_error_never_a_skipped_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def missing() -> None:
        raise MissingAsset("the NudeNet model file is not installed")

    monkeypatch.setitem(safety._detector, "model", None)
    monkeypatch.setattr("models.nudity.model_file", missing)
    with pytest.raises(MissingAsset):  # the job refuses ("isn't set up"); nothing is made
        screen(PHOTO, job(), 0.5)
    assert screen(PHOTO, job(channel_nsfw=True), 0.5) is None  # skipped there anyway
