"""Lua scripts for results and leaderboards: every change to more than one key is atomic.

200 members pressing Vote at once end with exactly 200 on every board, and a delete, an unvote
or a forgotten result can never be half done.

Cluster-safe (key layout 4): a script touches only keys passed in `KEYS`, all under the
result's guild hash tag (`albumify.keys.GUILD`), so every script runs in one hash slot. The
keys a script needs depend on the result (its creator, its periods, its voters), so the caller
plans first (`albumify.plans`): it reads the record and its voters, passes the keys they name,
and passes what it read (`fingerprint`, the voters) in `ARGV`. The script checks that the
record still says the same (`planned()`); when it changed in between (a vote came in), it
writes nothing and answers `STALE`, and the caller plans again. Member lists that span guilds
(`keys.USER_GUILDS`, `keys.POSTED_GUILDS`) and kept photos are written outside the scripts.

A result's hash (`keys.RESULT`) carries the periods (UTC) in which it was created — `week`,
`month` and when each board expires — written once, when the result is saved. A vote counts
in those periods and an unvote applies the same keys with -1, so it undoes exactly what the
vote did. A period board whose expiry has passed is neither incremented nor decremented (it is
gone); nor, for the bot's votes (which carry `Limits.vote_grace_s`), is one whose period ended
more than the grace ago: it is final (Cover of the Week/Month has read it), and only the boards
still open change. Boards keep only covers/creators with a positive score. A result without
`week` is off the boards (a moderator took it off, or it was deleted): votes on it say "missing".

Each script declares itself with a shebang (Redis 7), so a full Redis (`maxmemory`, policy
`noeviction`) refuses a script that may grow the data *before* it runs, with an OOM error the
bot turns into "busy, try again": never half a vote. (A script without one is refused only at
its first growing command, and not at all once an earlier command wrote.) Scripts that only
take data away (delete, unboard, forget) run when Redis is full too: they free memory.
"""

from __future__ import annotations

from albumify.periods import GRACE_S

PERIOD_FIELDS = ("week", "month", "week_exp", "month_exp")
KEPT_AFTER_FORGET = ("guild", "channel", "message", "requester", "photo_author")
"""What a forgotten member's cover still posted keeps: the ids its Delete button checks (who
asked, whose photo) and its message's place. No title, artist, photo hash or match."""
FINGERPRINT_FIELDS = ("guild", "requester", "photo_author", "week", "month", "message")
"""The record's fields the keys of a plan depend on (`albumify.plans`)."""
STALE = "stale"
"""A script's answer when the record changed since its keys were planned: nothing written."""
BOARD_SLOTS = (
    ("all", "covers"),
    ("all", "creators"),
    ("week", "covers"),
    ("week", "creators"),
    ("month", "covers"),
    ("month", "creators"),
)
"""The order of the six boards in a plan's `KEYS` (10–15)."""
RESULT_KEYS = 15
"""KEYS 1–15 of every result script (`albumify.plans.result_keys`): 1 record, 2 re-roll,
3 layers, 4 voters, 5 the guild's posted index, 6 the message's link, 7 the creator's covers,
8 the photo author's photo covers, 9 the guild's settings, 10–15 the boards (`BOARD_SLOTS`).
From 16: the votes sets of the voters named in `ARGV`, then what the script adds."""

