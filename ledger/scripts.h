// ledger/scripts.h — the ledger's Lua scripts: what each Runway account can pay and run.
//
// Per account, a hash P:account:<name> shared by every daemon:
//   balance, reconciled_at, recon_sent_at   the last GET /v1/organization and when
//   reserved                                credits held by jobs admitted, not yet created
//   charged_total / charged_base            credits charged at creation (monotonic) and
//                                           its value when the balance was last read
//   returned_total / returned_base          credits returned (uncharged failures, cancels)
//   estimate = balance - reserved - (charged_total - charged_base)
//   (returned credits wait for the next reading: see estimate() below)
//   inflight:<model>, limit:<model>         concurrency slots held, and the limit
//   daily:<model>, daily_limit:<model>      daily generations, and the limit
//   low, low_threshold, short, disabled     flags (low has hysteresis: set below the
//                                           threshold, cleared 10% above it)
// A job's hold lives in its own record (P:job:<id>): hold_account, hold_model,
// hold_reserved, hold_charged, hold_slot. Every hold is released exactly once, by the
// script that ends it (kSettle, or the settle step inside queue's kFinish), so
// reservations can never leak: adoption moves the record, and with it the hold.
//
// Why counters with bases instead of resetting "charged since": two daemons may
// reconcile at once; a reading is applied only if it was sent after the one already
// applied (recon_sent_at), and charges that land while a reading is in flight stay
// counted (the estimate errs low, never high).
#pragma once

#include <string>

namespace runwayd::ledger {

// (A constant-initialised array, so scripts in other files can be built from it during
// static initialisation in any order.)
inline constexpr char kLuaPreludeText[] = R"lua(
-- A step that needs several fields of one hash reads them with one HMGET (a missing
-- field is false, as with HGET): 41 commands per job instead of 58.
local function num(v) return tonumber(v or '0') or 0 end
local function n(h, f) return num(redis.call('HGET', h, f)) end
-- Returned credits are not added back until a reading shows them: Runway returns them
-- when the task fails, we count them when we see it, and a reading in between would
-- count them twice. Leaving them out keeps every error of the estimate on the low side.
local function estimate(a)
  local v = redis.call('HMGET', a, 'balance', 'reserved', 'charged_total', 'charged_base')
  local e = num(v[1]) - num(v[2]) - (num(v[3]) - num(v[4]))
  redis.call('HSET', a, 'estimate', e)
  return e
end
local function check_low(a, e)
  local v = redis.call('HMGET', a, 'low_threshold', 'low')
  local th = num(v[1])
  if th <= 0 then return 0 end
  local low = v[2] == '1'
  if (not low) and e < th then
    redis.call('HSET', a, 'low', '1')
    return 1
  end
  if low and e > th + math.max(1, math.floor(th / 10)) then redis.call('HSET', a, 'low', '0') end
  return 0
end
local function settle(prefix, j, final)
  local h = redis.call('HMGET', j, 'hold_account', 'hold_reserved', 'hold_charged', 'hold_model', 'hold_slot')
  local acc = h[1]
  if not acc then return 0 end
  local a = prefix .. ':account:' .. acc
  local reserved, charged = num(h[2]), num(h[3])
  local model = h[4] or ''
  if reserved ~= 0 then redis.call('HINCRBY', a, 'reserved', -reserved) end
  if h[5] == '1' then
    local left = redis.call('HINCRBY', a, 'inflight:' .. model, -1)
    if left < 0 then redis.call('HSET', a, 'inflight:' .. model, 0) end
  end
  if final == -2 then
    redis.call('HINCRBY', a, 'charged_total', reserved)
  elseif final >= 0 then
    if final < charged then redis.call('HINCRBY', a, 'returned_total', charged - final)
    elseif final > charged then redis.call('HINCRBY', a, 'charged_total', final - charged) end
  end
  redis.call('HDEL', j, 'hold_account', 'hold_model', 'hold_reserved', 'hold_charged', 'hold_slot')
  return 1
end
-- Reserves cost + one slot + one daily generation of model on account a for job j and
-- marks the job create_sent, or says why not. The caller checked that j is its own.
local function reserve(a, j, name, model, cost, attempt, now, body, prefix)
  -- A hold the job still has is one its daemon does not know of (the reply of an earlier
  -- kReserve was lost, and the daemon asks again): nothing will use it. Released first,
  -- so it cannot refuse the job the credit and the slot it holds itself. No create went
  -- out with it (one that may have ends its hold before any new reservation), so the
  -- record stops saying "create_sent": refused below, the job would otherwise be resumed
  -- after a stop or a crash as a create whose answer was lost.
  if settle(prefix, j, 0) == 1 then redis.call('HSET', j, 'state', 'refused') end
  local v = redis.call('HMGET', a, 'disabled', 'balance', 'short', 'limit:' .. model, 'inflight:' .. model,
                      'daily_limit:' .. model, 'daily:' .. model)
  if v[1] == '1' then return {'disabled', '0'} end
  if not v[2] then return {'unknown', '0'} end
  local e = estimate(a)  -- writes only the estimate field: v stays current
  if v[3] == '1' then return {'short', tostring(e)} end
  if e < cost then return {'credit', tostring(e)} end
  if v[4] and num(v[5]) >= tonumber(v[4]) then return {'slot', tostring(e)} end
  if v[6] and num(v[7]) >= tonumber(v[6]) then return {'daily', tostring(e)} end
  redis.call('HINCRBY', a, 'reserved', cost)
  redis.call('HINCRBY', a, 'inflight:' .. model, 1)
  redis.call('HINCRBY', a, 'daily:' .. model, 1)
  redis.call('HSET', j, 'hold_account', name, 'hold_model', model, 'hold_reserved', cost, 'hold_charged', 0,
             'hold_slot', '1', 'state', 'create_sent', 'attempt', attempt, 'account', name, 'model', model,
             'submitted_at', now, 'task_id', '')
  -- '' is the producer's own body: a fallback's, left by an earlier attempt, would be
  -- resumed (after a restart or from the retry set) under this attempt's model.
  if body ~= '' then redis.call('HSET', j, 'body', body) else redis.call('HDEL', j, 'body') end
  e = estimate(a)
  return {'ok', tostring(e), tostring(check_low(a, e))}
end
)lua";

