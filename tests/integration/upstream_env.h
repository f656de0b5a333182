// tests/integration/upstream_env.h — what the upstream_*_test.cc files share.
//
// Those files prove every branch of the upstream semantics of
// /work/shared/runway-api.md end to end on real processes (redis-server, runway-sim
// over real HTTP or HTTPS, runwayd):
//   upstream_failures_test.cc   task failures retried or not, refusals of the request,
//                               deadlines and operator cancels;
//   upstream_chaos_test.cc      chaos per status on creates (429, 502, 503, 504,
//                               resets, spoiled 200s) and on polls;
//   upstream_transport_test.cc  a 429 slows one account, TLS verification, the
//                               base_url rule, stopping an idle daemon;
// and http_test.cc (connection reuse) starts its daemons and TLS simulator with them.
// The simulator and the daemon run at time scale 0.05: a 20 s task takes 1 s. Every
// wait is condition-based with a generous timeout (2-core CI machines).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "harness.h"
#include "outcomes.h"
#include "sim_view.h"

namespace upstream_env {

using harness::DaemonOptions;
using harness::Process;
using harness::Redis;
using harness::ResultEvent;
using harness::SimOptions;
using harness::Stack;
using harness::CountInLog;  // in harness.h: the logs, and Fetch for a simulator of the test's own
using harness::Fetch;
using harness::WaitLog;

// A second simulated account's key (a public test value, like harness::kTestKey).
extern const char* kSecondKey;

constexpr int64_t kBalance = 1000000;  // SimOptions' default balance
constexpr int64_t kCharged = 26;       // platform credits of every test job
constexpr int64_t kCost = 25;          // gen4_turbo, 5 s: what the simulator takes

// The one result of job `id` (fails the test when there is not exactly one).
ResultEvent ResultOf(Redis& r, const std::string& id);
bool WaitResult(Redis& r, const std::string& id, std::chrono::milliseconds t = std::chrono::seconds(30));
// Account events of `type` on runway:events (about job `job` when given).
int CountEvents(Redis& r, const std::string& type, const std::string& job = "");

// A gen4_turbo image_to_video job, 5 s (25 credits upstream), charged kCharged.
// `prompt` carries the simulator's hooks; `extra` adds job fields (",\"deadline_s\":1").
std::string Job(const std::string& id, int64_t seed, const std::string& prompt = "a calm sea sim:secs=2",
                const std::string& extra = "", int64_t charged = kCharged);
// A job with the given `body` object, verbatim.
std::string JobWithBody(const std::string& id, const std::string& body, int64_t charged = kCharged);

// runwayd with a configuration written by the test (Stack::StartDaemon fixes [upstream]).
struct DaemonSpec {
  std::string id = "d1";
  std::string base_url;        // default: http://127.0.0.1:<the stack's sim>
  std::string upstream;        // more lines of [upstream]
  std::string accounts;        // more [[account]] tables after "main"
  std::string extra;           // more tables ([jobs], [ledger], ...)
  int64_t grace_ms = 2000;     // daemon.shutdown_grace_ms
  std::map<std::string, std::string> env;
};

// Starts runwayd `d.id` with its log in <dir>/<id>.log; does not wait for it.
std::unique_ptr<Process> StartOwnDaemon(Stack& s, const DaemonSpec& d);

// runway-sim started by the test itself (TLS, or a fixed port to restart on; port 0
// picks one and reports it in `port_out`). Its log is <dir>/sim.log so that
// Stack::Logs() shows it.
std::unique_ptr<Process> StartOwnSim(Stack& s, int port, const std::string& cert = "", const std::string& key = "",
                                     int* port_out = nullptr);
// A self-signed certificate for localhost and 127.0.0.1 in `dir`.
bool MakeCert(const std::string& dir, std::string* cert, std::string* key);
// runway-sim over HTTPS with a fresh self-signed certificate, on a free port.
struct TlsSim {
  std::unique_ptr<Process> proc;
  std::string cert;      // the certificate's file, for ca_file and Fetch
  std::string base_url;  // https://127.0.0.1:<port>
};
// Starts one; false (and the test has a failure saying why) if it did not start.
bool StartTlsSim(Stack& s, TlsSim* out);

// Redis + runway-sim (harness) + runwayd (harness, or the test's own configuration).
struct Env {
  Stack s;
  std::unique_ptr<Process> own;
  explicit Env(const std::string& name, const SimOptions& so = {});
  bool StartDaemon(const DaemonOptions& d = {});
  bool StartOwn(const DaemonSpec& d);
  Redis& r() { return s.redis(); }
};

}  // namespace upstream_env
