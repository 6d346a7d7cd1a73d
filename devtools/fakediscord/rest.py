"""The REST core of the loopback Discord: an aiohttp server that records every request.

Runs in its own thread with its own event loop, so sync code (the worker's `requests`) and
other processes (a real RQ worker) can talk to it. Script replies (faults) per method + path
prefix with `script()`; serve CDN files with `add_file()` / `add_redirect()`. On its own it
answers webhook edits and channel posts generically (the worker's unit tests);
`server.FakeDiscord` builds the model of a guild, the gateway and Discord's routes on it.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

API_PREFIX = "/api/v10"


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any = None
    payload: dict[str, Any] | None = None
    """The JSON body, or the multipart `payload_json`."""
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    """Multipart file parts: field name → (filename, bytes)."""
    query: dict[str, str] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)
    """When the request arrived (time.monotonic), for latency measurements."""


@dataclass
class ScriptedReply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    """Seconds to wait before answering (a slow or hanging Discord)."""
    passthrough: bool = False
    """After the delay, answer as the server normally would (slow but successful)."""


RequestMatcher = Callable[[RecordedRequest], bool]


class FakeDiscordREST:
    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._scripts: list[tuple[str, str, RequestMatcher | None, list[ScriptedReply]]] = []
        self._files: dict[str, tuple[bytes, str, bool]] = {}
        self._redirects: dict[str, str] = {}
        self._ids = itertools.count(1_300_000_000_000_000_000)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeDiscordREST:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        self._add_routes(app)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def _add_routes(self, app: web.Application) -> None:
        """Subclasses add specific routes here (before the catch-all)."""

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return self.base + API_PREFIX

    # -- scripting ------------------------------------------------------------------------

    def script(
        self,
        method: str,
        path_prefix: str,
        *replies: ScriptedReply,
        match: RequestMatcher | None = None,
    ) -> None:
        """Answer the next matching requests with these replies, in order (then defaults).

        `match` narrows which requests count (e.g. only uploads: `lambda r: bool(r.files)`).
        """
        with self._lock:
            self._scripts.append((method.upper(), API_PREFIX + path_prefix, match, list(replies)))

    def clear_scripts(self) -> None:
        with self._lock:
            self._scripts.clear()

    def add_file(
        self, path: str, data: bytes, content_type: str = "image/png", *, chunked: bool = False
    ) -> str:
        """Serve bytes at `path`; `chunked` omits Content-Length. Returns the URL."""
        self._files[path] = (data, content_type, chunked)
        return self.base + path

    def add_redirect(self, path: str, location: str) -> str:
        self._redirects[path] = location
        return self.base + path

    def calls(self, method: str, path_contains: str = "") -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.method == method and path_contains in r.path]

    # -- handling -------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        body = await request.read()
        recorded = RecordedRequest(
            request.method,
            request.path,
            dict(request.headers),
            body,
            query=dict(request.query),
            at=arrived,
        )
        content_type = request.headers.get("Content-Type", "")
        if content_type.startswith("application/json") and body:
            recorded.json = json.loads(body)
            recorded.payload = recorded.json
        elif content_type.startswith("multipart/"):
            await self._parse_multipart(request, body, recorded)
        with self._lock:
            self.requests.append(recorded)

        if request.path in self._redirects:
            raise web.HTTPFound(self._redirects[request.path])
        if request.path in self._files:
            return await self._serve_file(request, *self._files[request.path])
        scripted = self._next_scripted(recorded)
        if scripted is not None:
            if scripted.delay:
                await asyncio.sleep(scripted.delay)
            if not scripted.passthrough:
                return json_response(scripted.status, scripted.body, scripted.headers)
        return await self._answer(request, recorded)

    async def _answer(self, request: web.Request, recorded: RecordedRequest) -> web.Response:
        """The unscripted reply (subclasses with a fuller model of Discord override this)."""
        return self._default(request, recorded)

    async def _parse_multipart(
        self, request: web.Request, body: bytes, recorded: RecordedRequest
    ) -> None:
        head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
        message = email.message_from_bytes(head + body, policy=email.policy.HTTP)
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            data = part.get_payload(decode=True) or b""
            if name == "payload_json":
                recorded.payload = json.loads(data)
            else:
                recorded.files[str(name)] = (part.get_filename() or "", data)

    async def _serve_file(
        self, request: web.Request, data: bytes, content_type: str, chunked: bool
    ) -> web.StreamResponse:
        if not chunked:
            return web.Response(body=data, content_type=content_type)
        response = web.StreamResponse(headers={"Content-Type": content_type})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(data), 64 * 1024):
            await response.write(data[start : start + 64 * 1024])
        await response.write_eof()
        return response

    def _next_scripted(self, recorded: RecordedRequest) -> ScriptedReply | None:
        with self._lock:
            for method, prefix, match, replies in self._scripts:
                if (
                    replies
                    and method == recorded.method
                    and recorded.path.startswith(prefix)
                    and (match is None or match(recorded))
                ):
                    return replies.pop(0)
        return None

    def _default(self, request: web.Request, recorded: RecordedRequest) -> web.Response:
        path = request.path
        if path.startswith(API_PREFIX):
            parts = path[len(API_PREFIX) :].strip("/").split("/")
            payload = recorded.payload or {}
            if parts[0] == "webhooks" and request.method in ("PATCH", "GET"):
                return json_response(200, self._message(payload, channel_id=None))
            if parts[0] == "channels" and parts[-1] == "messages" and request.method == "POST":
                return json_response(200, self._message(payload, channel_id=parts[1]))
        return json_response(404, {"message": "Unknown", "code": 0})

    def _message(self, payload: dict[str, Any], channel_id: str | None) -> dict[str, Any]:
        return {
            "id": str(next(self._ids)),
            "channel_id": channel_id or "1",
            "content": payload.get("content", ""),
            "embeds": payload.get("embeds", []),
            "components": payload.get("components", []),
        }


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    # Exactly application/json: a charset suffix makes discord.py read bodies as text.
    response = web.Response(status=status, body=json.dumps(body).encode(), headers=headers or {})
    response.headers["Content-Type"] = "application/json"
    return response


def rate_limited(retry_after: float) -> ScriptedReply:
    """A 429 as Discord sends it (discord.py needs the Via header to believe it)."""
    return ScriptedReply(
        429,
        {"message": "You are being rate limited.", "retry_after": retry_after, "global": False},
        {"Via": "1.1 google"},
    )


def server_error(status: int = 500) -> ScriptedReply:
    return ScriptedReply(status, {"message": "Internal Server Error", "code": 0})


def slow(delay: float) -> ScriptedReply:
    """Answer normally, but only after `delay` seconds."""
    return ScriptedReply(200, delay=delay, passthrough=True)
