// daemon/metrics_server.h — the operations HTTP endpoint: /metrics, /healthz, /readyz.
//
// A libmicrohttpd daemon with its own internal polling thread, bound to one address
// (default 127.0.0.1:9464; port 0 = any free port, read back with port()):
//
//   GET /metrics  200, text/plain; version=0.0.4 — Registry::Render()
//   GET /healthz  200 "ok" while Health::heartbeat_ms is fresher than
//                 heartbeat_max_age_ms; else 503 saying how old it is
//   GET /readyz   200 "ok" while Health::ready is true (and the loop is alive);
//                 else 503 with the daemon's one-line reason
//
// Anything else is 404 (405 for a method other than GET or HEAD). Before each /metrics
// render the server sets two gauges it registered itself: runwayd_ready (1 when /readyz
// would answer 200) and runwayd_heartbeat_age_seconds, so an alert sees a stuck loop
// even though every other gauge is only set by the loop.
//
// Threads: Health's setters are for the loop thread, its getters and every request run
// on libmicrohttpd's thread. Start() and Stop() are for the loop thread; Stop() joins
// libmicrohttpd's thread (a request being answered finishes first), so call it at
// shutdown before the Registry or Health go away. Nothing thrown crosses a
// libmicrohttpd callback: a failing request gets a 500 or a closed connection.
//
// Secrets: the server only serves what the registry holds, and runwayd never puts a
// key in a label; it reads no request body and logs no request.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "daemon/metrics.h"

struct MHD_Daemon;

namespace runwayd::metrics {

// std::chrono::steady_clock in ms: CLOCK_MONOTONIC, the clock uv_now() also follows.
int64_t MonotonicMs();

// What the daemon tells the endpoint. Owned by the daemon; outlives the server.
class Health {
 public:
  // Last loop tick, MonotonicMs(). 0 = never: /healthz answers 503 until the first Beat().
  std::atomic<int64_t> heartbeat_ms{0};
  // Redis reachable and at least one usable account.
  std::atomic<bool> ready{false};

  void Beat() { heartbeat_ms.store(MonotonicMs(), std::memory_order_relaxed); }
  void SetReady() { ready.store(true, std::memory_order_release); }
  // `reason`: one line for /readyz (newlines become spaces, cut at 200 bytes).
  void SetNotReady(std::string reason);
  std::string reason() const;

 private:
  mutable std::mutex mu_;
  std::string reason_ = "starting";
};

struct MetricsServerOptions {
  std::string address = "127.0.0.1";  // an IPv4 or IPv6 literal
  uint16_t port = 9464;               // 0: any free port
  int64_t heartbeat_max_age_ms = 5000;
};

// "127.0.0.1:9464", "[::1]:9464", "0.0.0.0:0". False with a one-line *error otherwise.
bool ParseListenAddress(const std::string& text, MetricsServerOptions* out, std::string* error);

class MetricsServer {
 public:
  // Neither is owned; both must outlive Stop().
  MetricsServer(Registry* registry, Health* health, MetricsServerOptions options = {});
  ~MetricsServer();  // Stop()
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Binds and starts the thread. False with a one-line *error (address in use, ...).
  bool Start(std::string* error);
  void Stop();
  uint16_t port() const { return port_; }  // the bound port after Start()

  // One request, without sockets: {status, content type, body}. Runs on MHD's thread.
  struct Reply {
    unsigned status;
    const char* content_type;
    std::string body;
  };
  Reply Handle(std::string_view method, std::string_view url);

 private:
  Registry* registry_;
  Health* health_;
  MetricsServerOptions options_;
  Gauge* ready_gauge_;
  Gauge* heartbeat_age_gauge_;
  MHD_Daemon* daemon_ = nullptr;
  uint16_t port_ = 0;
};

}  // namespace runwayd::metrics
