"""Drop the covers whose message or channel was deleted while the bot was not looking.

A connected bot hears of each deleted message (`on_raw_message_delete` drops the result at
once), but not of messages deleted while it was offline, nor one by one of the messages of a
deleted channel. `keys.POSTED` (one per guild) remembers when each posted result's message
was last seen, and a result is looked at again when it was last seen before this bot started,
or `RECHECK_S` ago:

- a board page looks at its covers before it is shown (the answer is deferred first), so
  members never see a cover that is gone;
- a sweep looks at the `SWEEP_BATCH` seen longest ago every `SWEEP_INTERVAL_S`, so records of
  covers nobody views go too.

Discord saying Unknown Message or Unknown Channel takes the result off every board and drops
its records; any other answer (no access, a timeout, an outage) proves nothing, and the
result is looked at again later.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import discord

from albumify.results import PostedAt, ResultStore

if TYPE_CHECKING:
    from bot.client import AlbumifyBot

log = logging.getLogger(__name__)

GONE_CODES = frozenset({10003, 10008})
"""Discord's Unknown Channel and Unknown Message: the post is gone for good."""
RECHECK_S = 3600
SWEEP_INTERVAL_S = 300.0
SWEEP_BATCH = 20
FETCH_TIMEOUT_S = 2.0
"""How long a look at one message may take (a board's answer was deferred first)."""
GONE = object()
"""`fetch`'s answer for a message Discord says no longer exists."""


class MessageWatch:
    """Looks at posted results' messages on Discord and forgets those that are gone."""

    def __init__(self, bot: AlbumifyBot, *, clock: Callable[[], float] = time.time) -> None:
        self.bot = bot
        self.clock = clock
        self.started_at = clock()
        """Deletions before this were not heard: anything last seen earlier is looked at."""

    @property
    def results(self) -> ResultStore:
        return self.bot.results

    def due_before(self) -> float:
        """Results last seen before this are looked at again: seen before this bot started
        (a deletion may have gone unheard), or more than `RECHECK_S` ago."""
        return max(self.started_at, self.clock() - RECHECK_S)

    async def fetch(self, channel_id: int, message_id: int) -> Any:
        """The message, `GONE`, or None when Discord would not say (no access, slow, down)."""
        try:
            async with asyncio.timeout(FETCH_TIMEOUT_S):
                channel = self.bot.get_channel(channel_id)
                if channel is None:
                    channel = await self.bot.fetch_channel(channel_id)
                return await channel.fetch_message(message_id)  # type: ignore[union-attr]
        except discord.NotFound as err:
            return GONE if err.code in GONE_CODES else None
        except (TimeoutError, discord.HTTPException, AttributeError) as err:
            log.debug("could not look at message %s: %r", message_id, err)
            return None

    async def look(self, posted: Sequence[PostedAt]) -> tuple[bool, dict[int, discord.Message]]:
        """Look at each result's message: drop the results whose message is gone, note the
        others as looked at (also when Discord would not say: the sweep moves on, and comes
        back in `RECHECK_S`). Returns whether any was gone, and the messages seen by id."""
        answers = await asyncio.gather(*(self.fetch(p.channel_id, p.message_id) for p in posted))
        looked, messages, gone = [], {}, False
        for result, answer in zip(posted, answers, strict=True):
            if answer is GONE:
                gone = True
                log.info("result %s: its message is gone; dropping it", result.result_id)
                await self.results.delete(result.guild_id, result.result_id)
                continue
            looked.append(result)
            if answer is not None:
                messages[result.message_id] = answer
        for guild_id in sorted({p.guild_id for p in looked}):
            seen = [p.result_id for p in looked if p.guild_id == guild_id]
            await self.results.seen(guild_id, seen, self.clock())
        return gone, messages

    async def check(
        self, guild_id: int, result_ids: Sequence[str]
    ) -> tuple[bool, dict[int, discord.Message]]:
        """Look at those of these results that are due (a board page, before it is shown)."""
        posted = await self.results.where_posted(guild_id, [r for r in result_ids if r])
        before = self.due_before()
        return await self.look([p for p in posted if p.seen_at < before])

    async def sweep(self, batch: int = SWEEP_BATCH) -> int:
        """Look at the results seen longest ago (only those due). Returns how many."""
        posted = await self.results.unseen_since(self.due_before(), batch)
        await self.look(posted)
        return len(posted)

    async def sweep_forever(
        self,
        *,
        interval: float = SWEEP_INTERVAL_S,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        try:
            await self.bot.wait_until_ready()
        except RuntimeError:  # a client that never logs in (a tool, a test): nothing to look at
            return
        while True:
            try:
                await self.sweep()
            except Exception as err:  # Redis or Discord away: try again next time
                log.warning("retention sweep failed: %s", type(err).__name__)
            await sleep(interval)
