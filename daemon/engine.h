// daemon/engine.h — runwayd's one event loop and every job's state machine.
//
// The Engine owns the libuv loop's handles: two Redis connections (commands, and
// blocking fetches), the curl multi engine, one timer for all tasks (TimerQueue),
// one for intake pauses, the signal handlers. Each job in flight is a Task in a slab
// (index `slot`, with a generation to invalidate stale timer entries), found by id
// through `by_id_`. A task's `step` is the next thing to do for it; `busy` is true
// while that step's I/O is outstanding. Every step's result chooses the next step:
//
//   taken -> kAdmit -> kReserve -> kCreate -> kRecordTask -> kPoll ... -> kFinish
//                        ^  (refused create, new-task retry)     |
//                        +---------------------------------------+
//   kPoll -> kCancel (deadline, operator) -> kFinish
//   kPoll -> kHandOff (a new task is due later: the job waits in P:retry, freed here)
//   kCreate (outcome unknown, resubmit) -> kSettleCharged -> kReserve
//
// Redis is written before each irreversible upstream step (kReserve, which holds the
// ledger's credits and slot and marks "create_sent", before a create)
// and right after it (kRecordTask), so a crash anywhere is recovered from Redis
// alone (Recover()). Nothing but the Engine touches its handles; callbacks find their
// Task by (slot, gen) and never delete a Task while it is inside a step.
#pragma once

#include <curl/curl.h>
#include <uv.h>

#include <algorithm>
#include <deque>
#include <memory>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "daemon/config.h"
#include "daemon/metrics.h"
#include "daemon/metrics_server.h"
#include "daemon/timers.h"
#include "queue/events.h"
#include "queue/job.h"
#include "queue/store.h"
#include "runway/answer.h"
#include "runway/classify.h"
#include "runway/http.h"
#include "runway/poll_policy.h"

