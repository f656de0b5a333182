// tests/integration/upstream_env.cc — see upstream_env.h.
#include "upstream_env.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <vector>

namespace upstream_env {

using namespace harness;
using namespace std::chrono_literals;

const char* kSecondKey =
    "key_fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
    "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

ResultEvent ResultOf(Redis& r, const std::string& id) {
  std::vector<ResultEvent> all = ResultsFor(r, id);
  EXPECT_EQ(all.size(), 1u) << "results for job " << id;
  return all.empty() ? ResultEvent{} : all.back();
}

bool WaitResult(Redis& r, const std::string& id, std::chrono::milliseconds t) {
  const std::string needle = "\"id\":\"" + id + "\"";
  return WaitFor([&] {
    for (const auto& s : r.List("runway:results"))
      if (s.find(needle) != std::string::npos) return true;
    return false;
  }, t);
}

int CountEvents(Redis& r, const std::string& type, const std::string& job) {
  int n = 0;
  simdjson::dom::parser p;
  for (const auto& s : r.List("runway:events")) {
    simdjson::dom::element e;
    std::string_view t, j;
    if (p.parse(s).get(e) || e["type"].get_string().get(t)) {
      ADD_FAILURE() << "bad event: " << s;
      continue;
    }
    if (t != type) continue;
    if (!job.empty() && (e["job"].get_string().get(j) || j != job)) continue;
    ++n;
  }
  return n;
}

std::string Job(const std::string& id, int64_t seed, const std::string& prompt, const std::string& extra,
                int64_t charged) {
  return MakeJob(id, "image_to_video", "gen4_turbo", 5, charged, seed, prompt, extra);
}

std::string JobWithBody(const std::string& id, const std::string& body, int64_t charged) {
  return "{\"v\":1,\"id\":\"" + id + "\",\"endpoint\":\"image_to_video\",\"body\":" + body +
         ",\"charged\":" + std::to_string(charged) + ",\"user\":\"u_" + id + "\"}";
}

namespace {

std::string DaemonConfigPath(Stack& s, const DaemonSpec& d) {
  std::ostringstream t;
  t << "[daemon]\nid = \"" << d.id << "\"\ntime_scale = 0.05\nshutdown_grace_ms = " << d.grace_ms
    << "\nheartbeat_ttl_ms = 2000\n"
    << "[redis]\nurl = \"redis://127.0.0.1:" << s.redis_port() << "\"\nprefix = \"runway\"\n"
    << "[metrics]\nlisten = \"127.0.0.1:0\"\n"  // a free port: tests run side by side
    << "[upstream]\nbase_url = \""
    << (d.base_url.empty() ? "http://127.0.0.1:" + std::to_string(s.sim_port()) : d.base_url) << "\"\n"
    << d.upstream << "\n"
    << "[[account]]\nname = \"main\"\nkey_env = \"RUNWAY_TEST_KEY\"\n"
    << d.accounts << "\n" << d.extra << "\n";
  std::string path = s.dir() + "/" + d.id + ".toml";
  WriteFile(path, t.str());
  return path;
}

}  // namespace

std::unique_ptr<Process> StartOwnDaemon(Stack& s, const DaemonSpec& d) {
  std::string cfg = DaemonConfigPath(s, d);
  std::map<std::string, std::string> env = d.env;
  env["RUNWAY_TEST_KEY"] = kTestKey;
  return std::make_unique<Process>(std::vector<std::string>{Bin("runwayd"), "--config", cfg}, env,
                                   s.dir() + "/" + d.id + ".log");
}

std::unique_ptr<Process> StartOwnSim(Stack& s, int port, const std::string& cert, const std::string& key,
                                     int* port_out) {
  std::ostringstream t;
  t << "time_scale = 0.05\nseed = 7\n[[account]]\nname = \"main\"\nkey = \"" << kTestKey << "\"\nbalance = "
    << kBalance << "\n";
  WriteFile(s.dir() + "/own-sim.toml", t.str());
  std::string port_file = s.dir() + "/own-sim.port";
  std::remove(port_file.c_str());
  std::vector<std::string> argv = {Bin("runway-sim"), "--config", s.dir() + "/own-sim.toml", "--port",
                                   std::to_string(port), "--port-file", port_file};
  if (!cert.empty()) argv.insert(argv.end(), {"--tls-cert", cert, "--tls-key", key});
  auto p = std::make_unique<Process>(argv, std::map<std::string, std::string>{}, s.dir() + "/sim.log");
  if (!WaitFor([&] { return !ReadFile(port_file).empty(); }, 10s)) {
    ADD_FAILURE() << "runway-sim did not start: " << ReadFile(s.dir() + "/sim.log");
    return p;
  }
  if (port_out) *port_out = std::stoi(ReadFile(port_file));
  return p;
}

bool MakeCert(const std::string& dir, std::string* cert, std::string* key) {
  *cert = dir + "/sim-cert.pem";
  *key = dir + "/sim-key.pem";
  std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost "
                    "-addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' -keyout '" + *key + "' -out '" + *cert +
                    "' >'" + dir + "/openssl.log' 2>&1";
  return std::system(cmd.c_str()) == 0;
}

bool StartTlsSim(Stack& s, TlsSim* out) {
  std::string key;
  if (!MakeCert(s.dir(), &out->cert, &key)) {
    ADD_FAILURE() << "openssl: " << ReadFile(s.dir() + "/openssl.log");
    return false;
  }
  int port = 0;
  out->proc = StartOwnSim(s, 0, out->cert, key, &port);
  out->base_url = "https://127.0.0.1:" + std::to_string(port);
  return port > 0;
}

Env::Env(const std::string& name, const SimOptions& so) : s(name) {
  s.StartRedis();
  s.StartSim(so);
}

bool Env::StartDaemon(const DaemonOptions& d) {
  s.StartDaemon(d);
  return s.WaitReady(0);
}

bool Env::StartOwn(const DaemonSpec& d) {
  own = StartOwnDaemon(s, d);
  return WaitLog(own->log_path(), "ready: taking jobs");
}

}  // namespace upstream_env
