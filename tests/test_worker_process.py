"""End to end: a job enqueued the way the bot enqueues it, run by a real worker process with
the real pipeline, posts the cover to the loopback Discord as an edit of the original response.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import subprocess
import sys

import redis.asyncio as aioredis
from PIL import Image
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer

from albumify.schema import CoverOutcome
from albumify.settings import Limits, Settings
from bot.cover.intake import CoverRequest, Intake
from bot.utils.images import ImageCandidate
from tests.conftest import ROOT
from tests.test_migrations import assert_migrated, seed_layout_1

TOKEN = "tok-e2e-secret"


def test_real_worker_posts_the_cover(fake_rest, redis_url, redis_sync, example_photo):
    url = fake_rest.add_file("/attachments/10/20/astronaut.png", example_photo.read_bytes())
    settings = Settings(
        redis_url=redis_url, cdn_hosts=("127.0.0.1",), cdn_hosts_explicit=True, limits=Limits()
    )
    queue = Queue("albumify", connection=redis_sync, serializer=JSONSerializer)
    request = CoverRequest(
        request_id=1_234_567_890_123,
        guild_id=1,
        channel_id=2,
        requester_id=3,
        photo_author_id=3,
        image=ImageCandidate(url, "astronaut.png", "image/png", 100_000, attachment_id=20),
        title="Liftoff",
        application_id=77,
        token=TOKEN,
        attachment_size_limit=8 * 1024 * 1024,
    )

    async def enqueue():
        client = aioredis.Redis.from_url(redis_url, decode_responses=True)
        try:
            intake = Intake(client, queue, settings)
            admission = await intake.admit(request)
            assert admission.ok, admission.message
            return await intake.enqueue(request, admission, response_message_id=4)
        finally:
            await client.aclose()

    job = asyncio.run(enqueue())
    seed_layout_1(redis_sync)  # an upgraded deployment: the worker migrates it at start

    env = dict(
        os.environ,
        REDIS_URL=redis_url,
        DISCORD_TOKEN="bot-token",
        DISCORD_API_BASE=fake_rest.api_base,
        ALBUMIFY_CDN_HOSTS="127.0.0.1",
        ALBUMIFY_COVER_SIZE="256",
    )
    done = subprocess.run(
        [sys.executable, "-m", "worker", "--burst", "--name", "e2e-worker"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert TOKEN not in done.stdout + done.stderr  # never logged
    assert "Liftoff" not in done.stderr  # job descriptions (arguments) are not logged
    # Start-up is logged whole: a fresh process spends real time importing torch.
    ready = re.search(
        r"start-up took ([\d.]+) s \(interpreter and imports ([\d.]+) s, loading ([\d.]+) s",
        done.stdout + done.stderr,
    )
    assert ready, done.stderr[-3000:]
    total, imports, loading = map(float, ready.groups())
    assert 0 < imports < total and loading < total

    finished = Job.fetch(job.job_id, connection=redis_sync, serializer=JSONSerializer)
    outcome = CoverOutcome.from_dict(finished.return_value())
    assert outcome.status == "posted", finished.meta
    assert finished.meta["stage"] == "done"

    final = fake_rest.calls("PATCH", f"/webhooks/77/{TOKEN}/messages/@original")[-1]
    filename, data = final.files["files[0]"]
    assert filename == "albumify.jpg"
    cover = Image.open(io.BytesIO(data))
    assert cover.size == (256, 256)
    embed = final.payload["embeds"][0]
    assert "not everything can be an album cover" in embed["description"]
    assert embed["image"]["url"] == "attachment://albumify.jpg"
    buttons = final.payload["components"][0]["components"]
    assert [b["custom_id"] for b in buttons] == [
        f"albumify:reroll:{job.result_id}",
        f"albumify:delete:{job.result_id}",
        f"albumify:vote:{job.result_id}",
        f"albumify:edit:{job.result_id}",
    ]
    assert final.payload["allowed_mentions"] == {"parse": []}
    assert outcome.library_id and outcome.message_id
    assert_migrated(redis_sync, redis_url)