namespace runwayd {

struct Account {
  AccountConfig cfg;
  std::string key;                // P:account:<name>
  // Owned header lists (see SetHeaders): `headers` for requests with a JSON body,
  // `bare_headers` for GET and DELETE. curl formats every header byte of every
  // request one character at a time (~100 instructions each in 7.88), so a poll
  // does not carry a Content-Type it has no body for.
  curl_slist* headers = nullptr;
  curl_slist* bare_headers = nullptr;
  // Bumped by SetHeaders: a request remembers the one it was sent with, so a reload's new
  // key is not judged by an answer to the key it replaced.
  uint64_t key_gen = 0;
  int64_t slow_until_ms = 0;      // monotonic: a 429 slows this account only
  int slow_level = 0;
  // No new jobs go to it while any of these holds.
  bool key_rejected = false;      // Runway answered 401 (or its own 403) to this daemon's current key
  bool removed = false;           // a reload dropped it from the configuration
  bool flagged = false;           // the account hash says "disabled" (maybe another run's
                                  // or daemon's verdict): cleared by a good reading
  bool disabled() const { return key_rejected || removed || flagged; }
  int64_t estimate = 0;           // last estimate a script returned (routing order only)
  runway::PollPacer poll_pacer;   // the poll budget (poll_rps_per_account)
  bool reconciling = false;
  int read_failures = 0;          // balance readings that failed in a row
  int64_t read_failing_since_ms = 0;  // monotonic: the first of them
  bool unreadable = false;        // its jobs waiting for a reading stop waiting (and fail)
  std::string read_error;         // the last one's reason (no secrets: a classification)
  int64_t next_reconcile_ms = 0;  // monotonic; after a failed reading, no reading before it
  std::unordered_map<std::string, bool> price_mismatch_logged;
};

enum class Step : uint8_t {
  kAdmit, kReserve, kCreate, kRecordTask, kPoll, kCancel, kFinish, kHandOff, kSettleCharged
};
enum class CancelReason : uint8_t { kNone, kDeadline, kOperator };

// The job store's TTLs from the configuration (at start and on reload).
JobStore::Options StoreOptions(const Config& cfg);

struct Outcome {
  std::string status;               // succeeded | failed | cancelled
  ErrorClass error_class = ErrorClass::kUpstreamFailure;
  std::string code, message;
  std::vector<std::string> output;
  std::string duplicate_of;
};

// What a result reports as `attempts`: the Runway tasks created for the job, counting
// an unanswered create (outcome unknown) as one.
struct Task;
int TasksCreated(const Task& t);

struct Task {
  Job job;
  uint32_t slot = 0, gen = 0;
  Step step = Step::kAdmit;
  bool busy = false;
  bool admitted = false;            // owns P:job:<id> and its inflight entry
  bool valid = false;               // parsed and validated
  Account* account = nullptr;
  std::string model;
  std::string task_id;
  int attempt = 0;                  // number of the current attempt (1 from the first reserve on)
  bool attempt_reached = false;     // the current attempt's create made (or may have made) a task
  uint64_t admit_token = 0;         // this task's admission (kAdmit recognises its own retry)
  int64_t reserve_sent_ms = 0;      // wall time the admission asked for the first reservation
  int create_retries = 0;
  int step_errors = 0;              // consecutive failures of the current step
  int polls = 0;
  bool poll_paced = false;          // holds a slot of the account's poll budget
  bool gone_once = false;           // the last poll was answered 404: one more look first
  int64_t taken_at_ms = 0, submitted_at_ms = 0, deadline_ms = 0;  // wall clock
  int64_t created_mono = 0, running_since_mono = 0, prev_poll_mono = 0;
  int64_t final_cost = 0;           // for settlement: Runway's cost, -1 unknown, -2 assume charged
  size_t fallback_used = 0;         // fallback_models tried so far
  int64_t credit_wait_until = 0;    // wall ms; 0: not waiting for credit
  int64_t retry_due_ms = 0;         // wall ms: when the next attempt is due (kHandOff)
  bool holds_slot = false;          // a ledger slot is held (wake a waiter when it ends)
  std::string original_body, original_model;  // set while a fallback model replaces the job's
  double prev_progress = -1;
  std::optional<int64_t> estimated, upstream_cost;
  bool refund_emitted_before = false, replayed = false;
  CancelReason cancel = CancelReason::kNone;
  bool cancel_sent = false;
  bool cancel_looked = false;  // a poll was tried since the cancel was decided (DoPoll)
  std::unique_ptr<Outcome> outcome;  // out of line: most tasks in flight have none yet
  std::unique_ptr<FinishWrite> write;  // built once, re-sent until Redis takes it
};

class Engine {
 public:
  // `cli` is kept to re-read the same configuration on SIGHUP.
  Engine(uv_loop_t* loop, Config cfg, CliOverrides cli = {});
  ~Engine();
  // Runs until SIGINT/SIGTERM and a clean close. Returns the process exit code.
  int Run();
  // For tests: ask the engine to stop as a signal would.
  void RequestStop();

