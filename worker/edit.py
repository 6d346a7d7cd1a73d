"""Edit a posted cover's lettering from its kept layers, and keep those layers.

When the worker makes a cover it keeps the cover's layers (`imaging.layers`: art, styled
photo, matte, layout choice) under `keys.layers` for as long as the kept photo lives, beside
what the message showed (its text, embed, file name). An edit job (`albumify.edits.EditJob`)
decodes them, finishes the cover again with the new artist, title, Parental Advisory and
lettering (`imaging.layers.render`: no face detection, segmentation, matching or pSp), and
edits the same message: through the edit's interaction (its "deferred update" makes
`@original` the cover's message), or with the bot token once that token is dead. The cover's
re-roll fields then say what it shows. Layers gone (expired, forgotten) → the member is told
privately, with a Re-roll button while the photo is still kept.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from PIL import Image
from redis import Redis
from rq import get_current_job

from albumify import keys, lua
from albumify.buttons import REROLL_EMOJI, REROLL_ID, SECONDARY
from albumify.connections import worker_state_redis
from albumify.edits import EditJob, layers_gone_text
from albumify.logs import add_secret, job_context
from albumify.settings import Limits, Settings
from imaging.layers import CoverLayers, decode, encode, meta_json, render
from imaging.photo import encode_cover
from worker.attempt import JobAttempt
from worker.discord_api import (
    DiscordAPIError,
    DiscordUnavailable,
    TokenExpired,
    UploadFile,
)
from worker.message import NO_MENTIONS, private_payload
from worker.pipeline import CoverOptions, CoverResult, cover_lettering

log = logging.getLogger(__name__)

EDIT_FORMAT = "jpeg"
FAILED = "⚠️ Something went wrong editing your cover. Please try again later."
TOKEN_MARGIN_S = 30.0


_SETTINGS: list[Settings] = []


def _settings() -> Settings:
    """The worker's settings, read once (worker.job keeps its own; it imports this module)."""
    if not _SETTINGS:
        _SETTINGS.append(Settings.from_env())
    return _SETTINGS[0]


# -- keeping layers (the cover job) ------------------------------------------------------


def keep_layers(
    redis: Redis,
    result: CoverResult,
    result_id: str,
    ttl_s: int,
    message: dict[str, Any],
    filename: str,
    *,
    guild_id: int,
) -> int:
    """Keep what an edit of this cover needs, for `ttl_s` (the kept photo's time left):
    its layers and the embed its `message` shows the cover in. Best effort: a cover is
    never lost for its layers. Returns the bytes stored (0: none)."""
    layers = getattr(result, "layers", None)  # a stand-in pipeline may keep none
    if layers is None or ttl_s <= 0:
        return 0
    layers.meta = {
        "genre": result.record.genre,
        "library_id": result.record.library_id,
        "lettering": list(result.lettering) if result.lettering else None,
        "embeds": message.get("embeds", []),
        "filename": filename,
    }
    try:
        fields = encode(layers)
        key = keys.layers(guild_id, result_id)  # one key: one slot
        pipe = redis.pipeline(transaction=True)
        pipe.delete(key)
        pipe.hset(key, mapping=fields)
        pipe.expire(key, ttl_s)
        pipe.execute()
    except Exception as err:  # an edit will say the layers are gone; the cover still goes up
        log.warning("result %s: layers not kept: %r", result_id, err)
        return 0
    return sum(len(value) for value in fields.values())


def load_layers(redis: Redis, guild_id: int, result_id: str) -> CoverLayers | None:
    fields = redis.hgetall(keys.layers(guild_id, result_id))
    if not fields:
        return None
    try:
        return decode(fields)
    except ValueError as err:  # another release's layers, or half of them: as if gone
        log.warning("result %s: layers unreadable: %s", result_id, err)
        return None


# -- the edit ----------------------------------------------------------------------------


def reletter(
    layers: CoverLayers, job: EditJob, limits: Limits
) -> tuple[Image.Image, tuple[str, str] | None]:
    """The cover again, with the job's lettering: compositing and type only."""
    options = CoverOptions(
        title=job.title,
        artist=job.artist or job.display_name,
        advisory=job.advisory,
        lettering=job.lettering,
        seed=layers.seed,
        size=layers.art.shape[0],
    )
    meta = layers.meta
    lettering = cover_lettering(meta.get("genre"), meta.get("library_id", ""), options, limits)
    return render(layers, lettering, job.advisory), lettering


def edit_payload(layers: CoverLayers) -> dict[str, Any]:
    """The new file in place of the old one, and the embed that shows it (`attachment://`
    names the new file). Text and buttons are left out, so Discord keeps them as they are:
    the same buttons, the Vote count on them included."""
    meta = layers.meta
    filename = meta.get("filename") or "albumify.jpg"
    return {
        "embeds": meta.get("embeds", []),
        "attachments": [{"id": 0, "filename": filename}],
        "allowed_mentions": NO_MENTIONS,
    }


