// sim/render.cc — JSON documents (see render.h).
#include "sim/render.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <vector>

#include <fmt/format.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace runwayd::sim {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void Str(Writer& w, std::string_view s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); }
void Key(Writer& w, std::string_view s) { w.Key(s.data(), static_cast<rapidjson::SizeType>(s.size())); }
void Num(Writer& w, double v) { w.Double(std::isfinite(v) ? v : 0.0); }
void OptInt(Writer& w, const std::optional<int64_t>& v) {
  if (v) w.Int64(*v);
  else w.Null();
}
std::string Done(const rapidjson::StringBuffer& b) { return std::string(b.GetString(), b.GetSize()); }
double Ms(int64_t us) { return static_cast<double>(us) / 1000.0; }

void Credits(Writer& w, std::string_view key, int64_t credits) {
  Key(w, key);
  w.StartObject();
  Key(w, "credits");
  w.Int64(credits);
  w.EndObject();
}

// Nearest-rank percentile of a sorted vector.
int64_t Percentile(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

}  // namespace

std::string Iso8601(int64_t unix_us) {
  const time_t secs = static_cast<time_t>(unix_us / 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, (unix_us / 1000) % 1000);
}

std::string ErrorJson(std::string_view message) {
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  Key(w, "error");
  Str(w, message);
  w.EndObject();
  return Done(b);
}

std::string ValidationJson(const Validation& v) {
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  Key(w, "error");
  Str(w, v.error);
  if (!v.issues.empty()) {
    Key(w, "issues");
    w.StartArray();
    for (const Issue& i : v.issues) {
      w.StartObject();
      Key(w, "code");
      Str(w, i.code);
      if (!i.expected.empty()) {
        Key(w, "expected");
        Str(w, i.expected);
        Key(w, "received");
        Str(w, i.received);
      }
      if (!i.keys.empty()) {
        Key(w, "keys");
        w.StartArray();
        for (const auto& k : i.keys) Str(w, k);
        w.EndArray();
      }
      if (!i.options.empty()) {
        Key(w, "options");
        w.StartArray();
        for (const auto& o : i.options) Str(w, o);
        w.EndArray();
      }
      Key(w, "path");
      w.StartArray();
      for (const PathElem& p : i.path) {
        if (p.index >= 0) w.Int64(p.index);
        else Str(w, p.key);
      }
      w.EndArray();
      Key(w, "message");
      Str(w, i.message);
      w.EndObject();
    }
    w.EndArray();
  }
  w.EndObject();
  return Done(b);
}

std::string CreatedJson(const Task& t) {
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  Key(w, "id");
  Str(w, t.id);
  Credits(w, "estimatedCost", t.report_cost.value_or(t.estimated));
  w.EndObject();
  return Done(b);
}

std::string TaskJson(const State& s, const Task& t, Status status, int64_t now_us) {
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  Key(w, "id");
  // Hook sim:other_id: an id that differs from the task's in its first character.
  Str(w, t.other_id ? (t.id[0] == '0' ? "1" : "0") + t.id.substr(1) : t.id);
  Key(w, "createdAt");
  Str(w, Iso8601(t.created_us));
  Key(w, "status");
  Str(w, StatusName(status));
  switch (status) {
    case Status::kThrottled:
    case Status::kPending:
      Credits(w, "estimatedCost", t.report_cost.value_or(t.estimated));
      break;
    case Status::kRunning:
      Credits(w, "estimatedCost", t.report_cost.value_or(t.estimated));
      Key(w, "progress");
      Num(w, s.ProgressAt(t, now_us));
      break;
    case Status::kSucceeded:
      Key(w, "output");
      w.StartArray();
      if (!t.no_output) Str(w, fmt::format("https://sim.runway.test/out/{}.mp4?_jwt=sim", t.id));
      w.EndArray();
      Credits(w, "cost", t.report_cost.value_or(t.Cost()));
      break;
    case Status::kFailed:
      Key(w, "failure");
      Str(w, FailureText(t.failure_code));
      Key(w, "failureCode");
      if (t.failure_code) Str(w, *t.failure_code);
      else w.Null();
      Credits(w, "cost", t.report_cost.value_or(t.Cost()));
      break;
    case Status::kCancelled:
      Credits(w, "cost", 0);
      break;
  }
  w.EndObject();
  return Done(b);
}

std::string OrganizationJson(const State& s, uint32_t account) {
  const Account& a = s.accounts()[account];
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  Key(w, "creditBalance");
  w.Int64(a.balance);
  Key(w, "tier");
  w.StartObject();
  Key(w, "maxMonthlyCreditSpend");
  OptInt(w, a.config.max_monthly_spend);
  Key(w, "models");
  w.StartObject();
  for (const auto& [model, lane] : a.lanes) {
    const Lane& l = s.lanes()[lane];
    Key(w, model);
    w.StartObject();
    Key(w, "maxConcurrentGenerations");
    OptInt(w, l.limits.max_concurrent);
    Key(w, "maxDailyGenerations");
    OptInt(w, l.limits.max_daily);
    w.EndObject();
  }
  w.EndObject();
  w.EndObject();
  Key(w, "usage");
  w.StartObject();
  Key(w, "models");
  w.StartObject();
  for (const auto& [model, lane] : a.lanes) {
    Key(w, model);
    w.StartObject();
    Key(w, "dailyGenerations");
    w.Uint64(s.lanes()[lane].daily.size());
    w.EndObject();
  }
  w.EndObject();
  w.EndObject();
  w.EndObject();
  return Done(b);
}

