// daemon/timers.h — one timer queue for every task, with no I/O.
//
// 100,000 tasks in flight each wait for something (a poll, a retry, a deadline);
// a uv_timer_t each would cost a handle per task. Instead tasks live in a binary
// min-heap keyed by due time, and the daemon arms one uv_timer_t for the earliest.
// Cancelling is lazy: each entry carries the task's generation at scheduling time,
// and an entry whose generation no longer matches is dropped when it surfaces.
// Push and pop are O(log n); nothing ever scans all tasks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <queue>
#include <vector>

namespace runwayd {

// Steps due a while from now (polls, mostly) go on a 100 ms grid, so the ones that
// fall in the same 100 ms share one wakeup of the loop, and their answers tend to
// arrive together too. With thousands of tasks in flight, polls at scattered
// milliseconds cost a wakeup (a context switch, some 17 us of CPU on the benchmark's
// VM) per poll or two. bench/run steady: a 10 ms grid (rounded up) 1.0 - 1.1 wakeups
// and 0.171 - 0.196 ms of CPU per job; 100 ms to the nearest point 0.27 - 0.38 and
// 0.124 - 0.153, with the same detection p95 and GETs per task; a 250 ms grid gained
// nothing more. A poll aimed by an estimate of a task's end may go up to 50 ms early
// against seconds of uncertainty (kNearest keeps the mean poll time where the policy
// put it); anything that must never run early (a backoff, a server's Retry-After, a
// booked poll-budget slot) rounds up (kUp). Steps less than 200 ms away keep their time.
enum class Grid { kUp, kNearest };
constexpr int64_t kGridFromMs = 200;
constexpr int64_t kGridMs = 100;

// The due time of a step `delay_ms` after `now_ms` (clamped at 0), on the grid.
constexpr int64_t GridDue(int64_t now_ms, int64_t delay_ms, Grid grid) {
  int64_t due = now_ms + (delay_ms > 0 ? delay_ms : 0);
  if (delay_ms < kGridFromMs) return due;
  return (due + (grid == Grid::kUp ? kGridMs - 1 : kGridMs / 2)) / kGridMs * kGridMs;
}

class TimerQueue {
 public:
  struct Entry {
    int64_t due_ms;
    uint32_t slot;
    uint32_t gen;
    uint64_t seq;  // FIFO among equal due times
  };
  void Push(int64_t due_ms, uint32_t slot, uint32_t gen) { heap_.push(Entry{due_ms, slot, gen, seq_++}); }
  bool empty() const { return heap_.empty(); }
  size_t size() const { return heap_.size(); }
  int64_t next_due() const { return heap_.empty() ? INT64_MAX : heap_.top().due_ms; }
  // Pops the earliest entry if it is due at `now_ms`.
  bool PopDue(int64_t now_ms, Entry* out) {
    if (heap_.empty() || heap_.top().due_ms > now_ms) return false;
    *out = heap_.top();
    heap_.pop();
    return true;
  }

 private:
  struct Later {
    bool operator()(const Entry& a, const Entry& b) const {
      return a.due_ms != b.due_ms ? a.due_ms > b.due_ms : a.seq > b.seq;
    }
  };
  std::priority_queue<Entry, std::vector<Entry>, Later> heap_;
  uint64_t seq_ = 0;
};

}  // namespace runwayd
