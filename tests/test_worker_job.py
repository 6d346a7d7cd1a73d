"""The job's plumbing against real Redis and a loopback fake Discord (fake pipeline)."""

from __future__ import annotations

import json
import time

import pytest
import requests

from albumify import keys
from albumify.errors import BadInput
from albumify.schema import PhotoRef
from albumify.settings import Limits, Settings
from devtools.fakediscord.rest import ScriptedReply, rate_limited
from tests.support import fake_pipeline
from tests.support.jobs import TOKEN, cover_job, cover_task, worker_settings
from worker.discord_api import DiscordAPI, DiscordUnavailable
from worker.download import fetch_photo


@pytest.fixture
def settings(fake_rest, redis_url) -> Settings:
    return worker_settings(
        fake_rest.api_base, redis_url, max_download_bytes=200_000, progress_interval_s=2.0
    )


@pytest.fixture
def pipeline(settings):
    return fake_pipeline.install()


def run_task(job, settings, redis_sync, *, sleeps=None, token=TOKEN):
    return cover_task(job, settings, redis_sync, token=token, sleep=(sleeps or []).append).run()


def test_cover_edits_the_original_response_with_file_embed_and_buttons(
    fake_rest, settings, redis_sync, pipeline
):
    url = fake_rest.add_file("/attachments/1/5/me.png", fake_pipeline.png_bytes())
    outcome = run_task(cover_job(url), settings, redis_sync)

    assert outcome.status == "posted" and outcome.library_id == "lib-1"
    edits = fake_rest.calls("PATCH", f"/webhooks/99/{TOKEN}/messages/@original")
    final = edits[-1]
    assert final.files["files[0]"][0] == "albumify.jpg"
    assert final.files["files[0]"][1].startswith(b"\xff\xd8")  # JPEG
    embed = final.payload["embeds"][0]
    assert "not everything can be an album cover" in embed["description"]
    assert embed["image"] == {"url": "attachment://albumify.jpg"}
    assert "One" in embed["fields"][0]["value"] and "The Fakes" in embed["fields"][0]["value"]
    ids = [c["custom_id"] for c in final.payload["components"][0]["components"]]
    assert ids == [
        "albumify:reroll:r111",
        "albumify:delete:r111",
        "albumify:vote:r111",
        "albumify:edit:r111",
    ]
    assert final.payload["allowed_mentions"] == {"parse": []}
    assert "Authorization" not in final.headers
    record = redis_sync.hgetall(keys.result(10, "r111"))
    reroll = redis_sync.hgetall(keys.reroll(10, "r111"))
    assert json.loads(reroll[b"library_ids"]) == ["lib-1"]
    assert record[b"message"] == str(outcome.message_id).encode()
    stored = [*record.values(), *reroll.values()]
    assert b"url" not in record and not any(b"http" in v for v in stored)
    assert redis_sync.ttl(keys.result(10, "r111")) == -1  # posted: kept while the message is up
    assert 0 < redis_sync.ttl(keys.reroll(10, "r111")) <= Limits().photo_ttl_s
    assert redis_sync.ttl(keys.photo(reroll[b"photo_hash"].decode())) > 0


def test_progress_edits_are_throttled(fake_rest, settings, redis_sync, pipeline):
    url = fake_rest.add_file("/attachments/1/5/me.png", fake_pipeline.png_bytes())
    run_task(cover_job(url), settings, redis_sync)
    edits = fake_rest.calls("PATCH", "/messages/@original")
    progress = [e for e in edits if not e.files]
    # Seven stages run in well under 2 s: only the first is shown, then the result.
    assert len(progress) == 1 and "Downloading" in progress[0].payload["content"]
    assert edits[-1].files


def test_spoilered_photo_gives_spoilered_cover_without_embed_image(
    fake_rest, settings, redis_sync, pipeline
):
    url = fake_rest.add_file("/attachments/1/5/SPOILER_me.png", fake_pipeline.png_bytes())
    job = cover_job(url, photo=PhotoRef(filename="SPOILER_me.png", url=url, spoiler=True))
    run_task(job, settings, redis_sync)
    final = fake_rest.calls("PATCH", "/messages/@original")[-1]
    assert final.files["files[0]"][0] == "SPOILER_albumify.jpg"
    assert "image" not in final.payload["embeds"][0]