std::string BalanceJson(const State& s, uint32_t account) {
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  Key(w, "account");
  Str(w, s.accounts()[account].config.name);
  Key(w, "balance");
  w.Int64(s.accounts()[account].balance);
  w.EndObject();
  return Done(b);
}

std::string StatsJson(const State& s, const RequestStats& r) {
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  Key(w, "now_ms");
  Num(w, Ms(s.Now()));
  for (const auto* m : {&r.requests, &r.responses, &r.content_types}) {
    Key(w, m == &r.requests ? "requests" : m == &r.responses ? "responses" : "content_types");
    w.StartObject();
    for (const auto& [k, n] : *m) {
      Key(w, k);
      w.Int64(n);
    }
    w.EndObject();
  }
  Key(w, "connections");
  w.Int64(r.connections);
  Key(w, "tasks_created");
  w.Uint64(s.tasks().size());
  Key(w, "creations_by_seed");
  w.StartObject();
  std::vector<std::pair<int64_t, uint32_t>> seeds(s.creations_by_seed().begin(), s.creations_by_seed().end());
  std::sort(seeds.begin(), seeds.end());  // stable output for diffs
  for (const auto& [seed, n] : seeds) {
    Key(w, std::to_string(seed));
    w.Uint(n);
  }
  w.EndObject();
  Key(w, "duplicate_seeds");
  w.Int64(s.duplicate_seeds());
  Key(w, "throttled_tasks");
  w.Int64(s.throttled_tasks());

  Key(w, "accounts");
  w.StartObject();
  for (const Account& a : s.accounts()) {
    Key(w, a.config.name);
    w.StartObject();
    Key(w, "balance");
    w.Int64(a.balance);
    Key(w, "created");
    w.Int64(a.created);
    const char* names[] = {"daily", "max_concurrency_seen", "in_progress"};
    for (int f = 0; f < 3; ++f) {
      Key(w, names[f]);
      w.StartObject();
      for (const auto& [model, lane] : a.lanes) {
        const Lane& l = s.lanes()[lane];
        Key(w, model);
        w.Uint64(f == 0 ? l.daily.size() : f == 1 ? l.max_concurrency_seen : l.InProgress());
      }
      w.EndObject();
    }
    w.EndObject();
  }
  w.EndObject();

  const int64_t seen = s.terminal_seen();
  const double gets_mean = seen ? static_cast<double>(s.gets_of_terminal_seen()) / static_cast<double>(seen) : 0.0;
  Key(w, "polls");
  w.StartObject();
  Key(w, "tasks_terminal_seen");
  w.Int64(seen);
  Key(w, "gets_per_task_mean");
  Num(w, gets_mean);
  w.EndObject();
  Key(w, "gets_per_task");
  Num(w, gets_mean);

  std::vector<int64_t> d = s.detection_delays_us();
  std::sort(d.begin(), d.end());
  Key(w, "detection");
  w.StartObject();
  Key(w, "count");
  w.Uint64(d.size());
  Key(w, "p50_ms");
  Num(w, Ms(Percentile(d, 0.50)));
  Key(w, "p95_ms");
  Num(w, Ms(Percentile(d, 0.95)));
  Key(w, "p99_ms");
  Num(w, Ms(Percentile(d, 0.99)));
  Key(w, "max_ms");
  Num(w, Ms(d.empty() ? 0 : d.back()));
  w.EndObject();
  w.EndObject();
  return Done(b);
}

std::string TasksJson(const State& s) {
  rapidjson::StringBuffer b;
  Writer w(b);
  const int64_t now = s.Now();
  w.StartArray();
  for (const Task& t : s.tasks()) {
    const Status st = s.StatusAt(t, now);
    int64_t finish_us = 0;
    if (t.cancelled) finish_us = t.cancel_us;
    else if (t.finished) finish_us = t.end_us;
    w.StartObject();
    Key(w, "id");
    Str(w, t.id);
    Key(w, "seed");
    if (t.seed >= 0) w.Int64(t.seed);
    else w.Null();
    Key(w, "account");
    Str(w, s.accounts()[t.account].config.name);
    Key(w, "endpoint");
    Str(w, t.endpoint);
    Key(w, "model");
    Str(w, s.lanes()[t.lane].model);
    Key(w, "status");
    Str(w, StatusName(st));
    Key(w, "created_ms");
    w.Int64(t.created_us / 1000);
    Key(w, "finish_ms");
    w.Int64(finish_us / 1000);
    Key(w, "first_seen_terminal_ms");
    w.Int64(t.first_seen_terminal_us / 1000);
    Key(w, "gets");
    w.Uint(t.gets);
    Key(w, "throttled");
    w.Bool(t.ever_throttled);
    Key(w, "deleted");
    w.Bool(t.deleted);
    Key(w, "estimated");
    w.Int64(t.estimated);
    Key(w, "cost");
    if (t.finished) w.Int64(t.Cost());
    else w.Null();
    w.EndObject();
  }
  w.EndArray();
  return Done(b);
}

}  // namespace runwayd::sim
