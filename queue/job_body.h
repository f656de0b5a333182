// queue/job_body.h — reading a job's `body`: the second pass of ParseJob for that field.
// Internal to queue/job.cc and queue/job_body.cc: not part of queue/'s API (job.h is).
//
// The body goes to Runway as it is written; runwayd reads from it only the facts its
// checks and prices need (model, duration, ratio, audio, seed, asset URIs), with the
// types Runway expects, and keeps the exact bytes. Pure: no I/O, no global state.
#pragma once

#include <simdjson.h>

#include <string>

#include "queue/job.h"

namespace runwayd::job_parse {

// Reads the value `v` of the job's "body" field from `doc` (the document ParseJob
// iterates, which the scan proved valid): its facts into *facts, its exact bytes into
// *body. A rule it breaks is recorded in *first_error unless that holds one already.
// Returns a simdjson error only for a document the scan should have refused.
simdjson::error_code ReadBody(simdjson::ondemand::document* doc, simdjson::ondemand::value& v, std::string* body,
                              BodyFacts* facts, std::string* first_error);

}  // namespace runwayd::job_parse
