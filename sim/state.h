// sim/state.h — the pure model behind runway-sim: accounts, balances, limits, tasks.
//
// Promises:
// - No I/O, no threads, no locks: the server serialises calls with one mutex. Time
//   comes only from the injected clock (real microseconds), so tests drive it by hand.
// - Lazy: a task's status is a function of its times. Nothing ticks. Per (account,
//   model) "lane", the tasks holding a concurrency slot sit in a set ordered by end
//   time and the throttled ones in a FIFO; Advance() retires the ended ones in end-time
//   order, refunds uncharged failures and hands each freed slot to the next throttled
//   task *at the moment the slot freed* (not when someone looked), so the history is
//   the same whatever the polling pattern. Cost: O(log n) per task, never a scan.
// - Money: the estimated cost is taken from the balance at creation; an uncharged
//   failure (INTERNAL, no code, THIRD_PARTY.UNAVAILABLE, INPUT_PREPROCESSING.INTERNAL,
//   ASSET.INVALID, anything not listed as charged) or a cancellation gives it back.
//   SAFETY.*, INPUT_PREPROCESSING.SAFETY.* and INTERNAL.BAD_OUTPUT.* cost like success.
// - Deleted tasks stay in the table (for /_sim/tasks and the statistics) but every
//   client-facing lookup treats them as absent.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ledger/pricing.h"
#include "queue/job.h"
#include "sim/config.h"

namespace runwayd::sim {

using NowFn = std::function<int64_t()>;  // real time, microseconds since the Unix epoch

enum class Status { kThrottled, kPending, kRunning, kSucceeded, kFailed, kCancelled };
const char* StatusName(Status s);

// Test hooks read from body.promptText: "sim:fail=CODE" (CODE "none": failureCode
// null), "sim:secs=N" (simulated run seconds), and two that make the answers lie
// about the task (what is charged does not change): "sim:report_cost=N" (every
// estimatedCost and cost says N credits, N a whole number), "sim:other_id" (GET
// /v1/tasks/{id} answers with another task's id) and "sim:no_output" (a SUCCEEDED
// task's output array is empty). "sim:gone_gets=N": the task's first N GETs answer 404
// "Could not find Task" while it lives on (a replica behind the create, say).
struct Hooks {
  bool fail = false;
  std::optional<std::string> failure_code;
  std::optional<double> run_s;
  std::optional<int64_t> report_cost;
  bool other_id = false;
  bool no_output = false;
  uint32_t gone_gets = 0;
};
Hooks ParseHooks(std::string_view prompt_text);

// Whether a failure with this code is charged like a success (nullopt: no code).
bool IsChargedFailure(const std::optional<std::string>& code);
// Runway-like human text for a failure code.
std::string FailureText(const std::optional<std::string>& code);

struct Task {
  std::string id;
  uint32_t account = 0;
  uint32_t lane = 0;
  std::string endpoint;
  int64_t seed = -1;
  int64_t estimated = 0;      // credits taken at creation
  int64_t created_us = 0;
  int64_t start_us = -1;      // slot acquired (PENDING begins); -1 while THROTTLED
  int64_t running_us = 0;     // start + pending
  int64_t end_us = 0;         // terminal time (valid once started)
  int64_t pending_real_us = 0;
  int64_t run_real_us = 0;
  double run_sim_s = 0;       // for progress
  bool fail = false;
  std::optional<std::string> failure_code;
  std::optional<int64_t> report_cost;  // hook: the credits the answers say
  bool other_id = false;               // hook: GET answers another task's id
  bool no_output = false;              // hook: SUCCEEDED answers have an empty output
  uint32_t gone_gets = 0;              // hook: the first GETs that answer 404
  bool ever_throttled = false;
  bool finished = false;      // terminal and settled (refund done)
  bool cancelled = false;
  bool deleted = false;
  int64_t cancel_us = 0;
  int64_t first_seen_terminal_us = 0;
  uint32_t gets = 0;
  // Credits finally charged; meaningful once finished.
  int64_t Cost() const { return cancelled || (fail && !IsChargedFailure(failure_code)) ? 0 : estimated; }
};

struct Lane {
  uint32_t account = 0;
  std::string model;
  ModelLimits limits;
  std::set<std::pair<int64_t, uint64_t>> active;  // (end_us, task index): holding a slot
  std::deque<uint64_t> throttled;                 // FIFO; may hold deleted tombstones
  size_t throttled_live = 0;
  std::deque<int64_t> daily;                      // creation times within the window
  int64_t created = 0;
  size_t max_concurrency_seen = 0;
  size_t InProgress() const { return active.size() + throttled_live; }
};

struct Account {
  AccountConfig config;
  int64_t balance = 0;
  int64_t created = 0;
  std::map<std::string, uint32_t, std::less<>> lanes;  // model -> lane index
};

struct CreateResult {
  enum class Kind { kCreated, kDailyLimit, kInsufficientCredits } kind = Kind::kCreated;
  const Task* task = nullptr;
};

class State {
 public:
  State(const SimConfig& config, ledger::PriceTable prices, NowFn now);

