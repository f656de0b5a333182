// runway/poll_policy.h — when to poll a task next, with no I/O and no clock.
//
// The SDK polls every 6 s +/- 1.5 s. runwayd polls less and learns sooner by
// aiming at the expected finish: it learns how long tasks of each (model,
// requested duration) take on this daemon, reads the `progress` of RUNNING tasks,
// and schedules the next poll just after the predicted end, never sooner than
// `min_interval_ms` after the previous poll (Runway updates a task at most every 5 s).
// THROTTLED tasks are polled slowly. All times are milliseconds on the caller's clock.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "runway/answer.h"

namespace runwayd::runway {

struct PollConfig {
  int64_t min_interval_ms = 5000;      // never poll one task more often
  int64_t first_poll_ms = 5000;        // first poll after create when nothing is known
  int64_t throttled_interval_ms = 30000;
  int64_t max_interval_ms = 60000;     // never wait longer than this between polls
  double time_scale = 1.0;             // tests: shrink every interval (simulator time scale)
};

// Learned durations per (model, requested seconds): an exponentially weighted mean
// and mean absolute deviation of "created -> seen terminal" minus the detection slack.
class DurationModel {
 public:
  void Observe(std::string_view model, int duration_s, int64_t run_ms);
  // Expected run time and its spread; false when nothing was observed yet.
  bool Expect(std::string_view model, int duration_s, int64_t* mean_ms, int64_t* dev_ms) const;

 private:
  struct Stat { double mean = 0, dev = 0; int64_t n = 0; };
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
};

// Delay (ms from now_ms) until the next poll of this task.
int64_t NextPollDelayMs(const PollInput& in, const DurationModel& model, const PollConfig& cfg);

}  // namespace runwayd::runway
