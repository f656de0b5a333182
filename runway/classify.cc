// runway/classify.cc — the one table from Runway's answers to the daemon's next step.
//
// Money rule, restated: a create is sent again (kRetrySame) only when Runway
// certainly did not create a task: the request never left (kNotSent), or the
// answer is a refusal (408, 409, 429, 502, 503). Everything that may hide a created
// task (timeouts, resets after sending, 500, 504, other 5xx, any 2xx/3xx we cannot
// read) is kOutcomeUnknown.
#include "runway/classify.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>

#include "runway/answer.h"

namespace runwayd::runway {
namespace {

constexpr size_t kMaxMessage = 300;
constexpr int64_t kMaxHintMs = 3600 * 1000;  // a server hint longer than an hour is capped

bool ContainsNoCase(std::string_view hay, std::string_view needle) {
  auto it = std::search(hay.begin(), hay.end(), needle.begin(), needle.end(), [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
  });
  return it != hay.end();
}

bool EqualsNoCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ContainsNoCase(a, b);
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.substr(0, prefix.size()) == prefix;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// An API key ("key_" and 128 hex digits, fewer when a cut went through it) that an
// answer echoes (a proxy's error page, a text about a disabled key) is masked: messages
// go to results, dead letters, events and logs, and a key must never be logged.
std::string MaskKeys(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    if (s.compare(i, 4, "key_") == 0) {
      size_t j = i + 4;
      while (j < s.size() && std::isxdigit(static_cast<unsigned char>(s[j]))) ++j;
      if (j - i - 4 >= 8) {
        out.append("key_[redacted]");
        i = j;
        continue;
      }
    }
    out.push_back(s[i++]);
  }
  return out;
}

// One line, at most kMaxMessage bytes, cut on a UTF-8 boundary, keys masked.
std::string OneLine(std::string_view text) {
  // Masked before the cut (which then sees the shorter text); past this many bytes
  // nothing can reach the message.
  const std::string masked = MaskKeys(text.substr(0, std::min(text.size(), 4 * kMaxMessage)));
  const std::string_view s = masked;
  std::string out;
  out.reserve(std::min(s.size(), kMaxMessage));
  for (char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f ? ' ' : c);
    if (out.size() > kMaxMessage + 4) break;
  }
  if (out.size() > kMaxMessage) {
    size_t cut = kMaxMessage - 3;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
    out.resize(cut);
    out.append("...");
  }
  return out;
}

Classification Make(Verdict v, ErrorClass c, std::string code, std::string message) {
  Classification r;
  r.verdict = v;
  r.error_class = c;
  r.code = std::move(code);
  r.message = OneLine(message);
  return r;
}

Classification Account(AccountIssue issue, ErrorClass c, std::string code, std::string message) {
  Classification r = Make(Verdict::kAccountProblem, c, std::move(code), std::move(message));
  r.account = issue;
  return r;
}

const char* TransportCode(Transport t) {
  switch (t) {
    case Transport::kNotSent: return "not_sent";
    case Transport::kSentNoAnswer: return "no_answer";
    case Transport::kTimeout: return "timeout";
    case Transport::kAnswered: break;
  }
  return "answered";
}

const char* TransportText(Transport t) {
  switch (t) {
    case Transport::kNotSent: return "request not sent: connection failed";
    case Transport::kSentNoAnswer: return "no answer after the request was sent";
    case Transport::kTimeout: return "request timed out";
    case Transport::kAnswered: break;
  }
  return "answered";
}

const char* PhaseText(Phase p) {
  switch (p) {
    case Phase::kCreate: return "create";
    case Phase::kPoll: return "poll";
    case Phase::kCancel: return "cancel";
    case Phase::kOrganization: return "organization";
  }
  return "request";
}

std::string HttpCode(long status) { return fmt::format("http_{}", status); }

// "HTTP 400 on create: <summary>".
std::string HttpMessage(const Answer& a, const ErrorAnswer& e) {
  return fmt::format("HTTP {} on {}: {}", a.http_status, PhaseText(a.phase), e.summary);
}