// Lua functions shared by the ledger scripts and queue's kAdmit and kFinish: n(),
// estimate(a), check_low(a, e), settle(prefix, j, final), reserve(a, j, ...) (kReserve's
// body, also run by kAdmit for a job's first reservation). settle() finds the account from the job's
// own hold (with a braced prefix every key is in one Cluster slot). Prepend to a script.
extern const std::string kLuaPrelude;

// Reserve cost + one slot + one daily generation on an account for a job, and mark the
// job "create_sent" in the same step (the create goes out right after).
// KEYS: account, job. ARGV: daemon, account name, model, cost, attempt, submitted_at, body
// (a fallback model's; '' = the producer's: a fallback's left by an earlier attempt is
// removed), prefix. A hold the job still has (an earlier kReserve whose reply was
// lost, or a refused create's settle whose reply was) is released first, and the job's
// state is then "refused" until this reservation succeeds. Returns {"ok", estimate,
// crossed_low} | {"credit"|"slot"|"daily"|"disabled"|"unknown"|"short", estimate} |
// {"not_owner"}.
extern const std::string kReserve;

// A create answered with a task: the reservation becomes a charge of `charged`.
// KEYS: account, job. ARGV: daemon, task_id, charged, attempt. Idempotent: a retry
// after a lost reply (the record already holds this task id) changes nothing.
// Returns {"ok", estimate, crossed_low} | {"not_owner"}.
extern const std::string kCreated;

// Ends a hold without ending the job (a refused create, or a task attempt that will be
// retried). final: the final cost, -1 unknown (keep the charge), -2 "assume the
// reservation was charged". KEYS: account, job. ARGV: daemon, final, new state, prefix,
// and optionally id, due_ms: then, in the same step, the job leaves this daemon (its
// record names no daemon, its id leaves our in-flight set) and waits in P:retry with
// score due_ms (queue/scripts.h kTakeDue brings it back). A hand-off retried after a
// lost reply finds the job ownerless in P:retry and answers "ok", queued=1 again.
// Returns {"ok", estimate, crossed_low, queued(0/1)} | {"not_owner"}.
extern const std::string kSettle;

// Applies an organization reading. KEYS: account. ARGV: balance, sent_at_ms,
// charged_total_at_send, returned_total_at_send, now_ms, low_threshold, then for each
// model 4 values: model, max_concurrent ('' unlimited), max_daily ('' unlimited),
// daily_used ('' unknown). A reading proves the key works: it clears "disabled".
// Returns {"ok", estimate_before (or ''), estimate_after,
// crossed_low} | {"stale"}.
extern const std::string kReconcile;

}  // namespace runwayd::ledger
