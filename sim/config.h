// sim/config.h — runway-sim's configuration: one TOML file, every key optional.
//
// Promises: LoadConfig() never throws; on any problem (unreadable file, TOML syntax,
// a key of the wrong type or out of range, an unknown key) it returns false and a
// one-line message naming the key, so main can print it and exit 2. Unknown keys are
// errors rather than ignored because a typo in a chaos rate would otherwise silently
// run a benchmark without the chaos it was meant to have.
//
// Durations in this file are *simulated* seconds; time_scale converts them to real
// time (real = simulated * time_scale). slow_ms is real milliseconds: it models
// network slowness as seen by the client, not simulated work.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace runwayd::sim {

// Per-(account, model) limits; nullopt = unlimited (Runway's `null`).
struct ModelLimits {
  std::optional<int64_t> max_concurrent;
  std::optional<int64_t> max_daily;
};

struct AccountConfig {
  std::string name;
  std::string key;                          // the Bearer key
  int64_t balance = 5000;                   // credits
  std::optional<int64_t> max_monthly_spend; // reported in /v1/organization (not enforced)
  std::map<std::string, ModelLimits, std::less<>> limits;
};

struct ModelTiming {
  double duration_s = 20.0;  // mean simulated run time
  double jitter_s = 10.0;    // uniform +/- around the mean
};

struct TaskConfig {
  double pending_s = 1.0;
  ModelTiming timing;                                         // defaults for every model
  std::map<std::string, ModelTiming, std::less<>> models;     // per-model overrides
  double failure_rate = 0.0;
  std::vector<std::string> failure_codes = {"INTERNAL"};
  double update_s = 5.0;  // progress is quantised to this many simulated seconds
};

// Fractions of /v1 requests that misbehave. The bands 429/502/503/504/reset_before
// are mutually exclusive (their sum must be <= 1); the others are rolled separately.
struct ChaosConfig {
  double rate_429 = 0;
  double rate_502 = 0;
  double rate_503 = 0;
  double rate_504 = 0;
  double rate_504_created = 0.5;  // of the 504s on a create: the task was created
  double reset_before = 0;
  double reset_after = 0;
  double slow_rate = 0;
  int64_t slow_ms = 2000;
  double malformed_rate = 0;
  double truncated_rate = 0;
  bool organization = false;  // apply chaos to /v1/organization too
  int64_t retry_after_s = 1;  // the Retry-After (seconds) of a chaos 429
};

struct SimConfig {
  double time_scale = 1.0;
  uint64_t seed = 1;
  std::vector<AccountConfig> accounts;
  TaskConfig task;
  ChaosConfig chaos;
  // Accepted X-Runway-Version values.
  std::vector<std::string> api_versions = {"2024-11-06"};
};

// The config used when no account is configured: one account "main" with a fixed
// test key, so `runway-sim --config /dev/null` is usable by hand.
inline constexpr std::string_view kDefaultKey =
    "key_00000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000";

// Parses TOML text (`source` names it in messages). False + *error on failure.
bool ParseConfig(std::string_view toml_text, std::string_view source, SimConfig* out,
                 std::string* error);
// Reads and parses a file.
bool LoadConfig(const std::string& path, SimConfig* out, std::string* error);

// Checks the cross-field rules of chaos rates (each in [0,1], exclusive bands sum <= 1).
bool ValidateChaos(const ChaosConfig& c, std::string* error);

}  // namespace runwayd::sim
