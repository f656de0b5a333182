// runway/answer.cc — parsing Runway's response bodies (simdjson DOM, no exceptions).
//
// Each call copies the body into a padded buffer (so simdjson never reads past the
// bytes we own) and parses it with a parser reused per thread. Nothing here throws:
// simdjson is used through its error-code API, and an allocation failure is caught
// and reported as an unreadable body.
#include "runway/answer.h"

#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <new>

namespace runwayd::runway {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

// Bodies larger than this are not parsed: no Runway answer comes near it.
constexpr size_t kMaxBody = 16 * 1024 * 1024;
constexpr size_t kMaxSummary = 300;
constexpr size_t kMaxExcerpt = 120;
// A task id goes into a URL path (/v1/tasks/<id>), Redis and log lines. Runway's are
// UUIDs; an id of other characters ('/', '?', "..", a newline) would poll or cancel
// another URL, or forge a log line, so it is refused like a missing one.
constexpr size_t kMaxTaskId = 128;
// No task costs anywhere near this many credits (10 million dollars). A larger value is
// not a cost but garbage, and past 1e17 the ledger's Lua (doubles) cannot even pass it to
// HINCRBY: the script fails and the job would never end. So it is "unknown".
constexpr int64_t kMaxCredits = 1'000'000'000;

simdjson::dom::parser& Parser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

// Parses `body` into `*root` (valid until the next Parse on this thread).
bool Parse(std::string_view body, element* root, std::string* error) {
  if (body.empty()) {
    *error = "empty body";
    return false;
  }
  if (body.size() > kMaxBody) {
    *error = "body too large";
    return false;
  }
  try {
    simdjson::padded_string padded(body.data(), body.size());
    auto err = Parser().parse(padded).get(*root);
    if (err != simdjson::SUCCESS) {
      *error = std::string("not JSON: ") + simdjson::error_message(err);
      return false;
    }
  } catch (const std::exception&) {  // std::bad_alloc from the padded copy
    *error = "body could not be buffered";
    return false;
  }
  return true;
}

// A field of an object; false when absent.
bool Field(const object& o, std::string_view key, element* out) {
  return o.at_key(key).get(*out) == simdjson::SUCCESS;
}

bool IsNull(const element& e) { return e.type() == element_type::NULL_VALUE; }
bool IsNumber(const element& e) {
  const auto t = e.type();
  return t == element_type::INT64 || t == element_type::UINT64 || t == element_type::DOUBLE;
}

// A count that must be a whole number: fractions round down, out of range fails.
std::optional<int64_t> WholeNumber(const element& e, bool round_up) {
  switch (e.type()) {
    case element_type::INT64: {
      int64_t v = 0;
      if (e.get_int64().get(v) == simdjson::SUCCESS) return v;
      return std::nullopt;
    }
    case element_type::UINT64:
      return std::nullopt;  // above INT64_MAX
    case element_type::DOUBLE: {
      double d = 0;
      if (e.get_double().get(d) != simdjson::SUCCESS || !std::isfinite(d)) return std::nullopt;
      d = round_up ? std::ceil(d) : std::floor(d);
      if (d < -9.0e18 || d > 9.0e18) return std::nullopt;
      return static_cast<int64_t>(d);
    }
    default:
      return std::nullopt;
  }
}

// {"credits": N} with N >= 0. A fractional N rounds up (never under-count a cost).
// Anything else (absent, null, a bare number, negative) is "unknown".
std::optional<int64_t> Credits(const object& parent, std::string_view key) {
  element cost;
  if (!Field(parent, key, &cost)) return std::nullopt;
  object o;
  if (cost.get_object().get(o) != simdjson::SUCCESS) return std::nullopt;
  element credits;
  if (!Field(o, "credits", &credits)) return std::nullopt;
  // The sign before rounding: -0.5 rounds up to -0, which would pass as a cost of 0.
  double raw = 0;
  if (credits.get_double().get(raw) != simdjson::SUCCESS || !(raw >= 0)) return std::nullopt;
  auto v = WholeNumber(credits, /*round_up=*/true);
  if (!v || *v < 0 || *v > kMaxCredits) return std::nullopt;
  return v;
}

bool StringField(const object& o, std::string_view key, std::string* out) {
  element e;
  std::string_view s;
  if (!Field(o, key, &e) || e.get_string().get(s) != simdjson::SUCCESS) return false;
  out->assign(s);
  return true;
}

// The task id of an answer: 1 to kMaxTaskId ASCII letters, digits, '-' or '_'.
bool TaskIdField(const object& o, std::string* out, std::string* error) {
  if (!StringField(o, "id", out) || out->empty()) {
    out->clear();
    *error = "id: missing or not a non-empty string";
    return false;
  }
  const bool plain = out->size() <= kMaxTaskId && std::all_of(out->begin(), out->end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
  if (!plain) {
    out->clear();
    *error = "id: not a task id (letters, digits, '-' and '_', at most 128)";
    return false;
  }
  return true;
}

// One line: control characters become spaces.
void AppendOneLine(std::string* out, std::string_view s) {
  for (char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    out->push_back(u < 0x20 || u == 0x7f ? ' ' : c);
  }
}

// Cuts `s` to at most `max` bytes on a UTF-8 boundary, marking the cut with "...".
void Limit(std::string* s, size_t max) {
  if (s->size() <= max) return;
  size_t cut = max - 3;
  while (cut > 0 && (static_cast<unsigned char>((*s)[cut]) & 0xC0) == 0x80) --cut;
  s->resize(cut);
  s->append("...");
}

// Printable ASCII only, at most kMaxExcerpt bytes, whitespace runs collapsed to
// one space, any other byte shown as '?'. A cut is marked with "...".
std::string SafeExcerpt(std::string_view body) {
  std::string out;
  bool space = false;
  size_t i = 0;
  for (; i < body.size(); ++i) {
    const unsigned char u = static_cast<unsigned char>(body[i]);
    if (u == ' ' || u == '\t' || u == '\r' || u == '\n') {
      space = true;
      continue;
    }
    const bool sep = space && !out.empty();
    if (out.size() + (sep ? 2 : 1) > kMaxExcerpt) break;
    if (sep) out.push_back(' ');
    space = false;
    out.push_back(u >= 0x21 && u <= 0x7e ? static_cast<char>(u) : '?');
  }
  if (i < body.size()) {  // stopped on a byte that would have been shown
    if (out.size() > kMaxExcerpt - 3) out.resize(kMaxExcerpt - 3);
    out.append("...");
  }
  return out;
}

std::string JoinPath(const element& path) {
  simdjson::dom::array arr;
  if (path.get_array().get(arr) != simdjson::SUCCESS) {
    std::string_view s;
    if (path.get_string().get(s) == simdjson::SUCCESS) return std::string(s);
    return "";
  }
  std::string out;
  for (element part : arr) {
    std::string_view s;
    int64_t i = 0;
    if (part.get_string().get(s) == simdjson::SUCCESS) {
      if (!out.empty()) out.push_back('.');
      out.append(s);
    } else if (part.get_int64().get(i) == simdjson::SUCCESS) {
      if (!out.empty()) out.push_back('.');
      out.append(std::to_string(i));
    }
  }
  return out;
}

// "; <path>: <message> (keys: a, b)" for one issue; empty when the issue says nothing.
std::string DescribeIssue(const element& issue) {
  object o;
  if (issue.get_object().get(o) != simdjson::SUCCESS) return "";
  std::string path, message, code, keys;
  element e;
  if (Field(o, "path", &e)) path = JoinPath(e);
  StringField(o, "message", &message);
  StringField(o, "code", &code);
  simdjson::dom::array arr;
  if (Field(o, "keys", &e) && e.get_array().get(arr) == simdjson::SUCCESS) {
    for (element k : arr) {
      std::string_view s;
      if (k.get_string().get(s) != simdjson::SUCCESS) continue;
      if (!keys.empty()) keys.append(", ");
      keys.append(s);
    }
  }
  if (message.empty() && keys.empty()) message = code;
  if (message.empty() && keys.empty()) return "";
  std::string out = "; ";
  if (!path.empty()) out += path + ": ";
  out += message;
  if (!keys.empty()) out += (message.empty() ? "keys: " : " (keys: ") + keys + (message.empty() ? "" : ")");
  return out;
}

}  // namespace

const char* TaskStatusName(TaskStatus s) {
  switch (s) {
    case TaskStatus::kPending: return "PENDING";
    case TaskStatus::kThrottled: return "THROTTLED";
    case TaskStatus::kRunning: return "RUNNING";
    case TaskStatus::kSucceeded: return "SUCCEEDED";
    case TaskStatus::kFailed: return "FAILED";
    case TaskStatus::kCancelled: return "CANCELLED";
    case TaskStatus::kUnknown: return "UNKNOWN";
  }
  return "UNKNOWN";
}

CreateAnswer ParseCreateAnswer(std::string_view body) {
  CreateAnswer a;
  element root;
  object o;
  if (!Parse(body, &root, &a.error)) return a;
  if (root.get_object().get(o) != simdjson::SUCCESS) {
    a.error = "not a JSON object";
    return a;
  }
  if (!TaskIdField(o, &a.id, &a.error)) return a;
  a.estimated_credits = Credits(o, "estimatedCost");
  a.ok = true;
  return a;
}

namespace {
TaskStatus StatusFromName(std::string_view s) {
  if (s == "PENDING") return TaskStatus::kPending;
  if (s == "THROTTLED") return TaskStatus::kThrottled;
  if (s == "RUNNING") return TaskStatus::kRunning;
  if (s == "SUCCEEDED") return TaskStatus::kSucceeded;
  if (s == "FAILED") return TaskStatus::kFailed;
  if (s == "CANCELLED") return TaskStatus::kCancelled;
  return TaskStatus::kUnknown;
}
}  // namespace

TaskAnswer ParseTaskAnswer(std::string_view body) {
  TaskAnswer a;
  element root, e;
  object o;
  if (!Parse(body, &root, &a.error)) return a;
  if (root.get_object().get(o) != simdjson::SUCCESS) {
    a.error = "not a JSON object";
    return a;
  }
  if (!TaskIdField(o, &a.id, &a.error)) return a;
  std::string status;
  if (!StringField(o, "status", &status)) {
    a.error = "status: missing or not a string";
    return a;
  }
  // A status this build does not know (a new one) stays kUnknown with ok=true:
  // the caller keeps polling rather than treating the answer as garbage.
  a.status = StatusFromName(status);

  if (Field(o, "progress", &e) && IsNumber(e)) {
    double p = 0;
    if (e.get_double().get(p) == simdjson::SUCCESS && std::isfinite(p)) {
      a.progress = p < 0 ? 0.0 : (p > 1 ? 1.0 : p);
    }
  }
  simdjson::dom::array arr;
  if (Field(o, "output", &e) && e.get_array().get(arr) == simdjson::SUCCESS) {
    for (element u : arr) {
      std::string_view s;
      if (u.get_string().get(s) == simdjson::SUCCESS && !s.empty()) a.output.emplace_back(s);
    }
  }
  a.cost_credits = Credits(o, "cost");  // (read first: a SUCCEEDED without output is charged)
  a.estimated_credits = Credits(o, "estimatedCost");
  if (a.status == TaskStatus::kSucceeded && a.output.empty()) {
    a.error = "output: SUCCEEDED without an output URL";
    return a;
  }
  StringField(o, "failure", &a.failure);
  // Null or absent: empty (INTERNAL, retried). Another type is no known code, and an
  // unknown code is never retried (it may be a SAFETY failure in another shape).
  if (Field(o, "failureCode", &e) && !IsNull(e) && !StringField(o, "failureCode", &a.failure_code))
    a.failure_code = "UNREADABLE_FAILURE_CODE";
  a.ok = true;
  return a;
}

ErrorAnswer ParseErrorAnswer(std::string_view body) {
  ErrorAnswer a;
  element root, e;
  object o;
  std::string ignored;
  if (!Parse(body, &root, &ignored) || root.get_object().get(o) != simdjson::SUCCESS ||
      !StringField(o, "error", &a.error)) {
    a.error.clear();
    a.summary = body.empty() ? "unreadable body: (empty)" : "unreadable body: " + SafeExcerpt(body);
    return a;
  }
  a.ok = true;
  std::string summary;
  AppendOneLine(&summary, a.error);
  simdjson::dom::array issues;
  if (Field(o, "issues", &e) && e.get_array().get(issues) == simdjson::SUCCESS) {
    for (element issue : issues) {
      if (summary.size() > kMaxSummary) break;  // the rest would be cut anyway
      AppendOneLine(&summary, DescribeIssue(issue));
    }
  }
  Limit(&summary, kMaxSummary);
  a.summary = std::move(summary);
  return a;
}

OrganizationAnswer ParseOrganizationAnswer(std::string_view body) {
  OrganizationAnswer a;
  element root, e;
  object o;
  if (!Parse(body, &root, &a.error)) return a;
  if (root.get_object().get(o) != simdjson::SUCCESS) {
    a.error = "not a JSON object";
    return a;
  }
  if (!Field(o, "creditBalance", &e)) {
    a.error = "creditBalance: missing";
    return a;
  }
  auto balance = WholeNumber(e, /*round_up=*/false);
  if (!balance) {
    a.error = "creditBalance: not a number";
    return a;
  }
  a.credit_balance = *balance;

  // A limit is a whole number or null/absent (unlimited). A limit of another
  // type makes the answer unreadable: guessing "unlimited" could overspend.
  auto limit = [&a](const object& parent, std::string_view key, std::string_view where,
                    std::optional<int64_t>* out) -> bool {
    element v;
    if (!Field(parent, key, &v) || IsNull(v)) return true;
    *out = WholeNumber(v, /*round_up=*/false);
    if (!*out) {
      a.error = std::string(where) + "." + std::string(key) + ": not a number";
      return false;
    }
    return true;
  };

  object tier;
  if (Field(o, "tier", &e) && !IsNull(e)) {
    if (e.get_object().get(tier) != simdjson::SUCCESS) {
      a.error = "tier: not an object";
      return a;
    }
    if (!limit(tier, "maxMonthlyCreditSpend", "tier", &a.max_monthly_spend)) return a;
    object models;
    if (Field(tier, "models", &e) && !IsNull(e)) {
      if (e.get_object().get(models) != simdjson::SUCCESS) {
        a.error = "tier.models: not an object";
        return a;
      }
      for (auto field : models) {
        object m;
        const std::string where = "tier.models." + std::string(field.key);
        if (field.value.get_object().get(m) != simdjson::SUCCESS) {
          a.error = where + ": not an object";
          return a;
        }
        ModelLimits l;
        if (!limit(m, "maxConcurrentGenerations", where, &l.max_concurrent)) return a;
        if (!limit(m, "maxDailyGenerations", where, &l.max_daily)) return a;
        a.limits[std::string(field.key)] = l;
      }
    }
  }

  object usage, umodels;
  if (Field(o, "usage", &e) && e.get_object().get(usage) == simdjson::SUCCESS &&
      Field(usage, "models", &e) && e.get_object().get(umodels) == simdjson::SUCCESS) {
    for (auto field : umodels) {
      object m;
      element d;
      if (field.value.get_object().get(m) != simdjson::SUCCESS || !Field(m, "dailyGenerations", &d)) continue;
      if (auto n = WholeNumber(d, /*round_up=*/false)) a.daily_generations[std::string(field.key)] = *n;
    }
  }
  a.ok = true;
  return a;
}

}  // namespace runwayd::runway
