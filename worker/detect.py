"""The detect job behind "Use another face": number the faces of a result's kept photo.

`show_faces(payload)` is what the bot enqueues (`albumify.faces.FACES_JOB_FUNCTION`) when the
requester presses "Use another face". It runs the worker's own face stage on the kept photo
(`Pipeline.faces`: most prominent first, the order a cover job counts `CoverJob.face` in),
draws the numbered preview (`imaging.preview`) and edits the member's ephemeral response with
it and a select of "Face 1"…"Face N". The bot shows what this posts; it detects nothing.

It is short and best effort: no quota, no retries. Whatever happens the member reads a
plain answer (photo gone, only one face, something went wrong) in that same response.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from redis import Redis
from rq import get_current_job

from albumify import keys
from albumify.connections import worker_state_redis
from albumify.errors import AlbumifyError
from albumify.faces import MAX_FACES, PREVIEW_FILENAME, FacesJob, face_select_row
from albumify.logs import add_secret, job_context
from albumify.settings import Settings
from imaging.photo import decode_photo, encode_cover
from imaging.preview import numbered_faces
from worker.attempt import bot_api, stored_token
from worker.discord_api import DiscordAPI, DiscordAPIError, DiscordUnavailable, UploadFile
from worker.job import current_pipeline, current_settings
from worker.message import NO_MENTIONS, notice_payload

log = logging.getLogger(__name__)

PREVIEW_BYTES = 1024 * 1024
"""The preview is a 640 px JPEG (~60 KB); this cap only guards a pathological photo."""
FAILED = "⚠️ Something went wrong finding the faces in this photo. Please try again."


@dataclass(frozen=True)
class Answer:
    """What the member's ephemeral response becomes."""

    status: str
    """`preview` (faces numbered), `gone` (kept photo expired), `few` (fewer than two faces)."""
    payload: dict[str, Any]
    files: tuple[UploadFile, ...] = ()
    faces: int = 0


def show_faces(payload: dict[str, Any]) -> dict[str, Any]:
    """RQ entry point (JSON in, JSON out)."""
    job = FacesJob.from_dict(payload)
    settings = current_settings()
    add_secret(settings.discord_token)
    rq_job = get_current_job()
    redis = worker_state_redis(settings, rq_job.connection if rq_job is not None else None)
    with job_context(job.job_id, job.guild_id):
        return FacesTask(job, settings, redis).run()


class FacesTask:
    def __init__(
        self,
        job: FacesJob,
        settings: Settings,
        redis: Redis,
        *,
        api: DiscordAPI | None = None,
        pipeline: Any = None,
    ) -> None:
        self.job = job
        self.settings = settings
        self.redis = redis
        self.api = api or bot_api(settings)
        self.pipeline = pipeline

    def run(self) -> dict[str, Any]:
        token = stored_token(self.redis, self.job.job_id)
        if not token:  # the interaction is dead: nobody to show the faces to
            log.info("faces job %s: no live interaction token; nothing shown", self.job.job_id)
            return {"status": "unanswerable"}
        try:
            answer = self.answer()
        except Exception:
            log.exception("faces job %s failed", self.job.job_id)
            self._edit(token, Answer("failed", notice_payload(FAILED)))
            raise
        self._edit(token, answer)
        return {"status": answer.status, "faces": answer.faces}

    def answer(self) -> Answer:
        """The preview and its select, or the plain reason there is none."""
        job, limits = self.job, self.settings.limits
        data = self.redis.get(keys.photo(job.photo_hash))
        if data is None:
            hours = max(1, limits.photo_ttl_s // 3600)
            text = (
                f"⚠️ I only keep photos for {hours} h, and this one is gone. "
                "Post it again to make a new cover."
            )
            return Answer("gone", notice_payload(text))
        try:
            photo = decode_photo(data, max_pixels=limits.max_pixels)
        except AlbumifyError as err:
            return Answer("gone", notice_payload(f"⚠️ {err}"))
        pipeline = self.pipeline or current_pipeline(self.settings)
        faces = pipeline.faces(photo.array())
        if len(faces) < 2:
            found = "only one face" if faces else "no face"
            text = f"I can find {found} in this photo, so there is no other face to use."
            return Answer("few", notice_payload(text), faces=len(faces))
        shown = faces[:MAX_FACES]
        current = job.current_face if 1 <= job.current_face <= len(shown) else 0
        preview = numbered_faces(photo.image, [face.box for face in shown], current=current)
        filename = ("SPOILER_" if job.spoiler else "") + PREVIEW_FILENAME
        text = f"I found {len(faces)} faces. Which one should the cover be built on? " + (
            f"(Face {current}, in green, is on it now.)" if current else ""
        )
        if len(faces) > MAX_FACES:
            text += f" I numbered the {MAX_FACES} most prominent."
        payload = {
            "content": text.strip(),
            "embeds": [],
            "components": [face_select_row(job.result_id, len(shown), current)],
            "attachments": [{"id": 0, "filename": filename}],
            "allowed_mentions": NO_MENTIONS,
        }
        data = encode_cover(preview, "jpeg", max_bytes=PREVIEW_BYTES)
        files = (UploadFile(filename, data, "image/jpeg"),)
        return Answer("preview", payload, files, faces=len(faces))

    def _edit(self, token: str, answer: Answer) -> None:
        try:
            self.api.edit_original(self.job.application_id, token, answer.payload, answer.files)
        except (DiscordAPIError, DiscordUnavailable) as err:  # TokenExpired included
            log.warning("faces job %s: could not show the answer: %s", self.job.job_id, err)
