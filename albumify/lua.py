"""Lua scripts for results and leaderboards: every change to more than one key is atomic.

200 members pressing Vote at once end with exactly 200 on every board, and a delete, an unvote
or a forget can never be half done. Key builders are generated from the templates in
`albumify.keys`, so a key name is spelled once, in Python.

A result's hash (`keys.RESULT`) carries the periods (UTC) in which it was created — `week`,
`month` and when each board expires — written once, when the result is saved. A vote counts
in those periods and an unvote applies the same keys with -1, so it undoes exactly what the
vote did. A period board whose expiry has passed is neither incremented nor decremented (it is
gone); nor, for the bot's votes (which carry `Limits.vote_grace_s`), is one whose period ended
more than the grace ago: it is final (Cover of the Week/Month has read it), and only the boards
still open change. Boards keep only covers/creators with a positive score. A result without
`week` is off the boards (a moderator took it off, or it was deleted): votes on it say "missing".

Scripts build key names from a result's fields, which works on a single Redis (what we run).

Each script declares itself with a shebang (Redis 7), so a full Redis (`maxmemory`, policy
`noeviction`) refuses a script that may grow the data *before* it runs, with an OOM error the
bot turns into "busy, try again": never half a vote. (A script without one is refused only at
its first growing command, and not at all once an earlier command wrote.) Scripts that only
take data away (delete, unboard, forget) run when Redis is full too: they free memory.
"""

from __future__ import annotations

import string

from albumify import keys
from albumify.periods import GRACE_S

PERIOD_FIELDS = ("week", "month", "week_exp", "month_exp")
KEPT_AFTER_FORGET = ("guild", "channel", "message", "requester", "photo_author")
"""What a forgotten member's cover still posted keeps: the ids its Delete button checks (who
asked, whose photo) and its message's place. No title, artist, photo hash or match."""


def key_builder(name: str, template: str) -> str:
    """`local function name(a, b) return 'albumify:x:' .. a .. ':' .. b end` for a template."""
    pieces, params = [], []
    for literal, field, _, _ in string.Formatter().parse(template):
        if literal:
            pieces.append(f"'{literal}'")
        if field:
            pieces.append(field)
            params.append(field)
    return f"local function {name}({', '.join(params)}) return {' .. '.join(pieces)} end"


_KEYS = "\n".join(
    key_builder(name, template)
    for name, template in (
        ("result_key", keys.RESULT),
        ("reroll_key", keys.REROLL),
        ("layers_key", keys.LAYERS),
        ("posted_key", keys.POSTED),
        ("voters_key", keys.VOTERS),
        ("message_key", keys.MESSAGE),
        ("board_key", keys.BOARD),
        ("member_covers_key", keys.MEMBER_COVERS),
        ("member_votes_key", keys.MEMBER_VOTES),
        ("member_photo_covers_key", keys.MEMBER_PHOTO_COVERS),
        ("member_jobs_key", keys.MEMBER_JOBS),
        ("user_guilds_key", keys.USER_GUILDS),
        ("photo_key", keys.PHOTO),
        ("guild_settings_key", keys.GUILD_SETTINGS),
    )
)