 private:
  // Lifecycle (engine.cc).
  void Start();
  void OnRedisUp();
  void Recover();
  void Shutdown();
  void MaybeClose();
  void CloseAll();
  // Intake (intake.cc).
  // Takes a batch of jobs if there is room for one; with less room, once
  // `tail_waited` (the intake timer's call kIntakeTailMs after room opened).
  void MaybeTake(bool tail_waited = false);
  void OnTaken(std::string raw);
  // `cancelled`: an operator cancelled the job while it waited in the retry set.
  void Resume(const InflightRecord& rec, bool cancelled = false);
  void CheckPrice(Task* t, int64_t cost);
  void TakeDueRetries();
  void PollCancels();
  // Lost replies (lost_replies.cc). A script whose reply was lost may have run: these
  // bring memory back in line with what Redis holds, never by guessing either way.
  void HandOff(Task* t);
  // Ends a hold whose create's outcome is unknown as charged (-2), repeating until Redis
  // answers, then reserves again for the next attempt after delay_ms.
  void SettleCharged(Task* t, int64_t delay_ms);
  void ResyncProcessing();
  void ResyncInflight();
  // Operations (ops.cc): metrics, systemd notifications, reload.
  void StartOps();
  void StatusTick();
  void Reload();
  // `endpoint` names the metric series and must be a string literal (its address is a key).
  void Send(const char* endpoint, runway::HttpRequest req, runway::HttpEngine::Callback cb);
  void CountFinish(const Task* t, int refunded);
  void InFlight(const Task* t, int delta);
  // Several daemons (cluster.cc).
  void Beat();
  void AdoptOrphans();
  // Tasks and timers (engine.cc).
  Task* NewTask();
  void FreeTask(Task* t);
  // Drops by_id_'s entry for t's job id if it names t (a duplicate's task never owned it).
  void ForgetId(const Task* t);
  // An operator's cancel for a task held here: flagged unless it already has an outcome
  // or a cancel (FlagOperatorCancel, true when it flagged); an idle task acts at once, a
  // busy one when its step completes.
  void CancelByOperator(Task* t);
  bool FlagOperatorCancel(Task* t);
  Task* Find(uint32_t slot, uint32_t gen);
  // Runs t's step delay_ms from now, on the grid of timers.h: rounded up (never early)
  // unless the caller passes Grid::kNearest (polls aimed by an estimate).
  void Schedule(Task* t, int64_t delay_ms, Grid grid = Grid::kUp);
  void RunStep(Task* t);
  void OnTick();
  void Rearm();
  int64_t Mono() const { return static_cast<int64_t>(uv_now(loop_)); }
  static int64_t Wall();
  // Milliseconds left before the job's deadline (wall clock), 0 once it has passed: no
  // wait (a poll, a server's hint, a retry) outlasts it.
  static int64_t ToDeadlineMs(const Task* t) { return std::max<int64_t>(0, t->deadline_ms - Wall()); }
  int64_t Scaled(int64_t ms) const;
  // Steps (flow.cc).
  void DoAdmit(Task* t);
  void AfterAdmit(Task* t);
  // Ledger (ledger_flow.cc).
  void DoReserve(Task* t);
  void TryReserve(Task* t, std::shared_ptr<std::vector<Account*>> cands, size_t i, int reasons);
  void NoAccountNow(Task* t, int reasons);
  bool Fallback(Task* t);
  // Ends the task's ledger hold, then runs `next`. With retry_due_wall set, the same
  // script hands the job to the retry set (P:retry) and the task is freed instead.
  void Settle(Task* t, int64_t final_cost, const char* state, std::function<void(Task*)> next,
              int64_t retry_due_wall = 0);
  void OnLedgerReply(Account* a, redisReply* r, size_t estimate_at, size_t low_at);
  void OnLedger(Account* a, std::string_view estimate, std::string_view low);
  void Reserved(Task* t, Account* a, std::string_view estimate, std::string_view low);
  Account* FirstChoice(const Task* t) const;
  Account* AccountNamed(std::string_view name) const;  // null when not configured
  bool PrepareAttempt(Task* t, runway::CheckResult* chk);
  void Reconcile(Account* a);
  // Runway refused this daemon's key for `a` (401, or a 403 with Runway's error JSON):
  // no new jobs go to it, and it is not read again until a reload brings another key.
  // True when that newly disabled it (then logged, flagged in the account hash, one
  // account_disabled event). Nothing when the request went out with a key a reload has
  // replaced since (`key_gen`).
  bool RejectKey(Account* a, uint64_t key_gen, const char* what, long status, const std::string& reason);
  void ReconcileDue();
  void WakeSlotWaiter(const std::string& model);
  void WakeAll();
  void Park(Task* t, int64_t delay_ms);
  void DoCreate(Task* t);
  void DoRecordTask(Task* t);
  void DoPoll(Task* t);
  void DoCancel(Task* t);
  void EndCancelled(Task* t, std::string why);
  void OnTaskAnswer(Task* t, const runway::TaskAnswer& a);
  void OnTaskGone(Task* t);  // a poll answered 404
  bool UnusablePoll(Task* t, std::string_view body, const std::string& why);
  void RetryStep(Task* t, int64_t delay_ms);
  int64_t RequestRetryMs(const Task* t, const runway::RetryHints& hints);  // flow.cc
  void NextTask(Task* t, const runway::Classification& c);
  Account* Route(Task* t, std::string* error);
  // A request to `path` on the account's base URL with its headers: GET and DELETE
  // (no body) get the bare list, any other method the one with Content-Type.
  runway::HttpRequest Request(Account* a, const char* method, std::string path);
  // (Re)builds `a`'s header lists for `api_key`; lists it had go to old_headers_, as
  // requests in flight may still point at them.
  void SetHeaders(Account* a, const std::string& api_key, const std::string& api_version);
  // Outcomes (outcome.cc).
  void Fail(Task* t, ErrorClass cls, std::string code, std::string message, const char* status = "failed");
  void Succeed(Task* t, std::vector<std::string> output);
  void DoFinish(Task* t);
  void BuildWrite(Task* t);
  // Ends a job whose id is already known (in flight, waiting for a retry, or finished):
  // duplicate_job, no refund, no dead entry. `dup` is what kAdmit or kFinish found.
  void FinishDuplicate(Task* t, const AdmitOutcome& dup);
  void AccountEvent(const char* type, const Account* a, std::vector<std::pair<std::string_view, int64_t>> ints,
                    std::vector<std::pair<std::string_view, std::string_view>> texts);

