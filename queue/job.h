// queue/job.h — the v1 job contract: parse and validate one job, with no I/O.
//
// A job is the JSON text a producer LPUSHes onto <prefix>:jobs (docs/job-format.md).
// ParseJob() is pure: it reads the bytes, checks every rule of the contract and
// fills a Job. It never throws. On failure it still fills what it could read
// (id, charged, user, meta, reply_to) so the daemon can emit a failed result and a
// refund for a job that is wrong but identifiable.
//
// Ownership: Job owns copies of every string; the input buffer may be freed after
// the call. `body` and `meta` are the exact bytes of those JSON values as they came
// (no re-serialisation): the body is forwarded to Runway verbatim.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace runwayd {

// What the daemon's configuration allows; the parser needs nothing else.
struct JobRules {
  std::string prefix = "runway";                  // reply_to must start with "<prefix>:results"
  size_t max_bytes = 256 * 1024;                  // whole job, before parsing
  std::vector<std::string> extra_endpoints;       // allowed beyond the five of the contract
  size_t max_id_len = 128;
  // Reading again a job that was admitted (a record's raw, in Resume: a restart, an
  // adoption, a retry): the size limit and the endpoint list it passed then are not
  // applied again. A reload or a peer's configuration since must not refuse a job
  // whose task may be running, and charged, at Runway.
  bool admitted = false;
  // These rules for reading such a job again.
  JobRules AsAdmitted() const {
    JobRules r = *this;
    r.admitted = true;
    return r;
  }
};

// Facts read from `body` that checks, pricing and logs need. Absent = 0 / empty.
struct BodyFacts {
  std::string model;            // body.model (always present in a valid job)
  double duration_s = 0;        // body.duration when it is a number (may be fractional)
  bool has_duration = false;
  std::string ratio;            // body.ratio when it is a string
  std::optional<bool> audio;    // body.audio when it is a boolean
  int64_t seed = -1;            // body.seed when it is a non-negative integer
  std::vector<std::string> asset_urls;  // every URI the body references (promptImage,
                                        // promptImage[].uri, videoUri, character.uri,
                                        // reference.uri, referenceImages[].uri)
};

struct Job {
  std::string raw;              // the job exactly as taken from Redis
  std::string id;
  std::string endpoint;
  std::string body;             // raw JSON text of "body"
  BodyFacts facts;
  std::optional<int64_t> charged;  // platform credits, >= 0
  std::optional<std::string> user;
  std::string account;             // empty: route
  std::vector<std::string> fallback_models;
  std::optional<int64_t> deadline_s;  // > 0
  std::string reply_to;            // empty: <prefix>:results
  std::string meta;                // raw JSON text of "meta", empty when absent
};

// The outcome of ParseJob. `ok` false means the job is invalid; `error` is one
// line for humans naming the field and the rule (e.g. "id: longer than 128 characters").
struct JobParse {
  bool ok = false;
  std::string error;
};

// The five task-creating endpoints of the contract.
bool IsStandardEndpoint(std::string_view endpoint);

// Parses and validates `raw`. Always fills out->raw. Preconditions: none (any bytes).
JobParse ParseJob(std::string_view raw, const JobRules& rules, Job* out);

}  // namespace runwayd
