// queue/scripts.cc — the scripts documented in scripts.h.
//
// Rules every script follows: it touches only the keys it is given (Redis Cluster
// with a braced prefix keeps them in one slot), checks ownership before it writes a
// job record, and never reads the clock (times come in ARGV so a replica replays
// the same effects).
#include "queue/scripts.h"

#include "ledger/scripts.h"

namespace runwayd::scripts {

const std::string kTakeBatch = R"lua(
local out = {}
for i = 1, tonumber(ARGV[1]) do
  local v = redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT')
  if not v then break end
  out[i] = v
end
return out
)lua";

const std::string kAdmit = std::string(ledger::kLuaPreludeText) + R"lua(
local owner = redis.call('HGET', KEYS[1], 'daemon')
if owner == ARGV[3] and redis.call('HGET', KEYS[1], 'admit_token') == ARGV[5] then
  -- This very task's admission, whose reply was lost (the token is the task's own), with
  -- the reservation it made if any: the create was not sent, the daemon never had the reply.
  local out = {'ok', tostring(redis.call('EXISTS', KEYS[5])), redis.call('HGET', KEYS[1], 'replayed') or '0'}
  local name = redis.call('HGET', KEYS[1], 'hold_account')
  if redis.call('HGET', KEYS[1], 'state') == 'create_sent' and name then
    out[4], out[5], out[6], out[7] = 'ok', tostring(estimate(ARGV[6] .. ':account:' .. name)), '0', name
  end
  return out
end
-- Only the daemon whose processing list holds the job may admit it: another daemon
-- adopted it while this one was cut off from Redis (its heartbeat lapsed) and will run it.
-- Searched from the tail: jobs enter at the head and are admitted in the order taken,
-- so the one admitted is normally the last element (from the head, LPOS and LREM
-- compared the raw against every job taken after it: hundreds during a burst).
if not redis.call('LPOS', KEYS[4], ARGV[2], 'RANK', -1) then
  return {'gone', ''}
end
if owner then
  return {'dup_running', owner}
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'dup_running', ''}  -- a record without owner: it waits in the retry set
end
local done = redis.call('GET', KEYS[2])
if done then
  return {'dup_done', done}
end
if redis.call('DEL', KEYS[7]) == 1 then
  return {'cancelled', ''}  -- not admitted: its finish removes it from the processing list
end
redis.call('HSET', KEYS[1], 'raw', ARGV[2], 'daemon', ARGV[3], 'state', 'admitted',
           'taken_at', ARGV[4], 'attempt', '0', 'admit_token', ARGV[5])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('LREM', KEYS[4], -1, ARGV[2])
-- The replay marker moves into the record: a restart or an adoption keeps it.
local replayed = redis.call('DEL', KEYS[6])
if replayed == 1 then redis.call('HSET', KEYS[1], 'replayed', '1') end
local out = {'ok', tostring(redis.call('EXISTS', KEYS[5])), tostring(replayed)}
if KEYS[8] then  -- the first reservation rides on the admission: one round trip less
  local r = reserve(KEYS[8], KEYS[1], ARGV[7], ARGV[8], tonumber(ARGV[9]), ARGV[10], ARGV[11], '', ARGV[6])
  out[4], out[5], out[6], out[7] = r[1], r[2], r[3] or '0', ARGV[7]
end
return out
)lua";

const std::string kUpdateOwned = R"lua(
if redis.call('HGET', KEYS[1], 'daemon') ~= ARGV[1] then
  return 0
end
local fields = {}
for i = 2, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
return 1
)lua";

const std::string kFinish = std::string(ledger::kLuaPreludeText) + R"lua(
local owned = ARGV[10] == '1'
-- kAdmit's duplicate rule, for a job refused before admission: a known id writes
-- nothing here (no refund, no result) and the daemon finishes the job as a duplicate.
if not owned and ARGV[16] == '1' then
  local owner = redis.call('HGET', KEYS[1], 'daemon')
  if owner then return {'dup_running', owner} end
  if redis.call('EXISTS', KEYS[1]) == 1 then return {'dup_running', ''} end
  local done = redis.call('GET', KEYS[6])
  if done then return {'dup_done', done} end
end
if owned and redis.call('HGET', KEYS[1], 'daemon') ~= ARGV[2] then
  return 'not_owner'
end
-- A job never admitted is finished by whoever removes it from its processing list:
-- a finish sent again after a lost reply (or a job adopted meanwhile) writes nothing.
-- Its raw may be the empty string (a producer can push one): it is removed all the same.
if not owned and redis.call('LREM', KEYS[7], -1, ARGV[6]) == 0 then
  return 'not_owner'
end
-- A reply_to naming a key of another type would fail the result's LPUSH after the
-- ledger and the refund were written (a script is not rolled back), and so would
-- every retry: the job would never end. Its result goes to <prefix>:results instead.
local dest = KEYS[3]
if dest ~= KEYS[9] then
  local ty = redis.call('TYPE', dest)['ok']
  if ty ~= 'none' and ty ~= 'list' then dest = KEYS[9] end
