"""Bot decisions (validate → consent → quota/dedup → enqueue) against a real Redis."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys

import pytest
import redis.asyncio as aioredis
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer

from albumify import keys
from albumify.connections import async_state_redis, sync_state_redis
from albumify.results import ResultRecord, ResultStore
from albumify.schema import CoverJob
from albumify.settings import Limits, Settings
from bot.cover.intake import BUSY, NOT_YOURS, CoverRequest, Intake
from bot.cover.queue_watch import watch_queue
from bot.utils.images import ImageCandidate, first_image

NOW = 1_750_000_000.0
CDN = "https://cdn.discordapp.com/attachments/1/2/me.png?ex=1&is=2&hm=3"


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def image(**overrides) -> ImageCandidate:
    values = dict(url=CDN, filename="me.png", content_type="image/png", size=1000, attachment_id=2)
    values.update(overrides)
    return ImageCandidate(**values)


def request(request_id: int = 1000, **overrides) -> CoverRequest:
    values = dict(
        request_id=request_id,
        guild_id=1,
        channel_id=2,
        requester_id=3,
        photo_author_id=3,
        image=image(attachment_id=request_id),
        application_id=77,
        token="secret-interaction-token",
        created_at=NOW,
        attachment_size_limit=8 * 1024 * 1024,
    )
    values.update(overrides)
    return CoverRequest(**values)


@pytest.fixture
def harness(redis_url, redis_sync, state_url):
    """Runs a coroutine factory `fn(intake, clock)` with a fresh async client in its own loop.
    The queue is on `redis_url`; the state on `state_url` (the same, or a Redis Cluster):
    `harness.state` is a bytes client on it, as the worker's."""
    queue = Queue("albumify", connection=redis_sync, serializer=JSONSerializer)
    state_redis_url = "" if state_url == redis_url else state_url
    state = sync_state_redis(Settings(redis_url=redis_url, state_redis_url=state_redis_url))

    def run(fn, limits: Limits | None = None):
        async def main():
            settings = Settings(
                redis_url=redis_url, state_redis_url=state_redis_url, limits=limits or Limits()
            )
            client = async_state_redis(settings)
            clock = Clock()
            try:
                return await fn(Intake(client, queue, settings, clock=clock), clock)
            finally:
                await client.aclose()

        return asyncio.run(main())

    run.queue = queue
    run.state = state
    yield run
    state.close()


# -- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        (None, "couldn't find a photo"),
        (image(content_type="application/pdf", filename="cv.pdf"), "isn't a photo"),
        (image(content_type="video/mp4", filename="clip.mp4"), "isn't a photo"),
        (image(size=26 * 1024 * 1024), "too large"),
        (image(url="https://evil.example/me.png"), "uploaded to Discord"),
        (image(url="http://cdn.discordapp.com/me.png"), "uploaded to Discord"),
    ],
    ids=["none", "pdf", "video", "too-large", "other-host", "plain-http"],
)
def test_validation_refuses_at_once(harness, candidate, expected):
    admission = harness(lambda intake, _: intake.admit(request(image=candidate)))
    assert not admission.ok and expected in admission.message
    assert harness.queue.count == 0


def test_member_text_is_length_limited(harness):
    limits = Limits(title_max_chars=10)
    admission = harness(lambda i, _: i.admit(request(title="x" * 11)), limits)
    assert not admission.ok and "at most 10" in admission.message


def test_content_type_guessed_from_name_and_parameters_ignored():
    assert image(content_type=None, filename="a.JPG").media_type == "image/jpeg"
    assert image(content_type="image/png; charset=x").media_type == "image/png"


# -- consent --------------------------------------------------------------------------------


def test_someone_elses_photo_needs_the_server_setting(harness):
    async def scenario(intake, _):
        refused = await intake.admit(request(photo_author_id=99))
        approved = await intake.admit(request(1002, photo_author_id=99, author_approved=True))
        assert approved.ok and not approved.needs_consent  # its author pressed Approve
        await intake.guilds.update(1, allow_others=True)
        allowed = await intake.admit(request(1001, photo_author_id=99))
        return (
            refused,
            allowed,
            await intake.redis.hget("albumify:{1}:settings", "allow_others"),
        )

    refused, allowed, stored = harness(scenario)
    assert not refused.ok and refused.message == NOT_YOURS and refused.needs_consent
    assert allowed.ok and not allowed.needs_consent and stored == "1"


# -- quotas and dedup -----------------------------------------------------------------------


def test_member_quota_says_when_to_try_again_and_the_window_slides(harness):
    async def scenario(intake, clock):
        results = []
        for n in range(6):
            clock.now = NOW + n
            results.append(await intake.admit(request(2000 + n)))
        clock.now = NOW + 600.5  # the first request left the 10-minute window
        results.append(await intake.admit(request(3000)))
        return results

    results = harness(scenario)
    assert [r.ok for r in results] == [True] * 5 + [False, True]
    assert "5 covers in the last 10 minutes" in results[5].message
    assert f"<t:{int(NOW + 600)}:R>" in results[5].message


