"""Workers die: SIGKILL mid-job, SIGTERM mid-job, health heartbeats, structured logs, and
payloads that are not JSON. Real worker processes (`tests.support.worker_main`: the real RQ
loop with the fast fake pipeline and a test-only stage delay so signals land mid-job).
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import threading
import time

import pytest
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer

from albumify import keys
from albumify.settings import Settings
from bot.cover.intake import CoverRequest
from bot.utils.images import ImageCandidate
from tests.support import fake_pipeline
from tests.support.processes import (
    BOT_TOKEN,
    FINAL_STATES,
    WorkerProcess,
    Workers,
    answers,
    bot_queue,
    enqueue_like_the_bot,
    fault_settings,
    job_status,
    wait_until,
)
from tests.support.worker_main import DONE_KEY, STARTED_KEY
from worker.service import build_worker

APP = 55
JOB_TIMEOUT_S = 6
DELAY_S = 2.0


@pytest.fixture
def logs_dir(tmp_path):
    return tmp_path


@pytest.fixture
def settings(redis_url) -> Settings:
    return fault_settings(redis_url, JOB_TIMEOUT_S)


@pytest.fixture
def workers(fake_rest, redis_url, logs_dir):
    """Start worker processes; every one is stopped (and its scheduler reaped) at the end."""
    started = Workers(
        redis_url, fake_rest.api_base, logs_dir, ALBUMIFY_TEST_STAGE_DELAY=str(DELAY_S)
    )
    yield started
    started.stop()


def request(fake_rest, request_id: int) -> CoverRequest:
    url = fake_rest.add_file(f"/attachments/3/{request_id}/me.png", fake_pipeline.png_bytes())
    return CoverRequest(
        request_id=request_id,
        guild_id=42,
        channel_id=2,
        requester_id=request_id,
        photo_author_id=request_id,
        image=ImageCandidate(url, "me.png", "image/png", 100, attachment_id=request_id),
        application_id=APP,
        token=f"tok-{request_id}",
        attachment_size_limit=8 * 1024 * 1024,
    )


def submit(fake_rest, redis_url, redis_sync, settings, request_id: int) -> str:
    queue = bot_queue(redis_sync, settings)
    (job,) = enqueue_like_the_bot(redis_url, queue, settings, [request(fake_rest, request_id)])
    return job.job_id


def running_on(redis_sync, job_id: str, timeout: float = 60) -> int:
    """The pid of the worker that is inside the job's slow stage."""
    raw = wait_until(lambda: redis_sync.get(STARTED_KEY.format(job_id=job_id)), timeout, job_id)
    return int(raw)


def registered(redis_sync, worker: WorkerProcess) -> None:
    wait_until(lambda: redis_sync.exists(keys.worker_heartbeat(worker.name)), 60, worker.name)


# -- SIGKILL ----------------------------------------------------------------------------------


def test_killed_worker_job_is_retried_elsewhere_and_answered_once(
    fake_rest, redis_url, redis_sync, settings, workers
):
    one, two = workers("worker-one"), workers("worker-two")
    registered(redis_sync, one)
    registered(redis_sync, two)
    first = submit(fake_rest, redis_url, redis_sync, settings, 7001)
    busy = running_on(redis_sync, first)  # that worker is busy: the next job goes to the other
    victim = submit(fake_rest, redis_url, redis_sync, settings, 7002)
    doomed_pid = running_on(redis_sync, victim)
    assert {busy, doomed_pid} == {one.pid, two.pid}
    doomed, survivor = (one, two) if doomed_pid == one.pid else (two, one)
    # Only the worker process dies; an RQ scheduler it forked may live on, as it would in a
    # container whose main process was OOM-killed (the test reaps it afterwards).
    doomed.signal(signal.SIGKILL)
    doomed.wait(10)
    redis_sync.delete(STARTED_KEY.format(job_id=victim))

    # The survivor's maintenance pass finds the abandoned job, RQ retries it, the survivor runs it.
    # Safety net below RQ's own 60 s grace: the configured grace is what makes this quick.
    assert running_on(redis_sync, victim, timeout=40) == survivor.pid
    wait_until(lambda: job_status(redis_sync, victim) in FINAL_STATES, 60, "the retried job")
    assert job_status(redis_sync, victim) == "finished"
    assert job_status(redis_sync, first) == "finished"
    for request_id in (7001, 7002):
        (answer,) = answers(fake_rest, APP, f"tok-{request_id}")
        assert answer.files["files[0]"][0] == "albumify.jpg"
    assert survivor.alive()


