"""A loopback TCP proxy in front of a redis-server that notes each command passing through.

Tests put a process behind it (its `REDIS_URL` is `CommandLog.url`) to see which Redis
commands the process sent, and when (time.monotonic() of this test process, the clock the
loopback Discord stamps its requests with), even while the server itself is paused.
"""

from __future__ import annotations

import asyncio
import threading
import time


class RequestParser:
    """Splits a client's byte stream into commands (RESP arrays of bulk strings, which is
    all redis-py sends) and returns each command's name."""

    def __init__(self) -> None:
        self.buffer = b""

    def feed(self, data: bytes) -> list[str]:
        self.buffer += data
        names = []
        while (name := self._next()) is not None:
            names.append(name)
        return names

    def _next(self) -> str | None:
        buffer = self.buffer
        end = buffer.find(b"\r\n")
        if end < 0:
            return None
        if not buffer.startswith(b"*"):
            raise ValueError(f"not a RESP command: {buffer[:40]!r}")
        position, name = end + 2, None
        for _ in range(int(buffer[1:end])):
            end = buffer.find(b"\r\n", position)
            if end < 0:
                return None
            start = end + 2
            stop = start + int(buffer[position + 1 : end])
            if len(buffer) < stop + 2:
                return None
            name = name if name is not None else buffer[start:stop].decode().upper()
            position = stop + 2
        self.buffer = buffer[position:]
        return name or ""


class CommandLog:
    """The proxy (its own thread and event loop); `commands` is [(when, name)]."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.commands: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> CommandLog:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0), self._loop
        ).result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def between(self, start: float, end: float) -> list[str]:
        """The names of the commands that passed in [start, end)."""
        with self._lock:
            return [name for at, name in self.commands if start <= at < end]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(
            "127.0.0.1", self.upstream_port
        )
        parser = RequestParser()

        async def to_server() -> None:
            while data := await reader.read(65536):
                at = time.monotonic()
                with self._lock:
                    self.commands.extend((at, name) for name in parser.feed(data))
                upstream_writer.write(data)
                await upstream_writer.drain()

        async def to_client() -> None:
            while data := await upstream_reader.read(65536):
                writer.write(data)
                await writer.drain()

        try:
            await asyncio.gather(to_server(), to_client())
        except (ConnectionError, OSError):
            pass
        finally:
            for stream in (writer, upstream_writer):
                stream.close()
