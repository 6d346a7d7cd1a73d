"""Where a job's answers go, and what to do when Discord refuses one.

The cover goes to the interaction's "thinking…" message while its token lives, else to the
channel as a reply (bot token). A notice — a refusal, a failure — goes through the first path
that works: the webhook while the token lives, then the channel, then a DM to the requester.

Discord's refusals: a 5xx, a timeout or a long 429 may pass later (`DiscordUnavailable`: RQ
retries the job). A 4xx will not: the same request is refused again, and each retry re-runs
the pipeline and spends the invalid-request budget, so it ends the job (`Undeliverable`) and
the member is told why. Where the channel refuses for lack of a permission, a WARNING names
it, from the bot's permissions Discord reported with the request (`CoverJob.app_permissions`).

Channel posts carry a nonce derived from the job and the purpose, with `enforce_nonce`: a post
retried after a timeout, or by the job's next attempt, returns the first message.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from albumify.schema import CoverJob
from worker.discord_api import (
    DiscordAPI,
    DiscordAPIError,
    DiscordUnavailable,
    TokenExpired,
    UploadFile,
)
from worker.message import as_reply, notice_payload

log = logging.getLogger(__name__)

TOKEN_MARGIN_S = 30.0
"""Treat a token this close to its 15 minutes as dead (an upload takes a while)."""

VIEW_CHANNEL, SEND_MESSAGES = 1 << 10, 1 << 11
EMBED_LINKS, ATTACH_FILES, READ_MESSAGE_HISTORY = 1 << 14, 1 << 15, 1 << 16
PERMISSION_NAMES = {
    VIEW_CHANNEL: "View Channel",
    SEND_MESSAGES: "Send Messages",
    ATTACH_FILES: "Attach Files",
    EMBED_LINKS: "Embed Links",
    READ_MESSAGE_HISTORY: "Read Message History",
}
MISSING_ACCESS, MISSING_PERMISSIONS = 50001, 50013
ANSWERED = "answered"
"""`job.meta` key: the job gave the member its final answer itself (a notice, or it found no
way to); the failure handler (`worker.failures`) then adds nothing."""
REPLY_NEEDS_HISTORY = 160002
"""Discord refuses a reply without Read Message History; the post works without the reply."""


def nonce_for(job_id: str, purpose: str) -> str:
    """The same for every attempt of one job's post (Discord allows 25 characters)."""
    return hashlib.sha256(f"{job_id}:{purpose}".encode()).hexdigest()[:25]


def needed_to_post(payload: dict[str, Any], files: Sequence[UploadFile]) -> int:
    need = VIEW_CHANNEL | SEND_MESSAGES
    if files:
        need |= ATTACH_FILES
    if payload.get("embeds"):
        need |= EMBED_LINKS
    return need


def permission_names(bits: int) -> list[str]:
    return [name for bit, name in PERMISSION_NAMES.items() if bits & bit]


@dataclass(frozen=True)
class Address:
    """Who asked and where to answer: all a notice needs, whatever else the job holds."""

    job_id: str
    channel_id: int
    requester_id: int
    application_id: int | None = None
    token_expires_at: float | None = None
    reply_to: int | None = None
    """The message a channel post replies to (the request, or the deferred response)."""
    app_permissions: int | None = None

    @classmethod
    def of(cls, job: CoverJob) -> Address:
        return cls(
            job_id=job.job_id,
            channel_id=job.channel_id,
            requester_id=job.requester_id,
            application_id=job.application_id,
            token_expires_at=job.token_expires_at,
            reply_to=job.reply_to_message_id or job.response_message_id,
            app_permissions=job.app_permissions,
        )

    @classmethod
    def from_payload(cls, data: Any) -> Address | None:
        """Leniently, from a job payload of any schema version (None: nobody to answer)."""
        if not isinstance(data, dict):
            return None

        def number(name: str) -> int | None:
            value = data.get(name)
            return int(value) if isinstance(value, int | str) and str(value).isdigit() else None

        channel_id, requester_id = number("channel_id"), number("requester_id")
        if not isinstance(data.get("job_id"), str) or channel_id is None or requester_id is None:
            return None
        expires = data.get("token_expires_at")
        return cls(
            job_id=data["job_id"],
            channel_id=channel_id,
            requester_id=requester_id,
            application_id=number("application_id"),
            token_expires_at=float(expires) if isinstance(expires, int | float) else None,
            reply_to=number("reply_to_message_id") or number("response_message_id"),
            app_permissions=number("app_permissions"),
        )


class Undeliverable(Exception):
    """Discord refused the post for good (a 4xx): no retry would be accepted either."""

    def __init__(self, where: str, error: DiscordAPIError, missing: Sequence[str] = ()) -> None:
        super().__init__(f"{where} refused the post: {error}")
        self.where = where
        self.error = error
        self.missing = tuple(missing)

    def member_text(self, channel_id: int) -> str:
        if self.missing:
            names = " and ".join(self.missing)
            plural = "s" if len(self.missing) > 1 else ""
            return (
                f"⚠️ I made your cover, but I can't post it in <#{channel_id}>: I need the "
                f"{names} permission{plural} there. Ask a server admin to give "
                f"{'them' if plural else 'it'} to me, then try again."
            )
        return (
            f"⚠️ I made your cover, but Discord refused to show it (HTTP {self.error.status}). "
            "Please try again later."
        )


