// tests/integration/http_test.cc — the HTTP engine's connection reuse, measured by
// the simulator: thousands of requests must travel over a handful of kept-alive
// connections (at most max_host_connections at a time), in plain HTTP and over TLS,
// where every new connection costs a handshake.
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <map>
#include <sstream>

#include "harness.h"
#include "outcomes.h"

using namespace harness;
using namespace std::chrono_literals;

namespace {

struct HttpStats {
  int64_t connections = -1, posts = 0, gets = 0, tasks_created = 0, duplicate_seeds = -1;
};

HttpStats ParseHttpStats(const std::string& body) {
  HttpStats st;
  simdjson::dom::parser p;
  simdjson::dom::element e;
  if (p.parse(body).get(e)) {
    ADD_FAILURE() << "bad /_sim/stats: " << body.substr(0, 200);
    return st;
  }
  if (e["connections"].get_int64().get(st.connections)) {}
  if (e["requests"]["POST /v1/image_to_video"].get_int64().get(st.posts)) {}
  if (e["requests"]["GET /v1/tasks"].get_int64().get(st.gets)) {}
  if (e["tasks_created"].get_int64().get(st.tasks_created)) {}
  if (e["duplicate_seeds"].get_int64().get(st.duplicate_seeds)) {}
  return st;
}

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
  std::ostringstream t;
  t << "[daemon]\nid = \"d1\"\ntime_scale = 0.05\nshutdown_grace_ms = 2000\nheartbeat_ttl_ms = 2000\n"
    << "[redis]\nurl = \"redis://127.0.0.1:" << s.redis_port() << "\"\nprefix = \"runway\"\n"
    << "[metrics]\nlisten = \"127.0.0.1:0\"\n"  // a free port: tests run side by side
    << "[upstream]\nbase_url = \"" << base_url << "\"\n" << upstream << "\n"
    << "[[account]]\nname = \"main\"\nkey_env = \"RUNWAY_TEST_KEY\"\n";
  std::string cfg = s.dir() + "/d1.toml";
  WriteFile(cfg, t.str());
  return std::make_unique<Process>(std::vector<std::string>{Bin("runwayd"), "--config", cfg},
                                   std::map<std::string, std::string>{{"RUNWAY_TEST_KEY", kTestKey}},
                                   s.dir() + "/d1.log");
}

bool WaitReadyLog(Process& p) {
  return WaitFor([&] { return ReadFile(p.log_path()).find("ready: taking jobs") != std::string::npos; }, 10s);
}

void PushJobs(Redis& r, int n, int64_t seed_base) {
  for (int i = 0; i < n; ++i)
    r.Push("runway:jobs", MakeJob("c" + std::to_string(i), "image_to_video", "gen4_turbo", 5, 26, seed_base + i,
                                  "a calm sea sim:secs=2"));
}

size_t Collect(char* p, size_t sz, size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, sz * n);
  return sz * n;
}

bool HttpsGet(const std::string& url, const std::string& ca, std::string* out) {
  CURL* e = curl_easy_init();
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
  curl_easy_setopt(e, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(e, CURLOPT_CAINFO, ca.c_str());
  CURLcode rc = curl_easy_perform(e);
  curl_easy_cleanup(e);
  return rc == CURLE_OK;
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
  HttpStats st = ParseHttpStats(s.SimGet("/_sim/stats"));  // this request is one connection
  auto counts = StatusCounts(s.redis());
  EXPECT_EQ(counts["succeeded"], n) << s.Logs();
  EXPECT_EQ(st.posts, n);
  EXPECT_GE(st.gets, n);
  EXPECT_EQ(st.duplicate_seeds, 0);
  int64_t daemon_connections = st.connections - 1;
  EXPECT_LE(daemon_connections, 16) << "the daemon opened " << daemon_connections << " connections for "
                                    << st.posts + st.gets << " requests";
  EXPECT_GE(daemon_connections, 1);
}

// The same over TLS (max_host_connections = 4): handshakes are not repeated per request.
TEST(Http, TlsConnectionsAreReused) {
  Stack s("reuse-tls");
  s.StartRedis();
  std::string cert = s.dir() + "/cert.pem", key = s.dir() + "/key.pem";
  ASSERT_EQ(std::system(("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost "
                         "-addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' -keyout '" + key + "' -out '" + cert +
                         "' >/dev/null 2>&1").c_str()),
            0);
  std::ostringstream t;
  t << "time_scale = 0.05\nseed = 7\n[[account]]\nname = \"main\"\nkey = \"" << kTestKey << "\"\nbalance = 1000000\n";
  WriteFile(s.dir() + "/tls-sim.toml", t.str());
  std::string port_file = s.dir() + "/tls-sim.port";
  Process sim({Bin("runway-sim"), "--config", s.dir() + "/tls-sim.toml", "--port-file", port_file, "--tls-cert", cert,
               "--tls-key", key},
              {}, s.dir() + "/sim.log");
  ASSERT_TRUE(WaitFor([&] { return !ReadFile(port_file).empty(); }, 10s)) << s.Logs();
  std::string base = "https://127.0.0.1:" + std::to_string(std::stoi(ReadFile(port_file)));
  auto daemon = StartDaemonWithUpstream(s, base, "max_host_connections = 4\nca_file = \"" + cert + "\"\n");
  ASSERT_TRUE(WaitReadyLog(*daemon)) << s.Logs();
  const int n = 300;
  PushJobs(s.redis(), n, 200000);
  ASSERT_TRUE(WaitFor([&] { return s.redis().Int({"LLEN", "runway:results"}) >= n; }, 120s)) << s.Logs();
  std::string body;
  ASSERT_TRUE(HttpsGet(base + "/_sim/stats", cert, &body));
  HttpStats st = ParseHttpStats(body);
  EXPECT_EQ(StatusCounts(s.redis())["succeeded"], n) << s.Logs();
  EXPECT_EQ(st.posts, n);
  int64_t daemon_connections = st.connections - 1;
  EXPECT_LE(daemon_connections, 8) << "the daemon opened " << daemon_connections << " TLS connections for "
                                   << st.posts + st.gets << " requests";
}
