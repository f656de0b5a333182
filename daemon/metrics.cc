// daemon/metrics.cc — see metrics.h. The text format reference:
// https://prometheus.io/docs/instrumenting/exposition_formats/ (version 0.0.4).
#include "daemon/metrics.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cmath>

namespace runwayd::metrics {

Histogram::Histogram(std::vector<double> bounds) {
  // Keeps the finite bounds that increase; the Registry rejects anything else before.
  for (double b : bounds)
    if (std::isfinite(b) && (bounds_.empty() || b > bounds_.back())) bounds_.push_back(b);
  buckets_ = std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double v) {
  if (std::isnan(v)) return;
  // The first bound >= v: a bucket counts observations <= its "le".
  const size_t i = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::Cumulative() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += buckets_[i].load(std::memory_order_relaxed);
    out[i] = total;
  }
  return out;
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  std::vector<double> out;
  if (!(start > 0) || !(factor > 1)) return out;
  for (int i = 0; i < count; ++i, start *= factor) out.push_back(start);
  return out;
}

std::string EscapeLabelValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string EscapeHelp(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);  // shortest round-trip form
  return ec == std::errc() ? std::string(buf, end) : "NaN";
}

namespace {
bool NameChar(char c, bool first, bool colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':') ||
         (!first && c >= '0' && c <= '9');
}
}  // namespace

bool ValidMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i)
    if (!NameChar(name[i], i == 0, true)) return false;
  return true;
}

bool ValidLabelName(std::string_view name) {
  if (name.empty() || name.substr(0, 2) == "__") return false;
  for (size_t i = 0; i < name.size(); ++i)
    if (!NameChar(name[i], i == 0, false)) return false;
  return true;
}

Registry::~Registry() = default;

Registry::Series* Registry::Detached(Type type, const std::vector<double>* bounds, const std::string& why) {
  errors_.fetch_add(1, std::memory_order_relaxed);
  spdlog::error("metrics: {} (the series works but is not exported)", why);
  auto s = std::make_unique<Series>();
  if (type == Type::kCounter) s->counter = std::make_unique<Counter>();
  if (type == Type::kGauge) s->gauge = std::make_unique<Gauge>();
  if (type == Type::kHistogram) s->histogram = std::make_unique<Histogram>(bounds ? *bounds : std::vector<double>{});
  std::lock_guard lock(mu_);
  detached_.push_back(std::move(s));
  return detached_.back().get();
}

Registry::Series* Registry::Find(Type type, std::string_view name, std::string_view help, const Labels& labels,
                                 const std::vector<double>* bounds) {
  const std::string what = "metric " + std::string(name);
  if (!ValidMetricName(name)) return Detached(type, bounds, what + ": invalid metric name");
  std::vector<const std::pair<std::string, std::string>*> sorted;
  for (const auto& l : labels) sorted.push_back(&l);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->first < b->first; });
  std::vector<std::string> names;
  std::string key;
  for (const auto* l : sorted) {
    if (!ValidLabelName(l->first) || (type == Type::kHistogram && l->first == "le"))
      return Detached(type, bounds, what + ": invalid label name " + l->first);
    if (!names.empty() && names.back() == l->first)
      return Detached(type, bounds, what + ": label " + l->first + " given twice");
    names.push_back(l->first);
    if (!key.empty()) key += ',';
    key += l->first + "=\"" + EscapeLabelValue(l->second) + "\"";
  }
  if (bounds) {
    for (size_t i = 0; i < bounds->size(); ++i)
      if (!std::isfinite((*bounds)[i]) || (i > 0 && !((*bounds)[i] > (*bounds)[i - 1])))
        return Detached(type, bounds, what + ": histogram bounds must be finite and increasing");
  }
  std::string conflict;
  {
    std::lock_guard lock(mu_);
    auto it = families_.find(name);
    if (it == families_.end()) {
      Family f{type, std::string(help), names, bounds ? *bounds : std::vector<double>{}, {}};
      it = families_.emplace(std::string(name), std::move(f)).first;
    }
    Family& f = it->second;
    if (f.type != type) {
      conflict = what + ": already registered with another type";
    } else if (f.label_names != names) {
      conflict = what + ": already registered with other label names";
    } else if (bounds && f.bounds != *bounds) {
      conflict = what + ": already registered with other histogram bounds";
    } else {
      auto [sit, inserted] = f.series.try_emplace(key);
      Series& s = sit->second;
      if (inserted) {
        s.labels = key;
        if (type == Type::kCounter) s.counter = std::make_unique<Counter>();
        if (type == Type::kGauge) s.gauge = std::make_unique<Gauge>();
        if (type == Type::kHistogram) s.histogram = std::make_unique<Histogram>(f.bounds);
      }
      return &s;
    }
  }
  return Detached(type, bounds, conflict);
}

