"""Every Redis key Albumify writes, in one place (RQ's own `rq:…` keys are RQ's).

Each key is a template with named fields; code calls the functions below and passes every
key a script or a transaction touches in `KEYS` (no script builds a key name), so a key name
is spelled once. Everything lives under `albumify:`.

Redis Cluster (layout 4, `albumify.migrations`): every key that a script or a transaction
touches together with others carries its guild as a hash tag, `albumify:{<guild>}:…`, so a
guild's results, votes, boards, member counters, quotas and consent requests share one hash
slot. What spans guilds (`USER_GUILDS`, `POSTED_GUILDS`, `AWARDS_GUILDS`, kept photos,
workers) is untagged and only ever read or written one key at a time; so are a job's own keys
(its token, its outcome…), except the two that admission and posting write atomically with
the guild's keys (`JOB_RESULT`, `ADMISSION_CANCELLED`), which carry the guild.
"""

from __future__ import annotations

PREFIX = "albumify"
GUILD = PREFIX + ":{{{guild}}}"
"""A guild's hash tag: `albumify:{123}` (the braces are literal; `{guild}` is the field)."""

# -- jobs: the bot writes, the worker reads -------------------------------------------------
TOKEN = PREFIX + ":token:{job_id}"
"""Interaction token for a job: a secret, so never in job args (RQ logs those)."""
PHOTO = PREFIX + ":photo:{photo_hash}"
"""A photo kept for re-rolls (attachment URLs expire), by the sha256 of what was uploaded: the
decoded working image re-encoded as a JPEG of at most `Limits.kept_photo_bytes`, written only
once a cover was made from it; `Limits.photo_ttl_s`."""
JOB_RESULT = GUILD + ":job:{job_id}:result"
"""Which result a finished job produced (lets a duplicate request point at it)."""
JOB_STARTED = PREFIX + ":job:{job_id}:started"
"""Set by the worker when it takes over the job's message (the bot stops editing it)."""
QUEUE_EDIT = PREFIX + ":job:{job_id}:queue-edit"
"""Held by the bot while a 'queued' edit is in flight; the worker waits for it."""
JOB_OUTCOME = PREFIX + ":job:{job_id}:outcome"
"""Cancel vs. finish, claimed once (`albumify.cancel`): "cancelled" by the bot's Cancel button
(the worker reads it at every stage boundary), "finishing" by the worker just before it posts
the cover. Whoever sets it first wins; `cancel.OUTCOME_TTL_S`."""
STATUS_MESSAGE = PREFIX + ":job:{job_id}:status-message"
"""A reply-mention request's "working on it" reply (its message id): it carries the Cancel
button, and whoever sees the cover posted (bot or worker) deletes it."""

QUEUE_ACK = PREFIX + ":queue:ack"
"""The bot's write after an enqueue, on the queue's Redis, that `WAIT` then waits for a
replica to have (`albumify.replication`): WAIT counts a connection's last write, and
replication is one ordered stream, so a replica that has this has the job queued before it."""

# -- admission: quotas and duplicates -------------------------------------------------------
MEMBER_QUOTA = GUILD + ":quota:member:{user}"
GUILD_QUOTA = GUILD + ":quota:guild"
DEDUP_REQUEST = GUILD + ":dedup:{user}:request:{identity}"
"""The bot's: the job of a member's request (an attachment + the cover options), for
`Limits.dedup_window_s` (`albumify.schema.request_identity`)."""
DEDUP_PHOTO = GUILD + ":dedup:{user}:photo:{identity}"
"""The worker's: the same photo bytes (another upload of them) + the same cover options.
Both dedup keys live a minute; layout 2's `…:attachment:<id>` and `…:sha256:<hash>` keys
(options not counted) are no longer read and expire by themselves."""
ADMISSION_CANCELLED = GUILD + ":job:{job_id}:cancelled"
"""Written when the bot gave up admitting or queueing a request (Redis too slow, enqueue
failed): a reservation or a job that lands late is refused, so a member told "busy" gets no
surprise cover and keeps no quota slot."""

