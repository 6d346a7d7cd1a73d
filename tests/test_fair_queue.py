"""The fair queue (`albumify.fairqueue`) against a real Redis: turns by guild, re-rolls first,
places in line, removal, several feeders at once, and RQ's retry of a fair-queued job."""

from __future__ import annotations

import threading

import pytest
from rq import Queue, Retry, SimpleWorker
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from albumify import keys
from albumify.fairqueue import FairQueue
from albumify.settings import Limits, Settings
from tests.support.fair_jobs import RAN_KEY
from worker.service import build_worker

A, B, C = 101, 202, 303
RECORD = "tests.support.fair_jobs.record"


@pytest.fixture
def queue(redis_sync) -> Queue:
    return Queue("albumify", connection=redis_sync, serializer=JSONSerializer)


@pytest.fixture
def fair(queue) -> FairQueue:
    return FairQueue(queue, Limits())


def submit(fair: FairQueue, guild: int, name: str, *, priority: bool = False) -> str:
    fair.submit(RECORD, {"guild_id": guild}, guild_id=guild, priority=priority, job_id=name)
    return name


def burst(fair: FairQueue, guild: int, count: int, prefix: str) -> list[str]:
    return [submit(fair, guild, f"{prefix}{n}") for n in range(count)]


def drain(fair: FairQueue, queue: Queue) -> list[str]:
    """What one simulated worker takes, in order: it feeds, then pops RQ's list's head."""
    taken = []
    while True:
        fair.feed()
        head = queue.connection.lpop(queue.key)
        if head is None:
            return taken
        taken.append(head.decode())


def guilds_of(order: list[str]) -> str:
    return "".join(name[0] for name in order)


# -- turns ---------------------------------------------------------------------------------


def test_waiting_jobs_are_rq_jobs_that_wait_for_their_turn(fair, queue):
    submit(fair, A, "a0")
    job = Job.fetch("a0", connection=queue.connection, serializer=JSONSerializer)
    assert job.get_status() == JobStatus.DEFERRED and job.origin == "albumify"
    assert queue.count == 0 and fair.waiting() == 1
    assert fair.feed() == 1
    job.refresh()
    assert job.get_status() == JobStatus.QUEUED and job.enqueued_at is not None
    assert queue.job_ids == ["a0"] and fair.waiting() == 0


def test_guilds_take_turns_while_both_have_jobs_waiting(fair, queue):
    burst(fair, A, 6, "a")
    burst(fair, B, 3, "b")
    order = drain(fair, queue)
    assert guilds_of(order) == "abababaaa"
    assert order == sorted(order, key=lambda name: int(name[1:]))  # each guild's own order kept


def test_a_quiet_guild_waits_behind_at_most_one_job_of_each_busy_guild(fair, queue):
    burst(fair, A, 200, "a")
    burst(fair, C, 50, "c")
    first = drain_one(fair, queue)
    burst(fair, B, 5, "b")
    order = [first, *drain(fair, queue)]
    guilds = 3
    for n in range(5):  # B's n-th job: ≤ (G − 1) other jobs per round of its own
        assert order.index(f"b{n}") <= (n + 1) * guilds
    assert len(order) == 255 and len(set(order)) == 255


def drain_one(fair: FairQueue, queue: Queue) -> str:
    fair.feed()
    head = queue.connection.lpop(queue.key)
    assert head is not None
    return head.decode()


def test_rerolls_and_picked_faces_go_ahead_of_new_covers(fair, queue):
    burst(fair, A, 3, "a")
    burst(fair, B, 3, "b")
    submit(fair, B, "r-b", priority=True)
    submit(fair, A, "r-a", priority=True)
    assert drain(fair, queue)[:2] == ["r-b", "r-a"]


def test_a_job_queued_at_rqs_front_stays_ahead_of_what_the_feeder_moves(fair, queue):
    burst(fair, A, 3, "a")
    fair.feed()
    queue.enqueue(RECORD, {}, job_id="detect", at_front=True)  # "Use another face"'s job
    assert drain(fair, queue) == ["detect", "a0", "a1", "a2"]


def test_the_buffer_in_rq_follows_the_live_workers(queue, redis_sync):
    fair = FairQueue(queue, Limits(fair_buffer_per_worker=2))
    burst(fair, A, 10, "a")
    assert fair.feed() == 1  # no worker yet: one job in RQ, the rest keep their turn
    redis_sync.sadd("rq:workers:albumify", "rq:worker:w1", "rq:worker:w2")
    assert fair.feed() == 3 and queue.count == 4