# Shared helpers, prepended to each script (scripts cannot call each other).
_LIBRARY = """
local function load_result()
  local v = redis.call('HMGET', KEYS[1], 'guild', 'requester', 'photo_author', 'week',
    'month', 'week_exp', 'month_exp', 'message')
  if not v[1] then return nil end
  return {guild = v[1], creator = v[2], author = v[3] or '', week = v[4], month = v[5],
          week_exp = tonumber(v[6]), month_exp = tonumber(v[7]), message = v[8] or ''}
end

-- ARGV[1]: the record's fields the keys were planned from; ARGV[2]: how many voters were
-- planned (-1: none needed), ARGV[3..]: them, with their votes sets in KEYS[16..]. Returns
-- the index of the script's own first ARGV, or nil when the record changed since.
local function planned()
  local v = redis.call('HMGET', KEYS[1], %(fingerprint_fields)s)
  local parts = {}
  for i = 1, %(fingerprint_count)d do parts[i] = v[i] or '' end
  if table.concat(parts, '|') ~= ARGV[1] then return nil end
  local n = tonumber(ARGV[2])
  if n < 0 then return 3 end
  if redis.call('SCARD', KEYS[4]) ~= n then return nil end
  for i = 1, n do
    if redis.call('SISMEMBER', KEYS[4], ARGV[2 + i]) == 0 then return nil end
  end
  return 3 + n
end

local function voters_planned()
  local n = tonumber(ARGV[2])
  if n < 0 then return {} end
  return {unpack(ARGV, 3, 2 + n)}
end

-- {board index (1 all, 2 week, 3 month), expires_at or nil}: where a result's votes count.
local function periods(c)
  return {{1, nil}, {2, c.week_exp}, {3, c.month_exp}}
end

local function board_key(p, by)  -- by: 0 covers, 1 creators
  return KEYS[10 + (p - 1) * 2 + by]
end

-- Add delta to the result and its creator on every live board of the result's periods. With
-- `grace` (seconds), a period board stays open only until its period ended + grace (its end
-- is its expiry less the %(board_keep_s)d s it is kept): after that it is final.
local function bump(c, rid, delta, now, grace)
  for _, p in ipairs(periods(c)) do
    local exp = p[2]
    local open = exp == nil or exp > now
    if exp ~= nil and grace ~= nil and now >= exp - %(board_keep_s)d + grace then open = false end
    if open then
      for by, member in ipairs({rid, c.creator}) do
        local key = board_key(p[1], by - 1)
        if tonumber(redis.call('ZINCRBY', key, delta, member)) <= 0 then
          redis.call('ZREM', key, member)
        end
        if exp ~= nil then redis.call('EXPIRE', key, exp - now) end
      end
    end
  end
end

-- A posted result: kept (no TTL) while its message is up; its creator's covers, where forget
-- must look (for the creator and for the photo's author), its message's link back, and when
-- its message was last seen.
local function index_posted(rid, c, seen)
  redis.call('PERSIST', KEYS[1])
  redis.call('SADD', KEYS[7], rid)
  if c.author ~= '' and c.author ~= c.creator then redis.call('SADD', KEYS[8], rid) end
  if c.message ~= '' then redis.call('SET', KEYS[6], rid) end
  redis.call('ZADD', KEYS[5], 'GT', seen, rid)  -- never moves "last looked at" back
end

-- Take a result off every board (its creator loses exactly its score there), undo its votes
-- and unlink it from its creator and message. The hash itself stays. 1 if it was on boards.
local function take_off_boards(c, rid)
  local was_on = 0
  if c.week then
    was_on = 1
    for _, p in ipairs(periods(c)) do
      local key = board_key(p[1], 0)
      local score = redis.call('ZSCORE', key, rid)
      if score then
        redis.call('ZREM', key, rid)
        local ck = board_key(p[1], 1)
        if tonumber(redis.call('ZINCRBY', ck, -tonumber(score), c.creator)) <= 0 then
          redis.call('ZREM', ck, c.creator)
        end
      end
    end
  end
  for i, _ in ipairs(voters_planned()) do redis.call('SREM', KEYS[%(result_keys)d + i], rid) end
  if c.message ~= '' and redis.call('GET', KEYS[6]) == rid then redis.call('DEL', KEYS[6]) end
  redis.call('SREM', KEYS[7], rid)
  if c.author ~= '' then redis.call('SREM', KEYS[8], rid) end
  redis.call('DEL', KEYS[4])
  return was_on
end
"""

# ARGV (from 3): result_id, unposted TTL, re-roll TTL, n, then n items of field, value pairs
# for the record (`ResultRecord.mapping()`), then the re-roll fields' pairs (none: nothing to
# keep). The keys are planned from the record being written. Idempotent: votes stay.
_SAVE = """
local rid, unposted_ttl, reroll_ttl = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local last = 6 + tonumber(ARGV[6])
redis.call('HSET', KEYS[1], unpack(ARGV, 7, last))
if #ARGV > last then
  redis.call('HSET', KEYS[2], unpack(ARGV, last + 1))
  redis.call('EXPIRE', KEYS[2], reroll_ttl)
end
local c = load_result()
if c.message ~= '' then
  index_posted(rid, c, 0)
else
  redis.call('EXPIRE', KEYS[1], unposted_ttl)
end
return 1
"""

# ARGV (from 3): result_id, channel, message, now, the creator and photo author the keys were
# planned for[, the job's answered TTL with KEYS[16] the job's `keys.job_result`]. The
# result's message is up: it is kept, can be voted on and found; the job is answered.
_POSTED = """
local rid = ARGV[3]
local c = load_result()
if not c then return 0 end
if c.creator ~= ARGV[7] or c.author ~= ARGV[8] then return '%(stale)s' end
redis.call('HSET', KEYS[1], 'channel', ARGV[4], 'message', ARGV[5])
c.message = ARGV[5]
index_posted(rid, c, ARGV[6])
if #KEYS > %(result_keys)d then redis.call('SET', KEYS[16], rid, 'EX', tonumber(ARGV[9])) end
return 1
"""

# ARGV (after the plan): result_id, voter, now, vote grace (s; optional: without it a closed
# period's board counts until it expires); KEYS[16]: the voter's votes set. Returns
# {status, votes}: added | removed | self | missing (| stale).
_TOGGLE = """
local a = planned()
if not a then return {'%(stale)s', 0} end
local rid, voter, now, grace = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
local c = load_result()
if not c or not c.week then return {'missing', 0} end
local vkey, mkey = KEYS[4], KEYS[16]
if redis.call('SISMEMBER', vkey, voter) == 1 then
  redis.call('SREM', vkey, voter)
  redis.call('SREM', mkey, rid)
  bump(c, rid, -1, now, grace)
  return {'removed', redis.call('SCARD', vkey)}
end
if (voter == c.creator or voter == c.author)
    and redis.call('HGET', KEYS[9], 'self_votes') ~= '1' then
  return {'self', redis.call('SCARD', vkey)}
end
redis.call('SADD', vkey, voter)
redis.call('SADD', mkey, rid)
bump(c, rid, 1, now, grace)
return {'added', redis.call('SCARD', vkey)}
"""

