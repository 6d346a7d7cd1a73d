"""End to end: Redis stops answering (SIGSTOP) — the member is still acknowledged within
Discord's 3 seconds and told "busy", and nothing the request reserved is left behind
(issue 16, item 2).

The bot reaches Redis through a proxy that notes every command it sends, so the test counts
the Redis calls the bot made between the interaction and its acknowledgement (none: with a
paused Redis, any awaited call there would hang until Discord drops the interaction). No
timed assertion: the order of events, not their duration, is what is checked.
"""

from __future__ import annotations

import os
import signal

from albumify import keys
from albumify.schema import job_id_for
from devtools.fakediscord.stack import Stack
from tests.support.e2e import MARKS, module_stack
from tests.support.redis_proxy import CommandLog
from tests.test_e2e import DEFERRED_THINKING, assert_cover, faceless, private_answer, wait_final

pytestmark = MARKS

BUSY = "Albumify is busy, try again in a minute."


class BotBehindProxy(Stack):
    """The stack, with the bot's Redis traffic through a `CommandLog` (the worker's is not)."""

    commands: CommandLog | None = None

    def start_bot(self) -> None:
        assert self.redis_server is not None
        self.commands = CommandLog(self.redis_server.port).start()
        direct, self.redis_url = self.redis_url, self.commands.url
        try:
            super().start_bot()
        finally:
            self.redis_url = direct

    def stop(self) -> None:
        super().stop()
        if self.commands is not None:
            self.commands.stop()


stack = module_stack(lambda: BotBehindProxy({"ALBUMIFY_ADMISSION_TIMEOUT": "2"}))


def test_a_paused_redis_still_gets_the_member_an_answer(stack: BotBehindProxy) -> None:
    fake, commands = stack.fake, stack.commands
    assert commands is not None and stack.redis_server is not None
    server = stack.redis_server.process
    assert server is not None
    mia = fake.add_member("mia")
    photo = fake.upload("mia.png", faceless(40))

    os.kill(server.pid, signal.SIGSTOP)
    try:
        interaction = fake.slash("albumify", mia, {"image": photo})
        fake.wait_until(lambda: interaction.acknowledged, "the acknowledgement", 30)
        (ack,) = interaction.acknowledged
        assert ack.type == DEFERRED_THINKING
        assert commands.between(interaction.sent_at, ack.at) == []  # no Redis before the ack
        answer = private_answer(fake, interaction, timeout=60)  # while Redis is still paused
        assert answer.content == BUSY
    finally:
        os.kill(server.pid, signal.SIGCONT)

    client = stack.redis()
    try:
        job_id = job_id_for(interaction.id)
        # Once Redis is back, whatever the request reserved is given back, and a reservation
        # that arrives late is refused: no quota slot, no dedup key, no job.
        fake.wait_until(
            lambda: client.exists(keys.admission_cancelled(fake.guild_id, job_id)), "give-back", 60
        )
        assert client.zcard(keys.member_quota(fake.guild_id, mia.id)) == 0
        assert list(client.scan_iter(keys.member_dedup_keys(fake.guild_id, mia.id))) == []
        assert not client.exists(f"rq:job:{job_id}")
    finally:
        client.close()

    again = fake.slash("albumify", mia, {"image": photo})  # the same request, Redis back
    assert_cover(fake, wait_final(stack, again), mia)
    assert fake.protocol_errors == []
    stack.check_alive()