// The error text to match against: the error field when readable, else the excerpt.
std::string_view ErrorText(const ErrorAnswer& e) { return e.ok ? std::string_view(e.error) : e.summary; }

Classification Unauthorized(const Answer& a, const ErrorAnswer& e) {
  return Account(AccountIssue::kUnauthorized, ErrorClass::kAccountUnusable, HttpCode(a.http_status),
                 HttpMessage(a, e));
}

Classification RetrySame(const Answer& a, const ErrorAnswer& e) {
  Classification r =
      Make(Verdict::kRetrySame, ErrorClass::kUpstreamUnavailable, HttpCode(a.http_status), HttpMessage(a, e));
  r.slow_account = a.http_status == 429;
  return r;
}

// 401 is the key's: Runway's answer to a bad, disabled or suspended key. A 403 is the
// key's only when it carries Runway's error JSON: a firewall or CDN in front of the API
// answers 403 with its own page (an HTML "access denied"), and disabling the account
// until an operator reloads would turn a passing block into refunds for every job.
Classification Refused(const Answer& a, const ErrorAnswer& e) {
  return a.http_status == 403 && !e.ok ? RetrySame(a, e) : Unauthorized(a, e);
}

Classification ClassifyCreate(const Answer& a) {
  const long s = a.http_status;
  // Runway answers 200; a 201 or 202 carrying a task id is a created task all the same
  // (polling it tells its fate), where "unknown" would refund a task that may well run.
  if (s >= 200 && s <= 202) {
    CreateAnswer c = ParseCreateAnswer(a.body);
    if (c.ok) return Make(Verdict::kSuccess, ErrorClass::kUpstreamFailure, "", "");
    return Make(Verdict::kOutcomeUnknown, ErrorClass::kOutcomeUnknown, HttpCode(s),
                "HTTP " + std::to_string(s) + " on create with an unreadable answer (" + c.error +
                    "): the task may exist");
  }
  const ErrorAnswer e = ParseErrorAnswer(a.body);
  if (s < 400 || s > 599) {  // other 2xx, 3xx, or nonsense: the request may have been acted on
    return Make(Verdict::kOutcomeUnknown, ErrorClass::kOutcomeUnknown, HttpCode(s),
                HttpMessage(a, e) + " (the task may exist)");
  }
  switch (s) {
    case 400:
      if (ContainsNoCase(ErrorText(e), "enough credits")) {
        return Account(AccountIssue::kInsufficientCredits, ErrorClass::kUpstreamInsufficientCredits,
                       HttpCode(s), HttpMessage(a, e));
      }
      return Make(Verdict::kFailJob, ErrorClass::kInvalidInput, HttpCode(s), HttpMessage(a, e));
    case 401:
    case 403:
      return Refused(a, e);
    case 404:
      return Make(Verdict::kFailJob, ErrorClass::kInvalidInput, HttpCode(s),
                  "HTTP 404 on create: endpoint not found: " + e.summary);
    case 408:
    case 409:
    case 502:
    case 503:
      return RetrySame(a, e);
    case 429:
      if (ContainsNoCase(ErrorText(e), "daily task limit")) {
        return Account(AccountIssue::kDailyLimit, ErrorClass::kUpstreamUnavailable, HttpCode(s),
                       HttpMessage(a, e));
      }
      return RetrySame(a, e);
    default:
      break;
  }
  if (s >= 500) {  // 500, 504, 501, 505..599: Runway may have created the task
    return Make(Verdict::kOutcomeUnknown, ErrorClass::kOutcomeUnknown, HttpCode(s),
                HttpMessage(a, e) + " (the task may exist)");
  }
  // 422 and every other 4xx: a refusal of this request as it is.
  return Make(Verdict::kFailJob, ErrorClass::kInvalidInput, HttpCode(s), HttpMessage(a, e));
}