def test_a_quota_check_without_reserving_says_what_admission_would(harness):
    """Asking a photo's author first checks the quotas but spends no slot (`quota_refusal`)."""

    async def scenario(intake, clock):
        seen = []
        for n in range(6):
            clock.now = NOW + n
            seen.append(await intake.quota_refusal(request(5000 + n)))
            admission = await intake.admit(request(5000 + n))
            seen.append(None if admission.ok else admission.message)
        other = request(5200, requester_id=4, photo_author_id=4)
        seen.append(await intake.quota_refusal(other))  # the guild's window is full too
        clock.now = NOW + 600.5  # the first request left the 10-minute window
        seen.append(await intake.quota_refusal(request(5100)))
        return seen

    seen = harness(scenario, Limits(member_quota=5, guild_quota=5))
    assert seen[:10] == [None] * 10  # five checks then five admissions: checks took nothing
    assert seen[10] == seen[11]  # the sixth: the check says what admission says
    assert "5 covers in the last 10 minutes" in seen[10] and f"<t:{int(NOW + 600)}:R>" in seen[10]
    assert seen[12] is not None and "This server" in seen[12]
    assert seen[13] is None


def test_guild_quota_counts_every_member(harness):
    async def scenario(intake, clock):
        return [
            await intake.admit(request(4000 + n, requester_id=n, photo_author_id=n))
            for n in range(3)
        ]

    results = harness(scenario, Limits(guild_quota=2))
    assert [r.ok for r in results] == [True, True, False]
    assert "This server" in results[2].message and "<t:" in results[2].message


def test_queue_cap_refuses_when_the_queue_is_full(harness):
    async def scenario(intake, clock):
        first = await intake.admit(request(5000))
        await intake.enqueue(request(5000), first)
        return await intake.admit(request(5001))

    refused = harness(scenario, Limits(queue_cap=1))
    assert not refused.ok and "busy" in refused.message


def test_same_attachment_within_the_window_points_at_the_queued_job(harness):
    async def scenario(intake, clock):
        req = request(6000, image=image(attachment_id=42))
        first = await intake.admit(req)
        await intake.enqueue(req, first, response_message_id=6500)
        again = await intake.admit(request(6001, image=image(attachment_id=42)))
        other = await intake.admit(request(6002, image=image(attachment_id=43)))
        count = await intake.redis.zcard(keys.member_quota(1, 3))
        return first, again, other, count

    first, again, other, count = harness(scenario)
    assert first.ok and other.ok
    assert again.reused and not again.ok and again.job_id == first.job_id
    assert again.message.endswith("it's being made: https://discord.com/channels/1/2/6500")
    assert count == 2  # the duplicate cost no quota


def test_other_options_are_another_request(harness):
    """Title, artist and advisory are part of what makes two requests the same."""

    async def scenario(intake, clock):
        plain = request(6100, image=image(attachment_id=44))
        first = await intake.admit(plain)
        await intake.enqueue(plain, first)
        variants = [
            dict(title="Liftoff"),
            dict(artist="Alice"),
            dict(advisory=True),
            dict(title="Liftoff", artist="Alice", advisory=True),
        ]
        return [
            await intake.admit(request(6101 + n, image=image(attachment_id=44), **options))
            for n, options in enumerate(variants)
        ]

    assert [a.ok for a in harness(scenario)] == [True] * 4


def test_a_duplicate_of_a_posted_cover_links_to_it_and_of_a_failed_one_is_new(harness, redis_sync):
    state = harness.state
    from albumify.results import save_result

    async def scenario(intake, clock):
        answers = []
        for n, ending in enumerate(("posted", "deleted", "failed", "never-queued")):
            req = request(6200 + 10 * n, image=image(attachment_id=45 + n))
            first = await intake.admit(req)
            if ending != "never-queued":
                job = await intake.enqueue(req, first, response_message_id=777)
            if ending in ("posted", "deleted"):
                record = ResultRecord(str(req.request_id), 1, 2, 3, 3, message_id=888 + n)
                if ending == "posted":
                    save_result(state, record)
                state.set(keys.job_result(1, job.job_id), record.result_id)
            if ending == "failed":
                stored = Job.fetch(job.job_id, connection=redis_sync, serializer=JSONSerializer)
                stored.set_status("failed")
            answers.append(
                await intake.admit(request(6201 + 10 * n, image=image(attachment_id=45 + n)))
            )
        return answers

    posted, deleted, failed, never = harness(scenario, Limits(member_quota=50))
    assert posted.reused and posted.message.endswith(
        "here it is: https://discord.com/channels/1/2/888"
    )
    assert deleted.ok and failed.ok and never.ok  # nothing will answer: a new cover


