"""Content safety: no cover of an explicit photo outside age-restricted channels.

Covers are posted in public channels and on the boards, and Discord allows explicit images
only in age-restricted channels. So every photo a job decodes — a re-roll's kept photo too —
is checked by NudeNet's detector (`models.nudity`) before any other stage runs. A photo whose
score for one of `EXPOSED` reaches `Limits.nsfw_threshold` is refused with `ExplicitPhoto`
(an `AlbumifyError`: the job tells the member and ends normally, no retry), unless the
request came from an age-restricted channel (`CoverJob.channel_nsfw`), where the check is
skipped. Nothing of a refused photo is kept: it is checked before the dedup pointer is set,
before the kept photo and the result record are written, and the RQ job (its payload names the
attachment) is deleted once it has answered. (A refused re-roll — its channel stopped being
age-restricted — leaves the earlier cover's kept photo to its own expiry: that cover was made
where it was allowed.)

There is no switch to turn the check off; operators may set the threshold only (0–1).
The detector is loaded once per worker process (`load_detector`, at start-up).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from albumify.errors import AlbumifyError
from albumify.schema import CoverJob
from models.nudity import NudityDetector

log = logging.getLogger(__name__)

EXPOSED: tuple[str, ...] = (
    "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "ANUS_EXPOSED",
    "BUTTOCKS_EXPOSED",
)
"""The classes that make a photo explicit. Not MALE_BREAST, BELLY, ARMPITS or FEET exposed
(a beach photo is fine), nor any *_COVERED class or the faces."""

REFUSAL = (
    "I can't make a cover from this photo here: it looks like it may show nudity, and "
    "covers of photos like that can only be made in age-restricted channels. "
    "Nothing of the photo was kept."
)
"""What the member reads (after the ⚠️): what happened and where it would work, no verdict
on them; the detector can be wrong, hence 'looks like it may'."""

_lock = threading.Lock()
_detector: dict[str, NudityDetector | None] = {"model": None}


class ExplicitPhoto(AlbumifyError):
    """The photo is refused in this channel (see the module docstring)."""


@dataclass(frozen=True)
class Verdict:
    explicit: bool
    label: str
    """The exposed class with the highest score."""
    score: float


def load_detector() -> NudityDetector:
    """The process's one detector, loaded (and warmed up) on first use."""
    with _lock:
        model = _detector["model"]
        if model is None:
            model = NudityDetector.load()
            model.warm_up()
            _detector["model"] = model
        return model


def judge(scores: dict[str, float], threshold: float) -> Verdict:
    """Whether `scores` (each class's best score) make the photo explicit at `threshold`."""
    label = max(EXPOSED, key=lambda name: scores.get(name, 0.0))
    score = float(scores.get(label, 0.0))
    return Verdict(score >= threshold, label, score)


def screen(rgb: np.ndarray, job: CoverJob, threshold: float, rq_job: Any = None) -> Verdict | None:
    """Check the decoded photo of `job`; raise `ExplicitPhoto` to refuse it.

    Returns None when skipped (an age-restricted channel), else the verdict it passed with.
    """
    if job.channel_nsfw:
        log.info("job %s: age-restricted channel; content check skipped", job.job_id)
        return None
    verdict = judge(load_detector().scores(rgb), threshold)
    if not verdict.explicit:
        return verdict
    log.info(
        "job %s: refused by the content check (%s %.2f ≥ %.2f); nothing kept",
        job.job_id,
        verdict.label,
        verdict.score,
        threshold,
    )
    if rq_job is not None:  # no trace on the job either: its hash, then the job itself
        if rq_job.meta.pop("photo_hash", None) is not None:
            rq_job.save_meta()
        rq_job.result_ttl = 0  # RQ deletes a finished job with no result TTL (its payload too)
    raise ExplicitPhoto(REFUSAL)