def test_worker_killed_after_answering_does_not_answer_twice(
    fake_rest, redis_url, redis_sync, settings, workers
):
    """Killed between posting the cover and RQ marking the job done: the retry sees the
    recorded answer and posts nothing."""
    doomed = workers(
        "answers-then-dies", ALBUMIFY_TEST_STAGE_DELAY="0", ALBUMIFY_TEST_DONE_DELAY="60"
    )
    registered(redis_sync, doomed)
    victim = submit(fake_rest, redis_url, redis_sync, settings, 7051)
    wait_until(lambda: redis_sync.get(DONE_KEY.format(job_id=victim)), 60, "the answer")
    assert len(answers(fake_rest, APP, "tok-7051")) == 1
    # How many progress edits came first depends on the machine's load; none may follow.
    edits_before_the_kill = len(fake_rest.calls("PATCH", "/webhooks/55/tok-7051/"))
    doomed.signal(signal.SIGKILL)
    doomed.wait(10)

    survivor = workers("mops-up", ALBUMIFY_TEST_STAGE_DELAY="0")
    registered(redis_sync, survivor)
    # Safety net below RQ's own 60 s grace, as above.
    wait_until(lambda: job_status(redis_sync, victim) in FINAL_STATES, 40, "the retried job")
    assert job_status(redis_sync, victim) == "finished"
    (answer,) = answers(fake_rest, APP, "tok-7051")
    assert answer.files
    assert len(fake_rest.calls("PATCH", "/webhooks/55/tok-7051/")) == edits_before_the_kill


# -- SIGTERM ----------------------------------------------------------------------------------


def test_sigterm_finishes_the_current_job_then_exits(
    fake_rest, redis_url, redis_sync, settings, workers
):
    worker = workers("warm-shutdown")
    registered(redis_sync, worker)
    current = submit(fake_rest, redis_url, redis_sync, settings, 7101)
    assert running_on(redis_sync, current) == worker.pid
    waiting = submit(fake_rest, redis_url, redis_sync, settings, 7102)

    worker.signal(signal.SIGTERM)
    assert worker.wait(60) == 0
    assert job_status(redis_sync, current) == "finished"
    (answer,) = answers(fake_rest, APP, "tok-7101")
    assert answer.files
    # It took no new job after the signal: the next one waits for another worker.
    assert job_status(redis_sync, waiting) == "queued"
    assert answers(fake_rest, APP, "tok-7102") == []


def test_warm_shutdown_does_not_wait_a_minute_for_the_pubsub_listener(redis_url, redis_sync):
    """The interleaving that made SIGTERM hang for 60 s: the listener thread reads RQ's
    UNSUBSCRIBE reply before RQ stops it, then waits for a subscription that never comes."""
    worker = build_worker(Settings(redis_url=redis_url), connection=redis_sync, name="listener")
    worker.subscribe()
    pubsub, listener = worker.pubsub, worker.pubsub_thread
    send_unsubscribe = pubsub.unsubscribe

    def unsubscribe_and_let_the_listener_read_the_reply(*args, **kwargs):
        send_unsubscribe(*args, **kwargs)
        wait_until(lambda: not pubsub.subscribed or not listener.is_alive(), 10, "the reply")

    pubsub.unsubscribe = unsubscribe_and_let_the_listener_read_the_reply
    stopping = threading.Thread(target=worker.unsubscribe, daemon=True)
    stopping.start()
    stopping.join(20)  # a safety net: the hang this prevents lasts 60 s
    assert not stopping.is_alive() and not listener.is_alive()


# -- health -----------------------------------------------------------------------------------


def test_heartbeat_key_lives_while_idle_and_during_long_jobs_and_dies_with_the_worker(
    fake_rest, redis_url, redis_sync, settings, workers
):
    ttl = 2
    worker = workers("beating", ALBUMIFY_HEARTBEAT_TTL=str(ttl), ALBUMIFY_TEST_STAGE_DELAY="3")
    key = keys.worker_heartbeat(worker.name)
    registered(redis_sync, worker)

    def sample_until(stop) -> list[dict]:
        seen = []
        while not stop():
            raw = redis_sync.get(key)
            assert raw is not None, "heartbeat key expired while the worker was alive"
            assert 0 < redis_sync.ttl(key) <= ttl
            seen.append(json.loads(raw))
            time.sleep(0.1)
        return seen

    idle_until = time.monotonic() + 1.6 * ttl  # longer than the TTL: it must be refreshed
    idle = sample_until(lambda: time.monotonic() > idle_until)
    assert {beat["pid"] for beat in idle} == {worker.pid}
    assert redis_sync.zscore(keys.WORKERS, worker.name) > time.time()  # counted as live

    job_id = submit(fake_rest, redis_url, redis_sync, settings, 7201)
    running_on(redis_sync, job_id)
    busy = sample_until(lambda: job_status(redis_sync, job_id) in FINAL_STATES)
    assert any(beat["job_id"] == job_id and beat["state"] == "busy" for beat in busy)

    worker.signal(signal.SIGKILL)
    worker.wait(10)
    wait_until(lambda: not redis_sync.exists(key), 3 * ttl, "the dead worker's key to expire")
    assert redis_sync.zcount(keys.WORKERS, f"({time.time()}", "+inf") == 0  # no longer live