# ARGV (after the plan): result_id, voter, now; KEYS[16]: the voter's votes set. Takes a
# forgotten member's vote back. Returns 1 when there was one to take back.
_UNVOTE = """
local a = planned()
if not a then return '%(stale)s' end
local rid, voter, now = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2])
redis.call('SREM', KEYS[16], rid)
local c = load_result()
if c and c.week and redis.call('SREM', KEYS[4], voter) == 1 then
  bump(c, rid, -1, now)
  return 1
end
return 0
"""

# ARGV (after the plan, voters included): result_id. Off the boards; the record stays (its
# Re-roll and Delete keep working).
_UNBOARD = """
local a = planned()
if not a then return '%(stale)s' end
local c = load_result()
if not c then return 0 end
local was_on = take_off_boards(c, ARGV[a])
redis.call('HDEL', KEYS[1], %(period_fields)s)
return was_on
"""

# ARGV (after the plan, voters included): result_id. Off the boards and gone. Returns 1 when
# the result was on record.
_DELETE = """
local a = planned()
if not a then return '%(stale)s' end
local c = load_result()
if not c then return 0 end
local rid = ARGV[a]
take_off_boards(c, rid)
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('ZREM', KEYS[5], rid)
return 1
"""

# ARGV (after the plan, voters included): result_id. One result of a forgotten member leaves
# the boards and its votes are undone; posted, it keeps only the ids its Delete button needs
# (%(kept_fields)s), unposted, it is deleted. Returns {what, photo hashes}: what is `kept`,
# `removed` or `none`; the caller deletes the kept photos (they are not the guild's keys).
_FORGET_RESULT = """
local a = planned()
if not a then return {'%(stale)s'} end
local rid = ARGV[a]
local c = load_result()
if not c then return {'none'} end
local photos = {}
for _, key in ipairs({KEYS[2], KEYS[1]}) do  -- layout 2 kept it in the record
  local photo = redis.call('HGET', key, 'photo_hash')
  if photo and photo ~= '' then table.insert(photos, photo) end
end
redis.call('DEL', KEYS[2], KEYS[3])
take_off_boards(c, rid)
if c.message == '' then
  redis.call('DEL', KEYS[1])
  return {'removed', unpack(photos)}
end
local keep = {}
for _, f in ipairs({%(kept_fields)s}) do keep[f] = true end
for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
  if not keep[f] then redis.call('HDEL', KEYS[1], f) end
end
redis.call('SET', KEYS[6], rid)  -- a deleted message still finds it
return {'kept', unpack(photos)}
"""


GROWS = "#!lua"
"""May add data: refused, untouched, while Redis is over `maxmemory`."""
SHRINKS = "#!lua flags=allow-oom"
"""Only takes data away: runs while Redis is full too (it frees memory)."""


def _script(body: str, shebang: str = GROWS) -> str:
    values = {
        "period_fields": ", ".join(f"'{name}'" for name in PERIOD_FIELDS),
        "kept_fields": ", ".join(f"'{name}'" for name in KEPT_AFTER_FORGET),
        "fingerprint_fields": ", ".join(f"'{name}'" for name in FINGERPRINT_FIELDS),
        "fingerprint_count": len(FINGERPRINT_FIELDS),
        "board_keep_s": GRACE_S,
        "result_keys": RESULT_KEYS,
        "stale": STALE,
    }
    return "\n".join((shebang, _LIBRARY % values, body % values))


SAVE_RESULT = _script(_SAVE)
RESULT_POSTED = _script(_POSTED)
TOGGLE_VOTE = _script(_TOGGLE)
UNVOTE = _script(_UNVOTE, SHRINKS)
UNBOARD_RESULT = _script(_UNBOARD, SHRINKS)
DELETE_RESULT = _script(_DELETE, SHRINKS)
FORGET_RESULT = _script(_FORGET_RESULT, SHRINKS)

# KEYS: the result's re-roll hash, its layers. ARGV: the layers' new meta (JSON), then the
# re-roll fields' pairs that changed. After an edit: the cover's re-roll fields and layers say
# what it now shows, only while they live (an edit never brings back member text that
# expired, nor resets its TTL).
RESULT_EDITED = f"""{GROWS}
if redis.call('EXISTS', KEYS[1]) == 1 and #ARGV > 1 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 2))
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('HSET', KEYS[2], 'meta', ARGV[1])
end
return 1
"""

SCRIPTS = {
    "save_result": SAVE_RESULT,
    "result_posted": RESULT_POSTED,
    "toggle_vote": TOGGLE_VOTE,
    "unvote": UNVOTE,
    "unboard_result": UNBOARD_RESULT,
    "delete_result": DELETE_RESULT,
    "forget_result": FORGET_RESULT,
    "result_edited": RESULT_EDITED,
}
"""Every script here, by name (the cluster test runs each one)."""
