"""End to end: the queue's Redis is a Sentinel-managed primary/replica pair (issue 18, item 3).

The real bot and worker processes are given a `redis+sentinel://` URL and
`ALBUMIFY_QUEUE_REPLICAS=1`; a primary, a replica and three sentinels run on loopback
(`devtools.redis_server.SentinelGroup`). The primary is SIGKILLed while covers are being
made, and requests keep coming while the sentinels fail over. Each request ends in exactly
one of two ways: a cover (the member was told it is queued, and it was made once), or
"busy, try again" (its enqueue was not confirmed by a replica, and no cover comes later).
The bot and the worker are the same processes throughout: they find the new primary alone.
"""

from __future__ import annotations

from rq.job import Job
from rq.serializers import JSONSerializer

from albumify import keys
from albumify.schema import job_id_for
from devtools.fakediscord import FakeDiscord, FakeInteraction, FakeMessage, FakeUser
from devtools.fakediscord.stack import Stack
from devtools.redis_server import SentinelGroup
from tests.support.e2e import MARKS, module_stack
from tests.test_e2e import assert_cover, faceless, settled

pytestmark = MARKS

BUSY = "Albumify is busy, try again in a minute."


class SentinelStack(Stack):
    """The stack with the queue on a Sentinel group instead of one redis-server."""

    group: SentinelGroup | None = None

    def _start_redis(self) -> None:
        self.group = SentinelGroup(self.directory / "redis").start()
        self.redis_url = self.group.url

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            if self.group is not None:
                self.group.stop()


stack = module_stack(lambda: SentinelStack({"ALBUMIFY_QUEUE_REPLICAS": "1"}))


def outcome(fake: FakeDiscord, interaction: FakeInteraction) -> FakeMessage | None:
    """The member's final answer: a private "try again", the response showing a cover, or
    the cover posted in the channel instead. That last is the worker's fallback when it has
    no live token, which happens here when the primary dies within the instant between a
    worker taking the job and the job reaching the replica: the worker makes it from what
    it holds, and the promoted replica never had the job's token."""
    private = next((m for m in fake.answers_to(interaction) if m.ephemeral), None)
    if private:
        return private
    response = settled(fake, fake.response_to(interaction))
    if response is not None:
        return response
    heading = f"{interaction.user.mention}'s album cover"
    return next(
        (
            m
            for m in fake.channel()
            if m.interaction_id is None and not m.deleted and m.content.startswith(heading)
        ),
        None,
    )


def covers_for(fake: FakeDiscord, member: FakeUser) -> int:
    """How many times a cover for `member` was shown, in any message, edits included."""
    heading = f"{member.mention}'s album cover"
    return sum(
        sum(1 for content in message.history if content.startswith(heading))
        for message in fake.channel()
    )


def finish(stack: SentinelStack, sent: list[tuple[FakeUser, FakeInteraction]]) -> dict:
    """Every request's final answer, checked: one cover, or BUSY and never a cover."""
    fake, answers = stack.fake, {}
    for member, interaction in sent:
        try:
            answers[member.id] = fake.wait_until(
                lambda interaction=interaction: outcome(fake, interaction),
                f"the answer to {member.username}",
                180,
            )
        except AssertionError as err:
            raise AssertionError(f"{err}\n{describe(stack, sent)}\n{stack.logs(6000)}") from None
    stack.wait_idle(120)
    for member, _ in sent:
        answer = answers[member.id]
        if answer.ephemeral:
            assert answer.content == BUSY, answer.content
            assert covers_for(fake, member) == 0, (
                f"{member.username} was told to retry, got a cover"
            )
        else:
            assert_cover(fake, answer, member)
            assert covers_for(fake, member) == 1, f"{member.username}'s cover was shown twice"
    return answers