# -- structured logs and secrets --------------------------------------------------------------


def test_json_logs_carry_job_and_guild_ids_and_never_a_token(
    fake_rest, redis_url, redis_sync, settings, workers
):
    worker = workers(
        "json-logs",
        ALBUMIFY_LOG_FORMAT="json",
        ALBUMIFY_LOG_LEVEL="DEBUG",
        ALBUMIFY_TEST_STAGE_DELAY="0",
    )
    registered(redis_sync, worker)
    job_id = submit(fake_rest, redis_url, redis_sync, settings, 7301)
    wait_until(lambda: job_status(redis_sync, job_id) in FINAL_STATES, 60, job_id)
    worker.stop()

    stderr = worker.stderr_path.read_text()
    everything = worker.logs()
    token = "tok-7301"
    assert answers(fake_rest, APP, token)  # the job really used the webhook
    assert token not in everything
    assert f"/webhooks/{APP}/{token}" not in everything
    assert BOT_TOKEN not in everything

    assert "--- Logging error ---" not in stderr, stderr[-6000:]  # a record that failed
    records = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    assert records and all({"ts", "level", "logger", "message"} <= set(r) for r in records)
    in_job = [r for r in records if r["job_id"] == job_id]
    assert {r["guild_id"] for r in in_job} == {"42"}
    loggers = {r["logger"] for r in in_job}
    assert "rq.worker" in loggers  # RQ's own lines about the job
    assert any(name.startswith("urllib3") for name in loggers)  # the HTTP calls, redacted
    assert any("/webhooks/55/<token>" in r["message"] for r in in_job)


# -- serialization ----------------------------------------------------------------------------


class Exploit:
    """Unpickling this runs a shell command (creates a marker file)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_worker_queues_use_the_json_serializer(redis_sync, settings):
    worker = build_worker(settings, connection=redis_sync, name="serializer-check")
    assert worker.serializer is JSONSerializer
    assert [q.serializer for q in worker.queues] == [JSONSerializer]
    assert worker.log_job_description is False


def test_pickled_job_is_refused_without_unpickling(
    fake_rest, redis_url, redis_sync, settings, workers, tmp_path
):
    marker = tmp_path / "pwned"
    pickled_queue = Queue(settings.queue_name, connection=redis_sync)  # RQ's default: pickle
    evil = pickled_queue.enqueue("worker.job.make_cover", Exploit(str(marker)))
    raw = redis_sync.hget(evil.key, "data")
    assert b"system" in __import__("zlib").decompress(raw)  # it really is a pickle
    with pytest.raises(Exception):  # noqa: B017 - any refusal, as long as nothing runs
        JSONSerializer.loads(__import__("zlib").decompress(raw))

    worker = workers("pickle-refuser", ALBUMIFY_TEST_STAGE_DELAY="0")
    wait_until(lambda: not redis_sync.lrange(pickled_queue.key, 0, -1), 60, "the dequeue")
    good = submit(fake_rest, redis_url, redis_sync, settings, 7401)
    wait_until(lambda: job_status(redis_sync, good) in FINAL_STATES, 60, "the next job")

    assert not marker.exists()
    assert worker.alive()
    assert job_status(redis_sync, good) == "finished"  # the same process goes on working
    status = Job(evil.id, connection=redis_sync, serializer=JSONSerializer).get_status()
    assert getattr(status, "value", status) == "failed"  # DeserializationError, nothing ran
    assert not marker.exists()


def test_pickle_fixture_is_a_real_exploit(tmp_path):
    marker = tmp_path / "proof"
    pickle.loads(pickle.dumps(Exploit(str(marker))))
    assert marker.exists()  # so the absence above means the worker never unpickled it
