// ledger/scripts.cc — the scripts documented in scripts.h. Integers only: credits
// are whole numbers in Redis (HINCRBY), never floats.
#include "ledger/scripts.h"

namespace runwayd::ledger {

const std::string kLuaPrelude = kLuaPreludeText;

const std::string kReserve = std::string(kLuaPreludeText) + R"lua(
if redis.call('HGET', KEYS[2], 'daemon') ~= ARGV[1] then return {'not_owner'} end
return reserve(KEYS[1], KEYS[2], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6], ARGV[7], ARGV[8])
)lua";

const std::string kCreated = std::string(kLuaPreludeText) + R"lua(
local a, j = KEYS[1], KEYS[2]
if redis.call('HGET', j, 'daemon') ~= ARGV[1] then return {'not_owner'} end
-- A retry after a lost reply: this task is recorded and charged already. Counting the
-- charge again would lower the estimate by one task's cost until the next reading.
local v = redis.call('HMGET', j, 'state', 'task_id')
if v[1] == 'task' and v[2] == ARGV[2] then
  local e = estimate(a)
  return {'ok', tostring(e), '0'}
end
local reserved, charged = n(j, 'hold_reserved'), tonumber(ARGV[3])
if reserved ~= 0 then redis.call('HINCRBY', a, 'reserved', -reserved) end
redis.call('HINCRBY', a, 'charged_total', charged)
redis.call('HSET', j, 'hold_reserved', 0, 'hold_charged', charged, 'state', 'task', 'task_id', ARGV[2],
           'estimated', charged, 'attempt', ARGV[4])
local e = estimate(a)
return {'ok', tostring(e), tostring(check_low(a, e))}
)lua";

const std::string kSettle = std::string(kLuaPreludeText) + R"lua(
local a, j = KEYS[1], KEYS[2]
local owner = redis.call('HGET', j, 'daemon')
if owner == false and ARGV[6] and ARGV[6] ~= '' and redis.call('ZSCORE', ARGV[4] .. ':retry', ARGV[5]) then
  -- A hand-off retried after a lost reply: it ran, and the job waits in the retry set
  -- with no owner. Answer as the first run did, so the caller lets the job go; were
  -- it to keep the job instead, the daemon that takes it when due would create too.
  local e = estimate(a)
  return {'ok', tostring(e), '0', '1'}
end
if owner ~= ARGV[1] then return {'not_owner'} end
settle(ARGV[4], j, tonumber(ARGV[2]))
redis.call('HSET', j, 'state', ARGV[3], 'task_id', '')
local queued = '0'
if ARGV[6] and ARGV[6] ~= '' then
  -- Hand-off to the retry set: no daemon holds the job until it is due.
  redis.call('HDEL', j, 'daemon')
  redis.call('SREM', ARGV[4] .. ':inflight:' .. ARGV[1], ARGV[5])
  redis.call('ZADD', ARGV[4] .. ':retry', ARGV[6], ARGV[5])
  queued = '1'
end
local e = estimate(a)
return {'ok', tostring(e), tostring(check_low(a, e)), queued}
)lua";

const std::string kReconcile = std::string(kLuaPreludeText) + R"lua(
local a = KEYS[1]
if tonumber(ARGV[2]) < n(a, 'recon_sent_at') then return {'stale'} end
local had = redis.call('HEXISTS', a, 'balance') == 1
local before = ''
if had then before = tostring(estimate(a)) end
redis.call('HSET', a, 'balance', ARGV[1], 'recon_sent_at', ARGV[2], 'charged_base', ARGV[3],
           'returned_base', ARGV[4], 'reconciled_at', ARGV[5], 'low_threshold', ARGV[6], 'short', '0')
redis.call('HDEL', a, 'disabled')  -- a reading succeeded: the key works again
for i = 7, #ARGV - 3, 4 do
  local m = ARGV[i]
  if ARGV[i + 1] == '' then redis.call('HDEL', a, 'limit:' .. m) else redis.call('HSET', a, 'limit:' .. m, ARGV[i + 1]) end
  if ARGV[i + 2] == '' then redis.call('HDEL', a, 'daily_limit:' .. m) else redis.call('HSET', a, 'daily_limit:' .. m, ARGV[i + 2]) end
  if ARGV[i + 3] ~= '' then redis.call('HSET', a, 'daily:' .. m, ARGV[i + 3]) end
end
local e = estimate(a)
return {'ok', before, tostring(e), tostring(check_low(a, e))}
)lua";

}  // namespace runwayd::ledger
