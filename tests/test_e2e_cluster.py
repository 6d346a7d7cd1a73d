"""End to end with the state on a Redis Cluster: the bot and the worker as real processes,
`ALBUMIFY_STATE_REDIS_URL` on a local 3-master cluster, the RQ queue on `REDIS_URL`.

A member makes a cover, another votes for it, the board shows it, and the member forgets
herself: every step crosses the cluster (scripts in one guild's slot, the per-guild posted
index, the member's guild list), and the queue's Redis holds nothing of Albumify's state.
"""

from __future__ import annotations

import contextlib
from typing import Any

from albumify import keys
from albumify.connections import sync_state_redis
from albumify.settings import Settings
from devtools.fakediscord.stack import Stack
from devtools.redis_cluster import RedisClusterProcesses
from tests.support.e2e import MARKS, module_stack
from tests.test_e2e import assert_cover, faceless, wait_final

pytestmark = MARKS


class ClusterStack(Stack):
    """A `Stack` whose state lives on a local Redis Cluster."""

    cluster: RedisClusterProcesses | None = None

    def _start_redis(self) -> None:
        super()._start_redis()
        self.cluster = RedisClusterProcesses(self.directory / "cluster").start()
        self.extra_env["ALBUMIFY_STATE_REDIS_URL"] = self.cluster.url

    def state(self) -> Any:
        assert self.cluster is not None
        return sync_state_redis(Settings(state_redis_url=self.cluster.url))

    def reset(self) -> None:
        super().reset()
        if self.cluster is not None:
            self.cluster.flush()

    def stop(self) -> None:
        super().stop()
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.stop()


stack = module_stack(ClusterStack)


def test_cover_vote_board_and_forget_with_the_state_on_a_cluster(stack: ClusterStack) -> None:
    fake = stack.fake
    ada, bo = fake.add_member("ada"), fake.add_member("bo")
    state, queue_redis = stack.state(), stack.redis()
    try:
        photo = fake.upload("ada.png", faceless(60))
        cover = wait_final(stack, fake.slash("albumify", ada, {"image": photo}))
        result_id = assert_cover(fake, cover, ada)
        guild = fake.guild_id
        assert state.hget(keys.result(guild, result_id), "requester") == str(ada.id).encode()
        posted = keys.posted(guild)  # the worker records it once Discord answered the post
        fake.wait_until(lambda: state.zscore(posted, result_id) is not None, "the index", 20)

        vote = fake.click(bo, cover, f"albumify:vote:{result_id}")
        fake.wait_until(lambda: vote.acknowledged, "the vote", 20)
        assert state.smembers(keys.voters(guild, result_id)) == {str(bo.id).encode()}
        assert state.zscore(keys.board(guild, "covers", "all"), result_id) == 1

        board = fake.slash("leaderboard", bo, {"period": "all"})
        shown = fake.wait_until(
            lambda: (m := fake.response_to(board)) and m.embeds and m, "the board", 20
        )
        assert ada.mention in shown.embeds[0]["description"]

        ask = fake.slash("albumify-forget", ada, dm=True)
        prompt = fake.wait_until(lambda: fake.response_to(ask), "the confirmation prompt", 10)
        (confirm,) = [
            c["custom_id"]
            for row in prompt.components
            for c in row["components"]
            if c.get("label") == "Forget me"
        ]
        fake.click(ada, prompt, confirm)
        fake.wait_until(lambda: prompt.content.startswith("Done"), "the confirmation", 30)
        assert "in 1 server" in prompt.content, prompt.content
        kept = state.hgetall(keys.result(guild, result_id))
        assert set(kept) == {b"guild", b"channel", b"message", b"requester", b"photo_author"}
        assert not state.exists(keys.board(guild, "covers", "all"))  # off the boards
        assert not state.smembers(keys.user_guilds(ada.id))  # every guild walked

        # The queue's Redis holds RQ, the fair queue's turns (`albumify.fairqueue`) and the
        # workers' heartbeats, none of the state.
        on_queue = {k.decode() for k in queue_redis.scan_iter("albumify:*")}
        assert on_queue <= {keys.WORKERS} | {
            k for k in on_queue if k.startswith(("albumify:worker:", "albumify:fair:"))
        }, on_queue
        assert fake.protocol_errors == []
    finally:
        state.close()
        queue_redis.close()
