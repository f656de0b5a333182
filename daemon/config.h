// daemon/config.h — runwayd's configuration: a TOML file plus command-line overrides.
//
// LoadConfig() reads and validates everything before anything starts: a bad value or
// a missing key is one line naming the key, and the daemon exits with code 2. API
// keys are read here (from key_env or key_file) and live only in Account::key; no
// error message ever includes them. docs/configuration.md lists every key.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ledger/pricing.h"
#include "queue/redis.h"
#include "runway/checks.h"
#include "runway/http.h"
#include "runway/poll_policy.h"

namespace runwayd {

struct AccountConfig {
  std::string name;
  std::string key;               // secret: never logged
  std::string key_source;        // "env RUNWAY_KEY_MAIN" / "file /run/...": safe to log
  int64_t low_balance = 0;       // credits; 0 = no threshold
  int priority = 0;              // higher first
  // Overrides of the tier's per-model limits (absent: Runway's figure).
  struct Limits {
    std::optional<int64_t> max_concurrent, max_daily;
  };
  std::map<std::string, Limits> limits;
};

struct Config {
  std::string daemon_id;         // stable across restarts: its processing list is recovered
  std::string redis_url = "redis://127.0.0.1:6379";
  RedisEndpoint redis;
  std::string prefix = "runway";
  std::string base_url = "https://api.dev.runwayml.com";
  std::string api_version = "2024-11-06";
  runway::HttpOptions http;
  runway::CheckRules checks;
  runway::PollConfig poll;
  double poll_rps_per_account = 1000;  // poll budget: GETs per second per account (booked slots, FIFO)
  std::vector<std::string> extra_endpoints;
  std::vector<AccountConfig> accounts;
  ledger::PriceTable prices = ledger::PriceTable::Defaults();

  // Jobs.
  size_t max_job_bytes = 256 * 1024;
  int64_t default_deadline_s = 1800;
  int max_attempts = 3;             // tasks per job (retry with a new task)
  int max_create_retries = 6;       // resends of a create that was certainly refused (also for the account)
  int64_t retry_base_ms = 2000;     // backoff base for new-task retries and refused creates
  int64_t retry_cap_ms = 60000;
  size_t max_in_flight = 100000;    // jobs held by this daemon
  int intake_batch = 256;           // jobs taken per round trip
  int64_t dedup_window_s = 86400;
  bool resubmit_unknown = false;    // "resubmit": prefer a possible double charge to a refund
  std::vector<std::string> no_refund_classes;  // error classes that get no refund
  int64_t shutdown_grace_ms = 2000;
  int64_t heartbeat_ttl_ms = 10000; // a daemon silent this long is dead: others adopt its jobs
  double time_scale = 1.0;          // tests: scales daemon-side waits (simulator time scale)
  int64_t reconcile_interval_s = 60; // read GET /v1/organization this often per account
  int64_t credit_wait_s = 600;       // a job no account can pay waits this long for a top-up

  std::string metrics_listen = "127.0.0.1:9464";  // "" or "off": no endpoint

  std::string log_level = "info";
  std::string log_format = "text";
};

struct CliOverrides {
  std::string config_path;
  std::optional<std::string> redis_url, prefix, base_url, log_level, log_format, daemon_id, metrics_listen;
};

// Fills *out or returns false with a one-line *error (never containing a secret).
bool LoadConfig(const CliOverrides& cli, Config* out, std::string* error);

// True for http(s) URLs runwayd may talk to: https://, or http:// to 127.0.0.0/8.
bool BaseUrlAllowed(const std::string& url, std::string* error);

}  // namespace runwayd
