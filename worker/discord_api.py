"""The few Discord REST calls the worker makes, synchronously, with bounded retries.

- edit the interaction's original response (webhook: the token is the credential, no
  Authorization header),
- post to a channel with the bot token (past the token's 15 minutes, or for reply-mentions),
  with a `nonce` and `enforce_nonce`, so a post retried after a timeout or a 5xx that Discord
  had in fact created returns that message instead of posting a second one, and
- open a DM channel with a member (the last way to tell them something).

429 waits `retry_after` (bounded); 5xx and network faults retry with backoff (bounded), then
raise `DiscordUnavailable` so RQ can retry the job. Any other 4xx raises `DiscordAPIError` at
once, with Discord's JSON error code: the same request would be refused again. Tokens are part
of webhook URLs: error messages carry a redacted path and never chain the original exception
(RQ logs tracebacks).

Invalid-request budget: Discord bans an IP that gets 10,000 401/403/429 answers in 10
minutes. Every client in a worker process shares one `InvalidRequestBudget`
(`Limits.discord_invalid_budget`, default 1,000 per 10 min): once it is spent, calls raise
`DiscordUnavailable` without being sent until the window frees up (RQ retries the job later).
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import requests

log = logging.getLogger(__name__)

USER_AGENT = "DiscordBot (https://github.com/albumify/albumify, 0.1) Albumify-worker"


class DiscordAPIError(Exception):
    """Discord refused the request (4xx other than 429): sending it again would not help."""

    def __init__(self, status: int, message: str, code: int | None = None) -> None:
        super().__init__(f"HTTP {status}{f' ({code})' if code else ''}: {message}")
        self.status = status
        self.code = code
        """Discord's JSON error code (50001 Missing Access, 50013 Missing Permissions, …)."""


class TokenExpired(DiscordAPIError):
    """The interaction webhook answered 401/404: its token is dead; post to the channel."""


class DiscordUnavailable(Exception):
    """Network fault, 5xx or a long rate limit after bounded retries: worth an RQ retry."""


INVALID_STATUSES = frozenset({401, 403, 429})
INVALID_WINDOW_S = 600.0
DEFAULT_INVALID_BUDGET = 1000


