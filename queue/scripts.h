// queue/scripts.h — the Lua scripts that make each job step atomic in Redis.
//
// Why Lua: every transition of a job (taken, admitted, create sent, task recorded,
// finished) must leave Redis either before or after it, never between, whatever
// crashes. Each script is one such transition; the key layout is in store.h.
// Scripts are loaded with SCRIPT LOAD on every (re)connect and run with EVALSHA.
#pragma once

#include <string>

namespace runwayd::scripts {

// Moves up to ARGV[1] jobs from the queue (oldest first) into this daemon's
// processing list and returns them. KEYS: jobs, processing.
extern const std::string kTakeBatch;

// Registers a taken job as this daemon's in-flight job, unless its id is running
// (anywhere) or finished within the dedup window, or an operator cancelled it while it
// was queued. KEYS: job, done, inflight, processing, refunded, replayed, cancelreq,
// [account]. ARGV: id, raw, daemon, now_ms, token (the admitting task's own, random),
// prefix, [account name, model, cost, attempt, submitted_at]. With the account, the job's
// first reservation (ledger/scripts.h reserve()) runs in the same step and the reply
// says how it went: {"ok", refunded, replayed, reserve_kind, estimate, crossed_low,
// account}; without it, or when it is not "ok", the daemon routes the job as usual
// (kReserve). Idempotent for the admitting task (same token): a retry after a lost
// reply answers "ok" again, with the reservation it made. A job no longer in this
// daemon's processing list was adopted by another daemon while this one was cut off:
// "gone", and this daemon lets it go.
// Returns {"ok", refunded(0/1), replayed(0/1)} | {"gone", ""} |
// {"dup_running", owner ('' while the job waits in the retry set)} |
// {"dup_done", summary} | {"cancelled", ""}.
extern const std::string kAdmit;

// Sets fields on a job record only if this daemon still owns it. KEYS: job.
// ARGV: daemon, field, value, ... Returns 1, or 0 when not owned.
extern const std::string kUpdateOwned;

// The one atomic step per outcome: result, refund (guarded by the per-job marker),
// dead letter, release of the job record and its in-flight entry, dedup marker,
// removal from the processing list, and settlement of the job's ledger hold with its
// final cost (see ledger/scripts.h). KEYS: job, inflight, reply, refunds, refunded,
// done, processing, dead, results (where the result goes when `reply` holds another
// type than a list: the reply is then {1|0} instead of 1|0). ARGV: id, daemon, result,
// refund, done_ttl_s, raw, dead, refund_ttl_s, done_value, owned(1/0), final_cost (-1
// unknown, -2 assume charged), prefix, result_without_refund (pushed instead of the result when a refund was
// emitted before, e.g. for a replayed job; '' when the result promises no refund),
// result_replayed, result_without_refund_replayed (a job never admitted: pushed instead
// of the two before when its replay marker existed, which this call deletes; '' none),
// check_known ('1': a job never admitted that kAdmit's duplicate rule did not see; if its
// id is running, waits for a retry or is done, nothing is written and the reply is
// kAdmit's {"dup_running", owner} or {"dup_done", summary}).
// A job that was never admitted (owned=0) is written only by the call that removes
// its raw from the processing list, so a finish repeated after a lost reply writes
// nothing twice. Returns 1 when a refund was pushed, 0 when not, "not_owner" when
// another daemon owns the job or an earlier call already finished it.
extern const std::string kFinish;

// Heartbeat: SET P:daemon:<id> (PX ttl) and SADD P:daemons. KEYS: daemon key, daemons
// set. ARGV: id, ttl_ms, now_ms.
extern const std::string kHeartbeat;

// Adoption of the jobs of daemons whose heartbeat expired, atomically, so two live
// daemons never adopt the same job. KEYS: daemons set. ARGV: prefix, my id, max jobs.
// For each dead daemon D: its processing list moves into mine (the raws are returned
// so I admit them), its in-flight ids move into my set and their records name me, and
// the cancels in its own list (P:cancel:<D>) go back to P:cancel to be routed again.
// A dead daemon with nothing left is forgotten. Returns {adopted_ids, taken_raws, dead_ids}.
extern const std::string kAdopt;

// Takes up to ARGV[2] jobs whose retry is due (score <= now) from the retry set: each
// leaves the set and becomes this daemon's in-flight job in one step, so a due retry
// is taken by exactly one daemon. KEYS: retry set, my inflight set. ARGV: now_ms, max,
// prefix, my id. Returns {taken_ids, cancelled_ids}: an operator's cancel that arrived
// while the job waited (P:cancelreq:<id>) is consumed and reported, and kept in the
// record as cancelled=1 (Resume() reads it), for a reply that is lost.
extern const std::string kTakeDue;

// Moves up to ARGV[1] operators' cancels from P:cancel into this daemon's own list
// (where other daemons forward theirs), then returns the oldest ARGV[1] of that list
// without removing them: the daemon trims them once handled (RPOP lost them when its
// reply was lost). KEYS: P:cancel, P:cancel:<me>. ARGV: max. Returns the ids, newest first.
extern const std::string kTakeCancels;

// KEYS: job, cancelreq. ARGV: prefix, my id, job id. Returns "mine" | "forwarded" | "marked".
// "mine": the record names this daemon, which has no task for it in memory (it is
// loaded after a lost reply, or at the next start): the cancel is kept in the record
// as cancelled=1, which Resume() honours in every state.
extern const std::string kRouteCancel;

}  // namespace runwayd::scripts