def test_release_gives_back_the_reservation_even_before_it_lands(harness):
    async def scenario(intake, clock):
        req = request(6300, image=image(attachment_id=50))
        admitted = await intake.admit(req)
        await intake.release(req, admitted.job_id)
        after_release = (
            await intake.redis.zcard(keys.member_quota(1, 3)),
            await intake.redis.exists(intake.dedup_key(req)),
        )
        late = request(6301, image=image(attachment_id=51))  # its release arrives first
        await intake.release(late, "albumify-cover-6301")
        landed = await intake.admit(late)
        again = await intake.admit(request(6302, image=image(attachment_id=50)))
        return after_release, landed, again, await intake.redis.zcard(keys.member_quota(1, 3))

    after_release, landed, again, count = harness(scenario)
    assert after_release == (0, 0)
    assert not landed.ok and landed.message == BUSY
    assert again.ok and count == 1  # the released request left no quota slot or dedup key


# -- enqueue --------------------------------------------------------------------------------


def test_enqueue_keeps_the_token_out_of_the_job(harness, redis_sync):
    async def scenario(intake, clock):
        clock.now = NOW + 60
        req = request(7000, title="Hello", image=image(filename="SPOILER_me.png"))
        admission = await intake.admit(req)
        return await intake.enqueue(req, admission, response_message_id=555)

    job = harness(scenario)
    stored = Job.fetch(job.job_id, connection=redis_sync, serializer=JSONSerializer)
    assert stored.func_name == "worker.job.make_cover"
    assert stored.retries_left == 2 and stored.retry_intervals == [5, 30]
    assert stored.timeout == Limits().job_timeout_s
    assert stored.meta["stage"] == "queued"
    payload = CoverJob.from_dict(stored.args[0])
    assert payload == job and payload.photo.spoiler and payload.response_message_id == 555
    assert payload.token_expires_at == NOW + 900
    raw = redis_sync.hget(stored.key, "data") or b""
    assert b"secret-interaction-token" not in raw
    assert "secret" not in (stored.description or "")
    assert harness.state.get(keys.token(job.job_id)) == b"secret-interaction-token"
    assert 0 < harness.state.ttl(keys.token(job.job_id)) <= 840


def test_queue_state_reports_position_until_started(harness):
    async def scenario(intake, clock):
        jobs = []
        for n in range(2):
            req = request(8000 + n)
            jobs.append(await intake.enqueue(req, await intake.admit(req)))
        return [await intake.queue_state(j.job_id) for j in jobs], await intake.queue_state("x")

    states, missing = harness(scenario)
    assert states == [("queued", 0), ("queued", 1)]
    assert missing == ("missing", None)


# -- re-roll --------------------------------------------------------------------------------


def _store_result(redis_sync, *, photo_kept: bool = True) -> None:
    redis_sync.hset(
        keys.result(1, "r1"),
        mapping={
            "guild": "1",
            "channel": "2",
            "message": "9",
            "requester": "3",
            "photo_author": "3",
            "library_ids": json.dumps(["a", "b"]),
            "photo_hash": "f" * 64,
            "spoiler": "0",
            "seed": "7",
        },
    )
    if photo_kept:
        redis_sync.set(keys.photo("f" * 64), b"png", ex=60)


def test_reroll_excludes_covers_shown_and_needs_the_kept_photo(harness, redis_sync):
    _store_result(harness.state)

    async def scenario(intake, clock):
        results = ResultStore(intake.redis)
        result = await results.get(1, "r1")
        stranger = await intake.admit_reroll(result, request(9000, requester_id=50))
        ok = await intake.admit_reroll(result, request(9001))
        missing = await intake.admit_reroll(await results.get(1, "nope"), request(9002))
        await intake.redis.delete(keys.photo("f" * 64))
        expired = await intake.admit_reroll(result, request(9003))
        return stranger, ok, missing, expired

    stranger, (admission, job), missing, expired = harness(scenario)
    assert not stranger[0].ok and "Only the person" in stranger[0].message
    assert admission.ok and job.exclude == ("a", "b") and job.photo.photo_hash == "f" * 64
    assert job.photo.url is None and job.rerolled_from == "r1" and job.seed == 7
    assert job.job_id != "albumify-cover-9001"
    assert not missing[0].ok and not expired[0].ok and "Post it again" in expired[0].message


def test_delete_rule():
    record = ResultRecord.from_mapping("r", {"requester": "1", "photo_author": "2"})
    assert record.may_delete(1, manages_messages=False)
    assert record.may_delete(2, manages_messages=False)
    assert record.may_delete(3, manages_messages=True)
    assert not record.may_delete(3, manages_messages=False)


# -- progress edits while queued -------------------------------------------------------------


