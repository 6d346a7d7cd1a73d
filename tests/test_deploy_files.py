"""The compose file and Dockerfiles keep the deployment facts the design depends on."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from albumify.settings import Limits
from tests.conftest import ROOT


def load_compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_services_redis_flags_and_gpu():
    services = load_compose()["services"]
    assert {"redis", "bot", "worker", "rq-dashboard"} <= set(services)
    redis = services["redis"]
    assert redis["image"].startswith("redis:7")
    command = " ".join(redis["command"])
    for flag in ("--appendonly yes", "--appendfsync everysec", "--maxmemory-policy noeviction"):
        assert flag in command
    # A bound: without one, noeviction only stops at the host's memory (or the OOM killer).
    assert re.search(r"--maxmemory \d+[kmg]b\b", command), command
    assert "healthcheck" in redis and redis["volumes"]
    worker = services["worker"]
    (device,) = worker["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["count"] == 1 and "gpu" in device["capabilities"]
    assert any(v.startswith("model-cache:") for v in worker["volumes"])
    grace = int(re.match(r"(\d+)s", worker["stop_grace_period"]).group(1))
    assert grace > Limits().job_timeout_s  # SIGTERM lets the current job finish
    assert services["rq-dashboard"]["profiles"] == ["dashboard"]
    assert services["bot"]["depends_on"]["redis"]["condition"] == "service_healthy"


def _compose_default(value: str) -> str:
    """`${VAR:-default}` → default (what compose uses when VAR is unset)."""
    match = re.fullmatch(r"\$\{(\w+):-(.*)\}", value)
    assert match, value
    return match.group(2)


def test_compose_sentinel_profile_is_a_primary_a_replica_and_three_sentinels():
    from albumify.connections import parse_sentinel_url

    compose = load_compose()
    services = compose["services"]
    nodes = ("redis-primary", "redis-replica")
    sentinels = [name for name in services if name.startswith("sentinel-")]
    assert len(sentinels) == 3
    for name in (*nodes, *sentinels):
        assert services[name]["profiles"] == ["sentinel"], name  # off unless asked for
        assert services[name]["image"].startswith("redis:7")
    for name in nodes:  # the same durability and memory bound as the single `redis`
        command = " ".join(services[name]["command"])
        for flag in ("--appendonly yes", "--maxmemory-policy noeviction"):
            assert flag in command, (name, flag)
        assert re.search(r"--maxmemory \d+[kmg]b\b", command), command
        assert f"--replica-announce-ip {name}" in command  # reachable by name once promoted
        assert services[name]["volumes"] and "healthcheck" in services[name]
    assert "--replicaof redis-primary 6379" in " ".join(services["redis-replica"]["command"])
    monitors = set()
    for name in sentinels:
        script = "\n".join(services[name]["command"])
        assert "--sentinel" in script
        monitor = re.search(r"sentinel monitor (\S+) (\S+) (\d+) (\d+)", script)
        assert monitor, script
        service, host, port, quorum = monitor.groups()
        assert (host, port) == ("redis-primary", "6379")
        assert 2 * int(quorum) > len(sentinels)  # a majority agrees before a fail-over
        monitors.add(service)
        assert services[name]["environment"]["SENTINEL_NAME"] == name
    # Without the profile's variables, bot and worker keep the single Redis.
    for name in ("bot", "worker"):
        url = services[name]["environment"]["REDIS_URL"]
        assert _compose_default(url) == "redis://redis:6379/0"
    # The URL the header tells operators to set names these sentinels and that service.
    header = (ROOT / "docker-compose.yml").read_text().split("\nservices:", 1)[0]
    documented = re.search(r"COMPOSE_REDIS_URL=(\S+)", header)
    assert documented, "the header documents COMPOSE_REDIS_URL"
    parsed = parse_sentinel_url(documented.group(1))
    assert {host for host, _ in parsed.sentinels} == set(sentinels)
    assert {parsed.service_name} == monitors
    assert "ALBUMIFY_QUEUE_REPLICAS=1" in header


def test_bot_image_installs_no_torch():
    text = (ROOT / "docker" / "bot.Dockerfile").read_text().lower()
    installs = [line for line in text.splitlines() if "pip install" in line]
    assert installs and not any("torch" in line for line in installs)
    assert "pip install --no-cache-dir --no-deps ." in text
    assert "torch" in (ROOT / "docker" / "worker.Dockerfile").read_text()


def copied(dockerfile: Path) -> set[str]:
    """What the image takes from the build context (every COPY source)."""
    return {
        source
        for line in dockerfile.read_text().splitlines()
        if line.startswith("COPY ")
        for source in line.split()[1:-1]
        if not source.startswith("--")
    }


def test_no_image_ships_dev_tools_tests_or_bench():
    dockerfiles = sorted((ROOT / "docker").glob("*Dockerfile"))
    assert len(dockerfiles) >= 2
    for dockerfile in dockerfiles:
        # "." would copy the whole checkout, dev tools and all.
        assert not {"devtools", "tests", "bench", "."} & copied(dockerfile), dockerfile.name


@pytest.mark.parametrize(
    ("dockerfile", "rooms"),
    [
        ("bot.Dockerfile", {"albumify", "bot"}),
        ("worker.Dockerfile", {"albumify", "imaging", "models", "index", "worker"}),
    ],
)
def test_each_image_copies_only_the_rooms_it_runs(dockerfile, rooms):
    sources = copied(ROOT / "docker" / dockerfile)
    assert sources - {"pyproject.toml", "README.m[d]"} == rooms


ROOMS = ("albumify", "bot", "worker", "imaging", "models", "index", "devtools")
NOT_IN_THE_BOT_IMAGE = ("torch", "torchvision", "ultralytics", "cv2", "numpy", "PIL")
IMAGE_RUN = """
import sys
for name in {absent!r}:
    sys.modules[name] = None  # what the image lacks cannot be imported
