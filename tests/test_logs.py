"""Logging that a signal handler can use: RQ logs from its SIGTERM handler (warm shutdown)."""

from __future__ import annotations

import json
import logging
import os
import signal
from collections.abc import Callable

import pytest

from albumify.logs import JsonFormatter, SignalSafeStreamHandler


class BufferedLikeStream:
    """Refuses a write inside a write, as CPython's BufferedWriter does ("reentrant call"):
    what happens when a signal handler logs while the main thread is writing a record."""

    def __init__(self) -> None:
        self.written: list[str] = []
        self.during_next_write: Callable[[], None] | None = None
        self._writing = False

    def write(self, text: str) -> None:
        if self._writing:
            raise RuntimeError("reentrant call inside <_io.BufferedWriter name='<stderr>'>")
        self._writing = True
        try:
            hook, self.during_next_write = self.during_next_write, None
            if hook is not None:
                hook()
            self.written.append(text)
        finally:
            self._writing = False

    def flush(self) -> None:
        pass


def json_logger(handler: logging.Handler) -> logging.Logger:
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(f"test-signal-safe-{id(handler)}")
    logger.propagate = False
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
    return logger


def lines_of(stream: BufferedLikeStream) -> list[dict]:
    return [json.loads(line) for line in "".join(stream.written).splitlines()]


def test_a_record_logged_mid_write_is_written_whole_after_it(capsys) -> None:
    stream = BufferedLikeStream()
    logger = json_logger(SignalSafeStreamHandler(stream))
    stream.during_next_write = lambda: logger.warning("warm shut down requested")
    logger.info("a job line")
    logger.info("the next line")
    assert [r["message"] for r in lines_of(stream)] == [
        "a job line",
        "warm shut down requested",
        "the next line",
    ]
    assert "Logging error" not in capsys.readouterr().err


def test_the_plain_stream_handler_breaks_there(capsys) -> None:
    """What the signal-safe handler is for: the standard one fails the nested record."""
    stream = BufferedLikeStream()
    logger = json_logger(logging.StreamHandler(stream))
    stream.during_next_write = lambda: logger.warning("warm shut down requested")
    logger.info("a job line")
    assert [r["message"] for r in lines_of(stream)] == ["a job line"]  # the warning is lost
    assert "--- Logging error ---" in capsys.readouterr().err


def test_a_real_signal_logging_mid_write(capsys) -> None:
    """The same with a real signal: its Python handler runs inside the write."""
    stream = BufferedLikeStream()
    logger = json_logger(SignalSafeStreamHandler(stream))

    def on_signal(signum: int, frame: object) -> None:
        logger.warning("got signal %s", signum)

    previous = signal.signal(signal.SIGUSR1, on_signal)
    try:
        stream.during_next_write = lambda: os.kill(os.getpid(), signal.SIGUSR1)
        logger.info("a job line")
    finally:
        signal.signal(signal.SIGUSR1, previous)
    messages = [r["message"] for r in lines_of(stream)]
    assert messages == ["a job line", f"got signal {int(signal.SIGUSR1)}"]
    assert "Logging error" not in capsys.readouterr().err


@pytest.mark.parametrize("records", [1, 3])
def test_every_record_that_waited_is_written_in_order(records: int) -> None:
    """Several records logged during one write all follow it, in the order they came."""
    stream = BufferedLikeStream()
    handler = SignalSafeStreamHandler(stream)
    logger = json_logger(handler)

    def nested() -> None:
        for n in range(records):
            logger.warning("late %d", n)

    stream.during_next_write = nested
    logger.info("last line")
    handler.flush()
    assert [r["message"] for r in lines_of(stream)] == [
        "last line",
        *(f"late {n}" for n in range(records)),
    ]
