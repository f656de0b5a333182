// queue/store.h — the job's life in Redis, as typed asynchronous operations.
//
// Key layout (P = prefix; everything but the contract's lists is runwayd's own):
//   P:jobs                 list   producers LPUSH, runwayd takes from the right
//   P:processing:<daemon>  list   jobs taken but not yet admitted (BLMOVE/LMOVE target)
//   P:inflight:<daemon>    set    ids this daemon owns
//   P:job:<id>             hash   the in-flight record: raw, daemon, state, attempt,
//                                 account, model, task_id, taken_at, submitted_at
//   P:done:<id>            string dedup marker for finished ids (TTL = dedup window)
//   P:refunded:<id>        string "a refund was emitted" (TTL = refund window)
//   P:replayed:<id>        string set by scripts/replay, read once by admission
//   P:results[:...], P:refunds, P:events, P:dead   the contract's lists
//
// A job is never only in memory: it moves atomically jobs -> processing -> (admit)
// job hash + inflight set -> (finish) result/refund/dead. Every operation calls its
// callback exactly once; `ok == false` means Redis did not answer (the caller retries).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "queue/redis.h"

namespace runwayd {

struct Keys {
  std::string prefix;
  std::string daemon;
  std::string jobs() const { return prefix + ":jobs"; }
  std::string processing() const { return prefix + ":processing:" + daemon; }
  std::string inflight() const { return prefix + ":inflight:" + daemon; }
  std::string job(std::string_view id) const { return prefix + ":job:" + std::string(id); }
  std::string done(std::string_view id) const { return prefix + ":done:" + std::string(id); }
  std::string refunded(std::string_view id) const { return prefix + ":refunded:" + std::string(id); }
  std::string replayed(std::string_view id) const { return prefix + ":replayed:" + std::string(id); }
  std::string results() const { return prefix + ":results"; }
  std::string refunds() const { return prefix + ":refunds"; }
  std::string events() const { return prefix + ":events"; }
  std::string dead() const { return prefix + ":dead"; }
  std::string retry() const { return prefix + ":retry"; }
  std::string cancel() const { return prefix + ":cancel"; }
  std::string my_cancel() const { return prefix + ":cancel:" + daemon; }
  std::string cancel_request(std::string_view id) const { return prefix + ":cancelreq:" + std::string(id); }
  std::string account(std::string_view name) const { return prefix + ":account:" + std::string(name); }
  std::string heartbeat() const { return prefix + ":daemon:" + daemon; }
  std::string daemons() const { return prefix + ":daemons"; }
};

struct AdmitOutcome {
  enum Kind { kOk, kDuplicateRunning, kDuplicateDone, kCancelled, kGone, kError } kind = kError;
  bool refund_emitted = false;  // kOk: a refund was already emitted for this id (replay)
  bool replayed = false;        // kOk: scripts/replay put it back
  std::string detail;           // duplicates: owner daemon or the first's summary
  // kOk with a reservation asked for: how it went ("ok", "credit", "slot", ... or ""
  // when none was made), the account's estimate and low-balance crossing, and the account.
  std::string reserve_kind, reserve_estimate, reserve_low, reserve_account;
};

// A first reservation to make in the admission's own step (scripts::kAdmit).
struct AdmitReservation {
  std::string account_key, account, model, cost, attempt, submitted_at;
};

// What recovery finds for one in-flight id of this daemon.
struct InflightRecord {
  std::string id;
  std::map<std::string, std::string> fields;  // empty when the hash is gone
};

// One terminal write. Empty strings mean "nothing of that kind".
struct FinishWrite {
  std::string id;          // may be empty for an unidentifiable job
  std::string reply_to;    // list for the result
  std::string result;      // result event JSON
  std::string result_no_refund;  // the same without its refund, if it has one
  // Never admitted (its replay marker unread): the two above with "replayed": true,
  // pushed instead when kFinish finds the marker. Empty: no such variant.
  std::string result_replayed, result_no_refund_replayed;
  std::string refund;      // refund event JSON
  std::string dead;        // dead-letter entry JSON
  std::string raw;         // remove this raw from the processing list (not yet admitted)
  std::string done_value;  // dedup marker value; empty: set none
  bool owned = false;      // the job hash / inflight entry belong to this daemon
  int64_t final_cost = -1; // Runway's final cost; -1 unknown, -2 assume the reservation was charged
  bool check_known = false;  // never admitted: write nothing if the id is known (kFinish)
};

// Finish's refund_pushed when kFinish wrote nothing because check_known found the id
// known; `known` then says how, as kAdmit would (kDuplicateRunning / kDuplicateDone).
constexpr int kFinishKnown = -2;

class JobStore {
 public:
  struct Options {
    int64_t done_ttl_s = 24 * 3600;       // dedup window
    int64_t refund_ttl_s = 90 * 24 * 3600;
  };
  JobStore(RedisConn* cmd, RedisConn* blocking, Keys keys, Options opts);