# -- the fair queue: new covers wait here per guild, then move into RQ (`albumify.fairqueue`)
# On the queue's Redis (RQ's connection), never on the state Redis: the feeder moves a job
# from here into RQ's list atomically. `{queue}` is the RQ queue's name.
FAIR_PENDING = PREFIX + ":fair:{queue}:pending"
"""Sorted set: job id → its turn (round × 2^20 + arrival): the jobs waiting for RQ, in the
order the feeder will move them (round-robin by guild; re-rolls and picked faces first)."""
FAIR_JOB_GUILD = PREFIX + ":fair:{queue}:job-guild"
"""Hash: a waiting job's id → its guild (its guild's count goes down when it leaves)."""
FAIR_GUILDS = PREFIX + ":fair:{queue}:guilds"
"""Hash: `n:<guild>` → how many of the guild's jobs wait (the per-guild queued cap); the field
goes once nothing of the guild waits."""
FAIR_ROUNDS = PREFIX + ":fair:{queue}:rounds"
"""Sorted set: guild → the round of its last queued new cover; a guild whose round has passed
is dropped at the next move (it would get the current round anyway)."""
FAIR_CLOCK = PREFIX + ":fair:{queue}:clock"
"""Hash: `round` (the round of the last job moved into RQ), `seq` (arrivals, for ties)."""

# -- results: one hash per cover we made, and who voted for it ------------------------------
RESULT = GUILD + ":result:{result_id}"
"""The record of a result (`albumify.results.ResultRecord`): ids, never CDN URLs. Kept while
its message is up; until it is posted it expires (`results.UNPOSTED_TTL_S`)."""
REROLL = GUILD + ":result:{result_id}:reroll"
"""What a re-roll of the result needs beside its kept photo (photo hash, title, artist, the
library covers shown…): expires with the kept photo, so no member text outlives it."""
LAYERS = GUILD + ":result:{result_id}:layers"
"""What an edit re-composites from (`imaging.layers`): the cover art, the styled photo, the
person's matte (encoded) and the layout choice; expires with the kept photo, and goes with
the result (Delete, `/albumify-forget`)."""
VOTERS = GUILD + ":result:{result_id}:voters"
POSTED = GUILD + ":results:posted"
"""Sorted set: posted result → when the bot last looked at its message on Discord (unix s;
0: never). It looks again at the oldest, and drops the results whose message or channel is
gone (`bot.leaderboard.retention`). One per guild (a cluster spreads them)."""
POSTED_GUILDS = PREFIX + ":results:posted-guilds"
"""Set: the guilds with a `POSTED` index, for the retention sweep (added before a result is
indexed, so a sweep never misses one; a guild whose index is empty leaves it)."""
MESSAGE = GUILD + ":msg:{message_id}"
"""A posted result's message id → its result id (moderation by link, deleted messages)."""

# -- leaderboards ---------------------------------------------------------------------------
BOARD = GUILD + ":lb:{by}:{period}"
"""Sorted set; `by` is covers|creators, `period` is all, week:2026-W48 or month:2026-11."""
MEMBER_COVERS = GUILD + ":member:{user}:covers"
MEMBER_VOTES = GUILD + ":member:{user}:votes"
MEMBER_PHOTO_COVERS = GUILD + ":member:{user}:photo-covers"
"""Posted results made by others of the member's photo (`/albumify-forget` removes them too)."""
MEMBER_JOBS = GUILD + ":member:{user}:jobs"
"""RQ job ids of the member's requests and of requests of their photo (a day, as RQ keeps
failed jobs): `/albumify-forget` cancels them or removes their hashes."""
USER_GUILDS = PREFIX + ":user:{user}:guilds"
"""Where `/albumify-forget` must look."""
FORGOTTEN = GUILD + ":forgotten:{user}"
"""When the member was last forgotten in the guild (unix time), for as long as a job made
before could still finish: a worker then drops that job's cover instead of keeping it."""

# -- consent: a photo's author approves a cover of it (`albumify.consent`) ------------------
CONSENT_REQUEST = GUILD + ":consent:request:{request_id}"
"""Hash: a request waiting for the photo's author (`state` pending, the ids, the job fields
the bot admits on Approve — never a token), `Limits.consent_ttl_s`; once answered only the
ids and `state` stay, `consent.ANSWERED_TTL_S`, so a late click is told it was answered."""
CONSENT_ASKED = GUILD + ":consent:{requester}:{photo}:asked"
"""The pending request of a member for a photo (its request id): a second request while it
waits does not ask the author again. Lives as long as the request."""
CONSENT_DECLINED = GUILD + ":consent:{requester}:{photo}:declined"
"""The author declined the member's request for this photo (attachment id): final, for
`Limits.consent_decline_ttl_s` (30 days)."""