Classification ClassifyPoll(const Answer& a) {
  const long s = a.http_status;
  if (s == 200) {
    TaskAnswer t = ParseTaskAnswer(a.body);
    if (t.ok && !a.task_id.empty() && t.id != a.task_id) {
      return Make(Verdict::kRetrySame, ErrorClass::kUpstreamUnavailable, HttpCode(s),
                  "HTTP 200 on poll about another task (" + t.id + "), not the one asked about");
    }
    if (t.ok) return Make(Verdict::kSuccess, ErrorClass::kUpstreamFailure, "", "");
    return Make(Verdict::kRetrySame, ErrorClass::kUpstreamUnavailable, HttpCode(s),
                "HTTP 200 on poll with an unreadable task (" + t.error + ")");
  }
  const ErrorAnswer e = ParseErrorAnswer(a.body);
  if (s == 401 || s == 403) return Refused(a, e);
  if (s == 404) return Make(Verdict::kTaskGone, ErrorClass::kUpstreamFailure, HttpCode(s), HttpMessage(a, e));
  return RetrySame(a, e);
}

Classification ClassifyCancel(const Answer& a) {
  const long s = a.http_status;
  if (s == 200 || s == 204) return Make(Verdict::kSuccess, ErrorClass::kCancelled, "", "");
  const ErrorAnswer e = ParseErrorAnswer(a.body);
  if (s == 401 || s == 403) return Refused(a, e);
  if (s == 404) return Make(Verdict::kTaskGone, ErrorClass::kUpstreamFailure, HttpCode(s), HttpMessage(a, e));
  return RetrySame(a, e);
}

Classification ClassifyOrganization(const Answer& a) {
  const long s = a.http_status;
  if (s == 200) {
    OrganizationAnswer o = ParseOrganizationAnswer(a.body);
    if (o.ok) return Make(Verdict::kSuccess, ErrorClass::kUpstreamFailure, "", "");
    return Make(Verdict::kRetrySame, ErrorClass::kUpstreamUnavailable, HttpCode(s),
                "HTTP 200 on organization with an unreadable answer (" + o.error + ")");
  }
  const ErrorAnswer e = ParseErrorAnswer(a.body);
  if (s == 401 || s == 403) return Refused(a, e);
  return RetrySame(a, e);
}

// Non-negative integer milliseconds from a decimal number of `unit_ms`; nullopt if not a number.
std::optional<int64_t> DecimalToMs(std::string_view text, double unit_ms) {
  text = Trim(text);
  if (text.empty() || text.size() > 64) return std::nullopt;
  // Only digits, one optional dot, an optional leading sign: no hex, no exponent, no "inf".
  size_t i = (text[0] == '-' || text[0] == '+') ? 1 : 0;
  bool digit = false, dot = false;
  for (size_t j = i; j < text.size(); ++j) {
    const char c = text[j];
    if (c >= '0' && c <= '9') {
      digit = true;
    } else if (c == '.' && !dot) {
      dot = true;
    } else {
      return std::nullopt;
    }
  }
  if (!digit) return std::nullopt;
  const std::string copy(text);
  const double v = std::strtod(copy.c_str(), nullptr) * unit_ms;
  if (!std::isfinite(v) || v <= 0) return int64_t{0};
  if (v >= static_cast<double>(kMaxHintMs)) return kMaxHintMs;
  return static_cast<int64_t>(std::floor(v));
}

}  // namespace

const char* VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kSuccess: return "success";
    case Verdict::kRetrySame: return "retry_same";
    case Verdict::kRetryNewTask: return "retry_new_task";
    case Verdict::kFailJob: return "fail_job";
    case Verdict::kAccountProblem: return "account_problem";
    case Verdict::kOutcomeUnknown: return "outcome_unknown";
    case Verdict::kTaskGone: return "task_gone";
  }
  return "unknown";
}

Classification ClassifyExchange(const Answer& a) {
  if (a.transport != Transport::kAnswered) {
    const std::string message = fmt::format("{} on {}", TransportText(a.transport), PhaseText(a.phase));
    if (a.phase == Phase::kCreate && a.transport != Transport::kNotSent) {
      return Make(Verdict::kOutcomeUnknown, ErrorClass::kOutcomeUnknown, TransportCode(a.transport),
                  message + " (the task may exist)");
    }
    return Make(Verdict::kRetrySame, ErrorClass::kUpstreamUnavailable, TransportCode(a.transport), message);
  }
  switch (a.phase) {
    case Phase::kCreate: return ClassifyCreate(a);
    case Phase::kPoll: return ClassifyPoll(a);
    case Phase::kCancel: return ClassifyCancel(a);
    case Phase::kOrganization: return ClassifyOrganization(a);
  }
  return ClassifyPoll(a);
}