  uv_loop_t* loop_;
  Config cfg_;
  std::vector<std::unique_ptr<Account>> accounts_;
  std::unique_ptr<RedisConn> cmd_, blocking_;
  std::unique_ptr<JobStore> store_;
  std::unique_ptr<runway::HttpEngine> http_;
  JobRules rules_;
  runway::DurationModel durations_;
  TimerQueue timers_;
  std::deque<Task> slab_;           // stable addresses; free slots reused
  std::vector<uint32_t> free_slots_;
  std::unordered_map<std::string, uint32_t> by_id_;
  size_t live_tasks_ = 0;
  uv_timer_t tick_{}, intake_timer_{}, cancel_timer_{}, grace_timer_{}, beat_timer_{}, ledger_timer_{};
  uv_timer_t retry_timer_{};
  bool taking_due_ = false;
  static constexpr uint64_t kIntakeTailMs = 200;  // room below a batch waits this long
  std::mt19937_64 token_rng_{std::random_device{}()};  // admission tokens
  std::unordered_map<std::string, std::deque<std::pair<uint32_t, uint32_t>>> slot_waiters_;  // model -> tasks
  std::vector<std::pair<uint32_t, uint32_t>> parked_;  // waiting for credit or a first reading
  uv_signal_t sigint_{}, sigterm_{}, sighup_{};
  uv_timer_t status_timer_{};
  uv_prepare_t log_flush_{};  // writes the batched log lines before the loop blocks
  CliOverrides cli_;
  metrics::Registry registry_;
  std::unique_ptr<metrics::DaemonMetrics> m_;
  metrics::Health health_;
  std::unique_ptr<metrics::MetricsServer> server_;
  std::unordered_map<std::string, metrics::Counter*> counters_;  // cached labelled series
  // Upstream requests by (endpoint, status): endpoint names are string literals, so
  // their addresses are the key and counting a request builds no string.
  std::map<std::pair<const char*, long>, metrics::Counter*> upstream_counters_;
  std::map<std::pair<std::string, std::string>, metrics::Gauge*> gauges_;  // (account, model)
  std::vector<curl_slist*> old_headers_;  // replaced on reload; requests may still use them
  int64_t redis_down_since_ = 0;
  int status_ticks_ = 0;
  int64_t armed_at_ = INT64_MAX;
  bool started_ = false, recovered_ = false, taking_ = false, stopping_ = false, closed_ = false;
  bool heartbeat_dropped_ = false;  // stopping: P:daemon:<id> deleted, the beat stopped
  bool adopting_ = false;
  bool resync_processing_ = false;  // a take lost its reply: reread the processing list
  // An adoption or a take of due retries lost its reply: ids in our in-flight set may
  // have no task here. ResyncInflight() loads them (resyncing_inflight_: in progress).
  bool resync_inflight_ = false, resyncing_inflight_ = false;
  bool polling_cancels_ = false;    // a batch of cancels is read and not yet trimmed
  int64_t adopt_after_mono_ = 0;    // no adoption before this (see the OnUp hook)
  bool redis_was_up_ = false;       // the command connection has been up once
  std::vector<std::string> adopted_unloaded_;  // adopted ids whose records are not loaded yet
  std::vector<std::string> adopted_raws_;      // adopted taken jobs, admitted after those records
  int handles_to_close_ = 0;
  int exit_code_ = 0;
  std::mt19937_64 rng_{std::random_device{}()};
  double Unit() { return std::uniform_real_distribution<double>(0, 1)(rng_); }
};

}  // namespace runwayd