Counter* Registry::GetCounter(std::string_view name, std::string_view help, const Labels& labels) {
  return Find(Type::kCounter, name, help, labels, nullptr)->counter.get();
}

Gauge* Registry::GetGauge(std::string_view name, std::string_view help, const Labels& labels) {
  return Find(Type::kGauge, name, help, labels, nullptr)->gauge.get();
}

Histogram* Registry::GetHistogram(std::string_view name, std::string_view help, const std::vector<double>& bounds,
                                  const Labels& labels) {
  return Find(Type::kHistogram, name, help, labels, &bounds)->histogram.get();
}

std::string Registry::Render() const {
  std::string out;
  auto braces = [](const std::string& labels, const std::string& extra) {
    std::string all = labels.empty() ? extra : extra.empty() ? labels : labels + "," + extra;
    return all.empty() ? std::string() : "{" + all + "}";
  };
  std::lock_guard lock(mu_);
  for (const auto& [name, f] : families_) {
    if (!f.help.empty()) out += "# HELP " + name + " " + EscapeHelp(f.help) + "\n";
    out += "# TYPE " + name + (f.type == Type::kCounter ? " counter\n" : f.type == Type::kGauge ? " gauge\n" : " histogram\n");
    for (const auto& [key, s] : f.series) {
      if (s.counter) out += name + braces(key, "") + " " + std::to_string(s.counter->Value()) + "\n";
      if (s.gauge) out += name + braces(key, "") + " " + FormatValue(s.gauge->Value()) + "\n";
      if (!s.histogram) continue;
      const std::vector<uint64_t> cum = s.histogram->Cumulative();
      const double sum = s.histogram->Sum();
      const auto& b = s.histogram->bounds();
      for (size_t i = 0; i <= b.size(); ++i) {
        const std::string le = i < b.size() ? FormatValue(b[i]) : "+Inf";
        out += name + "_bucket" + braces(key, "le=\"" + le + "\"") + " " + std::to_string(cum[i]) + "\n";
      }
      out += name + "_sum" + braces(key, "") + " " + FormatValue(sum) + "\n";
      out += name + "_count" + braces(key, "") + " " + std::to_string(cum.back()) + "\n";
    }
  }
  return out;
}

// ---- runwayd's families -------------------------------------------------------------

const std::vector<double>& DaemonMetrics::LatencyBuckets() {
  static const std::vector<double> b = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60};
  return b;
}
const std::vector<double>& DaemonMetrics::PollBuckets() {
  static const std::vector<double> b = {1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50};
  return b;
}
const std::vector<double>& DaemonMetrics::DetectionBuckets() {
  static const std::vector<double> b = {0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300};
  return b;
}

