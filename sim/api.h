// sim/api.h — runway-sim's HTTP semantics, independent of any HTTP library.
//
// Promises: Handle() maps one complete request (method, path, the two headers that
// matter, body) to one Response, applying auth, the API-version check, chaos, the task
// model and the /_sim test endpoints. Thread-safe: one mutex guards the state, the
// chaos PRNG and the request counters; body parsing and validation happen outside it
// (they are the expensive part and touch no shared data). Never throws for any input:
// unexpected exceptions become a 500.
//
// The server layer only moves bytes: it sends the Response, drops the connection when
// `drop` is set and holds the answer `delay_ms` without blocking other requests.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ledger/pricing.h"
#include "sim/chaos.h"
#include "sim/config.h"
#include "sim/render.h"
#include "sim/state.h"

namespace runwayd::sim {

struct Request {
  std::string_view method;
  std::string_view path;           // without the query string
  const char* authorization = nullptr;  // header value; nullptr when absent
  const char* runway_version = nullptr; // X-Runway-Version; nullptr when absent
  const char* content_type = nullptr;   // Content-Type; nullptr when absent
  std::string_view body;
};

struct Response {
  int status = 200;
  std::string body;  // JSON, empty for 204
  std::vector<std::pair<std::string, std::string>> headers;
  bool drop = false;     // close the connection without answering
  int64_t delay_ms = 0;  // hold the answer this long (real time)
};

class Api {
 public:
  Api(const SimConfig& config, ledger::PriceTable prices, NowFn now);

  Response Handle(const Request& request);
  // One TCP connection accepted (the server's connection-notify callback).
  void CountConnection() { connections_.fetch_add(1, std::memory_order_relaxed); }

  // For tests: the model behind the API (not locked: only when no server runs).
  State& state() { return state_; }

 private:
  Response V1(const Request& request, std::string_view route, bool is_create, bool is_org);
  Response Sim(const Request& request);
  static std::string RouteName(const Request& request, bool* is_create, bool* is_org);

  SimConfig config_;
  std::mutex mu_;
  State state_;
  Chaos chaos_;
  RequestStats stats_;
  std::atomic<int64_t> connections_{0};
};

// A Response with a JSON body (and the content it implies).
Response Json(int status, std::string body);

}  // namespace runwayd::sim
