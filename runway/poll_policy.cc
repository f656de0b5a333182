// runway/poll_policy.cc — aiming polls at the expected end of a task.
//
// The policy keeps a window [lo, hi] in which the task will first be *seen*
// finished, and polls inside it, towards its early end:
//   - past run times of the same (model, duration) give created + their low and high
//     quantiles;
//   - the task's own `progress` (RUNNING) bounds its rate: from the start of the run
//     (a lower bound), and between two readings (both bounds, allowing for Runway's
//     5 s update tick), hence the remaining time;
//   - with neither, a geometric schedule from first_poll_ms.
// A poll that finds the task still running narrows the window (a longer baseline, a
// better rate), so polls converge on the finish; once the window has passed, the
// task is polled every min_interval_ms (Runway updates a task at most every 5 s, so
// polling faster learns nothing). Every interval is multiplied by time_scale; learned
// run times and measured rates are already on the caller's clock.
//
// The aim is capped a few seconds after the window's early end, so a task that ends
// early is still seen within the cap: the 95th percentile of detection is what the
// SDK's 6 s schedule is judged by, and it is set by the early finishers.
//
// Measured in tests/unit/poll_policy_test.cc against the SDK's 6 s +/- 1.5 s.
#include "runway/poll_policy.h"

#include <algorithm>
#include <cmath>

