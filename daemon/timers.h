// daemon/timers.h — one timer queue for every task, with no I/O.
//
// 100,000 tasks in flight each wait for something (a poll, a retry, a deadline);
// a uv_timer_t each would cost a handle per task. Instead tasks live in a binary
// min-heap keyed by due time, and the daemon arms one uv_timer_t for the earliest.
// Cancelling is lazy: each entry carries the task's generation at scheduling time,
// and an entry whose generation no longer matches is dropped when it surfaces.
// Push and pop are O(log n); nothing ever scans all tasks.
#pragma once

#include <cstdint>
#include <queue>
#include <vector>

namespace runwayd {

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
