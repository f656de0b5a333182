// runway/poll_policy.h — when to poll a task next, with no I/O and no clock.
//
// The SDK polls every 6 s +/- 1.5 s. runwayd polls less and learns sooner by
// aiming at the expected finish: it learns how long tasks of each (model,
// requested duration) take on this daemon, reads the `progress` of RUNNING tasks,
// and schedules the next poll just after the predicted end, never sooner than
// `min_interval_ms` after the previous poll (Runway updates a task at most every 5 s).
// THROTTLED tasks are polled slowly. All times are milliseconds on the caller's clock.
// Tuned in tests/unit/poll_policy_test.cc (measured against the SDK's schedule on
// two task models, including runway-sim's) and in `bench/run steady --peer`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "runway/answer.h"

namespace runwayd::runway {

struct PollConfig {
  int64_t min_interval_ms = 5000;      // never poll one task more often
  // First poll after create when nothing is known. Below min_interval_ms it is also
  // the earliest any first poll comes (tasks known to be short): min_interval_ms
  // spaces two looks at a task, and the create was not a look at its progress.
  int64_t first_poll_ms = 5000;
  int64_t throttled_interval_ms = 30000;
  int64_t max_interval_ms = 60000;     // never wait longer than this between polls
  double time_scale = 1.0;             // tests: shrink every interval (simulator time scale)
};

// Learned durations per (model, requested seconds): the last kWindow "created ->
// seen terminal" times, read as quantiles. Quantiles of a window, not a moving mean:
// tasks end in bursts sorted by length (a wave taken at once ends shortest first),
// which dragged an average back and forth; the window's low and high quantiles move
// only when the spread of run times really changes.
class DurationModel {
 public:
  static constexpr size_t kWindow = 256;     // run times kept per key
  static constexpr double kLowQuantile = 0.05;
  static constexpr double kHighQuantile = 0.95;

  void Observe(std::string_view model, int duration_s, int64_t run_ms);
  // The low quantile, median and high quantile of the recent run times; false when
  // nothing was observed yet. Null pointers are allowed.
  bool Expect(std::string_view model, int duration_s, int64_t* lo_ms, int64_t* mid_ms, int64_t* hi_ms) const;

 private:
  struct Stat {
    std::vector<int64_t> ring;  // the last kWindow run times
    size_t next = 0;            // where the next one goes once the ring is full
    // Quantiles are recomputed (a sort of the window) at most every kRefresh
    // observations once the window holds kRefresh: cheap per observation.
    mutable int64_t lo = 0, mid = 0, hi = 0;
    mutable size_t stale = 1;   // observations since the quantiles were computed
  };
  static constexpr size_t kRefresh = 16;
  std::unordered_map<std::string, Stat> stats_;
};

struct PollInput {
  std::string_view model;
  int duration_s = 0;            // requested output seconds (0 unknown)
  TaskStatus status = TaskStatus::kPending;
  double progress = -1;          // < 0 unknown
  int64_t created_at_ms = 0;     // when the create was answered
  int64_t now_ms = 0;            // the poll that just returned (or the create)
  int64_t running_since_ms = 0;  // first time seen RUNNING, 0 if never
  double prev_progress = -1;     // progress at the previous poll
  int64_t prev_poll_ms = 0;      // time of the previous poll, 0 if none
  bool after_create = false;     // no poll yet: now_ms is when the create was answered
};

// One account's poll budget: polls go out at most `rate_per_s` per second (a burst
// of one second's worth allowed), first come first served. Reserve() books the
// earliest free slot for a poll due now and returns how long to wait for it (0: go
// now); the slot is the caller's, so it must not ask again when the wait ends.
// First come first served matters under a burst: a token bucket that makes waiters
// retry at random leaves some of thousands waiting many rounds (seconds past their
// finish), while the booked slots bound every wait by backlog / rate.
class PollPacer {
 public:
  int64_t Reserve(int64_t now_ms, double rate_per_s);

 private:
  double next_ms_ = 0;  // the theoretical time of the next poll (GCRA)
};

// Delay (ms from now_ms) until the next poll of this task.
int64_t NextPollDelayMs(const PollInput& in, const DurationModel& model, const PollConfig& cfg);

}  // namespace runwayd::runway