def test_queue_edits_are_throttled_and_stop_once_started():
    clock = Clock(0.0)
    states = iter([("queued", 3)] * 3 + [("queued", 2)] * 2 + [("queued", 1)] + [("started", None)])
    edits: list[str] = []

    async def state():
        return next(states)

    async def edit(text):
        edits.append(text)

    async def sleep(seconds):
        clock.now += seconds

    count = asyncio.run(watch_queue(state, edit, interval=2.0, sleep=sleep, clock=clock))
    # Polls every 1 s; the position changes at t=3 and t=5, but edits wait 2 s between them.
    assert edits == [
        "⏳ Queued — position 4 in line…",
        "⏳ Queued — position 3 in line…",
        "⏳ Queued — position 2 in line…",
    ]
    assert count == 3


# -- the bot side stays small ---------------------------------------------------------------


def test_first_image_prefers_attachments_and_skips_non_images():
    class Attachment:
        def __init__(self, name, content_type):
            self.id, self.url, self.filename = 1, CDN, name
            self.content_type, self.size = content_type, 10

        def is_spoiler(self):
            return self.filename.startswith("SPOILER_")

    found = first_image(
        [
            Attachment("a.txt", "text/plain"),
            Attachment("SPOILER_b.png", "image/png"),
            Attachment("c.png", "image/png"),
        ]
    )
    assert found.filename == "SPOILER_b.png" and found.spoiler


def test_button_ids_match_the_workers_custom_ids():
    from albumify.buttons import result_buttons
    from bot.cover.buttons import DeleteButton, RerollButton
    from bot.cover.edit import EditButton
    from bot.leaderboard.views import VoteButton

    reroll, delete, vote, edit = (b["custom_id"] for b in result_buttons("1234567890"))
    templates = {
        "vote": VoteButton.__discord_ui_compiled_template__,
        "reroll": RerollButton.__discord_ui_compiled_template__,
        "delete": DeleteButton.__discord_ui_compiled_template__,
        "edit": EditButton.__discord_ui_compiled_template__,
    }
    named = (("vote", vote), ("reroll", reroll), ("delete", delete), ("edit", edit))
    for name, custom_id in named:
        matches = {k for k, template in templates.items() if re.match(template, custom_id)}
        assert matches == {name}, (custom_id, matches)
    assert re.match(templates["reroll"], reroll)["result_id"] == "1234567890"


def test_bot_never_imports_torch():
    code = (
        "import sys, bot.app, bot.cover.cog, bot.leaderboard.cog, bot.status.cog;"
        "heavy = ('torch', 'torchvision', 'ultralytics', 'requests');"
        "bad = [m for m in heavy if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_setup_loads_the_cog_and_its_persistent_buttons(redis_url):
    from bot.app import EXTENSIONS
    from bot.client import AlbumifyBot

    async def scenario():
        bot = AlbumifyBot(Settings(redis_url=redis_url))
        bot.redis = aioredis.Redis.from_url(redis_url, decode_responses=True)  # as setup_hook
        try:
            for extension in EXTENSIONS:
                await bot.load_extension(extension)
            commands = {c.name for c in bot.tree.get_commands()}
            menus = {
                c.name
                for c in bot.tree.get_commands(type=__import__("discord").AppCommandType.message)
            }
            in_dms = {
                c.name
                for c in bot.tree.get_commands(type=None)
                if c.allowed_contexts is None or c.allowed_contexts.dm_channel
            }
            assert in_dms == {"albumify-forget"}  # the one command offered in DMs too
            return commands, menus, set(bot._connection._view_store._dynamic_items)
        finally:
            await bot.redis.aclose()
            await bot.close()

    commands, menus, dynamic = asyncio.run(scenario())
    assert {"albumify", "leaderboard", "cover", "albumify-config", "albumify-forget"} <= commands
    assert "albumify-forget-member" in commands
    assert menus == {"Albumify"}
    assert len(dynamic) == 9  # Vote, Re-roll, Delete, Edit, Cancel, Use another face, the face
    # select, and the consent prompt's Approve, Decline
    assert not AlbumifyBot(Settings()).intents.message_content
    assert AlbumifyBot(Settings(message_content_intent=True)).intents.message_content


def test_channel_restriction_refuses_other_channels(harness, redis_sync):
    from albumify import keys

    harness.state.hset(keys.guild_settings(1), "channels", "555555,666666")

    async def scenario(intake, clock):
        refused = await intake.admit(request(channel_id=777777))
        allowed = await intake.admit(request(request_id=1001, channel_id=555555))
        return refused, allowed

    try:
        refused, allowed = harness(scenario)
    finally:
        harness.state.hdel(keys.guild_settings(1), "channels")
    assert not refused.ok and "<#555555>" in refused.message and "<#666666>" in refused.message
    assert allowed.ok
