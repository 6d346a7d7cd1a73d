"""Discord timestamp markup (rendered in each member's own time zone)."""

from __future__ import annotations


def relative(unix_seconds: float) -> str:
    """`<t:…:R>`: 'in 3 minutes', kept up to date by the client."""
    return f"<t:{int(unix_seconds + 0.999)}:R>"