def describe(stack: SentinelStack, sent: list[tuple[FakeUser, FakeInteraction]]) -> str:
    """Where each request stands (for a failure's message)."""
    fake, client, lines = stack.fake, stack.redis(), []
    try:
        for member, interaction in sent:
            job_id = job_id_for(interaction.id)
            response = fake.response_to(interaction)
            lines.append(
                f"{member.username} {job_id}: acks={[c.type for c in interaction.acknowledged]} "
                f"response={response and (response.deleted, response.history)} "
                f"answers={[m.content for m in fake.answers_to(interaction)]} "
                f"job={client.hget(f'rq:job:{job_id}', 'status')} "
                f"cancelled={client.exists(keys.admission_cancelled(fake.guild_id, job_id))}"
            )
        for member, interaction in sent:
            try:
                value = Job.fetch(
                    job_id_for(interaction.id), connection=client, serializer=JSONSerializer
                ).return_value()
            except Exception as err:
                value = repr(err)
            lines.append(f"{member.username} returned {value}")
        for message in fake.channel():
            lines.append(
                f"msg {message.id} i={message.interaction_id} eph={message.ephemeral} "
                f"del={message.deleted} {message.history[-1:]!r}"
            )
    finally:
        client.close()
    return "\n".join(lines)


def pids(stack: Stack) -> dict[str, int]:
    return {name: process.pid for name, process in stack.processes.items()}


def test_killing_the_primary_loses_no_queued_cover(stack: SentinelStack) -> None:
    fake, group = stack.fake, stack.group
    assert group is not None
    before = pids(stack)
    sent: list[tuple[FakeUser, FakeInteraction]] = []

    def request(name: str, variant: int) -> FakeInteraction:
        member = fake.add_member(name)
        interaction = fake.slash(
            "albumify", member, {"image": fake.upload(f"{name}.png", faceless(variant))}
        )
        sent.append((member, interaction))
        return interaction

    first = [request(f"early{i}", i) for i in range(6)]
    # Mid-traffic: the first request is acknowledged; the others are being admitted, queued
    # (some mid-enqueue, some waiting for the replica's confirmation) or made.
    fake.wait_until(lambda: fake.response_to(first[0]), "the first acknowledgement", 120)
    old = group.kill_primary()
    during = [request(f"during{i}", 10 + i) for i in range(3)]
    new = group.wait_failover(old)
    assert new != old
    group.restart(old)  # as a supervisor would; the sentinels make it the new replica
    group.wait_healthy(120)
    after = [request(f"after{i}", 20 + i) for i in range(3)]

    answers = finish(stack, sent)
    told_queued = [i for m, i in sent if not answers[m.id].ephemeral]
    assert told_queued, "no request was confirmed at all"
    # Once the pair is whole again, requests are confirmed and made as before.
    for member, _ in sent[-len(after) :]:
        assert not answers[member.id].ephemeral, f"{member.username}: {answers[member.id].content}"
    assert during and first  # sent while the primary died and during the fail-over
    stack.check_alive()
    assert pids(stack) == before  # the same bot and worker processes: they reconnected
    assert fake.protocol_errors == []


def test_without_a_replica_the_member_is_told_to_try_again(stack: SentinelStack) -> None:
    fake, group = stack.fake, stack.group
    assert group is not None
    stack.reset()
    group.wait_healthy(120)
    # No worker: an idle one would take the job while the bot waits for the replica (the
    # server hands it to the blocked BLMOVE at once), and a job a worker has is being made,
    # so that counts as queued. Here nobody takes it: it is withdrawn.
    stack.stop_process("worker")
    replica = group.replica_port()
    group.kill(replica)
    mia = fake.add_member("mia")
    photo = fake.upload("mia.png", faceless(40))
    interaction = fake.slash("albumify", mia, {"image": photo})
    answer = fake.wait_until(lambda: outcome(fake, interaction), "mia's answer", 120)
    assert answer.ephemeral and answer.content == BUSY

    client = stack.redis()
    try:
        job_id = job_id_for(interaction.id)
        # The job was taken back, the quota slot given back, and the request marked so
        # that no copy of the job makes a cover later.
        fake.wait_until(
            lambda: client.exists(keys.admission_cancelled(fake.guild_id, job_id)), "give-back", 60
        )
        assert not client.exists(f"rq:job:{job_id}")
        assert client.zcard(keys.member_quota(fake.guild_id, mia.id)) == 0
    finally:
        client.close()

    group.restart(replica)
    group.wait_healthy(120)
    stack.start_worker()
    stack.wait_ready(180)
    again = fake.slash("albumify", mia, {"image": photo})
    answer = fake.wait_until(lambda: outcome(fake, again), "mia's second answer", 180)
    assert not answer.ephemeral, answer.content
    assert_cover(fake, answer, mia)
    stack.check_alive()
