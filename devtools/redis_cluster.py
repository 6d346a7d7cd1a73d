"""A private 3-master Redis Cluster on loopback (tests of the state on a cluster).

Three `redis-server --cluster-enabled yes` on free ports, joined by `redis-cli --cluster
create … --cluster-replicas 0`; `url` is the `redis+cluster://` URL Albumify reads
(`ALBUMIFY_STATE_REDIS_URL`). Never the default ports.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

from devtools.redis_server import RedisProcess, RedisServerMissing

MASTERS = 3
BUS_OFFSET = 10000
"""A cluster node also listens on its port + 10000 (the cluster bus): both must be free."""


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_cluster_port() -> int:
    """A free loopback port whose bus port is free too (below 55535, so the bus fits)."""
    for _ in range(1000):
        port = random.randint(20000, 50000)
        if _free(port) and _free(port + BUS_OFFSET):
            return port
    raise RuntimeError("no free port pair for a cluster node")


class RedisClusterProcesses:
    """`MASTERS` cluster-enabled redis-servers, each in its own directory, joined."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.nodes: list[RedisProcess] = []

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)

    def start(self) -> RedisClusterProcesses:
        cli = shutil.which("redis-cli")
        if cli is None:
            raise RedisServerMissing("redis-cli is not installed")
        for n in range(MASTERS):
            folder = self.directory / f"node-{n}"
            folder.mkdir(parents=True, exist_ok=True)
            node = RedisProcess(folder)
            node.port = free_cluster_port()
            node.extra = (
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                f"nodes-{node.port}.conf",
                "--cluster-node-timeout",
                "5000",
            )
            self.nodes.append(node.start())
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            [cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )
        self._wait_until_ok()
        return self

    def _wait_until_ok(self, timeout_s: float = 60) -> None:
        """Every node says `cluster_state:ok` and knows all the masters."""
        deadline = time.monotonic() + timeout_s
        while True:
            states = []
            for node in self.nodes:
                client = redis.Redis(host="127.0.0.1", port=node.port)
                try:
                    info = client.cluster("info")
                    states.append(
                        info.get("cluster_state") == "ok"
                        and int(info.get("cluster_known_nodes", 0)) == MASTERS
                    )
                finally:
                    client.close()
            if all(states):
                return
            if time.monotonic() > deadline:
                raise RuntimeError("the local Redis Cluster did not come up")
            time.sleep(0.1)

    def flush(self) -> None:
        for node in self.nodes:
            client = redis.Redis(host="127.0.0.1", port=node.port)
            try:
                client.flushall()
            finally:
                client.close()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
