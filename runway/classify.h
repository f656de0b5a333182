// runway/classify.h — what every answer from Runway means for a job, with no I/O.
//
// One table decides, from (phase, transport outcome, HTTP status, body, task
// failureCode), what the daemon does next. Keeping it pure lets the unit tests go
// through it row by row (tests/unit/classify_test.cc), and keeps money rules in one
// place: a create is sent again only when it was certainly refused (connection
// failed before the request was sent, 429, 502, 503 and other 4xx refusals); a create
// whose fate is unknown (timeout, reset after sending, 504, other 5xx, an unreadable
// 200) is never replayed blindly: it is kOutcomeUnknown.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "queue/events.h"  // ErrorClass

namespace runwayd::runway {

enum class Phase { kCreate, kPoll, kCancel, kOrganization };

// What the transport saw. The HTTP engine maps curl codes onto this.
enum class Transport {
  kAnswered,       // an HTTP status line was read
  kNotSent,        // the request certainly never reached the server (connect/resolve/TLS failed)
  kSentNoAnswer,   // the request was (or may have been) sent, then reset / empty reply / recv error
  kTimeout,        // the request timed out after it may have been sent
};

enum class Verdict {
  kSuccess,         // use the answer
  kRetrySame,       // send the same request again after a backoff
  kRetryNewTask,    // the task failed in a way a new task may fix (counts an attempt)
  kFailJob,         // permanent failure of the job: error_class says which
  kAccountProblem,  // the account, not the job: see `account`
  kOutcomeUnknown,  // a create may or may not have created (and charged) a task
  kTaskGone,        // 404 on a task: deleted (ours or not); never proof of a cancellation
};
const char* VerdictName(Verdict v);

enum class AccountIssue { kNone, kInsufficientCredits, kUnauthorized, kDailyLimit };

struct Classification {
  Verdict verdict = Verdict::kFailJob;
  ErrorClass error_class = ErrorClass::kUpstreamFailure;  // meaningful for failures
  AccountIssue account = AccountIssue::kNone;
  bool slow_account = false;  // a rate-limit 429: slow this account down, not the daemon
  std::string code;           // the task's failureCode, or "http_<status>"/transport name
  std::string message;        // one line for the result, never containing a secret
};

struct Answer {
  Phase phase = Phase::kPoll;
  Transport transport = Transport::kAnswered;
  long http_status = 0;
  std::string_view body;
  // Poll: the id asked about. A 200 about another task is not this task's state (a
  // proxy or cache mixing answers up): it is retried, never used. Empty: not checked.
  std::string_view task_id = {};
};

// Classifies an HTTP exchange. For a poll answered 200 with a readable task this
// returns kSuccess: the task's own status is classified by ClassifyTask().
Classification ClassifyExchange(const Answer& a);

// Classifies a terminal task (SUCCEEDED, FAILED or CANCELLED) by its failureCode.
// SUCCEEDED -> kSuccess. FAILED: INTERNAL (or empty), INPUT_PREPROCESSING.INTERNAL,
// THIRD_PARTY.UNAVAILABLE -> kRetryNewTask; SAFETY.* and INPUT_PREPROCESSING.SAFETY.* ->
// kFailJob/moderation; ASSET.INVALID -> kFailJob/invalid_input; anything else ->
// kFailJob/upstream_failure. CANCELLED (not by us) -> kFailJob/cancelled.
Classification ClassifyTaskFailure(bool succeeded, bool cancelled, std::string_view failure_code,
                                   std::string_view failure_text);

// Retry hints read from response headers (values as sent; missing = empty).
struct RetryHints {
  std::optional<bool> should_retry;    // x-should-retry
  std::optional<int64_t> after_ms;     // retry-after-ms, else Retry-After (seconds or HTTP date)
};
// `now_unix_s` is used to turn an HTTP date into a delay.
RetryHints ParseRetryHints(std::string_view x_should_retry, std::string_view retry_after_ms,
                           std::string_view retry_after, int64_t now_unix_s);

// Exponential backoff with up to 50% jitter: base * 2^attempt capped at cap, then
// reduced by a random factor in [0.5, 1] drawn from `unit_random` (in [0,1)).
// A server hint (after_ms) wins when present, and is never shortened by jitter.
int64_t BackoffMs(int attempt, int64_t base_ms, int64_t cap_ms, const RetryHints& hints,
                  double unit_random);

}  // namespace runwayd::runway
