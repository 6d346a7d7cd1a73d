"""Download an attachment from Discord's CDN, and nothing else (SSRF guard).

Only hosts in `Settings.cdn_hosts` are fetched, over https unless the operator listed hosts
explicitly (then plain http is allowed too, for a loopback test server). Redirects are followed
by hand and each hop is checked again. The size cap is checked from Content-Length and again
while streaming, so a lying server cannot push more than the cap.
"""

from __future__ import annotations

from urllib.parse import urljoin

import requests

from albumify.errors import BadInput
from albumify.settings import Settings
from albumify.urls import NOT_ALLOWED, is_allowed_url

MAX_REDIRECTS = 3
CHUNK = 64 * 1024


class DownloadFailed(Exception):
    """A network fault while downloading: worth an RQ retry."""


def check_url(url: str, settings: Settings) -> None:
    """Raise BadInput unless `url` is on an allowed host with an allowed scheme."""
    if not is_allowed_url(url, settings):
        raise BadInput(NOT_ALLOWED)


def fetch_photo(url: str, settings: Settings, *, session: requests.Session | None = None) -> bytes:
    """The attachment's bytes, at most `Limits.max_download_bytes`."""
    limits = settings.limits
    cap = limits.max_download_bytes
    session = session or requests.Session()
    for _ in range(MAX_REDIRECTS + 1):
        check_url(url, settings)
        try:
            response = session.get(
                url,
                stream=True,
                allow_redirects=False,
                timeout=limits.download_timeout_s,
                headers={"Accept": "image/*"},
            )
        except requests.RequestException as exc:
            raise DownloadFailed(f"download failed: {type(exc).__name__}") from None
        with response:
            if response.is_redirect:
                location = response.headers.get("Location", "")
                url = urljoin(url, location)
                continue
            if response.status_code in (403, 404, 410):
                raise BadInput(
                    "I couldn't fetch that photo any more (the link expired or it was deleted)."
                    " Please post it again."
                )
            if response.status_code >= 400:
                raise DownloadFailed(f"download failed: HTTP {response.status_code}")
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > cap:
                raise BadInput(_too_large(cap))
            body = bytearray()
            try:
                for chunk in response.iter_content(CHUNK):
                    body.extend(chunk)
                    if len(body) > cap:
                        raise BadInput(_too_large(cap))
            except requests.RequestException as exc:
                raise DownloadFailed(f"download failed: {type(exc).__name__}") from None
            return bytes(body)
    raise BadInput("That image link redirects too many times, so I won't fetch it.")


def _too_large(cap: int) -> str:
    return f"That photo is too large (the limit is {cap // (1024 * 1024)} MiB)."