def edit_cover(payload: dict[str, Any]) -> dict[str, Any]:
    """RQ entry point (JSON in, JSON out): `albumify.edits.EDIT_FUNCTION`."""
    job = EditJob.from_dict(payload)
    rq_job = get_current_job()
    settings = _settings()
    add_secret(settings.discord_token)
    redis = worker_state_redis(settings, rq_job.connection if rq_job is not None else None)
    with job_context(job.job_id, job.guild_id):
        return EditTask(job, settings, redis, rq_job).run()


class EditTask(JobAttempt[EditJob]):
    """One attempt of one edit job."""

    def run(self) -> dict[str, Any]:
        try:
            return self._edit()
        except Exception:
            if self._last_attempt():
                self._tell(FAILED)
            raise

    def _edit(self) -> dict[str, Any]:
        job = self.job
        started = time.perf_counter()
        layers = load_layers(self.redis, job.guild_id, job.result_id)
        if layers is None:
            kept = self._photo_kept()
            self._tell(layers_gone_text(self.settings.limits, kept), reroll=kept)
            return {"status": "expired", "result_id": job.result_id}
        image, lettering = reletter(layers, job, self.settings.limits)
        data = encode_cover(image, EDIT_FORMAT, max_bytes=self.settings.limits.upload_limit_bytes)
        seconds = time.perf_counter() - started
        payload = edit_payload(layers)
        filename = payload["attachments"][0]["filename"]
        content_type = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
        try:
            self._post(payload, [UploadFile(filename, data, content_type)])
        except DiscordAPIError as err:  # a 4xx: the message is gone or closed to us
            log.warning("edit %s: Discord refused the edit: %s", job.job_id, err)
            self._tell("⚠️ I couldn't edit that cover: its message is gone or I can't reach it.")
            return {"status": "failed", "result_id": job.result_id, "error": str(err)}
        self._record(layers, lettering)
        log.info("edit %s: cover %s re-lettered in %.0f ms", job.job_id, job.result_id,
                 seconds * 1000)  # fmt: skip
        return {"status": "edited", "result_id": job.result_id, "seconds": round(seconds, 3)}

    def _photo_kept(self) -> bool:
        photo_hash = self.redis.hget(
            keys.reroll(self.job.guild_id, self.job.result_id), "photo_hash"
        )
        return bool(photo_hash) and bool(self.redis.exists(keys.photo(photo_hash.decode())))

    def _token_alive(self) -> bool:
        expires = self.job.token_expires_at
        return bool(self.token) and (expires is None or self.clock() < expires - TOKEN_MARGIN_S)

    def _post(self, payload: dict[str, Any], files: list[UploadFile]) -> None:
        """Through the edit's interaction while its token lives, else with the bot token.
        `DiscordUnavailable` (5xx, timeouts) raises: RQ retries the job."""
        job = self.job
        if self._token_alive():
            try:
                self.api.edit_original(job.application_id or 0, self.token or "", payload, files)
                return
            except TokenExpired:
                self.token = None
        self.api.edit_message(job.channel_id, job.message_id, payload, files)

    def _record(self, layers: CoverLayers, lettering: tuple[str, str] | None) -> None:
        """The re-roll fields and the layers now say what the cover shows (while they live)."""
        job = self.job
        layers.meta["lettering"] = list(lettering) if lettering else None
        meta = meta_json(layers)
        changed = {
            "title": job.title or "",
            "artist": job.artist or "",
            "advisory": "1" if job.advisory else "0",
            "lettering": "1" if job.lettering else "0",
        }
        pairs = [item for pair in changed.items() for item in pair]
        script = self.redis.register_script(lua.RESULT_EDITED)
        edited = [
            keys.reroll(job.guild_id, job.result_id),
            keys.layers(job.guild_id, job.result_id),
        ]
        script(keys=edited, args=[meta, *pairs])

    def _tell(self, text: str, *, reroll: bool = False) -> None:
        """A private note to the member (best effort): the edit's follow-up."""
        if not self._token_alive():
            log.info("edit %s: could not tell the member (token dead): %s", self.job.job_id, text)
            return
        payload = private_payload(text)
        if reroll:
            payload["components"] = [reroll_row(self.job.result_id)]
        try:
            self.api.followup(self.job.application_id or 0, self.token or "", payload)
        except (DiscordAPIError, DiscordUnavailable) as err:
            log.warning("edit %s: could not tell the member: %s", self.job.job_id, err)


def reroll_row(result_id: str) -> dict[str, Any]:
    """The cover's own Re-roll button, offered when an edit cannot be made any more."""
    return {
        "type": 1,
        "components": [
            {
                "type": 2,
                "style": SECONDARY,
                "label": "Re-roll",
                "emoji": {"name": REROLL_EMOJI},
                "custom_id": REROLL_ID.format(result_id=result_id),
            }
        ],
    }