namespace runwayd::runway {
namespace {

// Keys come from job bodies (models allowed by configuration): bound the table.
constexpr size_t kMaxKeys = 4096;

std::string Key(std::string_view model, int duration_s) {
  std::string k(model);
  k.push_back('/');
  k.append(std::to_string(duration_s));
  return k;
}

int64_t Scaled(int64_t ms, double scale) {
  const double v = static_cast<double>(ms) * scale;
  if (!(v >= 1)) return 1;  // also NaN
  if (v > 9.0e15) return static_cast<int64_t>(9.0e15);
  return static_cast<int64_t>(std::llround(v));
}

}  // namespace

void DurationModel::Observe(std::string_view model, int duration_s, int64_t run_ms) {
  if (run_ms <= 0) return;
  std::string key = Key(model, duration_s);
  if (stats_.size() >= kMaxKeys && stats_.find(key) == stats_.end()) return;
  Stat& s = stats_[std::move(key)];
  if (s.ring.size() < kWindow) {
    s.ring.push_back(run_ms);
  } else {
    s.ring[s.next] = run_ms;
    s.next = (s.next + 1) % kWindow;
  }
  ++s.stale;
}

bool DurationModel::Expect(std::string_view model, int duration_s, int64_t* lo_ms, int64_t* mid_ms,
                           int64_t* hi_ms) const {
  auto it = stats_.find(Key(model, duration_s));
  if (it == stats_.end() || it->second.ring.empty()) return false;
  const Stat& s = it->second;
  if (s.stale > 0 && (s.stale >= kRefresh || s.ring.size() < kRefresh * 4)) {
    std::vector<int64_t> sorted = s.ring;
    std::sort(sorted.begin(), sorted.end());
    auto at = [&](double q) {  // nearest rank
      return sorted[static_cast<size_t>(q * static_cast<double>(sorted.size() - 1) + 0.5)];
    };
    s.lo = at(kLowQuantile);
    s.mid = at(0.5);
    s.hi = at(kHighQuantile);
    s.stale = 0;
  }
  if (lo_ms != nullptr) *lo_ms = s.lo;
  if (mid_ms != nullptr) *mid_ms = s.mid;
  if (hi_ms != nullptr) *hi_ms = s.hi;
  return true;
}

int64_t PollPacer::Reserve(int64_t now_ms, double rate_per_s) {
  if (!(rate_per_s > 0)) return 0;  // no budget (also NaN)
  const double now = static_cast<double>(now_ms);
  const double interval = 1000.0 / rate_per_s;
  const double burst = std::max(0.0, 1000.0 - interval);  // one second's worth at once
  const double t = std::max(next_ms_, now);
  next_ms_ = t + interval;
  const double at = std::max(now, t - burst);
  return static_cast<int64_t>(std::ceil(at - now));
}

namespace {

// Where to poll inside the window in which the task can first be seen finished:
// lo + theta * (hi - lo), but never more than a cap after lo. Low values poll early
// (a poll that comes too soon costs one more GET and narrows the window; one that
// comes too late delays the result by up to the cap).
constexpr double kThetaHistory = 0.2;   // window from past run times only
constexpr double kThetaProgress = 0.5;  // window narrowed by the task's own progress
// The caps (ms before time_scale): a task that ends at the early end of its window
// is seen at most this long after. With one progress reading and a history that
// agrees, the window is left uncapped (the reading may be up to a tick old; capping
// there costs a poll for most tasks of a wide mix); with one reading and no usable
// history, the next look comes within half the task's age.
constexpr double kCapHistoryMs = 5000;
constexpr double kCapTwoReadingsMs = 6000;
// Past run times: a task is expected between the low and high quantiles, but the
// first look at a task with history comes no later than this fraction of the median:
// early enough to read its progress, whatever the learned spread says.
constexpr double kFirstLookOfMedian = 0.5;

}  // namespace

int64_t NextPollDelayMs(const PollInput& in, const DurationModel& model, const PollConfig& cfg) {
  const double scale = (std::isfinite(cfg.time_scale) && cfg.time_scale > 0) ? cfg.time_scale : 1.0;
  const int64_t min_iv = Scaled(std::max<int64_t>(cfg.min_interval_ms, 1), scale);
  const int64_t max_iv = std::max(min_iv, Scaled(cfg.max_interval_ms, scale));
  // The first poll may come sooner than min_iv if first_poll_ms asks (PollConfig).
  const int64_t floor_iv =
      in.after_create ? std::min(min_iv, Scaled(std::max<int64_t>(cfg.first_poll_ms, 1), scale)) : min_iv;
  auto clamp_delay = [&](double d) -> int64_t {
    if (!(d > static_cast<double>(floor_iv))) return floor_iv;  // also NaN
    if (d > static_cast<double>(max_iv)) return max_iv;
    return static_cast<int64_t>(d);
  };

  if (in.status == TaskStatus::kThrottled) {
    return clamp_delay(static_cast<double>(Scaled(cfg.throttled_interval_ms, scale)));
  }
  if (IsTerminal(in.status)) return min_iv;
  const double p = in.progress;
  if (in.status == TaskStatus::kRunning && p >= 1.0) return min_iv;  // done, not yet marked

  const double now = static_cast<double>(in.now_ms);
  const double created = static_cast<double>(in.created_at_ms);
  // Runway updates a task at most once per `tick`: what a poll shows is as of some
  // moment in (now - tick, now], and a finish shows up to one tick after it happens.
  const double tick = static_cast<double>(min_iv);

  // The window [lo, hi] (absolute ms) in which the task will first be seen finished.
  double lo = now, hi = 0;
  bool known = false;

  int64_t q_lo = 0, q_mid = 0, q_hi = 0;
  if (model.Expect(in.model, in.duration_s, &q_lo, &q_mid, &q_hi)) {
    lo = std::max(now, created + std::min(static_cast<double>(q_lo), static_cast<double>(q_mid) * kFirstLookOfMedian));
    hi = created + static_cast<double>(q_hi) + tick;
    known = true;
  }

  if (in.status == TaskStatus::kRunning && p > 0) {
    // Bounds on the rate of progress (per ms). The run started no earlier than
    // `start_lo` (creation, or a tick before the previous poll if that poll saw the
    // task not yet running), and the progress shown is as of no later than now.
    double start_lo = created;
    if (in.running_since_ms == in.now_ms && in.prev_poll_ms > 0) {
      start_lo = std::max(created, static_cast<double>(in.prev_poll_ms) - tick);
    }
    double rate_lo = p / std::max(now - start_lo, 1.0);
    double rate_hi = 0;  // 0: unbounded
    // Two readings: the progress between them was made between two updates, at most
    // gap + tick apart (each reading is at most a tick old) and at least
    // max(gap - tick, tick) apart (Runway updates a task at most once per tick).
    bool two_readings = false;
    if (in.prev_progress >= 0 && in.prev_poll_ms > 0 && in.now_ms > in.prev_poll_ms) {
      const double gap = static_cast<double>(in.now_ms - in.prev_poll_ms);
      const double dp = p - in.prev_progress;
      if (dp > 0) {
        rate_lo = std::max(rate_lo, dp / (gap + tick));
        rate_hi = dp / std::max(gap - tick, tick);
        two_readings = true;
      }
    }
    const double p_lo = std::max(now, now - tick + (rate_hi > 0 ? (1 - p) / rate_hi : 0.0));
    const double p_hi = now + (1 - p) / rate_lo + tick;
    const bool agreed = known && std::max(lo, p_lo) <= std::min(hi, p_hi);
    if (agreed) {
      lo = std::max(lo, p_lo);  // both agree: keep what both allow
      hi = std::min(hi, p_hi);
    } else {
      lo = p_lo;  // the task's own progress beats the history of others
      hi = p_hi;
    }
    double aim = lo + kThetaProgress * (hi - lo);
    if (two_readings) {
      aim = std::min(aim, lo + kCapTwoReadingsMs * scale);
    } else if (!agreed) {
      // One reading, possibly a tick old, and no history to lean on: the task may be
      // nearly done, so look again within half its age (the geometric schedule).
      aim = std::min(aim, now + (now - created) / 2);
    }
    return clamp_delay(aim - now);
  }

  if (known) {
    if (hi <= now) return min_iv;  // later than expected: every min interval
    return clamp_delay(std::min(lo + kThetaHistory * (hi - lo), lo + kCapHistoryMs * scale) - now);
  }

  // Nothing known: first poll after first_poll_ms, then every half of the time
  // elapsed so far (a geometric schedule), never faster than min, never slower than max.
  const double elapsed = std::max(0.0, now - created);
  const double first = static_cast<double>(Scaled(cfg.first_poll_ms, scale));
  if (elapsed < first) return clamp_delay(first - elapsed);
  return clamp_delay(elapsed / 2);
}

}  // namespace runwayd::runway