class Courier:
    """One job's way to the member: the interaction token while it lives, the channel, a DM."""

    def __init__(
        self,
        address: Address,
        api: DiscordAPI,
        token: str | None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.address = address
        self.api = api
        self.token = token
        self.clock = clock
        self.channel_closed = False
        """The channel refused the bot outright (cannot see it, or may not send there)."""

    def token_alive(self) -> bool:
        if not self.token:
            return False
        expires = self.address.token_expires_at
        return expires is None or self.clock() < expires - TOKEN_MARGIN_S

    # -- the cover (or any one answer) -----------------------------------------------------

    def post(
        self, payload: dict[str, Any], files: Sequence[UploadFile] = (), *, purpose: str
    ) -> dict[str, Any]:
        """Edit the deferred response, or post to the channel once the token is dead.

        Raises `Undeliverable` for a 4xx, `DiscordUnavailable` when a retry may pass.
        """
        address = self.address
        if self.token_alive():
            try:
                return self.api.edit_original(
                    address.application_id or 0, self.token or "", payload, files
                )
            except TokenExpired:
                log.info("job %s: interaction token dead; posting to the channel", address.job_id)
                self.token = None
            except DiscordAPIError as err:
                raise Undeliverable("the interaction webhook", err) from None
        return self._to_channel(payload, files, purpose)

    def _to_channel(
        self, payload: dict[str, Any], files: Sequence[UploadFile], purpose: str
    ) -> dict[str, Any]:
        address = self.address
        message = as_reply(payload, address.channel_id, address.reply_to)
        nonce = nonce_for(address.job_id, purpose)
        try:
            try:
                return self.api.create_message(address.channel_id, message, files, nonce=nonce)
            except DiscordAPIError as err:
                if err.code != REPLY_NEEDS_HISTORY:
                    raise
                message = as_reply(payload, address.channel_id, None)  # a plain post will do
                return self.api.create_message(address.channel_id, message, files, nonce=nonce)
        except DiscordAPIError as err:
            missing = self._missing(err, payload, files)
            if err.status == 403:
                log.warning(
                    "job %s: Discord refused the post in channel %s (%s): the bot lacks %s there",
                    address.job_id,
                    address.channel_id,
                    err,
                    " / ".join(missing) or "a permission",
                )
            raise Undeliverable(f"channel {address.channel_id}", err, missing) from None

    def _missing(
        self, err: DiscordAPIError, payload: dict[str, Any], files: Sequence[UploadFile]
    ) -> list[str]:
        """Which permissions the refusal was about, as precisely as Discord lets us know."""
        if err.code == MISSING_ACCESS:
            self.channel_closed = True
            return [PERMISSION_NAMES[VIEW_CHANNEL]]
        if err.code != MISSING_PERMISSIONS:
            return []
        need = needed_to_post(payload, files)
        have = self.address.app_permissions
        lacking = need & ~have if have is not None else 0
        if lacking & (VIEW_CHANNEL | SEND_MESSAGES) or need == VIEW_CHANNEL | SEND_MESSAGES:
            self.channel_closed = True  # not even a plain text can go there
        return permission_names(lacking or need)  # unknown which: all it needed

    # -- notices ---------------------------------------------------------------------------

    def notify(self, text: str) -> bool:
        """Tell the member through the first path that works (one notice). False: none did."""
        payload = notice_payload(text)
        address = self.address
        if self.token_alive():
            try:
                self.api.edit_original(address.application_id or 0, self.token or "", payload)
                return True
            except TokenExpired:
                self.token = None
            except (DiscordAPIError, DiscordUnavailable) as err:
                log.warning("job %s: notice not shown through the webhook: %s", address.job_id, err)
        if not self.channel_closed:
            try:
                self._to_channel(payload, (), "notice")
                return True
            except Undeliverable as err:
                log.info("job %s: notice not posted in the channel: %s", address.job_id, err)
            except DiscordUnavailable as err:
                log.warning("job %s: notice not posted in the channel: %s", address.job_id, err)
        return self._to_dm(text)

    def _to_dm(self, text: str) -> bool:
        address = self.address
        payload = notice_payload(f"About your album cover in <#{address.channel_id}>: {text}")
        payload.pop("attachments", None)
        try:
            channel_id = self.api.open_dm(address.requester_id)
            self.api.create_message(channel_id, payload, nonce=nonce_for(address.job_id, "dm"))
        except (DiscordAPIError, DiscordUnavailable) as err:
            log.warning(
                "job %s: could not tell member %s by any path (webhook, channel, DM): %s",
                address.job_id,
                address.requester_id,
                err,
            )
            return False
        log.info("job %s: told member %s by DM", address.job_id, address.requester_id)
        return True