class InvalidRequestBudget:
    """How many 401/403/429 answers this process may still get in the sliding 10 minutes."""

    def __init__(
        self,
        limit: int = DEFAULT_INVALID_BUDGET,
        *,
        window_s: float = INVALID_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self._hits: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        while self._hits and self._hits[0] <= now - self.window_s:
            self._hits.popleft()

    def spend(self) -> None:
        with self._lock:
            now = self.clock()
            self._expire(now)
            self._hits.append(now)

    def used(self) -> int:
        with self._lock:
            self._expire(self.clock())
            return len(self._hits)

    def exhausted(self) -> bool:
        return self.used() >= self.limit

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()

    def frees_in(self) -> float:
        """Seconds until the oldest counted answer leaves the window."""
        with self._lock:
            now = self.clock()
            self._expire(now)
            return max(0.0, self._hits[0] + self.window_s - now) if self._hits else 0.0


_shared_budget = InvalidRequestBudget()


def shared_budget(limit: int | None = None) -> InvalidRequestBudget:
    """The process-wide budget (all of a worker's clients count against one IP)."""
    if limit is not None:
        _shared_budget.limit = limit
    return _shared_budget


@dataclass(frozen=True)
class UploadFile:
    filename: str
    data: bytes
    content_type: str = "image/png"


class DiscordAPI:
    def __init__(
        self,
        api_base: str,
        bot_token: str = "",
        *,
        session: requests.Session | None = None,
        max_attempts: int = 4,
        max_retry_after: float = 30.0,
        timeout: tuple[float, float] = (5.0, 30.0),
        sleep: Callable[[float], None] = time.sleep,
        budget: InvalidRequestBudget | None = None,
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self.budget = budget if budget is not None else shared_budget()
        self._bot_token = bot_token
        self.session = session or requests.Session()
        self.max_attempts = max_attempts
        self.max_retry_after = max_retry_after
        self.timeout = timeout
        self.sleep = sleep

    def __repr__(self) -> str:
        return f"DiscordAPI({self.api_base!r})"

    # -- endpoints ------------------------------------------------------------------------

    def edit_original(
        self,
        application_id: int,
        token: str,
        payload: dict[str, Any],
        files: Sequence[UploadFile] = (),
    ) -> dict[str, Any]:
        path = f"/webhooks/{application_id}/{token}/messages/@original"
        shown = f"/webhooks/{application_id}/<token>/messages/@original"
        try:
            return self._request("PATCH", path, shown, payload, files, auth=False)
        except DiscordAPIError as err:
            if err.status in (401, 404):
                raise TokenExpired(err.status, "interaction token expired or unknown") from None
            raise

    def create_message(
        self,
        channel_id: int,
        payload: dict[str, Any],
        files: Sequence[UploadFile] = (),
        *,
        nonce: str | None = None,
    ) -> dict[str, Any]:
        """Post with the bot token. With `nonce` (≤ 25 characters), Discord returns the
        message already posted with it in the last few minutes instead of a new one."""
        if nonce is not None:
            payload = {**payload, "nonce": nonce[:25], "enforce_nonce": True}
        path = f"/channels/{channel_id}/messages"
        return self._request("POST", path, path, payload, files, auth=True)

    def delete_message(self, channel_id: int, message_id: int) -> None:
        """Delete one of the bot's own channel messages (bot token)."""
        path = f"/channels/{channel_id}/messages/{message_id}"
        self._request("DELETE", path, path, {}, (), auth=True)

    def followup(self, application_id: int, token: str, payload: dict[str, Any]) -> dict[str, Any]:
        """A follow-up message of an interaction (`flags: 64` in `payload`: only its member
        sees it)."""
        path = f"/webhooks/{application_id}/{token}"
        shown = f"/webhooks/{application_id}/<token>"
        try:
            return self._request("POST", path, shown, payload, (), auth=False)
        except DiscordAPIError as err:
            if err.status in (401, 404):
                raise TokenExpired(err.status, "interaction token expired or unknown") from None
            raise

    def edit_message(
        self,
        channel_id: int,
        message_id: int,
        payload: dict[str, Any],
        files: Sequence[UploadFile] = (),
    ) -> dict[str, Any]:
        """Edit one of the bot's channel messages with the bot token."""
        path = f"/channels/{channel_id}/messages/{message_id}"
        return self._request("PATCH", path, path, payload, files, auth=True)

    def open_dm(self, user_id: int) -> int:
        """The id of the bot's DM channel with the member."""
        path = "/users/@me/channels"
        channel = self._request("POST", path, path, {"recipient_id": str(user_id)}, (), auth=True)
        return int(channel["id"])

    # -- transport ------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        shown_path: str,
        payload: dict[str, Any],
        files: Sequence[UploadFile],
        *,
        auth: bool,
    ) -> dict[str, Any]:
        headers = {"User-Agent": USER_AGENT}
        if auth:
            headers["Authorization"] = f"Bot {self._bot_token}"
        url = self.api_base + path
        what = f"{method} {shown_path}"
        for attempt in range(self.max_attempts):
            last = attempt == self.max_attempts - 1
            kwargs: dict[str, Any] = {"headers": headers, "timeout": self.timeout}
            if files:
                parts: list[tuple[str, tuple[str | None, bytes | str, str]]] = [
                    ("payload_json", (None, json.dumps(payload), "application/json"))
                ]
                for index, upload in enumerate(files):
                    parts.append(
                        (f"files[{index}]", (upload.filename, upload.data, upload.content_type))
                    )
                kwargs["files"] = parts
            else:
                kwargs["json"] = payload
            if self.budget.exhausted():
                log.error(
                    "%s not sent: %d invalid Discord answers (401/403/429) in 10 min; "
                    "pausing Discord calls for %.0fs",
                    what,
                    self.budget.used(),
                    self.budget.frees_in(),
                )
                raise DiscordUnavailable(f"{what}: invalid-request budget spent")
            try:
                response = self.session.request(method, url, allow_redirects=False, **kwargs)
            except requests.RequestException as exc:
                reason = type(exc).__name__
                if last:
                    raise DiscordUnavailable(f"{what}: {reason}") from None
                log.warning("%s failed (%s); retrying", what, reason)
                self.sleep(self._backoff(attempt))
                continue
            status = response.status_code
            if status in INVALID_STATUSES:
                self.budget.spend()
            if status == 429:
                retry_after = _retry_after(response)
                if last or retry_after > self.max_retry_after:
                    raise DiscordUnavailable(f"{what}: rate limited for {retry_after:.1f}s")
                log.warning("%s rate limited; waiting %.2fs", what, retry_after)
                self.sleep(retry_after)
                continue
            if status >= 500:
                if last:
                    raise DiscordUnavailable(f"{what}: HTTP {status}")
                log.warning("%s answered %d; retrying", what, status)
                self.sleep(self._backoff(attempt))
                continue
            if status >= 400:
                message, code = _error(response)
                raise DiscordAPIError(status, f"{what}: {message}", code)
            if not response.content:
                return {}
            try:
                return response.json()
            except ValueError:
                return {}
        raise DiscordUnavailable(f"{what}: gave up")  # pragma: no cover - loop always returns

    @staticmethod
    def _backoff(attempt: int) -> float:
        return min(0.5 * 2**attempt, 8.0)


def _retry_after(response: requests.Response) -> float:
    try:
        value = float(response.json().get("retry_after"))
    except (ValueError, TypeError, AttributeError):
        try:
            value = float(response.headers.get("Retry-After", "1"))
        except ValueError:
            value = 1.0
    return max(value, 0.0)


def _error(response: requests.Response) -> tuple[str, int | None]:
    """Discord's error message and JSON code."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200], None
    if isinstance(body, dict):
        code = body.get("code")
        return str(body.get("message", body))[:200], code if isinstance(code, int) else None
    return str(body)[:200], None