def test_expired_token_falls_back_to_a_channel_reply(fake_rest, settings, redis_sync, pipeline):
    url = fake_rest.add_file("/attachments/1/5/me.png", fake_pipeline.png_bytes())
    run_task(cover_job(url, token_expires_at=time.time() - 1), settings, redis_sync)
    assert fake_rest.calls("PATCH") == []
    (post,) = fake_rest.calls("POST", "/channels/20/messages")
    assert post.headers["Authorization"] == "Bot bot-token"
    assert post.payload["message_reference"]["message_id"] == 555
    assert post.files["files[0]"][0] == "albumify.jpg"


def test_webhook_404_falls_back_to_a_channel_reply(fake_rest, settings, redis_sync, pipeline):
    url = fake_rest.add_file("/attachments/1/5/me.png", fake_pipeline.png_bytes())
    fake_rest.script("PATCH", "/webhooks/", ScriptedReply(404, {"message": "Unknown Webhook"}))
    outcome = run_task(cover_job(url), settings, redis_sync)
    assert outcome.status == "posted"
    (post,) = fake_rest.calls("POST", "/channels/20/messages")
    assert post.files and post.payload["components"]


def test_rate_limit_waits_retry_after_then_succeeds(fake_rest, settings, redis_sync):
    fake_rest.script("POST", "/channels/20/", rate_limited(0.25), rate_limited(0.5))
    sleeps: list[float] = []
    api = DiscordAPI(settings.api_base, "bot-token", sleep=sleeps.append)
    message = api.create_message(20, {"content": "hi"})
    assert sleeps == [0.25, 0.5]
    assert message["id"] and len(fake_rest.calls("POST", "/channels/20/")) == 3


def test_long_rate_limit_and_persistent_5xx_are_bounded(fake_rest, settings):
    api = DiscordAPI(settings.api_base, "bot-token", sleep=lambda s: None, max_retry_after=5)
    fake_rest.script("POST", "/channels/20/", rate_limited(60))
    with pytest.raises(DiscordUnavailable, match="rate limited"):
        api.create_message(20, {"content": "hi"})
    fake_rest.script("POST", "/channels/21/", *[ScriptedReply(502, {})] * 4)
    with pytest.raises(DiscordUnavailable, match="502"):
        api.create_message(21, {"content": "hi"})
    assert len(fake_rest.calls("POST", "/channels/21/")) == api.max_attempts


def test_network_errors_never_show_the_token(settings):
    api = DiscordAPI("http://127.0.0.1:9", sleep=lambda s: None, max_attempts=2)
    with pytest.raises(DiscordUnavailable) as info:
        api.edit_original(99, TOKEN, {"content": "x"})
    assert TOKEN not in str(info.value) and info.value.__cause__ is None


def test_unreadable_photo_is_told_to_the_member(fake_rest, settings, redis_sync, pipeline):
    url = fake_rest.add_file("/attachments/1/5/me.png", b"not an image at all")
    outcome = run_task(cover_job(url), settings, redis_sync)
    assert outcome.status == "refused"
    assert list(redis_sync.scan_iter(match=keys.photo("*"))) == []  # nothing of it is kept
    final = fake_rest.calls("PATCH", "/messages/@original")[-1]
    assert "isn't an image" in final.payload["content"] and final.payload["components"] == []


def test_reroll_uses_the_kept_photo_and_excludes_shown_covers(
    fake_rest, settings, redis_sync, pipeline
):
    data = fake_pipeline.png_bytes()
    url = fake_rest.add_file("/attachments/1/5/me.png", data)
    run_task(cover_job(url), settings, redis_sync)
    digest = redis_sync.hget(keys.reroll(10, "r111"), "photo_hash").decode()
    fake_rest.requests.clear()
    reroll = cover_job(
        None,
        job_id="albumify-reroll-222",
        result_id="r222",
        photo=PhotoRef(filename="me.png", photo_hash=digest),
        exclude=("lib-1",),
        rerolled_from="r111",
    )
    outcome = run_task(reroll, settings, redis_sync)
    assert outcome.library_id == "lib-2"
    assert not [r for r in fake_rest.requests if r.path.startswith("/attachments")]
    assert json.loads(redis_sync.hget(keys.reroll(10, "r222"), "library_ids")) == ["lib-1", "lib-2"]
    # A re-roll's own re-roll fields last as long as the kept photo does, no longer.
    assert redis_sync.ttl(keys.reroll(10, "r222")) <= redis_sync.ttl(keys.photo(digest))


def test_reroll_after_the_photo_expired_says_so(fake_rest, settings, redis_sync, pipeline):
    job = cover_job(
        None, photo=PhotoRef(filename="me.png", photo_hash="0" * 64), rerolled_from="r1"
    )
    outcome = run_task(job, settings, redis_sync)
    assert outcome.status == "refused" and "Post it again" in (outcome.error or "")


