// tests/integration/outcomes.h — the daemon's result and refund events, read back
// from Redis for assertions. One parser for every test: each field is optional in
// the reading (a missing one keeps its default), so a test checks what it cares
// about and a malformed event is reported, never skipped silently.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "harness.h"

namespace harness {

// One result event (docs/job-format.md), flattened.
struct ResultEvent {
  std::string id, status, task_id, account, model, duplicate_of;
  std::string error_class, error_code, error_message;  // error.*; '' when absent
  bool error_code_null = true;                         // error.code is null or absent
  std::string taken_at, finished_at;                   // timings.*
  int64_t attempts = 0;
  int64_t refund = -1;  // refund.credits; -1: null
  bool replayed = false, has_output = false;
};

// The events on `key`, oldest first. An entry that is not JSON is reported: to `bad`
// when given, as a test failure otherwise.
std::vector<ResultEvent> ReadResults(Redis& r, const std::string& key = "runway:results",
                                     std::vector<std::string>* bad = nullptr);

// The results of job `id` on `key`, oldest first (several when a job was replayed, or
// when a test catches a duplicate).
std::vector<ResultEvent> ResultsFor(Redis& r, const std::string& id, const std::string& key = "runway:results");

struct RefundEvent {
  std::string refund_id;
  int64_t credits = 0;
};

// The refund events on `key`, oldest first; malformed ones reported as above.
std::vector<RefundEvent> ReadRefunds(Redis& r, const std::string& key = "runway:refunds",
                                     std::vector<std::string>* bad = nullptr);

// refund id -> credits; a refund emitted twice for one id fails the test.
std::map<std::string, int64_t> RefundsById(Redis& r, const std::string& key = "runway:refunds");

}  // namespace harness
