"""Asking a photo's author before a cover is made of it (the consent store, Redis only).

Unless a server lets members albumify anyone's photo (`/albumify-config allow_others`), a
request for a cover of someone else's photo waits for its author: the bot stores the request
here, pings the author once with Approve / Decline, and makes nothing until Approve.

- A request waits `Limits.consent_ttl_s` (10 minutes) and then expires by itself (the key's
  TTL): nothing is downloaded or made for it, ever.
- One pending request per member and photo: asking again while it waits points at it, so the
  author is not pinged twice.
- Decline is final for that photo and that member (`keys.CONSENT_DECLINED`, remembered for
  `Limits.consent_decline_ttl_s`); another member may still ask.
- Approve and Decline race safely: the first answer wins (one script), a late click is told
  the request was answered; the stored job fields (title, artist, the photo's URL) are dropped
  with the answer and only ids stay, for `ANSWERED_TTL_S`.

No interaction token is stored: the cover is delivered through the Approve click's own
interaction (`bot.cover.consent`). The photo is named by its attachment id, or, for an
embed's image, a digest of its URL without the expiring signature.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from albumify import keys
from albumify.lua import GROWS, STALE
from albumify.results import as_str
from albumify.settings import Limits

PENDING, APPROVED, DECLINED = "pending", "approved", "declined"
ASKED, ALREADY_ASKED, EXPIRED, NOT_AUTHOR = "asked", "already-asked", "expired", "not-author"
ATTEMPTS = 20
"""How often an answer is planned again when its request changed meanwhile (never, in
practice: a request's ids are written once)."""
ANSWERED_TTL_S = 3600
"""How long an answered request's ids stay, so a late or second click hears "answered"."""

ASK_LUA = f"""{GROWS}
-- KEYS: the request's hash, its asked key, its declined key (one guild: one hash slot).
-- ARGV: request id, ttl, then the hash's field/value pairs.
if redis.call('EXISTS', KEYS[3]) == 1 then return {{'{DECLINED}'}} end
local other = redis.call('GET', KEYS[2])
if other then return {{'{ALREADY_ASKED}', other}} end
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], ARGV[2])
return {{'{ASKED}'}}
"""

ANSWER_LUA = f"""{GROWS}
-- KEYS: the request's hash, its asked key, its declined key, planned from the request's
-- requester and photo (ARGV[5], ARGV[6]: a request that says otherwise was not planned for).
-- ARGV: the answer, who answers, answered ttl, decline ttl, requester, photo, request id.
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {{'{EXPIRED}'}} end
if state ~= '{PENDING}' then return {{state}} end
local author = redis.call('HGET', KEYS[1], 'author')
if author ~= ARGV[2] then return {{'{NOT_AUTHOR}'}} end
if redis.call('HGET', KEYS[1], 'requester') ~= ARGV[5]
    or redis.call('HGET', KEYS[1], 'photo') ~= ARGV[6] then
  return {{'{STALE}'}}
end
local data = redis.call('HGETALL', KEYS[1])
if redis.call('GET', KEYS[2]) == ARGV[7] then redis.call('DEL', KEYS[2]) end
if ARGV[1] == '{DECLINED}' then redis.call('SET', KEYS[3], '1', 'EX', ARGV[4]) end
redis.call('HDEL', KEYS[1], 'fields')
redis.call('HSET', KEYS[1], 'state', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return {{'{PENDING}', unpack(data)}}
"""


def photo_identity(attachment_id: int | None, url: str) -> str:
    """How the consent keys name a photo: its attachment id, else its URL's digest."""
    if attachment_id is not None:
        return str(attachment_id)
    return "url-" + hashlib.sha256(url.split("?", 1)[0].encode()).hexdigest()[:24]


@dataclass(frozen=True)
class ConsentRequest:
    """A request for a cover of someone else's photo, waiting for the author's answer."""

    request_id: int
    guild_id: int
    requester_id: int
    author_id: int
    photo: str
    """`photo_identity` of the photo."""
    fields: dict[str, Any] = field(default_factory=dict)
    """What the bot needs to admit the request on Approve (JSON-safe; never a token)."""
    asked_at: float = 0.0
    expires_at: float = 0.0


@dataclass(frozen=True)
class Asking:
    """What `ConsentStore.ask` did: `asked` (ping the author), `already-asked` (a request
    for this photo is waiting: do not ping again), or `declined` (final)."""

    outcome: str
    expires_at: float | None = None
    """When the waiting request expires (unix s): the new one's, or the earlier one's."""


@dataclass(frozen=True)
class Answer:
    """What a click on Approve or Decline found: `pending` (this click answered it; the
    request is here), `approved` / `declined` (answered before), `expired`, `not-author`."""

    outcome: str
    request: ConsentRequest | None = None


class ConsentStore:
    """`redis` is a `redis.asyncio` client (decode_responses=True)."""

    def __init__(
        self, redis: Any, limits: Limits, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.redis = redis
        self.limits = limits
        self.clock = clock
        self._ask = redis.register_script(ASK_LUA)
        self._answer = redis.register_script(ANSWER_LUA)

    async def ask(self, request: ConsentRequest) -> Asking:
        """Store the request unless the author declined or one for the photo is waiting."""
        ttl = self.limits.consent_ttl_s
        asked_at = self.clock()
        expires_at = asked_at + ttl
        mapping = {
            "state": PENDING,
            "guild": str(request.guild_id),
            "requester": str(request.requester_id),
            "author": str(request.author_id),
            "photo": request.photo,
            "asked_at": repr(asked_at),
            "expires_at": repr(expires_at),
            "fields": json.dumps(request.fields),
        }
        flat = [item for pair in mapping.items() for item in pair]
        found = await self._ask(
            keys=[
                keys.consent_request(request.guild_id, request.request_id),
                keys.consent_asked(request.guild_id, request.requester_id, request.photo),
                keys.consent_declined(request.guild_id, request.requester_id, request.photo),
            ],
            args=[request.request_id, ttl, *flat],
        )
        outcome = as_str(found[0])
        if outcome == ASKED:
            return Asking(ASKED, expires_at)
        if outcome == ALREADY_ASKED:  # when the waiting one expires: a read of its own
            other = keys.consent_request(request.guild_id, as_str(found[1]))
            earlier = await self.redis.hget(other, "expires_at")
            return Asking(ALREADY_ASKED, float(as_str(earlier)) if earlier else None)
        return Asking(outcome)

    async def answer(
        self, guild_id: int, request_id: int, author_id: int, *, approve: bool
    ) -> Answer:
        """The author's answer: the first one wins; Decline is remembered."""
        request_key = keys.consent_request(guild_id, request_id)
        for _ in range(ATTEMPTS):  # the keys depend on the request: planned from a read
            requester, photo = await self.redis.hmget(request_key, "requester", "photo")
            requester, photo = as_str(requester or ""), as_str(photo or "")
            found = await self._answer(
                keys=[
                    request_key,
                    keys.consent_asked(guild_id, requester, photo),
                    keys.consent_declined(guild_id, requester, photo),
                ],
                args=[
                    APPROVED if approve else DECLINED,
                    author_id,
                    ANSWERED_TTL_S,
                    self.limits.consent_decline_ttl_s,
                    requester,
                    photo,
                    request_id,
                ],
            )
            outcome = as_str(found[0])
            if outcome != STALE:
                break
        if outcome != PENDING:
            return Answer(outcome)
        data = {as_str(k): as_str(v) for k, v in zip(found[1::2], found[2::2], strict=True)}
        return Answer(PENDING, _request(request_id, data))

    async def withdraw(self, request: ConsentRequest) -> None:
        """Forget a request whose prompt never reached the author (they may be asked again)."""
        asked = keys.consent_asked(request.guild_id, request.requester_id, request.photo)
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(keys.consent_request(request.guild_id, request.request_id))
        pipe.delete(asked)
        await pipe.execute()

    async def forgotten_since_asked(self, request: ConsentRequest) -> bool:
        """Whether the requester or the author ran `/albumify-forget` in the guild after the
        request was made (`keys.FORGOTTEN` outlives a request's 10 minutes): then Approve
        makes nothing, as forget cancels the requests still waiting."""
        for member in {request.requester_id, request.author_id}:
            value = await self.redis.get(keys.forgotten(request.guild_id, member))
            if value is not None and float(as_str(value)) >= request.asked_at:
                return True
        return False

    async def declined(self, guild_id: int, requester_id: int, photo: str) -> bool:
        return bool(await self.redis.exists(keys.consent_declined(guild_id, requester_id, photo)))


def _request(request_id: int, data: dict[str, str]) -> ConsentRequest:
    return ConsentRequest(
        request_id=request_id,
        guild_id=int(data["guild"]),
        requester_id=int(data["requester"]),
        author_id=int(data["author"]),
        photo=data["photo"],
        fields=json.loads(data.get("fields") or "{}"),
        asked_at=float(data.get("asked_at") or 0),
        expires_at=float(data.get("expires_at") or 0),
    )
