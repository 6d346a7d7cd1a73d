"""Logging for both processes: every record carries the job id and guild id, and secrets
never get out (the bot installs the redaction on discord.py's loggers, the worker on its own).

- `job_context(job_id, guild_id)` sets the ids for everything logged inside it (RQ's own
  lines, urllib3's, ours); records outside a job carry "-".
- `ALBUMIFY_LOG_FORMAT=json` writes one JSON object per line (ts, level, logger, message,
  job_id, guild_id, exc); the default is a plain line with `[job=… guild=…]`.
- `ALBUMIFY_LOG_LEVEL` (default INFO). Logs go to stderr (collect them with the container's
  log driver: `docker compose logs worker`).
- Secrets never reach the output: `redact()` masks interaction tokens wherever they appear —
  inside webhook and callback URLs, as a `token` field of a payload (discord.py logs every
  gateway event at DEBUG, INTERACTION_CREATE with its token), or bare (Discord's interaction
  tokens all start with the base64 of "interaction:") — and every registered secret (the bot
  token). `configure()` puts the filter on the one handler both processes log through, so
  every logger's records pass it; it also sits on the loggers that log URLs (urllib3's,
  discord.py's), for any other handler.
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

_job_id: contextvars.ContextVar[str] = contextvars.ContextVar("albumify_job_id", default="-")
_guild_id: contextvars.ContextVar[str] = contextvars.ContextVar("albumify_guild_id", default="-")

WEBHOOK_PATH = re.compile(r"(/(?:webhooks|interactions)/\d+/)[A-Za-z0-9._~%+\-]+")
"""Interaction tokens sit in webhook URLs (edits, follow-ups) and in callback URLs."""
TOKEN_FIELD = re.compile(r"""(["']\w*token["']\s*:\s*["'])[^"']+""", re.IGNORECASE)
"""A payload's `token` field (`'token': '…'` in a dict, `"token": "…"` in JSON)."""
INTERACTION_TOKEN = re.compile(r"aW50ZXJhY3Rpb246[A-Za-z0-9_\-+/=.%]*")
"""Discord's interaction tokens are base64 of "interaction:<id>:…": found wherever they stand."""
_secrets: set[str] = set()


def add_secret(value: str | None) -> None:
    """A string that must never appear in a log record (the bot token)."""
    if value and len(value) >= 6:
        _secrets.add(value)


def redact(text: str) -> str:
    text = WEBHOOK_PATH.sub(r"\1<token>", text)
    text = TOKEN_FIELD.sub(r"\1<token>", text)
    text = INTERACTION_TOKEN.sub("<token>", text)
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, "<secret>")
    return text


@contextlib.contextmanager
def job_context(job_id: str, guild_id: int | str | None) -> Iterator[None]:
    job_token = _job_id.set(str(job_id))
    guild_token = _guild_id.set(str(guild_id) if guild_id is not None else "-")
    try:
        yield
    finally:
        _guild_id.reset(guild_token)
        _job_id.reset(job_token)


class ContextFilter(logging.Filter):
    """Adds `job_id` and `guild_id` to every record (the ones set by `job_context`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "job_id"):
            record.job_id = _job_id.get()
        if not hasattr(record, "guild_id"):
            record.guild_id = _guild_id.get()
        return True


class RedactFilter(logging.Filter):
    """Masks interaction tokens (webhook paths) and registered secrets in message and args."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler's error path
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "job_id": getattr(record, "job_id", "-"),
            "guild_id": getattr(record, "guild_id", "-"),
        }
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class PlainFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s [job=%(job_id)s guild=%(guild_id)s]: %(message)s"
        )

    def formatException(self, ei) -> str:
        return redact(super().formatException(ei))


URLLIB3_LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry")
DISCORD_PY_LOGGERS = (
    "discord.http",
    "discord.webhook.async_",
    "discord.webhook.sync",
    "discord.gateway",
    "discord.client",
    "discord.state",
)
"""discord.py logs every request URL at DEBUG, interaction webhook and callback URLs included,
and every gateway event's payload (interaction tokens included)."""


def install_redaction(names: tuple[str, ...] = URLLIB3_LOGGERS) -> None:
    """Mask tokens in loggers that log request URLs, whatever handler later sees them."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactFilter) for f in logger.filters):
            logger.addFilter(RedactFilter())


class SignalSafeStreamHandler(logging.StreamHandler):
    """A stream handler that a signal handler may log through.

    RQ logs from its SIGTERM handler (the warm shutdown). Python runs a signal handler in the
    main thread between two bytecodes, which can be in the middle of this handler writing a
    record: writing again re-enters the stream ("reentrant call", a `--- Logging error ---`
    and a broken line in the JSON log). A record that arrives while this thread is already
    writing one waits and is written right after it instead.
    """

    def __init__(self, stream: Any = None) -> None:
        super().__init__(stream)
        self._writing = threading.local()
        self._waiting: collections.deque[logging.LogRecord] = collections.deque()

    def emit(self, record: logging.LogRecord) -> None:
        if self._busy():
            self._waiting.append(record)
            return
        with self._writing_now():
            super().emit(record)
            self._write_waiting()

    def flush(self) -> None:
        if self._busy():  # StreamHandler.emit flushes after each record
            super().flush()
            return
        with self._writing_now():
            self._write_waiting()
            super().flush()

    def _busy(self) -> bool:
        return getattr(self._writing, "now", False)

    @contextlib.contextmanager
    def _writing_now(self) -> Iterator[None]:
        self._writing.now = True
        try:
            yield
        finally:
            self._writing.now = False

    def _write_waiting(self) -> None:
        while self._waiting:
            super().emit(self._waiting.popleft())


def configure(level: str | None = None, fmt: str | None = None) -> logging.Handler:
    """Root handler on stderr with context + redaction (`albumify worker` and `albumify bot`)."""
    level = (level or os.environ.get("ALBUMIFY_LOG_LEVEL") or "INFO").upper()
    fmt = (fmt or os.environ.get("ALBUMIFY_LOG_FORMAT") or "plain").lower()
    handler = SignalSafeStreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else PlainFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    install_redaction()
    return handler


install_redaction()
