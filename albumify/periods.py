"""UTC period keys (ISO week, month) and when their boards may be dropped.

A vote counts in the periods in which the *result was created*, so the keys are computed once,
when a cover is recorded, and stored with it. A period's board outlives the period by
`GRACE_S` so last week's board can still be read (Cover of the Week reads it); late votes land
in it only for `Limits.vote_grace_s` after the period ends (`albumify.lua`'s `bump`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

Clock = Callable[[], float]
"""Unix seconds; injected so tests can roll weeks and months over."""

GRACE_S = 8 * 24 * 3600
"""A period's board expires this long after the period ends."""

PERIODS = ("week", "month", "all")


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def week_key(ts: float) -> str:
    """ISO week, e.g. `2026-W48` (the ISO year: 2025-12-29 is `2026-W01`)."""
    year, week, _ = _utc(ts).isocalendar()
    return f"{year}-W{week:02d}"


def month_key(ts: float) -> str:
    """Calendar month, e.g. `2026-11`."""
    return _utc(ts).strftime("%Y-%m")


def week_end(ts: float) -> float:
    """Monday 00:00 UTC after `ts`: when its ISO week closes."""
    day = _utc(ts).replace(hour=0, minute=0, second=0, microsecond=0)
    return (day + timedelta(days=7 - day.weekday())).timestamp()


def month_end(ts: float) -> float:
    """The first of the next month, 00:00 UTC."""
    dt = _utc(ts)
    year, month = (dt.year + 1, 1) if dt.month == 12 else (dt.year, dt.month + 1)
    return datetime(year, month, 1, tzinfo=UTC).timestamp()


@dataclass(frozen=True)
class Periods:
    """The period keys of one moment and the unix time at which each board may expire."""

    week: str
    month: str
    week_expires_at: int
    month_expires_at: int

    @classmethod
    def at(cls, ts: float) -> Periods:
        return cls(
            week=week_key(ts),
            month=month_key(ts),
            week_expires_at=int(week_end(ts)) + GRACE_S,
            month_expires_at=int(month_end(ts)) + GRACE_S,
        )

    def key(self, period: str) -> str:
        """`week`/`month` → its key; `all` → `all`."""
        if period == "week":
            return f"week:{self.week}"
        if period == "month":
            return f"month:{self.month}"
        if period == "all":
            return "all"
        raise ValueError(f"unknown period {period!r}")


def now(clock: Clock = time.time) -> Periods:
    return Periods.at(clock())