# Shared helpers, prepended to each script (scripts cannot call each other).
_LIBRARY = """
local function load_result(rid)
  local v = redis.call('HMGET', result_key(rid), 'guild', 'requester', 'photo_author', 'week',
    'month', 'week_exp', 'month_exp', 'message')
  if not v[1] then return nil end
  return {guild = v[1], creator = v[2], author = v[3] or '', week = v[4], month = v[5],
          week_exp = tonumber(v[6]), month_exp = tonumber(v[7]), message = v[8] or ''}
end

-- {period, expires_at or nil}: the boards a result's votes count in.
local function periods(c)
  return {{'all', nil}, {'week:' .. c.week, c.week_exp}, {'month:' .. c.month, c.month_exp}}
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
      for _, e in ipairs({{'covers', rid}, {'creators', c.creator}}) do
        local key = board_key(c.guild, e[1], p[1])
        if tonumber(redis.call('ZINCRBY', key, delta, e[2])) <= 0 then
          redis.call('ZREM', key, e[2])
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
  redis.call('PERSIST', result_key(rid))
  redis.call('SADD', member_covers_key(c.guild, c.creator), rid)
  redis.call('SADD', user_guilds_key(c.creator), c.guild)
  if c.author ~= '' and c.author ~= c.creator then
    redis.call('SADD', member_photo_covers_key(c.guild, c.author), rid)
    redis.call('SADD', user_guilds_key(c.author), c.guild)
  end
  if c.message ~= '' then redis.call('SET', message_key(c.message), rid) end
  redis.call('ZADD', posted_key(), 'GT', seen, rid)  -- never moves "last looked at" back
end

-- Take a result off every board (its creator loses exactly its score there), undo its votes
-- and unlink it from its creator and message. The hash itself stays. 1 if it was on boards.
local function take_off_boards(c, rid)
  local was_on = 0
  if c.week then
    was_on = 1
    for _, p in ipairs(periods(c)) do
      local key = board_key(c.guild, 'covers', p[1])
      local score = redis.call('ZSCORE', key, rid)
      if score then
        redis.call('ZREM', key, rid)
        local ck = board_key(c.guild, 'creators', p[1])
        if tonumber(redis.call('ZINCRBY', ck, -tonumber(score), c.creator)) <= 0 then
          redis.call('ZREM', ck, c.creator)
        end
      end
    end
  end
  for _, voter in ipairs(redis.call('SMEMBERS', voters_key(rid))) do
    redis.call('SREM', member_votes_key(c.guild, voter), rid)
  end
  if c.message ~= '' and redis.call('GET', message_key(c.message)) == rid then
    redis.call('DEL', message_key(c.message))
  end
  redis.call('SREM', member_covers_key(c.guild, c.creator), rid)
  if c.author ~= '' then redis.call('SREM', member_photo_covers_key(c.guild, c.author), rid) end
  redis.call('DEL', voters_key(rid))
  return was_on
end

local function delete_result(rid)
  local c = load_result(rid)
  if not c then return 0 end
  take_off_boards(c, rid)
  redis.call('DEL', result_key(rid), reroll_key(rid), layers_key(rid))
  redis.call('ZREM', posted_key(), rid)
  return 1
end
"""

# ARGV: result_id, unposted TTL, re-roll TTL, n, then n items of field, value pairs for the
# record (`ResultRecord.mapping()`), then the re-roll fields' pairs (none: nothing to keep).
# Idempotent: votes stay.
_SAVE = """
local rid, unposted_ttl, reroll_ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local last = 4 + tonumber(ARGV[4])
redis.call('HSET', result_key(rid), unpack(ARGV, 5, last))
if #ARGV > last then
  redis.call('HSET', reroll_key(rid), unpack(ARGV, last + 1))
  redis.call('EXPIRE', reroll_key(rid), reroll_ttl)
end
local c = load_result(rid)
if c.message ~= '' then
  index_posted(rid, c, 0)
else
  redis.call('EXPIRE', result_key(rid), unposted_ttl)
end
return 1
"""

# ARGV: result_id, channel, message, now. The result's message is up: it is kept, can be voted
# on and found.
_POSTED = """
local rid = ARGV[1]
if redis.call('EXISTS', result_key(rid)) == 0 then return 0 end
redis.call('HSET', result_key(rid), 'channel', ARGV[2], 'message', ARGV[3])
index_posted(rid, load_result(rid), ARGV[4])
return 1
"""

# ARGV: result_id, voter, now, vote grace (s; optional: without it a closed period's board
# counts until it expires). Returns {status, votes}: added | removed | self | missing.
_TOGGLE = """
local rid, voter, now, grace = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local c = load_result(rid)
if not c or not c.week then return {'missing', 0} end
local vkey = voters_key(rid)
local mkey = member_votes_key(c.guild, voter)
if redis.call('SISMEMBER', vkey, voter) == 1 then
  redis.call('SREM', vkey, voter)
  redis.call('SREM', mkey, rid)
  bump(c, rid, -1, now, grace)
  return {'removed', redis.call('SCARD', vkey)}
end
if (voter == c.creator or voter == c.author)
    and redis.call('HGET', guild_settings_key(c.guild), 'self_votes') ~= '1' then
  return {'self', redis.call('SCARD', vkey)}
end
redis.call('SADD', vkey, voter)
redis.call('SADD', mkey, rid)
redis.call('SADD', user_guilds_key(voter), c.guild)
bump(c, rid, 1, now, grace)
return {'added', redis.call('SCARD', vkey)}
"""

# ARGV: result_id. Off the boards; the record stays (its Re-roll and Delete keep working).
_UNBOARD = """
local c = load_result(ARGV[1])
if not c then return 0 end
local was_on = take_off_boards(c, ARGV[1])
redis.call('HDEL', result_key(ARGV[1]), %(period_fields)s)
return was_on
"""