def test_same_photo_within_a_minute_reuses_the_earlier_job(
    fake_rest, settings, redis_sync, pipeline
):
    data = fake_pipeline.png_bytes()
    first = fake_rest.add_file("/attachments/1/5/me.png", data)
    second = fake_rest.add_file("/attachments/1/6/again.png", data)
    run_task(cover_job(first), settings, redis_sync)
    outcome = run_task(
        cover_job(second, job_id="albumify-cover-112", result_id="r112"), settings, redis_sync
    )
    assert outcome.status == "duplicate" and outcome.result_id == "r111"
    assert len(pipeline.calls) == 1
    notice = fake_rest.calls("PATCH", "/messages/@original")[-1]
    assert "https://discord.com/channels/10/" in notice.payload["content"]


# -- downloads (SSRF guard, size cap) -------------------------------------------------------


def test_download_refuses_hosts_not_listed(settings):
    with pytest.raises(BadInput, match="uploaded to Discord"):
        fetch_photo("http://169.254.169.254/latest/meta-data", settings)
    https_only = Settings(cdn_hosts=("127.0.0.1",), cdn_hosts_explicit=False)
    with pytest.raises(BadInput):
        fetch_photo("http://127.0.0.1/x.png", https_only)


def test_download_refuses_a_redirect_to_another_host(fake_rest, settings):
    target = f"http://localhost:{fake_rest.port}/internal/secret.png"
    fake_rest.add_file("/internal/secret.png", b"secret")
    url = fake_rest.add_redirect("/attachments/1/5/me.png", target)
    with pytest.raises(BadInput):
        fetch_photo(url, settings)
    assert [r.path for r in fake_rest.requests] == ["/attachments/1/5/me.png"]


def test_download_follows_a_redirect_on_an_allowed_host(fake_rest, settings):
    fake_rest.add_file("/attachments/1/5/real.png", b"\x89PNG-bytes")
    url = fake_rest.add_redirect("/attachments/1/5/me.png", "/attachments/1/5/real.png")
    assert fetch_photo(url, settings) == b"\x89PNG-bytes"


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "streamed"])
def test_download_size_cap(fake_rest, settings, chunked):
    url = fake_rest.add_file("/attachments/1/5/big.png", b"x" * 300_000, chunked=chunked)
    with pytest.raises(BadInput, match="too large"):
        fetch_photo(url, settings, session=requests.Session())


def test_network_fault_on_the_last_attempt_tells_the_member_and_raises(
    fake_rest, settings, redis_sync, pipeline
):
    from worker.download import DownloadFailed

    url = fake_rest.base + "/api/v10/cdn-down/me.png"
    fake_rest.script("GET", "/cdn-down/", ScriptedReply(503, {}))
    with pytest.raises(DownloadFailed):
        run_task(cover_job(url), settings, redis_sync)  # no RQ job: counts as the last attempt
    notice = fake_rest.calls("PATCH", "/messages/@original")[-1]
    assert "try again" in notice.payload["content"].lower()


def test_posted_cover_is_recorded_for_the_leaderboards(fake_rest, settings, redis_sync, pipeline):
    url = fake_rest.add_file("/attachments/1/5/me.png", fake_pipeline.png_bytes())
    job = cover_job(url, result_id="r222", job_id="albumify-cover-222")
    outcome = run_task(job, settings, redis_sync)
    cover = redis_sync.hgetall(keys.result(10, "r222"))
    assert cover[b"message"] == str(outcome.message_id).encode()
    assert cover[b"library_id"] == b"lib-1"
    assert redis_sync.get(keys.message(10, outcome.message_id)) == b"r222"
    assert redis_sync.sismember(keys.member_covers(10, 30), "r222")  # on the creator's boards


def test_a_cover_of_someone_forgotten_meanwhile_is_dropped(
    fake_rest, settings, redis_sync, pipeline
):
    """`/albumify-forget` while the job ran: nothing of it is kept, and the member is told."""
    url = fake_rest.add_file("/attachments/1/5/me.png", fake_pipeline.png_bytes())
    job = cover_job(url)
    redis_sync.set(keys.forgotten(job.guild_id, job.photo_author_id), f"{time.time() + 1:.3f}")
    outcome = run_task(job, settings, redis_sync)

    assert outcome.status == "refused"
    assert not redis_sync.exists(keys.result(10, job.result_id))
    assert list(redis_sync.scan_iter("albumify:photo:*")) == []
    final = fake_rest.calls("PATCH", "/messages/@original")[-1]
    assert not final.files and "asked Albumify to forget them" in final.payload["content"]