# -- servers and processes ------------------------------------------------------------------
GUILD_SETTINGS = GUILD + ":settings"
"""Hash: `self_votes`, `channels`, `allow_others` ("1"/"0"); awards: `awards_channel`,
`awards_period` (week|month|both|off), `winner_role`, `awards_since` (unix s)."""
AWARDS_GUILDS = PREFIX + ":awards:guilds"
"""Set: the guilds with a Cover of the Week/Month channel (the scheduler walks these)."""
AWARDS_CLAIM = GUILD + ":awards:{period}:claim"
"""SET NX by the one bot process that posts the guild's award for `period` (`week:2026-W48`,
`month:2026-11`), with a short TTL: if that process dies, another may take over."""
AWARDS_DONE = GUILD + ":awards:{period}:done"
"""Hash: what became of the period's award (`posted`, `empty`, `undeliverable`), written before
the claim is released; kept `awards.DONE_TTL_S`."""
AWARDS_ROLE_HOLDER = GUILD + ":awards:role-holder"
"""Hash: `role`, `member`: who the bot last handed the winner role to (it takes it back)."""
WORKER_HEARTBEAT = PREFIX + ":worker:{name}:heartbeat"
"""Refreshed by each `albumify worker` (TTL `Limits.heartbeat_ttl_s`)."""
WORKERS = PREFIX + ":workers"
"""Sorted set: worker name → when its heartbeat lapses (unix s). One ZCOUNT counts the live
workers, where a SCAN for heartbeat keys would walk the whole keyspace."""
LEADER = PREFIX + ":leader:{loop}"
"""Which bot process runs a "done once" loop (`albumify.lease`): its owner id, with a TTL of
`Limits.leader_lease_s` that the holder renews; SET NX decides, so one process holds it."""
IDENTIFY_BUCKET = PREFIX + ":gateway:identify:{bucket}"
"""Taken for 5 s before a shard IDENTIFYs (`bot.shards`): bucket = shard id % Discord's
`max_concurrency`, shared by every bot process of the application."""
LAYOUT = PREFIX + ":meta:layout"
"""Which key layout the data is in (`albumify.migrations`)."""

LEGACY_COVER = PREFIX + ":cover:{result_id}"
LEGACY_COVER_VOTERS = PREFIX + ":cover:{result_id}:voters"
"""Layout 1 kept a result in two hashes (`result:` by the worker, `cover:` by the boards)."""

LAYOUT3 = {
    "result": PREFIX + ":result:{result_id}",
    "reroll": PREFIX + ":result:{result_id}:reroll",
    "layers": PREFIX + ":result:{result_id}:layers",
    "voters": PREFIX + ":result:{result_id}:voters",
    "posted": PREFIX + ":results:posted",
    "message": PREFIX + ":msg:{message_id}",
    "board": PREFIX + ":lb:{guild}:{by}:{period}",
    "member_covers": PREFIX + ":member:{guild}:{user}:covers",
    "member_votes": PREFIX + ":member:{guild}:{user}:votes",
    "member_photo_covers": PREFIX + ":member:{guild}:{user}:photo-covers",
    "member_jobs": PREFIX + ":member:{guild}:{user}:jobs",
    "guild_settings": PREFIX + ":guild:{guild}:settings",
    "awards_done": PREFIX + ":awards:{guild}:{period}:done",
    "awards_role_holder": PREFIX + ":awards:{guild}:role-holder",
    "consent_declined": PREFIX + ":consent:{guild}:{requester}:{photo}:declined",
    "job_result": PREFIX + ":job:{job_id}:result",
    "forgotten": PREFIX + ":forgotten:{guild}:{user}",
}
"""Layout 3's names of the keys layout 4 moved under their guild's hash tag (the migration
reads them; short-lived ones it lets expire are listed in `albumify.migrations`)."""


def token(job_id: str) -> str:
    return TOKEN.format(job_id=job_id)


def photo(photo_hash: str) -> str:
    return PHOTO.format(photo_hash=photo_hash)


def job_result(guild_id: int | str, job_id: str) -> str:
    return JOB_RESULT.format(guild=guild_id, job_id=job_id)


def job_started(job_id: str) -> str:
    return JOB_STARTED.format(job_id=job_id)


def queue_edit(job_id: str) -> str:
    return QUEUE_EDIT.format(job_id=job_id)


def job_outcome(job_id: str) -> str:
    return JOB_OUTCOME.format(job_id=job_id)


def status_message(job_id: str) -> str:
    return STATUS_MESSAGE.format(job_id=job_id)


def member_quota(guild_id: int | str, member_id: int | str) -> str:
    return MEMBER_QUOTA.format(guild=guild_id, user=member_id)


def guild_quota(guild_id: int | str) -> str:
    return GUILD_QUOTA.format(guild=guild_id)