# ARGV: result_id. Off the boards and gone. Returns 1 when the result was on record.
_DELETE = """
return delete_result(ARGV[1])
"""

# ARGV: user, guild, now, n, n result ids (of the member's jobs), photo hashes (of their jobs).
# Forgets the member in one guild: every result they asked for or made of their photo leaves
# the boards and its votes are undone; a posted one keeps only the ids its Delete button
# needs (%(kept_fields)s), an unposted one is deleted, with its photo; their votes are taken
# back; the guild leaves their list. Returns {kept, removed, votes, photos}. Idempotent.
_FORGET = """
local user, g, now, n = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local keep = {}
for _, f in ipairs({%(kept_fields)s}) do keep[f] = true end
local kept, removed, votes, photos, seen = 0, 0, 0, 0, {}
local function forget_result(rid)
  if seen[rid] then return end
  seen[rid] = true
  local c = load_result(rid)
  if not c or c.guild ~= g then return end
  for _, key in ipairs({reroll_key(rid), result_key(rid)}) do  -- layout 2 kept it in the record
    local photo = redis.call('HGET', key, 'photo_hash')
    if photo and photo ~= '' then photos = photos + redis.call('DEL', photo_key(photo)) end
  end
  redis.call('DEL', reroll_key(rid), layers_key(rid))
  take_off_boards(c, rid)
  if c.message == '' then
    redis.call('DEL', result_key(rid))
    removed = removed + 1
    return
  end
  for _, f in ipairs(redis.call('HKEYS', result_key(rid))) do
    if not keep[f] then redis.call('HDEL', result_key(rid), f) end
  end
  redis.call('SET', message_key(c.message), rid)  -- a deleted message still finds it
  kept = kept + 1
end
for _, key in ipairs({member_covers_key(g, user), member_photo_covers_key(g, user)}) do
  for _, rid in ipairs(redis.call('SMEMBERS', key)) do forget_result(rid) end
end
for i = 5, 4 + n do forget_result(ARGV[i]) end
for i = 5 + n, #ARGV do photos = photos + redis.call('DEL', photo_key(ARGV[i])) end
local vkey = member_votes_key(g, user)
for _, rid in ipairs(redis.call('SMEMBERS', vkey)) do
  local c = load_result(rid)
  if c and c.week and redis.call('SREM', voters_key(rid), user) == 1 then
    bump(c, rid, -1, now)
    votes = votes + 1
  end
end
redis.call('DEL', member_covers_key(g, user), member_photo_covers_key(g, user), vkey,
  member_jobs_key(g, user))
redis.call('SREM', user_guilds_key(user), g)
return {kept, removed, votes, photos}
"""


GROWS = "#!lua"
"""May add data: refused, untouched, while Redis is over `maxmemory`."""
SHRINKS = "#!lua flags=allow-oom"
"""Only takes data away: runs while Redis is full too (it frees memory)."""


def _script(body: str, shebang: str = GROWS) -> str:
    period_fields = ", ".join(f"'{name}'" for name in PERIOD_FIELDS)
    kept_fields = ", ".join(f"'{name}'" for name in KEPT_AFTER_FORGET)
    values = {"period_fields": period_fields, "kept_fields": kept_fields, "board_keep_s": GRACE_S}
    return "\n".join((shebang, _KEYS, _LIBRARY % values, body % values))


SAVE_RESULT = _script(_SAVE)
RESULT_POSTED = _script(_POSTED)
TOGGLE_VOTE = _script(_TOGGLE)
UNBOARD_RESULT = _script(_UNBOARD, SHRINKS)
DELETE_RESULT = _script(_DELETE, SHRINKS)
FORGET_IN_GUILD = _script(_FORGET, SHRINKS)

# ARGV: result_id, the layers' new meta (JSON), then the re-roll fields' pairs that changed.
# After an edit: the cover's re-roll fields and layers say what it now shows, only while they
# live (an edit never brings back member text that expired, nor resets its TTL).
_EDITED = """
local rid = ARGV[1]
if redis.call('EXISTS', reroll_key(rid)) == 1 and #ARGV > 2 then
  redis.call('HSET', reroll_key(rid), unpack(ARGV, 3))
end
if redis.call('EXISTS', layers_key(rid)) == 1 then
  redis.call('HSET', layers_key(rid), 'meta', ARGV[2])
end
return 1
"""
RESULT_EDITED = _script(_EDITED)
