// daemon/metrics.h — a small Prometheus registry: counters, gauges and histograms
// with label sets, rendered in the text exposition format 0.0.4.
//
// Ownership: the Registry owns every series. Get*() returns a pointer that stays valid
// (and keeps its identity: the same name and labels always give the same pointer) until
// the Registry is destroyed; nothing is ever removed. Callers keep the pointer and update
// through it; a lookup takes the registry's mutex, an update does not.
//
// Threads: updates (Inc/Set/Add/Observe) are lock-free atomics and may come from any
// thread — in runwayd, the loop thread. Render() and Get*() take the registry's mutex and
// may run on any thread — Render() runs on libmicrohttpd's thread. A scrape that races
// an update sees each value either before or after it; a histogram's _count is the sum
// of its buckets at the moment they were read, so _count and the +Inf bucket always agree.
//
// Values: counters are integers (events, credits); gauges and histogram sums are doubles
// (credits are exact in a double up to 2^53). Counters only go up: Inc() of a negative
// number is ignored. A NaN observation is ignored.
//
// Misuse never throws (Get* may be called from inside a C callback): an invalid metric
// or label name, a repeated label name, a name reused with another type or another set
// of label names, or histogram bounds that are not increasing or differ from the
// family's, returns a detached series that works but is never rendered, logs an error
// and is counted in errors(). The first help text of a family wins. Only std::bad_alloc
// can escape. Label values are free text (escaped on output), but callers
// must keep them low-cardinality and must never put a secret (an API key) in one.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace runwayd::metrics {

// {name, value} pairs. Their order does not matter: a series is identified by the set.
using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Inc(int64_t n = 1) {
    if (n > 0) value_.fetch_add(n, std::memory_order_relaxed);
  }
  int64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double d) { value_.fetch_add(d, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Histogram {
 public:
  // `bounds`: the finite upper bounds ("le"), strictly increasing; +Inf is implicit.
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  // Cumulative counts per bound, then the +Inf bucket (== the count); and the sum.
  std::vector<uint64_t> Cumulative() const;
  double Sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1, not cumulative
  std::atomic<double> sum_{0.0};
};

// Bucket bounds: `count` bounds start, start*factor, ... (like the Go client's).
std::vector<double> ExponentialBuckets(double start, double factor, int count);

// The text format's escaping: label values escape \ " and newline; HELP escapes \ and newline.
std::string EscapeLabelValue(std::string_view v);
std::string EscapeHelp(std::string_view v);
// A double as Prometheus writes it: shortest round-trip form, +Inf, -Inf, NaN.
std::string FormatValue(double v);
// [a-zA-Z_:][a-zA-Z0-9_:]* and [a-zA-Z_][a-zA-Z0-9_]* (not starting with "__").
bool ValidMetricName(std::string_view name);
bool ValidLabelName(std::string_view name);

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;
  ~Registry();

  Counter* GetCounter(std::string_view name, std::string_view help, const Labels& labels = {});
  Gauge* GetGauge(std::string_view name, std::string_view help, const Labels& labels = {});
  // Every series of a family must use the same bounds ("le" may not be a label name).
  Histogram* GetHistogram(std::string_view name, std::string_view help, const std::vector<double>& bounds,
                          const Labels& labels = {});

  // The whole registry in the text format 0.0.4: families sorted by name, each with
  // # HELP and # TYPE, series sorted by their label set.
  std::string Render() const;
  // Misuses so far (see the header comment).
  int64_t errors() const { return errors_.load(std::memory_order_relaxed); }

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  struct Series {
    std::string labels;  // rendered `a="x",b="y"` (sorted by name), "" without labels
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
  };
  struct Family {
    Type type;
    std::string help;
    std::vector<std::string> label_names;  // sorted
    std::vector<double> bounds;            // histograms
    std::map<std::string, Series> series;  // by `labels`
  };

  // Finds or creates the series (under mu_); nullptr after a misuse (logged, counted).
  Series* Find(Type type, std::string_view name, std::string_view help, const Labels& labels,
               const std::vector<double>* bounds);
  Series* Detached(Type type, const std::vector<double>* bounds, const std::string& why);

  mutable std::mutex mu_;
  std::map<std::string, Family, std::less<>> families_;
  std::vector<std::unique_ptr<Series>> detached_;  // misuses: live, never rendered
  std::atomic<int64_t> errors_{0};
};

// The families runwayd exports (docs/operations.md says what each means). The
// constructor registers every unlabelled series, so they read 0 from the first scrape;
// a labelled series appears on its first getter call. Each getter locks the registry:
// call it once per account / model / reason and keep the pointer, not once per event.
// Label values are the caller's: an account's configured name (never its key), a model
// name, an ErrorClassName(), an endpoint path segment ("image_to_video", "tasks") —
// never a job or task id.
class DaemonMetrics {
 public:
  explicit DaemonMetrics(Registry* registry);  // not owned; must outlive this
  Registry* registry() const { return r_; }

  Counter* const jobs_taken;         // runwayd_jobs_taken_total
  Counter* const outcome_unknown;    // runwayd_outcome_unknown_total
  Counter* const redis_reconnects;   // runwayd_redis_reconnects_total
  Gauge* const queue_depth;          // runwayd_queue_depth
  Gauge* const retry_depth;          // runwayd_retry_depth
  Gauge* const wait_depth;           // runwayd_wait_depth
  Gauge* const dead_depth;           // runwayd_dead_depth
  Histogram* const upstream_latency;  // runwayd_upstream_latency_seconds
  Histogram* const polls_per_task;    // runwayd_polls_per_task
  Histogram* const detection_delay;   // runwayd_detection_delay_seconds

  // outcome: succeeded | failed | cancelled; error_class: ErrorClassName() or "none".
  Counter* JobsFinished(std::string_view outcome, std::string_view error_class);
  Gauge* JobsInFlight(std::string_view account, std::string_view model);
  // http_status: the HTTP status; 0 or less = no HTTP answer (label status="error").
  Counter* UpstreamRequests(std::string_view endpoint, int http_status);
  Gauge* BalanceEstimate(std::string_view account);   // runwayd_account_balance_estimate_credits
  Gauge* ReservedCredits(std::string_view account);   // runwayd_account_reserved_credits
  Gauge* LastBalance(std::string_view account);       // runwayd_account_last_balance_credits
  Gauge* BalanceAge(std::string_view account);        // runwayd_account_balance_age_seconds
  Gauge* LowBalance(std::string_view account);        // runwayd_account_low_balance_credits
  Gauge* BalanceDrift(std::string_view account);      // runwayd_balance_drift_credits
  Counter* Refunds(std::string_view reason);          // runwayd_refunds_total
  Counter* RefundedCredits(std::string_view reason);  // runwayd_refunded_credits_total
  Counter* PriceMismatch(std::string_view model);     // runwayd_price_mismatch_total

  static const std::vector<double>& LatencyBuckets();    // 0.005 .. 60 s
  static const std::vector<double>& PollBuckets();       // 1 .. 50
  static const std::vector<double>& DetectionBuckets();  // 0.05 .. 300 s

 private:
  Registry* r_;
};

}  // namespace runwayd::metrics