# -- places in line ------------------------------------------------------------------------


def test_each_waiting_jobs_place_is_the_place_it_gets(fair, queue):
    burst(fair, A, 5, "a")
    fair.feed()  # one in RQ's list
    burst(fair, B, 3, "b")
    submit(fair, A, "r-a", priority=True)
    waiting = [*(f"a{n}" for n in range(1, 5)), "b0", "b1", "b2", "r-a"]
    places = {name: fair.position(name) for name in waiting}
    assert fair.position("a0") is None  # in RQ's list: RQ tells its place
    order = drain(fair, queue)
    assert order[0] == "a0"
    assert places == {name: order.index(name) for name in waiting}


# -- leaving the line ----------------------------------------------------------------------


def test_a_removed_job_is_never_moved_and_frees_its_guilds_place(fair, queue):
    burst(fair, A, 2, "a")
    assert (fair.guild_waiting(A), fair.guild_waiting(B)) == (2, 0)
    assert fair.remove("a1") and not fair.remove("a1")
    assert fair.guild_waiting(A) == 1
    assert drain(fair, queue) == ["a0"]
    assert fair.guild_waiting(A) == 0
    assert queue.connection.hlen(keys.fair_guilds("albumify")) == 0  # nothing of A is kept


def test_what_is_kept_per_guild_goes_once_its_turn_has_passed(fair, queue, redis_sync):
    for guild in range(1, 51):
        submit(fair, guild, f"g{guild}")
    drain(fair, queue)
    burst(fair, A, 2, "a")
    drain(fair, queue)
    assert redis_sync.zrange(keys.fair_rounds("albumify"), 0, -1) == [str(A).encode()]
    assert redis_sync.hlen(keys.fair_guilds("albumify")) == 0
    assert redis_sync.hlen(keys.fair_job_guild("albumify")) == 0


def test_a_job_whose_hash_is_gone_is_dropped_not_queued(fair, queue):
    burst(fair, A, 2, "a")
    queue.connection.delete(Job.key_for("a0"))  # forget deleted it while it waited
    assert drain(fair, queue) == ["a1"]
    assert fair.waiting() == 0 and fair.guild_waiting(A) == 0


def test_the_global_count_covers_both_lines(fair, queue):
    burst(fair, A, 2, "a")
    fair.feed()
    submit(fair, B, "b0")
    assert (queue.count, fair.waiting(), fair.queued()) == (1, 2, 3)


# -- several feeders -----------------------------------------------------------------------


def test_feeders_running_at_once_move_every_job_exactly_once(fair, queue, redis_sync):
    burst(fair, A, 60, "a")
    burst(fair, B, 60, "b")
    redis_sync.sadd("rq:workers:albumify", *(f"rq:worker:w{n}" for n in range(8)))
    taken: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        own = FairQueue(
            Queue("albumify", connection=redis_sync, serializer=JSONSerializer), Limits()
        )
        while True:
            own.feed()
            head = redis_sync.lpop(queue.key)
            if head is None and own.waiting() == 0 and queue.count == 0:
                return
            if head is not None:
                with lock:
                    taken.append(head.decode())

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(taken) == sorted([*(f"a{n}" for n in range(60)), *(f"b{n}" for n in range(60))])


# -- the worker feeds, and RQ still retries ------------------------------------------------


def test_the_worker_feeds_itself_and_rq_retries_a_fair_queued_job(redis_url, redis_sync, queue):
    """The real worker's dequeue (`AlbumifyWorker`; RQ's loop without the pipeline load): the
    jobs wait in the fair queue only, so only the worker's own feeding brings them to RQ."""
    fair = FairQueue(queue, Limits())
    fair.submit(
        "tests.support.fair_jobs.flaky",
        {},
        guild_id=A,
        priority=False,
        job_id="a-flaky",
        retry=Retry(max=1),
    )
    submit(fair, B, "b0")
    assert queue.count == 0
    worker = build_worker(Settings(redis_url=redis_url), connection=redis_sync, name="fair-w")
    SimpleWorker.work(worker, burst=True)
    ran = [name.decode() for name in redis_sync.lrange(RAN_KEY, 0, -1)]
    assert sorted(ran) == ["a-flaky", "b0"]  # the flaky one failed once, then ran again
    flaky = Job.fetch("a-flaky", connection=redis_sync, serializer=JSONSerializer)
    assert flaky.get_status() == JobStatus.FINISHED and flaky.retries_left == 0
