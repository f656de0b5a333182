// fuzz/answer_fuzz.cc — libFuzzer target for Runway's response parsers and the
// classification table (runway/answer.h, runway/classify.h).
//
// Any bytes are a response body. Every parser gets them, and ClassifyExchange sees
// them under every phase, a spread of HTTP statuses and every transport outcome,
// as the daemon would after any answer from the network. The target checks the
// invariants the daemon relies on:
//   - no parser crashes, leaks or reads past the body (ASan, UBSan, LSan);
//   - `ok` agrees with `error`; an accepted create or task has a non-empty id, a
//     SUCCEEDED task has an output URL, progress is in [0,1], costs are >= 0;
//   - every error text, summary and classification message is one line of valid
//     UTF-8 and short enough for a result event (they go into results and logs);
//   - the money rule: on a create, kRetrySame (send it again) only when the request
//     certainly was not acted on (not sent, or 403/408/409/429/502/503), kSuccess only
//     for a 200/201/202 whose create answer parses; unreadable, it is outcome_unknown;
//   - classification is a pure function: the same exchange gives the same verdict;
//   - retry hints read from the same bytes stay within [0, 1 h], and backoff within
//     its cap (or the hint).
//
// Build and run: configure with CC=clang CXX=clang++ -DRUNWAYD_FUZZ=ON (see the top
// CMakeLists.txt) and `cmake --build <dir> --target answer_fuzz`, then scripts/fuzz.
#include <simdjson.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "runway/answer.h"
#include "runway/classify.h"