  const Keys& keys() const { return keys_; }
  // Takes effect from the next call (a reload: the TTLs are sent with each finish).
  void set_options(const Options& opts) { opts_ = opts; }

  // Queues SCRIPT LOAD of every script; call from the command connection's OnUp
  // hook so the SHAs are known again after each reconnect (until then EVAL is used).
  void LoadScripts();
  // EVALSHA (EVAL until the SHA is known) of one of the project's static scripts.
  void Eval(const std::string& script, const std::vector<std::string_view>& keys,
            const std::vector<std::string_view>& args, RedisConn::Callback cb);
  RedisConn* conn() { return cmd_; }

  // Takes up to `max` jobs without blocking (one round trip).
  void TakeBatch(int max, std::function<void(bool ok, std::vector<std::string> jobs)> cb);
  // Blocks up to timeout_s on the blocking connection for one job.
  void BlockingTake(double timeout_s, std::function<void(bool ok, std::optional<std::string> job)> cb);
  // `token` identifies the admitting task (a retry after a lost reply is recognised);
  // `res` (may be null) asks for the first reservation in the same step.
  void Admit(std::string_view id, std::string_view raw, int64_t now_ms, uint64_t token, const AdmitReservation* res,
             std::function<void(AdmitOutcome)> cb);
  // Sets fields of an owned job record; ok=false: Redis did not answer; owned=false: lost it.
  void Update(std::string_view id, const std::vector<std::pair<std::string_view, std::string>>& fields,
              std::function<void(bool ok, bool owned)> cb);
  // result: 1/0 refund pushed; -1 not owner; ok=false: Redis did not answer (retry).
  // refund_pushed: 1 or 0, -1 when another daemon or an earlier call finished the
  // job, kFinishKnown (see above).
  void Finish(const FinishWrite& w, std::function<void(bool ok, int refund_pushed, AdmitOutcome known)> cb);
  // Recovery: this daemon's processing list, and its in-flight records.
  void LoadProcessing(std::function<void(bool ok, std::vector<std::string>)> cb);
  // `skip` (may be empty) leaves out ids whose records the caller holds already.
  void LoadInflight(std::function<void(bool ok, std::vector<InflightRecord>)> cb,
                    std::function<bool(const std::string& id)> skip = {});
  // The records of the given ids (pipelined HGETALLs).
  void LoadRecords(std::vector<std::string> ids, std::function<void(bool ok, std::vector<InflightRecord>)> cb);
  // Refreshes this daemon's heartbeat key (TTL ttl_ms) and its membership in P:daemons.
  void Heartbeat(int64_t ttl_ms, int64_t now_ms, std::function<void(bool ok)> cb);
  // Deletes the heartbeat at a clean stop so other daemons adopt sooner.
  void DropHeartbeat(std::function<void()> done);
  // Adopts up to `max` jobs of daemons whose heartbeat expired (see scripts::kAdopt).
  void Adopt(int max, std::function<void(bool ok, std::vector<std::string> adopted_ids,
                                         std::vector<std::string> taken_raws, std::vector<std::string> dead)> cb);
  // Up to `max` ids of this daemon's P:cancel:<daemon> (requests other daemons
  // forwarded, and operators' requests moved there from P:cancel), oldest first, left in
  // the list: a lost reply loses no cancel. AckCancels(n) removes the n oldest once
  // handled (only this daemon removes from its list; forwards are pushed at the other end).
  void TakeCancels(int max, std::function<void(bool ok, std::vector<std::string>)> cb);
  void AckCancels(size_t n);
  // kTakeDue: due retries become ours. cb(ok, taken ids, the cancelled among them).
  void TakeDue(int64_t now_ms, int max,
               std::function<void(bool ok, std::vector<std::string> taken, std::vector<std::string> cancelled)> cb);
  // Forwards a cancel for a job this daemon does not hold (see scripts::kRouteCancel).
  void RouteCancel(const std::string& id, std::function<void(std::string_view result)> cb);
  // LPUSH + LTRIM on P:events (capped at 10,000 entries).
  void PushEvent(std::string json);

 private:
  RedisConn* cmd_;
  RedisConn* blocking_;
  Keys keys_;
  Options opts_;
  std::map<const std::string*, std::string> sha_;  // script -> SHA1 from SCRIPT LOAD
};


}  // namespace runwayd
