"""Every environment variable and limit, with its documented default, in one place.

Both the bot (which never imports torch) and the worker read their configuration from here,
so a limit means the same thing on both sides of the queue.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

import platformdirs

from albumify.errors import ConfigError
from albumify.shards import ShardRange, parse_shards

DISCORD_CDN_HOSTS = ("cdn.discordapp.com", "media.discordapp.net")
DEFAULT_API_BASE = "https://discord.com/api/v10"
DEFAULT_GATEWAY_URL = "wss://gateway.discord.gg/"


def _cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir("albumify"))


def _env_str(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    return raw in {"1", "true", "yes", "on"}


COMPILE_MODES = ("off", "compile", "cudagraphs")
"""``ALBUMIFY_COMPILE``: eager (default), ``torch.compile``, or compile with CUDA graphs."""


def parse_compile_mode(raw: str | None) -> str:
    """``ALBUMIFY_COMPILE`` -> one of :data:`COMPILE_MODES` (empty = off); else a clear error.

    Parsed here rather than beside the models because the bot reads settings without torch.
    """
    value = (raw or "").strip().lower() or "off"
    if value not in COMPILE_MODES:
        raise ValueError(f"ALBUMIFY_COMPILE must be one of {', '.join(COMPILE_MODES)}, got {raw!r}")
    return value


@dataclass(frozen=True)
class Limits:
    """Product limits. Each is overridable by the env var named in its metadata."""

    max_pixels: int = field(default=50_000_000, metadata={"env": "ALBUMIFY_MAX_PIXELS"})
    """Photos above this many pixels are refused (decompression bombs are far above)."""
    max_download_bytes: int = field(
        default=25 * 1024 * 1024, metadata={"env": "ALBUMIFY_MAX_DOWNLOAD_BYTES"}
    )
    """Attachment size cap, checked before and while reading the body."""
    download_timeout_s: float = field(default=20.0, metadata={"env": "ALBUMIFY_DOWNLOAD_TIMEOUT"})
    job_timeout_s: int = field(default=120, metadata={"env": "ALBUMIFY_JOB_TIMEOUT"})
    """RQ job timeout: a job running longer is killed and retried (at most twice)."""
    faces_job_timeout_s: int = field(default=60, metadata={"env": "ALBUMIFY_FACES_JOB_TIMEOUT"})
    """The detect job behind "Use another face" (one face detection, a small preview)."""
    upload_limit_bytes: int = field(
        default=10 * 1024 * 1024, metadata={"env": "ALBUMIFY_UPLOAD_LIMIT"}
    )
    """Fallback when an interaction carries no attachment_size_limit (Discord's default)."""
    member_quota: int = field(default=5, metadata={"env": "ALBUMIFY_MEMBER_QUOTA"})
    member_window_s: int = field(default=600, metadata={"env": "ALBUMIFY_MEMBER_WINDOW"})
    guild_quota: int = field(default=60, metadata={"env": "ALBUMIFY_GUILD_QUOTA"})
    guild_window_s: int = field(default=600, metadata={"env": "ALBUMIFY_GUILD_WINDOW"})
    queue_cap: int = field(default=200, metadata={"env": "ALBUMIFY_QUEUE_CAP"})
    """Requests beyond this many queued jobs (all guilds) are refused with a 'busy, try later'."""
    guild_queue_cap: int = field(default=50, metadata={"env": "ALBUMIFY_GUILD_QUEUE_CAP"})
    """A guild's requests beyond this many of its covers waiting in the fair queue are refused
    ("this server has … in line"): one guild's burst cannot fill the global cap."""
    fair_buffer_per_worker: int = field(
        default=1, metadata={"env": "ALBUMIFY_FAIR_BUFFER_PER_WORKER"}
    )
    """New covers wait in the fair queue (round-robin by guild) and move into RQ's queue while
    it holds fewer than this many jobs per live worker (at least 1): a smaller buffer keeps
    the wait of a quiet guild's cover short (`albumify.fairqueue`)."""
    fair_feed_interval_s: float = field(
        default=0.5, metadata={"env": "ALBUMIFY_FAIR_FEED_INTERVAL"}
    )
    """How often each bot process tops RQ's queue up from the fair queue (workers also do so
    before each job they take, and the bot right after each enqueue)."""
    dedup_window_s: int = field(default=60, metadata={"env": "ALBUMIFY_DEDUP_WINDOW"})
    """A member's identical request (same photo, same options) within this window is pointed
    at the first one: while it is made, and once it is posted (a link to the cover)."""
    admission_timeout_s: float = field(default=10.0, metadata={"env": "ALBUMIFY_ADMISSION_TIMEOUT"})
    """How long the bot waits on Redis to admit and queue an acknowledged request before it
    tells the member "busy, try again in a minute" (Redis restarting, paused or swamped)."""
    queue_replicas: int = field(default=0, metadata={"env": "ALBUMIFY_QUEUE_REPLICAS"})
    """Replicas that must have a job before the member is told it is queued (`WAIT`, see
    `albumify.replication`): 0 for a single Redis; 1 with a Sentinel-managed primary/replica."""
    queue_ack_timeout_s: float = field(default=2.0, metadata={"env": "ALBUMIFY_QUEUE_ACK_TIMEOUT"})
    """How long an enqueue waits for those replicas; without them in time the job is taken
    back and the member told to try again. Less than `admission_timeout_s`."""
    photo_ttl_s: int = field(default=3600, metadata={"env": "ALBUMIFY_PHOTO_TTL"})
    """How long a photo is kept for re-rolls; attachment URLs expire, so we keep bytes."""
    kept_photo_bytes: int = field(default=512 * 1024, metadata={"env": "ALBUMIFY_KEPT_PHOTO_BYTES"})
    """A kept photo is the decoded working image (long side ≤ 1280 px) as a JPEG of at most
    this many bytes, stored once a cover was made from it (never the upload itself)."""
    consent_ttl_s: int = field(default=600, metadata={"env": "ALBUMIFY_CONSENT_TTL"})
    """How long a photo's author may answer a request for a cover of their photo (Approve /
    Decline); after that the request expires and nothing is made."""
    consent_decline_ttl_s: int = field(
        default=30 * 24 * 3600, metadata={"env": "ALBUMIFY_CONSENT_DECLINE_TTL"}
    )
    """How long an author's Decline is remembered for that photo and requester (final: the
    author is not asked again, the member is told the author declined)."""
    progress_interval_s: float = field(default=2.0, metadata={"env": "ALBUMIFY_PROGRESS_INTERVAL"})
    title_max_chars: int = field(default=60, metadata={"env": "ALBUMIFY_TITLE_MAX"})
    artist_max_chars: int = field(default=40, metadata={"env": "ALBUMIFY_ARTIST_MAX"})
    cover_size: int = field(default=1024, metadata={"env": "ALBUMIFY_COVER_SIZE"})
    maintenance_interval_s: int = field(
        default=30, metadata={"env": "ALBUMIFY_MAINTENANCE_INTERVAL"}
    )
    """How often a worker re-queues abandoned jobs (a killed worker's) and cleans registries."""
    abandoned_grace_s: int = field(default=60, metadata={"env": "ALBUMIFY_ABANDONED_GRACE"})
    """A started job whose worker stopped answering is abandoned `job_timeout_s` + this
    many seconds after it started; the next maintenance pass retries it (RQ's own grace is 60)."""
    heartbeat_ttl_s: int = field(default=30, metadata={"env": "ALBUMIFY_HEARTBEAT_TTL"})
    """TTL of `albumify:worker:<name>:heartbeat`, refreshed every third of it (idle or busy)."""
    discord_invalid_budget: int = field(
        default=1000, metadata={"env": "ALBUMIFY_DISCORD_INVALID_BUDGET"}
    )
    """401/403/429 answers one worker process accepts per 10 minutes before it stops calling
    Discord until the window frees up. Discord bans an IP at 10,000 per 10 minutes: keep
    (workers per host) × this well below that."""
    nsfw_threshold: float = field(default=0.5, metadata={"env": "ALBUMIFY_NSFW_THRESHOLD"})
    """Content safety (`worker.safety`): a photo whose NudeNet score for an exposed class
    reaches this is refused outside age-restricted channels. Strictly between 0 and 1: lower
    refuses more (0 would refuse every photo), and the check cannot be turned off."""
    vote_grace_s: int = field(default=3600, metadata={"env": "ALBUMIFY_VOTE_GRACE"})
    """Votes on a cover of a closed week/month still count on that period's board this long
    after the period ends (UTC); after it the board is final."""
    awards_delay_s: int = field(default=3900, metadata={"env": "ALBUMIFY_AWARDS_DELAY"})
    """Cover of the Week/Month: the board is read (once) and posted this long after the
    period ends; at least `vote_grace_s` (the default leaves 5 minutes for clock skew)."""
    awards_interval_s: float = field(default=60.0, metadata={"env": "ALBUMIFY_AWARDS_INTERVAL"})
    """How often each bot process looks for an award that is due."""
    leader_lease_s: float = field(default=30.0, metadata={"env": "ALBUMIFY_LEADER_LEASE"})
    """The "done once" loops (status log line, retention sweep) run in one bot process: the
    holder of a Redis lease this long, renewed every third of it. When the holder stops, another
    process takes over within about this long (`albumify.lease`)."""

    def __post_init__(self) -> None:
        if not 0.0 < self.nsfw_threshold < 1.0:
            raise ConfigError(
                "ALBUMIFY_NSFW_THRESHOLD must be a number between 0 and 1 (exclusive; default "
                f"0.5, lower refuses more), got {self.nsfw_threshold!r}: the content check "
                "cannot be turned off"
            )
        if self.queue_replicas < 0:
            raise ConfigError("ALBUMIFY_QUEUE_REPLICAS must be 0 (no replica) or more")
        if self.queue_replicas and not 0 < self.queue_ack_timeout_s < self.admission_timeout_s:
            raise ConfigError(
                "ALBUMIFY_QUEUE_ACK_TIMEOUT must be above 0 and below ALBUMIFY_ADMISSION_TIMEOUT"
            )
        if self.awards_delay_s < self.vote_grace_s:
            raise ConfigError(
                "ALBUMIFY_AWARDS_DELAY must be at least ALBUMIFY_VOTE_GRACE "
                "(the award must read a board that no longer changes)"
            )

    @classmethod
    def from_env(cls) -> Limits:
        values = {}
        for f in fields(cls):
            env = f.metadata["env"]
            reader = _env_float if isinstance(f.default, float) else _env_int
            values[f.name] = reader(env, f.default)
        return cls(**values)


@dataclass(frozen=True)
class Settings:
    """Deployment configuration read from the environment (see `.env.example`)."""

    discord_token: str = field(default="", repr=False)
    redis_url: str = "redis://127.0.0.1:6379/0"
    """The queue (RQ), and the state too unless `state_redis_url` is set."""
    state_redis_url: str = ""
    """`ALBUMIFY_STATE_REDIS_URL`: where Albumify's own keys live when not with the queue:
    a `redis://` URL, or `redis+cluster://host:port[,host:port…]` for a Redis Cluster (RQ
    does not run on a cluster, so the queue stays on `REDIS_URL`). Empty: `REDIS_URL`."""
    dev_guild_id: int | None = None
    weights_dir: Path = field(default_factory=lambda: _cache_dir() / "weights")
    index_dir: Path | None = None
    """None = the generated starter library (built on first use)."""
    message_content_intent: bool = False
    api_base: str = DEFAULT_API_BASE
    gateway_url: str = DEFAULT_GATEWAY_URL
    cdn_hosts: tuple[str, ...] = DISCORD_CDN_HOSTS
    cdn_hosts_explicit: bool = False
    """True when ALBUMIFY_CDN_HOSTS was set: listed hosts may then be plain http."""
    queue_name: str = "albumify"
    backend: str = "auto"
    compile_mode: str = "off"
    """How the worker runs pSp and ResNet50: eager, compiled, or compiled with CUDA graphs
    (see models/compile.py); compilation happens at start-up, never in a job."""
    limits: Limits = field(default_factory=Limits)
    clock_offset_file: Path | None = None
    """Tests and demos only (`ALBUMIFY_CLOCK_OFFSET_FILE`): a file holding seconds that the
    awards scheduler adds to the time, so a test can move past a period's end."""
    shards: ShardRange | None = None
    """`ALBUMIFY_SHARDS`: None (`auto`, the default) = this one process opens every shard,
    as many as `GET /gateway/bot` says; `0-3/16` = this process owns shards 0 to 3 of 16
    (`albumify.shards`, docs/operating.md "Sharding")."""

    def __post_init__(self) -> None:
        parse_compile_mode(self.compile_mode)  # a typo fails at start-up, not silently

    @classmethod
    def from_env(cls) -> Settings:
        guild = os.environ.get("DEV_GUILD_ID", "").strip()
        index = os.environ.get("ALBUMIFY_INDEX", "").strip()
        offset_file = os.environ.get("ALBUMIFY_CLOCK_OFFSET_FILE", "").strip()
        hosts_raw = os.environ.get("ALBUMIFY_CDN_HOSTS", "").strip()
        hosts = tuple(h.strip().lower() for h in hosts_raw.split(",") if h.strip())
        return cls(
            discord_token=os.environ.get("DISCORD_TOKEN", "").strip(),
            redis_url=_env_str("REDIS_URL", cls.redis_url),
            state_redis_url=_env_str("ALBUMIFY_STATE_REDIS_URL", ""),
            dev_guild_id=int(guild) if guild else None,
            weights_dir=Path(_env_str("ALBUMIFY_WEIGHTS", str(_cache_dir() / "weights"))),
            index_dir=Path(index) if index else None,
            message_content_intent=_env_bool("ALBUMIFY_MESSAGE_CONTENT", False),
            api_base=_env_str("DISCORD_API_BASE", DEFAULT_API_BASE).rstrip("/"),
            gateway_url=_env_str("DISCORD_GATEWAY_URL", DEFAULT_GATEWAY_URL),
            cdn_hosts=hosts or DISCORD_CDN_HOSTS,
            cdn_hosts_explicit=bool(hosts),
            queue_name=_env_str("ALBUMIFY_QUEUE", "albumify"),
            backend=_env_str("ALBUMIFY_BACKEND", "auto"),
            compile_mode=parse_compile_mode(os.environ.get("ALBUMIFY_COMPILE")),
            limits=Limits.from_env(),
            clock_offset_file=Path(offset_file) if offset_file else None,
            shards=parse_shards(os.environ.get("ALBUMIFY_SHARDS")),
        )


def starter_index_dir() -> Path:
    """Where the generated starter library lives (built on first use)."""
    return Path(_env_str("ALBUMIFY_CACHE", str(_cache_dir()))) / "starter-index"


DEFAULT_ANN_MIN_ROWS = 200_000
"""From this many covers (of a wide embedder) `albumify index build` also writes the
approximate-search file (index/ann.py, needs faiss-cpu): the PCA scan it replaces takes
~8 ms per query at 100k covers and ~66 ms at 1M on one core (README, Performance)."""


def ann_min_rows() -> int:
    """`ALBUMIFY_ANN_MIN_ROWS`: read when an index is written, not when it is searched."""
    value = _env_int("ALBUMIFY_ANN_MIN_ROWS", DEFAULT_ANN_MIN_ROWS)
    if value < 1:
        raise ConfigError(f"ALBUMIFY_ANN_MIN_ROWS must be at least 1, got {value}")
    return value
