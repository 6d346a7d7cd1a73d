"""Members send anything: the bad-input corpus through ONE real worker process.

Every file of `tests.images` (bad, odd-but-fine, polyglots, EXIF 1–8, twenty faces, …) is
served by the loopback CDN and enqueued the way the bot enqueues it; the real pipeline runs
in a real `albumify worker` loop. Each request ends in a cover or a specific refusal posted to
its member; the worker keeps its pid, and its RSS stays bounded. The same run carries the
download guards (SSRF, also after a redirect; size caps) that a lying client could reach.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass

import pytest
import redis
from PIL import Image

from albumify import keys
from albumify.errors import BadInput
from albumify.settings import Limits, Settings
from albumify.urls import NOT_ALLOWED
from bot.cover.intake import Admission, CoverRequest
from bot.utils.images import ImageCandidate
from devtools.fakediscord.rest import FakeDiscordREST
from imaging.photo import WORKING_SIDE, decode_photo
from tests import images
from tests.support.processes import (
    FINAL_STATES,
    WorkerProcess,
    answers,
    bot_queue,
    enqueue_like_the_bot,
    job_status,
    wait_until,
    worker_env,
)

APP = 77
CAP = 2 * 1024 * 1024
RSS_GROWTH_LIMIT_KIB = 600 * 1024
"""Generous: decoding, the pipeline and allocator slack; a leak per input would exceed it."""
GENERIC = ("Something went wrong", "couldn't reach Discord")


@dataclass
class Case:
    name: str
    data: bytes | None
    kind: str  # cover | refused | either
    expected: str | None = None
    request_id: int = 0

    @property
    def token(self) -> str:
        return f"tok-{self.request_id}"


def _expected(data: bytes) -> str | None:
    try:
        decode_photo(data, max_pixels=Limits().max_pixels)
    except BadInput as err:
        return str(err)
    return None


def corpus() -> list[Case]:
    cases: list[Case] = []
    for name, data in {**images.bad_inputs(), **images.more_bad_inputs()}.items():
        cases.append(Case(name, data, "refused", _expected(data)))
    for name, data in {**images.odd_but_fine_inputs(), **images.more_fine_inputs()}.items():
        cases.append(Case(name, data, "cover"))
    for name, make in images.EITHER_INPUTS.items():
        data = make()
        cases.append(Case(name, data, "either", _expected(data)))
    return cases


@dataclass
class CorpusRun:
    cases: dict[str, Case]
    rest: FakeDiscordREST
    elsewhere: FakeDiscordREST
    worker: WorkerProcess
    pid_before: int
    pid_after: int
    rss_before_kib: int
    rss_after_kib: int
    statuses: dict[str, str]


@pytest.fixture(scope="module")
def run(redis_server, tmp_path_factory) -> CorpusRun:
    connection = redis.Redis.from_url(redis_server)
    connection.flushdb()
    rest = FakeDiscordREST().start()
    elsewhere = FakeDiscordREST().start()  # an internal service an SSRF would reach
    settings = Settings(
        redis_url=redis_server,
        cdn_hosts=("127.0.0.1",),
        cdn_hosts_explicit=True,
        limits=Limits(guild_quota=10_000, max_download_bytes=CAP),
    )
    queue = bot_queue(connection, settings)
    env = worker_env(
        redis_server,
        rest.api_base,
        ALBUMIFY_TEST_PIPELINE="real",
        ALBUMIFY_MAX_DOWNLOAD_BYTES=str(CAP),
    )
    worker = WorkerProcess(env, "corpus-worker", tmp_path_factory.mktemp("corpus-logs"))
    try:
        # Warm up: one ordinary photo, so the baseline RSS includes the loaded models.
        warm = Case("warm-up", images.encode(images.astronaut(), "PNG"), "cover")
        _submit(rest, queue, settings, redis_server, [warm], first_id=9_000)
        wait_until(
            lambda: job_status(connection, f"albumify-cover-{warm.request_id}") in FINAL_STATES,
            300,
            "the warm-up job",
        )
        pid_before, rss_before = worker.pid, worker.rss_kib()

        cases = corpus()
        _submit(rest, queue, settings, redis_server, cases, first_id=10_000)
        guards = _submit_download_guards(rest, elsewhere, queue, settings, redis_server)
        everything = cases + guards
        wait_until(
            lambda: (
                all(
                    job_status(connection, f"albumify-cover-{c.request_id}") in FINAL_STATES
                    for c in everything
                )
                or not worker.alive()
            ),
            900,
            "the corpus",
        )
        statuses = {
            c.name: job_status(connection, f"albumify-cover-{c.request_id}") for c in everything
        }
        alive_pid = worker.pid if worker.alive() else -1
        rss_after = worker.rss_kib() if worker.alive() else 0
        yield CorpusRun(
            {c.name: c for c in everything},
            rest,
            elsewhere,
            worker,
            pid_before,
            alive_pid,
            rss_before,
            rss_after,
            statuses,
        )
    finally:
        worker.stop()
        rest.stop()
        elsewhere.stop()
        connection.close()


def _submit(rest, queue, settings, redis_url, cases, *, first_id: int) -> None:
    requests = []
    for offset, case in enumerate(cases):
        case.request_id = first_id + offset
        url = rest.add_file(f"/attachments/1/{case.request_id}/{case.name}.jpg", case.data)
        requests.append(_request(case, url, size=len(case.data)))
    enqueue_like_the_bot(redis_url, queue, settings, requests)


def _request(case: Case, url: str, *, size: int | None) -> CoverRequest:
    return CoverRequest(
        request_id=case.request_id,
        guild_id=1,
        channel_id=2,
        requester_id=case.request_id,  # one member per file: no quota or dedup in the way
        photo_author_id=case.request_id,
        image=ImageCandidate(url, f"{case.name}.jpg", "image/jpeg", size, case.request_id),
        application_id=APP,
        token=case.token,
        attachment_size_limit=8 * 1024 * 1024,
    )


def _submit_download_guards(rest, elsewhere, queue, settings, redis_url) -> list[Case]:
    """Requests whose download the worker must refuse, whatever the bot let through."""
    big = os.urandom(CAP + 512 * 1024)
    secret = elsewhere.add_file("/internal/secret.png", images.encode(images.gradient(), "PNG"))
    secret_by_name = secret.replace("127.0.0.1", "localhost")
    cases = {
        "oversize-declared": rest.add_file("/attachments/1/1/big.jpg", big),
        "oversize-chunked": rest.add_file("/attachments/1/2/big.jpg", big, chunked=True),
        "redirect-elsewhere": rest.add_redirect("/attachments/1/3/r.jpg", secret_by_name),
        "url-elsewhere": secret_by_name,
    }
    expected = {
        "oversize-declared": f"That photo is too large (the limit is {CAP // 2**20} MiB).",
        "oversize-chunked": f"That photo is too large (the limit is {CAP // 2**20} MiB).",
        "redirect-elsewhere": NOT_ALLOWED,
        "url-elsewhere": NOT_ALLOWED,
    }
    out = []
    for offset, (name, url) in enumerate(cases.items()):
        case = Case(name, None, "refused", expected[name], request_id=20_000 + offset)
        request = _request(case, url, size=None)  # the size Discord reported is unknown

        _enqueue_unvalidated(redis_url, queue, settings, request)
        out.append(case)
    return out


def _enqueue_unvalidated(redis_url, queue, settings, request) -> None:
    """As if validation had been skipped (a bug, or a URL that changes after the check)."""
    import asyncio

    import redis.asyncio as aioredis

    from bot.cover.intake import Intake

    async def main():
        client = aioredis.Redis.from_url(redis_url, decode_responses=True)
        try:
            admission = Admission(True, job_id=f"albumify-cover-{request.request_id}")
            await Intake(client, queue, settings).enqueue(request, admission)
        finally:
            await client.aclose()

    asyncio.run(main())


# -- the assertions ---------------------------------------------------------------------------


def test_corpus_has_at_least_twenty_kinds(run):
    assert len([c for c in run.cases.values() if c.data is not None]) >= 20


def test_worker_process_survives_the_corpus(run):
    assert run.pid_after == run.pid_before == run.worker.pid, run.worker.logs()[-3000:]
    assert run.worker.alive()
    assert "Traceback" not in run.worker.logs()


def test_worker_memory_stays_bounded(run):
    growth = run.rss_after_kib - run.rss_before_kib
    assert growth < RSS_GROWTH_LIMIT_KIB, (run.rss_before_kib, run.rss_after_kib)


def test_every_request_gets_exactly_one_answer(run):
    for case in run.cases.values():
        assert run.statuses[case.name] == "finished", (case.name, run.statuses[case.name])
        got = answers(run.rest, APP, case.token)
        assert len(got) == 1, (case.name, [a.payload for a in got])


@pytest.mark.parametrize("kind", ["refused", "cover", "either"])
def test_each_input_ends_in_a_cover_or_its_specific_refusal(run, kind):
    checked = 0
    for case in run.cases.values():
        if case.kind != kind:
            continue
        (answer,) = answers(run.rest, APP, case.token)
        content = answer.payload.get("content") or ""
        assert not any(text in content for text in GENERIC), (case.name, content)
        if case.kind == "refused" or (case.kind == "either" and case.expected):
            assert content == f"⚠️ {case.expected}", (case.name, content)
            assert not answer.files, case.name
        else:
            filename, data = answer.files["files[0]"]
            assert filename == "albumify.jpg", case.name
            assert Image.open(io.BytesIO(data)).size == (256, 256), case.name
            assert answer.payload["embeds"][0]["image"]["url"] == "attachment://albumify.jpg"
        checked += 1
    assert checked


def test_only_validated_photos_are_kept_each_capped(run, redis_server):
    """Item 16.5: a refused file leaves nothing in Redis; a photo that made a cover is kept as
    its decoded working image, re-encoded and capped, never as the upload."""
    client = redis.Redis.from_url(redis_server)
    try:
        kept = {
            key.decode().rsplit(":", 1)[1]: client.get(key)
            for key in client.scan_iter(match=keys.photo("*"))
        }
    finally:
        client.close()
    files = [c for c in run.cases.values() if c.data is not None]
    refused = [c for c in files if c.kind == "refused" or (c.kind == "either" and c.expected)]
    covers = [c for c in files if c not in refused]
    assert refused and covers
    for case in refused:
        assert hashlib.sha256(case.data).hexdigest() not in kept, case.name
    for case in covers:
        assert kept[hashlib.sha256(case.data).hexdigest()] != case.data, case.name
    for digest, data in kept.items():  # the warm-up's photo too
        assert data.startswith(b"\xff\xd8") and len(data) <= Limits().kept_photo_bytes
        with Image.open(io.BytesIO(data)) as image:
            assert max(image.size) <= WORKING_SIDE, (digest, image.size)


def test_no_download_leaves_the_allowed_hosts(run):
    assert run.elsewhere.requests == []  # neither directly nor through the redirect
    redirected = run.rest.calls("GET", "/attachments/1/3/r.jpg")
    assert len(redirected) == 1  # the allowed hop was fetched, the next one refused
