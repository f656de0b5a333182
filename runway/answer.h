// runway/answer.h — parsing Runway's response bodies, with no I/O.
//
// Every parser takes the body bytes exactly as received (possibly truncated,
// malformed or not JSON at all) and never throws: a body that does not match
// the reference (../shared/runway-api.md) yields ok=false with a one-line reason.
// Results own their strings.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace runwayd::runway {

enum class TaskStatus { kPending, kThrottled, kRunning, kSucceeded, kFailed, kCancelled, kUnknown };
const char* TaskStatusName(TaskStatus s);
inline bool IsTerminal(TaskStatus s) {
  return s == TaskStatus::kSucceeded || s == TaskStatus::kFailed || s == TaskStatus::kCancelled;
}

// 200 answer to a create: {"id": "...", "estimatedCost": {"credits": N}?}
struct CreateAnswer {
  bool ok = false;
  std::string error;                  // when !ok
  std::string id;
  std::optional<int64_t> estimated_credits;
};
CreateAnswer ParseCreateAnswer(std::string_view body);

// 200 answer to GET /v1/tasks/{id}.
struct TaskAnswer {
  bool ok = false;
  std::string error;
  std::string id;
  TaskStatus status = TaskStatus::kUnknown;
  std::optional<double> progress;     // RUNNING, 0..1
  std::vector<std::string> output;    // SUCCEEDED
  std::optional<int64_t> cost_credits;       // terminal
  std::optional<int64_t> estimated_credits;  // non-terminal
  std::string failure;                // FAILED, human text
  std::string failure_code;           // FAILED; empty when absent or null (means INTERNAL)
};
TaskAnswer ParseTaskAnswer(std::string_view body);

// Error body: {"error": "...", "issues": [{code, message, path, keys}]?}.
// `summary` joins the error text and the issues into one line for results.
struct ErrorAnswer {
  bool ok = false;                    // false: not an error JSON (summary holds a safe excerpt)
  std::string error;
  std::string summary;
};
ErrorAnswer ParseErrorAnswer(std::string_view body);

// GET /v1/organization.
struct ModelLimits {
  std::optional<int64_t> max_concurrent;  // nullopt: unlimited
  std::optional<int64_t> max_daily;
};
struct OrganizationAnswer {
  bool ok = false;
  std::string error;
  int64_t credit_balance = 0;
  std::optional<int64_t> max_monthly_spend;
  std::map<std::string, ModelLimits> limits;        // tier.models
  std::map<std::string, int64_t> daily_generations; // usage.models.*.dailyGenerations
};
OrganizationAnswer ParseOrganizationAnswer(std::string_view body);

}  // namespace runwayd::runway