DaemonMetrics::DaemonMetrics(Registry* r)
    : jobs_taken(r->GetCounter("runwayd_jobs_taken_total", "Jobs taken from the Redis queue.")),
      outcome_unknown(r->GetCounter("runwayd_outcome_unknown_total",
                                    "Creates whose answer was lost: the task may or may not exist upstream.")),
      redis_reconnects(r->GetCounter("runwayd_redis_reconnects_total", "Reconnections to Redis.")),
      queue_depth(r->GetGauge("runwayd_queue_depth", "Jobs waiting in the Redis queue.")),
      retry_depth(r->GetGauge("runwayd_retry_depth", "Jobs waiting in the retry set for their next attempt.")),
      wait_depth(r->GetGauge("runwayd_wait_depth", "Jobs waiting for account capacity or credits.")),
      dead_depth(r->GetGauge("runwayd_dead_depth", "Jobs in the dead-letter list.")),
      upstream_latency(r->GetHistogram("runwayd_upstream_latency_seconds", "Runway API request latency.",
                                       LatencyBuckets())),
      polls_per_task(r->GetHistogram("runwayd_polls_per_task", "Polls until a task reached a final state.",
                                     PollBuckets())),
      detection_delay(r->GetHistogram("runwayd_detection_delay_seconds",
                                      "Upper bound of how late a task's end was noticed: the time since the "
                                      "previous poll that saw it running.",
                                      DetectionBuckets())),
      r_(r) {}

Counter* DaemonMetrics::JobsFinished(std::string_view outcome, std::string_view error_class) {
  return r_->GetCounter("runwayd_jobs_finished_total", "Jobs finished, by outcome and error class.",
                        {{"outcome", std::string(outcome)}, {"class", std::string(error_class)}});
}
Gauge* DaemonMetrics::JobsInFlight(std::string_view account, std::string_view model) {
  return r_->GetGauge("runwayd_jobs_in_flight", "Jobs this daemon holds, by account and model.",
                      {{"account", std::string(account)}, {"model", std::string(model)}});
}
Counter* DaemonMetrics::UpstreamRequests(std::string_view endpoint, int http_status) {
  return r_->GetCounter("runwayd_upstream_requests_total", "Runway API requests, by endpoint and HTTP status.",
                        {{"endpoint", std::string(endpoint)},
                         {"status", http_status > 0 ? std::to_string(http_status) : std::string("error")}});
}

namespace {
Gauge* AccountGauge(Registry* r, std::string_view name, std::string_view help, std::string_view account) {
  return r->GetGauge(name, help, {{"account", std::string(account)}});
}
}  // namespace

Gauge* DaemonMetrics::BalanceEstimate(std::string_view account) {
  return AccountGauge(r_, "runwayd_account_balance_estimate_credits",
                      "Estimated credits left: the last balance read minus what was spent since.", account);
}
Gauge* DaemonMetrics::ReservedCredits(std::string_view account) {
  return AccountGauge(r_, "runwayd_account_reserved_credits", "Credits reserved by tasks in flight.", account);
}
Gauge* DaemonMetrics::LastBalance(std::string_view account) {
  return AccountGauge(r_, "runwayd_account_last_balance_credits", "The balance last read from the Runway API.",
                      account);
}
Gauge* DaemonMetrics::BalanceAge(std::string_view account) {
  return AccountGauge(r_, "runwayd_account_balance_age_seconds", "Age of the last balance read.", account);
}
Gauge* DaemonMetrics::LowBalance(std::string_view account) {
  return AccountGauge(r_, "runwayd_account_low_balance_credits",
                      "The account's configured low_balance threshold (0: none).", account);
}
Gauge* DaemonMetrics::BalanceDrift(std::string_view account) {
  return AccountGauge(r_, "runwayd_balance_drift_credits",
                      "At the last reconciliation: the estimate before it minus the one from the balance read.",
                      account);
}
Counter* DaemonMetrics::Refunds(std::string_view reason) {
  return r_->GetCounter("runwayd_refunds_total", "Refunds written, by reason.", {{"reason", std::string(reason)}});
}
Counter* DaemonMetrics::RefundedCredits(std::string_view reason) {
  return r_->GetCounter("runwayd_refunded_credits_total", "Credits refunded, by reason.",
                        {{"reason", std::string(reason)}});
}
Counter* DaemonMetrics::PriceMismatch(std::string_view model) {
  return r_->GetCounter("runwayd_price_mismatch_total",
                        "Tasks whose upstream cost differed from the price table's estimate.",
                        {{"model", std::string(model)}});
}

}  // namespace runwayd::metrics
