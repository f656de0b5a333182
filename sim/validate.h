// sim/validate.h — runway-sim's check of a task-creating request body.
//
// Promises: ValidateCreate() is pure (no I/O, no state) and never throws. For a valid
// body it fills the BodyFacts pricing needs and the promptText (test hooks live there);
// for an invalid one it returns what Runway returns: an `error` line and, for schema
// problems, zod-style `issues` (code, path, message, and keys/options where Runway
// gives them). Rules follow /work/shared/runway-api.md: the model must belong to the
// endpoint (checked first, like Runway's discriminated union, and alone), then every
// other problem is collected — unknown keys at any object level, types, durations and
// ratios per model, asset URLs (HTTPS, a domain name, at most 2048 characters; data
// URIs at most 5 MB).
//
// Simulator-only: an asset URL whose host ends in ".invalid" (a reserved TLD) fails
// with "Failed to fetch asset. Received HTTP response code \"404\"." so tests can reach
// Runway's fetch failure without a network.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "queue/job.h"

namespace runwayd::sim {

struct PathElem {
  std::string key;      // object key, when index < 0
  int64_t index = -1;   // array index, when >= 0
};

struct Issue {
  std::string code;                  // zod code: invalid_type, unrecognized_keys, ...
  std::vector<PathElem> path;
  std::string message;
  std::vector<std::string> keys;     // unrecognized_keys only
  std::vector<std::string> options;  // invalid_enum_value / invalid_union_discriminator
  std::string expected, received;    // invalid_type only
};

struct Validation {
  bool ok = false;
  std::string error;          // the top-level "error" text when !ok
  std::vector<Issue> issues;  // may be empty (e.g. a body that is not JSON)
  BodyFacts facts;
  std::string prompt_text;    // body.promptText, "" when absent
};

// The five task-creating endpoints runway-sim serves, without the "/v1/" prefix.
bool IsCreateEndpoint(std::string_view endpoint);

// Validates `body` (raw JSON bytes) for `endpoint` (e.g. "image_to_video").
Validation ValidateCreate(std::string_view endpoint, std::string_view body);

// The checks on one asset URI, exposed for tests. "" when acceptable, else Runway's
// message. `video` selects the data URI media type expected.
std::string CheckAssetUri(std::string_view uri, bool video);

}  // namespace runwayd::sim