def dedup_request(guild_id: int | str, member_id: int | str, identity: str) -> str:
    return DEDUP_REQUEST.format(guild=guild_id, user=member_id, identity=identity)


def dedup_photo(guild_id: int | str, member_id: int | str, identity: str) -> str:
    return DEDUP_PHOTO.format(guild=guild_id, user=member_id, identity=identity)


def member_dedup_keys(guild_id: int | str, member_id: int | str) -> str:
    """A SCAN pattern: both kinds of a member's dedup keys in one guild (`[{]`, `[}]`: the
    hash tag's braces, literally)."""
    return PREFIX + f":[{{]{guild_id}[}}]:dedup:{member_id}:*"


def admission_cancelled(guild_id: int | str, job_id: str) -> str:
    return ADMISSION_CANCELLED.format(guild=guild_id, job_id=job_id)


def result(guild_id: int | str, result_id: str) -> str:
    return RESULT.format(guild=guild_id, result_id=result_id)


def reroll(guild_id: int | str, result_id: str) -> str:
    return REROLL.format(guild=guild_id, result_id=result_id)


def layers(guild_id: int | str, result_id: str) -> str:
    return LAYERS.format(guild=guild_id, result_id=result_id)


def voters(guild_id: int | str, result_id: str) -> str:
    return VOTERS.format(guild=guild_id, result_id=result_id)


def posted(guild_id: int | str) -> str:
    return POSTED.format(guild=guild_id)


def message(guild_id: int | str, message_id: int | str) -> str:
    return MESSAGE.format(guild=guild_id, message_id=message_id)


def board(guild_id: int | str, by: str, period: str) -> str:
    """`period` is `all`, `week:2026-W48` or `month:2026-11` (see `Periods.key`)."""
    return BOARD.format(guild=guild_id, by=by, period=period)


def member_covers(guild_id: int | str, user_id: int | str) -> str:
    return MEMBER_COVERS.format(guild=guild_id, user=user_id)


def member_votes(guild_id: int | str, user_id: int | str) -> str:
    return MEMBER_VOTES.format(guild=guild_id, user=user_id)


def member_photo_covers(guild_id: int | str, user_id: int | str) -> str:
    return MEMBER_PHOTO_COVERS.format(guild=guild_id, user=user_id)


def forgotten(guild_id: int | str, user_id: int | str) -> str:
    return FORGOTTEN.format(guild=guild_id, user=user_id)


def member_jobs(guild_id: int | str, user_id: int | str) -> str:
    return MEMBER_JOBS.format(guild=guild_id, user=user_id)


def user_guilds(user_id: int | str) -> str:
    return USER_GUILDS.format(user=user_id)


def guild_settings(guild_id: int | str) -> str:
    return GUILD_SETTINGS.format(guild=guild_id)


def awards_claim(guild_id: int | str, period: str) -> str:
    return AWARDS_CLAIM.format(guild=guild_id, period=period)


def awards_done(guild_id: int | str, period: str) -> str:
    return AWARDS_DONE.format(guild=guild_id, period=period)


def awards_role_holder(guild_id: int | str) -> str:
    return AWARDS_ROLE_HOLDER.format(guild=guild_id)


def leader(loop: str) -> str:
    return LEADER.format(loop=loop)


def identify_bucket(bucket: int) -> str:
    return IDENTIFY_BUCKET.format(bucket=bucket)


def worker_heartbeat(name: str) -> str:
    return WORKER_HEARTBEAT.format(name=name)


def consent_request(guild_id: int | str, request_id: int | str) -> str:
    return CONSENT_REQUEST.format(guild=guild_id, request_id=request_id)


def consent_asked(guild_id: int | str, requester_id: int | str, photo: str) -> str:
    return CONSENT_ASKED.format(guild=guild_id, requester=requester_id, photo=photo)


def consent_declined(guild_id: int | str, requester_id: int | str, photo: str) -> str:
    return CONSENT_DECLINED.format(guild=guild_id, requester=requester_id, photo=photo)


def fair_pending(queue: str) -> str:
    return FAIR_PENDING.format(queue=queue)


def fair_job_guild(queue: str) -> str:
    return FAIR_JOB_GUILD.format(queue=queue)


def fair_guilds(queue: str) -> str:
    return FAIR_GUILDS.format(queue=queue)


def fair_rounds(queue: str) -> str:
    return FAIR_ROUNDS.format(queue=queue)


def fair_clock(queue: str) -> str:
    return FAIR_CLOCK.format(queue=queue)
