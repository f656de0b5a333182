// tests/integration/http_test.cc — the HTTP engine's connection reuse, measured by
// the simulator: thousands of requests must travel over a handful of kept-alive
// connections (at most max_host_connections at a time), in plain HTTP and over TLS,
// where every new connection costs a handshake.
#include <gtest/gtest.h>

#include <map>

#include "upstream_env.h"

using namespace harness;
using namespace upstream_env;
using namespace std::chrono_literals;

namespace {

// status -> count over runway:results.
std::map<std::string, int> StatusCounts(Redis& r) {
  std::map<std::string, int> out;
  for (const auto& x : ReadResults(r)) {
    EXPECT_FALSE(x.status.empty()) << "result without a status: " << x.id;
    ++out[x.status];
  }
  return out;
}

// runwayd with [upstream] lines of our own (Stack::StartDaemon fixes that table).
std::unique_ptr<Process> StartDaemonWithUpstream(Stack& s, const std::string& base_url, const std::string& upstream) {
  DaemonSpec d;
  d.base_url = base_url;
  d.upstream = upstream;
  return StartOwnDaemon(s, d);
}

bool WaitReadyLog(Process& p) { return WaitLog(p.log_path(), "ready: taking jobs"); }

void PushJobs(Redis& r, int n, int64_t seed_base) {
  for (int i = 0; i < n; ++i)
    r.Push("runway:jobs", MakeJob("c" + std::to_string(i), "image_to_video", "gen4_turbo", 5, 26, seed_base + i,
                                  "a calm sea sim:secs=2"));
}

}  // namespace

// 1,000 jobs (1,000 creates and at least as many polls) with max_host_connections = 8:
// the simulator counts every TCP connection it accepted; the daemon's must stay near 8.
TEST(Http, ThousandJobsReuseAFewConnections) {
  Stack s("reuse");
  s.StartRedis();
  s.StartSim();
  auto daemon = StartDaemonWithUpstream(s, "http://127.0.0.1:" + std::to_string(s.sim_port()),
                                        "max_host_connections = 8\n");
  ASSERT_TRUE(WaitReadyLog(*daemon)) << s.Logs();
  const int n = 1000;
  PushJobs(s.redis(), n, 100000);
  // Only Redis is watched while the jobs run: no test request adds a connection.
  ASSERT_TRUE(WaitFor([&] { return s.redis().Int({"LLEN", "runway:results"}) >= n; }, 120s)) << s.Logs();
  SimStats st = SimStatsOf(s);  // this request is one connection
  auto counts = StatusCounts(s.redis());
  EXPECT_EQ(counts["succeeded"], n) << s.Logs();
  EXPECT_EQ(st.Req("POST /v1/image_to_video"), n);
  EXPECT_GE(st.Req("GET /v1/tasks"), n);
  EXPECT_EQ(st.duplicate_seeds, 0);
  int64_t daemon_connections = st.connections - 1;
  EXPECT_LE(daemon_connections, 16) << "the daemon opened " << daemon_connections << " connections for "
                                    << st.Req("POST /v1/image_to_video") + st.Req("GET /v1/tasks") << " requests";
  EXPECT_GE(daemon_connections, 1);
}

// The same over TLS (max_host_connections = 4): handshakes are not repeated per request.
TEST(Http, TlsConnectionsAreReused) {
  Stack s("reuse-tls");
  s.StartRedis();
  TlsSim sim;
  ASSERT_TRUE(StartTlsSim(s, &sim)) << s.Logs();
  const std::string& base = sim.base_url;
  const std::string& cert = sim.cert;
  auto daemon = StartDaemonWithUpstream(s, base, "max_host_connections = 4\nca_file = \"" + cert + "\"\n");
  ASSERT_TRUE(WaitReadyLog(*daemon)) << s.Logs();
  const int n = 300;
  PushJobs(s.redis(), n, 200000);
  ASSERT_TRUE(WaitFor([&] { return s.redis().Int({"LLEN", "runway:results"}) >= n; }, 120s)) << s.Logs();
  std::string body;
  ASSERT_TRUE(Fetch(base + "/_sim/stats", &body, cert));
  SimStats st = ReadSimStats(body);
  EXPECT_EQ(StatusCounts(s.redis())["succeeded"], n) << s.Logs();
  EXPECT_EQ(st.Req("POST /v1/image_to_video"), n);
  int64_t daemon_connections = st.connections - 1;
  EXPECT_LE(daemon_connections, 8) << "the daemon opened " << daemon_connections << " TLS connections for "
                                   << st.Req("POST /v1/image_to_video") + st.Req("GET /v1/tasks") << " requests";
}