end
-- The ledger first: if it failed (it cannot, short of a corrupt record), nothing
-- else would have been written and the retried finish would write it all once.
if owned then settle(ARGV[12], KEYS[1], tonumber(ARGV[11])) end
-- A job never admitted did not read its replay marker: its finish does (and ends it).
local replayed = false
if not owned and ARGV[1] ~= '' then
  replayed = redis.call('DEL', ARGV[12] .. ':replayed:' .. ARGV[1]) == 1 and ARGV[14] ~= ''
end
local refunded, result = 0, replayed and ARGV[14] or ARGV[3]
if ARGV[4] ~= '' and ARGV[1] ~= '' then
  if redis.call('SET', KEYS[5], '1', 'NX', 'EX', ARGV[8]) then
    redis.call('LPUSH', KEYS[4], ARGV[4])
    refunded = 1
  else
    -- refunded before (a replay): the result must not promise another
    result = replayed and ARGV[15] or ARGV[13]
  end
end
if result ~= '' then redis.call('LPUSH', dest, result) end
if ARGV[7] ~= '' then redis.call('LPUSH', KEYS[8], ARGV[7]) end
if owned then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[1])
end
if ARGV[9] ~= '' then redis.call('SET', KEYS[6], ARGV[9], 'EX', ARGV[5]) end
if dest ~= KEYS[3] then return {refunded} end
return refunded
)lua";

const std::string kHeartbeat = R"lua(
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
return 1
)lua";

// The per-daemon keys are derived from the prefix: with Redis Cluster the prefix is
// braced ({runway}) so every key of a deployment is in one slot.
const std::string kAdopt = R"lua(
local prefix, me, budget = ARGV[1], ARGV[2], tonumber(ARGV[3])
local adopted, taken, dead = {}, {}, {}
for _, d in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if d ~= me and redis.call('EXISTS', prefix .. ':daemon:' .. d) == 0 then
    dead[#dead + 1] = d
    local proc = prefix .. ':processing:' .. d
    local mine = prefix .. ':processing:' .. me
    while budget > 0 do
      local v = redis.call('LMOVE', proc, mine, 'RIGHT', 'LEFT')
      if not v then break end
      taken[#taken + 1] = v
      budget = budget - 1
    end
    local infl = prefix .. ':inflight:' .. d
    local myinfl = prefix .. ':inflight:' .. me
    while budget > 0 do
      local id = redis.call('SPOP', infl)
      if not id then break end
      local job = prefix .. ':job:' .. id
      if redis.call('EXISTS', job) == 1 then
        redis.call('HSET', job, 'daemon', me, 'adopted_from', d)
        redis.call('SADD', myinfl, id)
        adopted[#adopted + 1] = id
      end
      budget = budget - 1
    end
    -- Operators' cancels left in its own list (forwarded to it by kRouteCancel, or moved
    -- there by its kTakeCancels) are read by nobody else: back to the shared list, where
    -- the next cancel poll routes them to whoever holds each job now.
    local cancels = prefix .. ':cancel:' .. d
    while redis.call('LMOVE', cancels, prefix .. ':cancel', 'RIGHT', 'LEFT') do end
    if redis.call('LLEN', proc) == 0 and redis.call('SCARD', infl) == 0 then
      redis.call('SREM', KEYS[1], d)
    end
  end
end
return {adopted, taken, dead}
)lua";

const std::string kTakeDue = R"lua(
local now, max, prefix, me = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local taken, cancelled = {}, {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, max)) do
  redis.call('ZREM', KEYS[1], id)
  local job = prefix .. ':job:' .. id
  if redis.call('EXISTS', job) == 1 then
    redis.call('HSET', job, 'daemon', me)
    redis.call('SADD', KEYS[2], id)
    taken[#taken + 1] = id
    if redis.call('DEL', prefix .. ':cancelreq:' .. id) == 1 then
      cancelled[#cancelled + 1] = id
      redis.call('HSET', job, 'cancelled', '1')
    end
  end
end
return {taken, cancelled}
)lua";

const std::string kTakeCancels = R"lua(
local max = tonumber(ARGV[1])
for _ = 1, max do
  if not redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT') then break end
end
return redis.call('LRANGE', KEYS[2], -max, -1)
)lua";

// An operator's cancel for a job this daemon does not hold: forwarded to the daemon
// that holds it, or remembered for admission when nobody holds it yet.
const std::string kRouteCancel = R"lua(
local owner = redis.call('HGET', KEYS[1], 'daemon')
if owner then
  if owner == ARGV[2] then
    redis.call('HSET', KEYS[1], 'cancelled', '1')
    return 'mine'
  end
  redis.call('LPUSH', ARGV[1] .. ':cancel:' .. owner, ARGV[3])
  return 'forwarded'
end
redis.call('SET', KEYS[2], '1', 'EX', 86400)
return 'marked'
)lua";

}  // namespace runwayd::scripts