from albumify import cli
args = cli.build_parser().parse_args({command!r})
import importlib
for module in {entry!r}:
    importlib.import_module(module)
print(*(cli.main(other) for other in {others!r}))
"""


@pytest.mark.parametrize(
    ("dockerfile", "command", "entry", "others", "also_absent"),
    [
        ("bot.Dockerfile", ["bot"], ["bot.app", "bot.cover.cog", "bot.leaderboard.cog"],
         [["worker"], ["index", "info", "x"], ["demo"]], NOT_IN_THE_BOT_IMAGE),
        ("worker.Dockerfile", ["worker"], ["worker.service", "worker.job", "worker.pipeline"],
         [["bot"], ["demo"]], ()),
    ],
)  # fmt: skip
def test_each_image_runs_its_command_with_only_what_it_copies(
    dockerfile, command, entry, others, also_absent
):
    """The image's CMD parses and its entry points import with only the rooms it copies; a
    subcommand whose room is not in the image says so (exit 2) instead of a traceback."""
    absent = tuple(r for r in ROOMS if r not in copied(ROOT / "docker" / dockerfile))
    code = IMAGE_RUN.format(
        absent=absent + also_absent, command=command, entry=entry, others=others
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["2"] * len(others)
    for other in others:
        assert f"`albumify {other[0]}` needs the" in done.stderr
    assert "Traceback" not in done.stderr


def test_env_example_documents_every_setting():
    text = (ROOT / ".env.example").read_text()
    for name in (
        "DISCORD_TOKEN",
        "REDIS_URL",
        "DEV_GUILD_ID",
        "DISCORD_API_BASE",
        "DISCORD_GATEWAY_URL",
        "ALBUMIFY_CDN_HOSTS",
        "ALBUMIFY_MESSAGE_CONTENT",
        "ALBUMIFY_SHARDS",
    ):
        assert name in text
    from dataclasses import fields

    for f in fields(Limits):
        assert f.metadata["env"] in text, f.metadata["env"]


def test_the_set_up_and_the_worker_image_install_mediapipe_files_without_its_dependencies():
    """Its model files are read (models.litert), never imported: its dependencies (numpy < 2,
    the GUI OpenCV) must not come with it. LiteRT, which runs them, is a dependency."""
    for path in (ROOT / "Makefile", ROOT / "docker" / "worker.Dockerfile"):
        lines = [line for line in path.read_text().splitlines() if "mediapipe==0.10.21" in line]
        assert lines and all("--no-deps" in line for line in lines), path.name
    assert '"ai-edge-litert' in (ROOT / "pyproject.toml").read_text()


def test_the_set_up_and_the_worker_image_install_the_nudenet_model_without_its_dependencies():
    """The content check reads `nudenet/320n.onnx` (models.nudity), never imports nudenet: its
    dependencies must not come with it. onnxruntime, which runs the model, is a dependency."""
    for path in (ROOT / "Makefile", ROOT / "docker" / "worker.Dockerfile"):
        lines = [line for line in path.read_text().splitlines() if "nudenet==3.4.2" in line]
        assert lines and all("--no-deps" in line for line in lines), path.name
    assert '"onnxruntime' in (ROOT / "pyproject.toml").read_text()
