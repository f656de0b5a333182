// queue/events.h — JSON encoding of everything runwayd writes to Redis, with no I/O.
//
// Every event is built with rapidjson's Writer: strings are escaped by the library
// (quotes, backslashes, control characters; non-ASCII UTF-8 passes through, invalid
// UTF-8 is replaced rather than emitted). Raw JSON fragments (`meta`) are inserted
// as they came, and only when they are non-empty; an absent meta encodes as {}.
// Times are Unix milliseconds in, RFC 3339 UTC with milliseconds out
// ("2026-11-27T22:40:00.123Z"); 0 encodes as null.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace runwayd {

// `s` itself when it is valid UTF-8, else a copy in *scratch with `replacement` (U+FFFD
// unless said otherwise) in place of every maximal ill-formed subsequence. Every string
// handed to a rapidjson Writer goes through it (the Writer does not check), here and in
// runwayctl, so what is written is valid JSON and valid UTF-8 whatever bytes came in.
std::string_view ValidUtf8(std::string_view s, std::string* scratch, std::string_view replacement = "\xEF\xBF\xBD");

// The error classes of the contract.
enum class ErrorClass {
  kInvalidJob,
  kInvalidInput,
  kModeration,
  kUpstreamFailure,
  kUpstreamInsufficientCredits,
  kUpstreamUnavailable,
  kAccountUnusable,
  kDeadlineExceeded,
  kOutcomeUnknown,
  kCancelled,
};
const char* ErrorClassName(ErrorClass c);
std::optional<ErrorClass> ErrorClassFromName(std::string_view name);

struct ResultEvent {
  std::string_view id;
  std::string_view status;        // "succeeded", "failed" or "cancelled"
  std::string_view task_id;       // empty: null
  std::string_view account;       // empty: null
  std::string_view endpoint;
  std::string_view model;         // the model actually used
  std::vector<std::string> output;  // succeeded only
  std::optional<int64_t> cost_estimated;
  std::optional<int64_t> cost_upstream;
  int attempts = 0;
  int64_t taken_at_ms = 0, submitted_at_ms = 0, finished_at_ms = 0;
  std::optional<std::string_view> user;
  std::string_view meta;          // raw JSON or empty
  // Failures only (status != "succeeded"):
  ErrorClass error_class = ErrorClass::kUpstreamFailure;
  std::string_view error_code;    // empty: null
  std::string_view error_message;
  std::optional<int64_t> refund_credits;  // nullopt: "refund": null
  // Optional annotations:
  bool replayed = false;          // "replayed": true when set
  std::string_view duplicate_of;  // non-empty: "duplicate_of": "<id>"
};
std::string EncodeResult(const ResultEvent& e);

struct RefundEvent {
  std::string_view id;            // refund_id is the job id
  std::optional<std::string_view> user;
  int64_t credits = 0;
  ErrorClass reason = ErrorClass::kUpstreamFailure;
  std::string_view meta;
};
std::string EncodeRefund(const RefundEvent& e);

// A <prefix>:dead entry. `job` is the raw job text, stored as a JSON string so any
// bytes survive and scripts/replay can push it back unchanged.
struct DeadEntry {
  std::string_view job;
  std::string_view id;            // empty: null (unreadable)
  std::string_view reason;
  ErrorClass error_class = ErrorClass::kInvalidJob;
  int attempts = 0;
  int64_t taken_at_ms = 0;
  int64_t dead_at_ms = 0;
};
std::string EncodeDead(const DeadEntry& e);

// Account events on <prefix>:events: {"v":1,"type":..,"account":..,"at":..,<fields>}.
// Integer fields only (credits are integers); strings in `text_fields`.
struct AccountEvent {
  std::string_view type;          // low_balance, balance_reconciled, account_disabled, outcome_unknown
  std::string_view account;
  int64_t at_ms = 0;
  std::vector<std::pair<std::string_view, int64_t>> int_fields;
  std::vector<std::pair<std::string_view, std::string_view>> text_fields;
};
std::string EncodeAccountEvent(const AccountEvent& e);

// RFC 3339 UTC with milliseconds, e.g. "2026-11-27T22:40:00.123Z".
std::string FormatTimeMs(int64_t unix_ms);

}  // namespace runwayd