namespace {

using namespace runwayd::runway;

[[noreturn]] void Fail(const char* what, std::string_view detail) {
  std::fprintf(stderr, "answer_fuzz invariant broken: %s: %.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

// One line of valid UTF-8, at most `max` bytes, no control characters.
void OneLine(std::string_view s, size_t max, const char* what) {
  if (s.size() > max) Fail(what, s);
  if (!simdjson::validate_utf8(s.data(), s.size())) Fail(what, s);
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) Fail(what, s);
  }
}

void CheckCreate(const CreateAnswer& a) {
  if (a.ok != a.error.empty()) Fail("create: ok disagrees with error", a.error);
  if (a.ok && a.id.empty()) Fail("create: accepted without an id", a.error);
  if (!a.ok && !a.id.empty()) Fail("create: refused but kept an id", a.id);
  if (a.estimated_credits && *a.estimated_credits < 0) Fail("create: negative estimate", a.id);
  if (!simdjson::validate_utf8(a.id.data(), a.id.size())) Fail("create: id not UTF-8", a.id);
  OneLine(a.error, 400, "create: error");
}

void CheckTask(const TaskAnswer& a) {
  if (a.ok != a.error.empty()) Fail("task: ok disagrees with error", a.error);
  OneLine(a.error, 400, "task: error");
  if (!a.ok) return;
  if (a.id.empty()) Fail("task: accepted without an id", a.error);
  if (a.status == TaskStatus::kSucceeded && a.output.empty()) Fail("task: SUCCEEDED without output", a.id);
  if (a.progress && !(*a.progress >= 0.0 && *a.progress <= 1.0)) Fail("task: progress out of [0,1]", a.id);
  if (a.cost_credits && *a.cost_credits < 0) Fail("task: negative cost", a.id);
  if (a.estimated_credits && *a.estimated_credits < 0) Fail("task: negative estimate", a.id);
  for (const auto& u : a.output) {
    if (u.empty()) Fail("task: empty output URL", a.id);
  }
  // The task's failure must classify like the daemon would; SAFETY is never retried.
  const bool succeeded = a.status == TaskStatus::kSucceeded, cancelled = a.status == TaskStatus::kCancelled;
  if (a.status == TaskStatus::kFailed || succeeded || cancelled) {
    Classification c = ClassifyTaskFailure(succeeded, cancelled, a.failure_code, a.failure);
    OneLine(c.message, 300, "task failure: message");
    if (succeeded != (c.verdict == Verdict::kSuccess)) Fail("task failure: success mismatch", a.id);
    const std::string_view code = a.failure_code;
    if (c.verdict == Verdict::kRetryNewTask &&
        (code.find("SAFETY") != std::string_view::npos || code == "ASSET.INVALID" || cancelled))
      Fail("task failure: a moderation/asset/cancel failure would be retried", code);
  }
}

void CheckError(const ErrorAnswer& a, std::string_view body) {
  if (a.ok) {
    OneLine(a.summary, 300, "error: summary");
  } else {
    if (!a.error.empty()) Fail("error: unreadable but has an error text", a.error);
    // "unreadable body: " + a printable ASCII excerpt of at most 120 bytes.
    if (a.summary.rfind("unreadable body: ", 0) != 0) Fail("error: summary prefix", a.summary);
    OneLine(a.summary, 17 + 120, "error: unreadable summary");
    for (unsigned char c : a.summary) {
      if (c > 0x7e) Fail("error: excerpt not ASCII", a.summary);
    }
  }
  (void)body;
}

void CheckOrganization(const OrganizationAnswer& a) {
  if (a.ok != a.error.empty()) Fail("organization: ok disagrees with error", a.error);
  // The error may name a model key (any JSON string): only ClassifyExchange's one-line
  // message reaches a result or a log, so it is checked there.
  if (!simdjson::validate_utf8(a.error.data(), a.error.size())) Fail("organization: error not UTF-8", a.error);
  if (a.ok && a.credit_balance < -9000000000000000000LL) Fail("organization: balance out of range", a.error);
}

bool Same(const Classification& x, const Classification& y) {
  return x.verdict == y.verdict && x.error_class == y.error_class && x.account == y.account &&
         x.slow_account == y.slow_account && x.code == y.code && x.message == y.message;
}

// Statuses with distinct rows in the table, plus nonsense ones. Each input is
// classified as a 200 and under two of these, picked from its size and last byte (so
// mutations move a body across every row without classifying it 60 times).
constexpr long kStatuses[] = {201, 202, 204, 302, 400, 401, 403, 404, 408, 409, 422, 429, 500, 502, 503, 504, 599, 0, 700};
constexpr size_t kNumStatuses = sizeof kStatuses / sizeof kStatuses[0];

void CheckClassify(std::string_view body, bool create_ok, bool task_ok, bool org_ok) {
  for (Phase phase : {Phase::kCreate, Phase::kPoll, Phase::kCancel, Phase::kOrganization}) {
    for (Transport tr : {Transport::kNotSent, Transport::kSentNoAnswer, Transport::kTimeout}) {
      Classification c = ClassifyExchange({phase, tr, 0, body});
      OneLine(c.message, 300, "classify transport: message");
      if (phase == Phase::kCreate && tr != Transport::kNotSent && c.verdict != Verdict::kOutcomeUnknown)
        Fail("classify: a create that may have been sent is not outcome_unknown", c.message);
      if (c.verdict == Verdict::kSuccess) Fail("classify: success without an answer", c.message);
    }
    const size_t pick = body.size() + (body.empty() ? 0 : static_cast<unsigned char>(body.back()));
    for (long status : {200L, kStatuses[pick % kNumStatuses], kStatuses[(pick / kNumStatuses + 7) % kNumStatuses]}) {
      const Answer a{phase, Transport::kAnswered, status, body};
      Classification c = ClassifyExchange(a);
      OneLine(c.message, 300, "classify: message");
      if (!simdjson::validate_utf8(c.code.data(), c.code.size())) Fail("classify: code not UTF-8", c.code);
      if (c.verdict == Verdict::kRetryNewTask) Fail("classify: an exchange asked for a new task", c.message);
      if (status == 200 && !Same(c, ClassifyExchange(a))) Fail("classify: not deterministic", c.message);
      if (phase == Phase::kCreate) {
        const bool refusal =
            status == 403 || status == 408 || status == 409 || status == 429 || status == 502 || status == 503;
        if (c.verdict == Verdict::kRetrySame && !refusal)
          Fail("classify: a create that may exist would be sent again", c.message);
        const bool created = status >= 200 && status <= 202;
        if (c.verdict == Verdict::kSuccess && !(created && create_ok))
          Fail("classify: create success without a readable 200/201/202", c.message);
        if (created && !create_ok && c.verdict != Verdict::kOutcomeUnknown)
          Fail("classify: unreadable 200/201/202 on create is not outcome_unknown", c.message);
        if (c.verdict == Verdict::kSuccess && !c.message.empty()) Fail("classify: success with a message", c.message);
      }
      if (phase == Phase::kPoll && c.verdict == Verdict::kSuccess && !(status == 200 && task_ok))
        Fail("classify: poll success without a readable task", c.message);
      if (phase == Phase::kOrganization && c.verdict == Verdict::kSuccess && !(status == 200 && org_ok))
        Fail("classify: organization success without a readable answer", c.message);
      if (c.verdict == Verdict::kAccountProblem && c.account == AccountIssue::kNone)
        Fail("classify: account problem without an issue", c.message);
    }
  }
}

// The same bytes, cut at the first two newlines, as x-should-retry / retry-after-ms /
// Retry-After header values.
void CheckHints(std::string_view data) {
  size_t a = data.find('\n');
  std::string_view h1 = data.substr(0, a), rest = a == std::string_view::npos ? "" : data.substr(a + 1);
  size_t b = rest.find('\n');
  std::string_view h2 = rest.substr(0, b), h3 = b == std::string_view::npos ? "" : rest.substr(b + 1);
  if (h3.size() > 256) h3 = h3.substr(0, 256);
  RetryHints hints = ParseRetryHints(h1, h2, h3, 1795819200);
  if (hints.after_ms && (*hints.after_ms < 0 || *hints.after_ms > 3600 * 1000)) Fail("hints: out of range", h2);
  const double unit = data.empty() ? 0.5 : static_cast<unsigned char>(data[0]) / 256.0;
  for (int attempt : {0, 1, 5, 40, 1000}) {
    const int64_t d = BackoffMs(attempt, 200, 5000, hints, unit);
    if (hints.after_ms ? d != *hints.after_ms : (d < 0 || d > 5000)) Fail("backoff: out of range", h1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const CreateAnswer create = ParseCreateAnswer(body);
  CheckCreate(create);
  const TaskAnswer task = ParseTaskAnswer(body);
  CheckTask(task);
  CheckError(ParseErrorAnswer(body), body);
  const OrganizationAnswer org = ParseOrganizationAnswer(body);
  CheckOrganization(org);
  CheckClassify(body, create.ok, task.ok, org.ok);
  CheckHints(body);
  return 0;
}
