// sim/chaos.h — deciding, per request, how runway-sim misbehaves.
//
// Promises: Roll() draws from its own seeded PRNG, so a run with a fixed seed and a
// fixed request order misbehaves identically. One plan per request, drawn before the
// request is processed; the plan says whether to answer early (and with what), whether
// to drop the connection before or after processing, whether to spoil a 200 body and
// how long to hold the answer. Not thread-safe: the caller holds the API's mutex.
//
// The early bands (429, 502, 503, 504, reset_before) are mutually exclusive; the late
// bands (reset_after, malformed, truncated) are too; slowness is independent. A 504 on a
// create is split: with probability rate_504_created the task IS created and charged
// and only the answer is a 504 — the one case a client cannot resolve by itself.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#include "sim/config.h"

namespace runwayd::sim {

struct ChaosPlan {
  enum class Body { kIntact, kMalformed, kTruncated };
  int early_status = 0;       // 429/502/503/504: answer this, do not process
  bool reset_before = false;  // drop the connection, do not process
  bool late_504 = false;      // process (a create creates), then answer 504
  bool reset_after = false;   // process, then drop the connection
  Body body = Body::kIntact;  // applied to 200 answers only
  int64_t delay_ms = 0;       // hold the answer this long (real time)
};

class Chaos {
 public:
  Chaos(const ChaosConfig& config, uint64_t seed) : config_(config), rng_(seed ^ 0xC4A05ULL) {}
  void Set(const ChaosConfig& config) { config_ = config; }
  const ChaosConfig& config() const { return config_; }
  // True when chaos may touch this /v1 route (organization is opt-in).
  bool AppliesTo(bool is_organization) const { return !is_organization || config_.organization; }
  ChaosPlan Roll(bool is_create);

 private:
  double Uniform() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }
  ChaosConfig config_;
  std::mt19937_64 rng_;
};

// The body of a spoiled 200: still recognisably the answer, but not valid JSON.
std::string MalformBody(std::string_view body);
std::string TruncateBody(std::string_view body);

// Parses the JSON object POSTed to /_sim/chaos: keys as in [chaos]; absent keys take
// their defaults (the object replaces the whole chaos configuration).
bool ParseChaosJson(std::string_view json, ChaosConfig* out, std::string* error);

}  // namespace runwayd::sim