Classification ClassifyTaskFailure(bool succeeded, bool cancelled, std::string_view failure_code,
                                   std::string_view failure_text) {
  if (succeeded) return Make(Verdict::kSuccess, ErrorClass::kUpstreamFailure, "", "");
  const std::string code(failure_code);
  if (cancelled) {
    return Make(Verdict::kFailJob, ErrorClass::kCancelled, code,
                failure_text.empty() ? std::string("task cancelled upstream") : std::string(failure_text));
  }
  const std::string text = failure_text.empty()
                               ? fmt::format("task failed ({})", code.empty() ? "INTERNAL" : code)
                               : std::string(failure_text);
  const std::string_view c = failure_code;
  if (c.empty() || c == "INTERNAL" || c == "INPUT_PREPROCESSING.INTERNAL") {
    return Make(Verdict::kRetryNewTask, ErrorClass::kUpstreamFailure, code, text);
  }
  if (c == "THIRD_PARTY.UNAVAILABLE") {
    return Make(Verdict::kRetryNewTask, ErrorClass::kUpstreamUnavailable, code, text);
  }
  if (c == "SAFETY" || StartsWith(c, "SAFETY.") || c == "INPUT_PREPROCESSING.SAFETY" ||
      StartsWith(c, "INPUT_PREPROCESSING.SAFETY.")) {
    return Make(Verdict::kFailJob, ErrorClass::kModeration, code, text);
  }
  if (c == "ASSET.INVALID") return Make(Verdict::kFailJob, ErrorClass::kInvalidInput, code, text);
  // INTERNAL.BAD_OUTPUT.* ("allowed, unlikely to help": not retried) and anything unknown.
  return Make(Verdict::kFailJob, ErrorClass::kUpstreamFailure, code, text);
}

RetryHints ParseRetryHints(std::string_view x_should_retry, std::string_view retry_after_ms,
                           std::string_view retry_after, int64_t now_unix_s) {
  RetryHints h;
  const std::string_view sr = Trim(x_should_retry);
  if (EqualsNoCase(sr, "true")) h.should_retry = true;
  if (EqualsNoCase(sr, "false")) h.should_retry = false;

  if (auto ms = DecimalToMs(retry_after_ms, 1.0)) {
    h.after_ms = *ms;
    return h;
  }
  if (auto ms = DecimalToMs(retry_after, 1000.0)) {
    h.after_ms = *ms;
    return h;
  }
  const std::string_view date = Trim(retry_after);
  if (!date.empty() && date.size() < 128) {
    const std::string copy(date);
    const time_t t = curl_getdate(copy.c_str(), nullptr);
    if (t != static_cast<time_t>(-1)) {
      const int64_t delta_s = static_cast<int64_t>(t) - now_unix_s;
      h.after_ms = delta_s <= 0 ? 0 : std::min<int64_t>(delta_s, kMaxHintMs / 1000) * 1000;
    }
  }
  return h;
}

int64_t BackoffMs(int attempt, int64_t base_ms, int64_t cap_ms, const RetryHints& hints, double unit_random) {
  if (hints.after_ms) return std::clamp<int64_t>(*hints.after_ms, 0, kMaxHintMs);
  if (base_ms <= 0 || cap_ms <= 0) return 0;
  int64_t d = std::min(base_ms, cap_ms);
  for (int i = 0; i < attempt && d < cap_ms; ++i) d = (d > cap_ms / 2) ? cap_ms : d * 2;
  if (!(unit_random >= 0)) unit_random = 0;  // NaN too
  if (unit_random > 1) unit_random = 1;
  const double factor = 1.0 - 0.5 * unit_random;  // (0.5, 1]
  return static_cast<int64_t>(std::floor(static_cast<double>(d) * factor));
}

}  // namespace runwayd::runway
