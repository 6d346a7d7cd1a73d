"""Private redis-server processes (tests, the e2e stack, `albumify demo`): never port 6379.

`RedisProcess` also lets a caller restart a server on the same directory (the AOF tests).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis


class RedisServerMissing(RuntimeError):
    """`redis-server` is not on PATH."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisProcess:
    """One redis-server subprocess on a free loopback port; `extra` args override defaults."""

    def __init__(self, directory: Path, *extra: str) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RedisServerMissing("redis-server is not installed")
        self.binary = binary
        self.directory = directory
        self.extra = extra
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisProcess:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "no", "--dir", str(self.directory), *self.extra]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    client.ping()
                    return self
                except redis.ConnectionError:
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("redis-server did not start") from None
                    time.sleep(0.02)
        finally:
            client.close()

    def stop(self) -> None:
        """SIGTERM: Redis flushes the AOF and exits cleanly."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


class SentinelProcess:
    """One `redis-server sentinel.conf --sentinel` watching `service` (quorum `quorum`)."""

    def __init__(self, directory: Path, service: str, primary_port: int, quorum: int) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RedisServerMissing("redis-server is not installed")
        self.binary = binary
        self.port = free_port()
        self.directory = directory / f"sentinel-{self.port}"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.config = self.directory / "sentinel.conf"
        self.config.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self.directory}\n"
            f"sentinel monitor {service} 127.0.0.1 {primary_port} {quorum}\n"
            f"sentinel down-after-milliseconds {service} {SENTINEL_DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {service} {SENTINEL_FAILOVER_TIMEOUT_MS}\n"
            f"sentinel parallel-syncs {service} 1\n"
        )  # Sentinel rewrites this file (what it learns), so each has its own
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> SentinelProcess:
        args = [self.binary, str(self.config), "--sentinel"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return self

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


SENTINEL_DOWN_AFTER_MS = 1000
SENTINEL_FAILOVER_TIMEOUT_MS = 5000


class SentinelGroup:
    """A primary, one replica (`replicaof`) and three sentinels (quorum 2) on loopback: the
    queue's Redis as the docker-compose `sentinel` profile runs it, for the fail-over tests.

    `url` is the `redis+sentinel://` URL the bot and workers are given; `kill_primary()` is
    a SIGKILL of whichever server is primary now, and `restart(port)` brings a killed server
    back empty on its port, as a supervisor would (Sentinel makes it a replica)."""

    SERVICE = "albumify"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.servers: dict[int, RedisProcess] = {}
        self.sentinels: list[SentinelProcess] = []

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{sentinel.port}" for sentinel in self.sentinels)
        return f"redis+sentinel://{hosts}/{self.SERVICE}/0"

    def start(self, timeout: float = 30.0) -> SentinelGroup:
        try:
            primary = RedisProcess(_made(self.directory / "primary")).start()
            self.servers[primary.port] = primary
            replica = RedisProcess(
                _made(self.directory / "replica"), "--replicaof", "127.0.0.1", str(primary.port)
            ).start()
            self.servers[replica.port] = replica
            self.sentinels = [
                SentinelProcess(self.directory, self.SERVICE, primary.port, quorum=2).start()
                for _ in range(3)
            ]
            self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def primary_port(self) -> int | None:
        """The primary as the sentinels' majority sees it (None while they disagree)."""
        seen: list[int] = []
        for sentinel in self.sentinels:
            client = sentinel.client()
            try:
                address = client.sentinel_get_master_addr_by_name(self.SERVICE)
                if address:
                    seen.append(int(address[1]))
            except redis.RedisError:
                pass
            finally:
                client.close()
        best = max(set(seen), key=seen.count, default=None)
        return best if best is not None and seen.count(best) >= 2 else None

    def wait_healthy(self, timeout: float = 30.0) -> int:
        """Until the sentinels agree on a primary that has a replica in sync, and each
        sentinel knows the other two and that replica: a fail-over can then happen."""
        deadline = time.monotonic() + timeout
        while True:
            port = self.primary_port()
            if port is not None and self._ready(port):
                return port
            if time.monotonic() > deadline:
                raise RuntimeError("the Sentinel group did not become healthy")
            time.sleep(0.1)

    def _ready(self, port: int) -> bool:
        server = self.servers.get(port)
        if server is None or server.process is None or server.process.poll() is not None:
            return False
        client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2)
        try:
            replication = client.info("replication")
            if replication.get("role") != "master" or not _online_replica(replication):
                return False
        except redis.RedisError:
            return False
        finally:
            client.close()
        for sentinel in self.sentinels:
            sc = sentinel.client()
            try:
                state = sc.sentinel_master(self.SERVICE)
                if int(state.get("num-other-sentinels", 0)) < 2:
                    return False
                if int(state.get("num-slaves", 0)) < 1 or "s_down" in str(state.get("flags")):
                    return False
            except redis.RedisError:
                return False
            finally:
                sc.close()
        return True

    def kill_primary(self) -> int:
        """SIGKILL the current primary (no goodbye to anyone); returns its port."""
        port = self.primary_port()
        assert port is not None, "no agreed primary to kill"
        self.kill(port)
        return port

    def replica_port(self) -> int:
        """A server that is not the primary now."""
        primary = self.primary_port()
        return next(port for port in self.servers if port != primary)

    def kill(self, port: int) -> None:
        server = self.servers[port]
        assert server.process is not None, f"server {port} is not running"
        server.process.kill()
        server.process.wait(timeout=10)
        server.process = None

    def wait_failover(self, old_port: int, timeout: float = 60.0) -> int:
        """Until the sentinels agree on a new primary (not `old_port`); its port."""
        deadline = time.monotonic() + timeout
        while True:
            port = self.primary_port()
            if port is not None and port != old_port:
                return port
            if time.monotonic() > deadline:
                raise RuntimeError("the sentinels did not fail over")
            time.sleep(0.1)

    def restart(self, port: int) -> None:
        """Start a killed server again on its port, empty (Sentinel makes it a replica)."""
        self.servers[port].start()

    def stop(self) -> None:
        for sentinel in self.sentinels:
            sentinel.stop()
        for server in self.servers.values():
            server.stop()


def _online_replica(replication: dict) -> bool:
    """`INFO replication` lists replicas as slave0:{ip,port,state,…} (parsed to dicts)."""
    return any(
        isinstance(value, dict) and value.get("state") == "online"
        for key, value in replication.items()
        if key.startswith("slave")
    )


def _made(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return directory
