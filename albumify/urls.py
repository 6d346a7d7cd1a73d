"""Which image URLs may be fetched (torch- and requests-free: the bot checks it up front)."""

from __future__ import annotations

from urllib.parse import urlsplit

from albumify.settings import Settings

NOT_ALLOWED = "I can only use images uploaded to Discord, so I won't fetch that link."


def is_allowed_url(url: str, settings: Settings) -> bool:
    """True for an allowed CDN host over https (or plain http for hosts listed explicitly)."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        return False
    schemes = {"https", "http"} if settings.cdn_hosts_explicit else {"https"}
    if parts.scheme not in schemes or parts.username or parts.password:
        return False
    return host in settings.cdn_hosts
