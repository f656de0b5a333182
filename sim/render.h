// sim/render.h — every JSON document runway-sim sends, written with rapidjson::Writer.
//
// Promises: output is always valid JSON (strings escaped by the writer, non-finite
// numbers written as 0) in the shapes of /work/shared/runway-api.md for /v1 answers and
// of the report in the brief for /_sim answers. Pure functions over the state: the
// caller holds the lock and has already advanced the state to "now".
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "sim/state.h"
#include "sim/validate.h"

namespace runwayd::sim {

// Request-level counters kept by the API layer (not the task model).
struct RequestStats {
  std::map<std::string, int64_t, std::less<>> requests;   // "POST /v1/image_to_video" -> n
  std::map<std::string, int64_t, std::less<>> responses;  // "200" -> n, "reset" -> n
  // "POST /v1/image_to_video application/json" -> n: the Content-Type each route was
  // sent with (tests check creates say JSON and polls, which have no body, say nothing);
  // at most 64 keys, the header being the client's
  std::map<std::string, int64_t, std::less<>> content_types;
  int64_t connections = 0;
};

std::string ErrorJson(std::string_view message);
std::string ValidationJson(const Validation& v);
std::string CreatedJson(const Task& t);
std::string TaskJson(const State& s, const Task& t, Status status, int64_t now_us);
std::string OrganizationJson(const State& s, uint32_t account);
std::string BalanceJson(const State& s, uint32_t account);
std::string StatsJson(const State& s, const RequestStats& r);
std::string TasksJson(const State& s);

// "2024-06-26T14:31:59.123Z" for a Unix time in microseconds.
std::string Iso8601(int64_t unix_us);

}  // namespace runwayd::sim