  // -1 when no account has this key.
  int FindAccountByKey(std::string_view key) const;
  int FindAccountByName(std::string_view name) const;

  // Checks the daily limit, then the balance; creates and charges. The endpoint is
  // recorded for /_sim/tasks only.
  CreateResult Create(uint32_t account, std::string_view endpoint, const BodyFacts& facts,
                      const Hooks& hooks);
  // A GET by the client: nullptr when unknown, deleted or another account's. Counts
  // the GET and the detection bookkeeping; *status gets the status now.
  const Task* Poll(uint32_t account, std::string_view id, Status* status);
  // Cancels (refund) an unfinished task, deletes any. False: unknown/deleted/foreign.
  bool Delete(uint32_t account, std::string_view id);

  // Settles every lane (of one account) up to now: call before reading balances.
  void AdvanceAccount(uint32_t account);
  void AdvanceAll();

  Status StatusAt(const Task& t, int64_t now_us) const;
  double ProgressAt(const Task& t, int64_t now_us) const;
  int64_t Now() const { return now_(); }
  // Adds credits (may be negative); returns the new balance.
  int64_t TopUp(uint32_t account, int64_t credits);

  const std::vector<Account>& accounts() const { return accounts_; }
  const std::vector<Lane>& lanes() const { return lanes_; }
  const std::vector<Task>& tasks() const { return tasks_; }
  const std::unordered_map<int64_t, uint32_t>& creations_by_seed() const { return by_seed_; }
  int64_t duplicate_seeds() const { return duplicate_seeds_; }
  int64_t throttled_tasks() const { return throttled_tasks_; }
  // Real microseconds from a task's end to the first GET that saw it terminal.
  const std::vector<int64_t>& detection_delays_us() const { return detection_us_; }
  int64_t terminal_seen() const { return static_cast<int64_t>(detection_us_.size()); }
  int64_t gets_of_terminal_seen() const { return gets_of_terminal_seen_; }

 private:
  uint32_t LaneFor(uint32_t account, std::string_view model);
  void Advance(uint32_t lane, int64_t now_us);
  void Start(uint64_t index, int64_t at_us);
  void StartThrottled(uint32_t lane, int64_t at_us);
  void Settle(uint64_t index);
  const Task* Find(uint32_t account, std::string_view id) const;
  std::string NewId();
  int64_t Scaled(double sim_s) const;

  SimConfig config_;
  ledger::PriceTable prices_;
  NowFn now_;
  std::mt19937_64 rng_;
  std::vector<Account> accounts_;
  std::unordered_map<std::string, uint32_t> by_key_;
  std::vector<Lane> lanes_;
  std::vector<Task> tasks_;
  std::unordered_map<std::string, uint64_t> by_id_;
  std::unordered_map<int64_t, uint32_t> by_seed_;
  int64_t duplicate_seeds_ = 0;
  int64_t throttled_tasks_ = 0;
  std::vector<int64_t> detection_us_;
  int64_t gets_of_terminal_seen_ = 0;
};

}  // namespace runwayd::sim
