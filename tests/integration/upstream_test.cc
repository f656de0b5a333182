// tests/integration/upstream_test.cc — every branch of the upstream semantics of
// /work/shared/runway-api.md, end to end on real processes (redis-server, runway-sim
// over real HTTP or HTTPS, runwayd):
//   * task failures: retried as new tasks (INTERNAL, THIRD_PARTY.UNAVAILABLE,
//     INPUT_PREPROCESSING.INTERNAL, null) or not (SAFETY.*, ASSET.INVALID);
//   * request refusals: a 400 with issues, and the daemon's own checks;
//   * chaos per status on creates (429, 502, 503, 504, resets, spoiled 200s) and on polls;
//   * deadlines and operator cancels (DELETE upstream, refund, credits returned);
//   * a 429 slows one account, not the daemon;
//   * TLS verification and the base_url rule.
// The simulator and the daemon both run at time scale 0.05: a 20 s task takes 1 s.
// Every wait is condition-based with a generous timeout (2-core CI machines).
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "harness.h"
#include "outcomes.h"

using namespace harness;
using namespace std::chrono_literals;

namespace {

// A second simulated account's key (a public test value, like harness::kTestKey).
const char* kSecondKey =
    "key_fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
    "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

constexpr int64_t kBalance = 1000000;  // SimOptions' default balance
constexpr int64_t kCharged = 26;       // platform credits of every test job
constexpr int64_t kCost = 25;          // gen4_turbo, 5 s: what the simulator takes

// ---- results, refunds, events -------------------------------------------------

// The one result of job `id` (fails the test when there is not exactly one).
ResultEvent ResultOf(Redis& r, const std::string& id) {
  ResultEvent found;
  int n = 0;
  for (const auto& x : ReadResults(r))
    if (x.id == id) found = x, ++n;
  EXPECT_EQ(n, 1) << "results for job " << id;
  return found;
}

bool HasResult(Redis& r, const std::string& id) {
  for (const auto& s : r.List("runway:results"))
    if (s.find("\"id\":\"" + id + "\"") != std::string::npos) return true;
  return false;
}

bool WaitResult(Redis& r, const std::string& id, std::chrono::milliseconds t = 30s) {
  return WaitFor([&] { return HasResult(r, id); }, t);
}

// Account events of `type` (about job `job` when given).
int CountEvents(Redis& r, const std::string& type, const std::string& job = "") {
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

// ---- the simulator's view ------------------------------------------------------

struct SimStats {
  bool ok = false;
  std::map<std::string, int64_t> requests, responses;
  std::map<int64_t, int64_t> creations;           // seed -> tasks created
  std::map<std::string, int64_t> balance, created;  // per account
  int64_t connections = 0, tasks_created = 0, duplicate_seeds = 0;
  int64_t Req(const std::string& k) const { auto it = requests.find(k); return it == requests.end() ? 0 : it->second; }
  int64_t Resp(const std::string& k) const { auto it = responses.find(k); return it == responses.end() ? 0 : it->second; }
  int64_t Made(int64_t seed) const { auto it = creations.find(seed); return it == creations.end() ? 0 : it->second; }
};

SimStats ParseStats(const std::string& body) {
  SimStats st;
  simdjson::dom::parser p;
  simdjson::dom::element e;
  if (p.parse(body).get(e)) {
    ADD_FAILURE() << "bad /_sim/stats: " << body.substr(0, 200);
    return st;
  }
  for (auto [name, m] : {std::pair{"requests", &st.requests}, std::pair{"responses", &st.responses}}) {
    simdjson::dom::object o;
    if (e[name].get_object().get(o)) continue;
    for (auto kv : o) m->emplace(std::string(kv.key), kv.value.get_int64().value_unsafe());
  }
  simdjson::dom::object seeds, accounts;
  if (!e["creations_by_seed"].get_object().get(seeds))
    for (auto kv : seeds) st.creations[std::stoll(std::string(kv.key))] = kv.value.get_int64().value_unsafe();
  if (!e["accounts"].get_object().get(accounts))
    for (auto kv : accounts) {
      st.balance[std::string(kv.key)] = kv.value["balance"].get_int64().value_unsafe();
      st.created[std::string(kv.key)] = kv.value["created"].get_int64().value_unsafe();
    }
  if (e["connections"].get_int64().get(st.connections)) {}
  if (e["tasks_created"].get_int64().get(st.tasks_created)) {}
  if (e["duplicate_seeds"].get_int64().get(st.duplicate_seeds)) {}
  st.ok = true;
  return st;
}

SimStats Stats(Stack& s) { return ParseStats(s.SimGet("/_sim/stats")); }

struct SimTask {
  std::string id, account, status;
  int64_t seed = -1, created_ms = 0, cost = -1;
  bool deleted = false;
};

std::vector<SimTask> ParseTasks(const std::string& body) {
  std::vector<SimTask> out;
  simdjson::dom::parser p;
  simdjson::dom::array arr;
  if (p.parse(body).get(arr)) {
    ADD_FAILURE() << "bad /_sim/tasks: " << body.substr(0, 200);
    return out;
  }
  for (simdjson::dom::element t : arr) {
    SimTask x;
    x.id = std::string(t["id"].get_string().value_unsafe());
    x.account = std::string(t["account"].get_string().value_unsafe());
    x.status = std::string(t["status"].get_string().value_unsafe());
    if (t["seed"].get_int64().get(x.seed)) {}
    x.created_ms = t["created_ms"].get_int64().value_unsafe();
    if (t["cost"].get_int64().get(x.cost)) {}
    x.deleted = t["deleted"].get_bool().value_unsafe();
    out.push_back(x);
  }
  return out;
}

std::vector<SimTask> Tasks(Stack& s) { return ParseTasks(s.SimGet("/_sim/tasks")); }

void SetChaos(Stack& s, const std::string& json) {
  std::string answer = s.SimPost("/_sim/chaos", json);
  ASSERT_TRUE(answer.empty()) << "POST /_sim/chaos " << json << ": " << answer;
}

// Waits until the simulator's counter `key` (requests or responses) reaches n.
bool WaitCounter(Stack& s, bool responses, const std::string& key, int64_t n, std::chrono::milliseconds t = 20s) {
  return WaitFor([&] {
    SimStats st = Stats(s);
    return (responses ? st.Resp(key) : st.Req(key)) >= n;
  }, t);
}

// ---- jobs ---------------------------------------------------------------------

// A gen4_turbo image_to_video job, 5 s (25 credits upstream), charged kCharged.
// `prompt` carries the simulator's hooks; `extra` adds job fields (",\"deadline_s\":1").
std::string Job(const std::string& id, int64_t seed, const std::string& prompt = "a calm sea sim:secs=2",
                const std::string& extra = "", int64_t charged = kCharged) {
  return MakeJob(id, "image_to_video", "gen4_turbo", 5, charged, seed, prompt, extra);
}

std::string JobWithBody(const std::string& id, const std::string& body, int64_t charged = kCharged) {
  return "{\"v\":1,\"id\":\"" + id + "\",\"endpoint\":\"image_to_video\",\"body\":" + body +
         ",\"charged\":" + std::to_string(charged) + ",\"user\":\"u_" + id + "\"}";
}

// ---- processes this file starts itself -----------------------------------------

// runwayd with a configuration written here (Stack::StartDaemon fixes [upstream]).
struct DaemonSpec {
  std::string id = "d1";
  std::string base_url;        // default: http://127.0.0.1:<the stack's sim>
  std::string upstream;        // more lines of [upstream]
  std::string accounts;        // more [[account]] tables after "main"
  std::string extra;           // more tables ([jobs], [ledger], ...)
  int64_t grace_ms = 2000;     // daemon.shutdown_grace_ms
  std::map<std::string, std::string> env;
};

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

std::unique_ptr<Process> StartOwnDaemon(Stack& s, const DaemonSpec& d) {
  std::string cfg = DaemonConfigPath(s, d);
  std::map<std::string, std::string> env = d.env;
  env["RUNWAY_TEST_KEY"] = kTestKey;
  return std::make_unique<Process>(std::vector<std::string>{Bin("runwayd"), "--config", cfg}, env,
                                   s.dir() + "/" + d.id + ".log");
}

bool WaitLog(const std::string& path, const std::string& needle, std::chrono::milliseconds t = 10s) {
  return WaitFor([&] { return ReadFile(path).find(needle) != std::string::npos; }, t);
}

size_t CountInLog(const std::string& path, const std::string& needle) {
  std::string text = ReadFile(path);
  size_t n = 0;
  for (size_t pos = 0; (pos = text.find(needle, pos)) != std::string::npos; pos += needle.size()) ++n;
  return n;
}

// runway-sim started by this file (TLS, or a fixed port to restart on). Its log is
// <dir>/sim.log so that Stack::Logs() shows it.
std::unique_ptr<Process> StartOwnSim(Stack& s, int port, const std::string& cert = "", const std::string& key = "",
                                     int* port_out = nullptr) {
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

size_t Collect(char* p, size_t sz, size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, sz * n);
  return sz * n;
}

// GET (or POST) an URL; `ca` verifies a private certificate. Returns false on a
// transport error.
bool Fetch(const std::string& url, std::string* out, const std::string& ca = "", const std::string* body = nullptr) {
  CURL* e = curl_easy_init();
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
  curl_easy_setopt(e, CURLOPT_TIMEOUT, 30L);
  if (!ca.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, ca.c_str());
  if (body) curl_easy_setopt(e, CURLOPT_POSTFIELDS, body->c_str());
  CURLcode rc = curl_easy_perform(e);
  curl_easy_cleanup(e);
  return rc == CURLE_OK;
}

// ---- fixtures ------------------------------------------------------------------

// Redis + runway-sim (harness) + runwayd (harness, or own config when `spec` is given).
struct Env {
  Stack s;
  std::unique_ptr<Process> own;
  explicit Env(const std::string& name, const SimOptions& so = {}) : s(name) {
    s.StartRedis();
    s.StartSim(so);
  }
  bool StartDaemon(const DaemonOptions& d = {}) {
    s.StartDaemon(d);
    return s.WaitReady(0);
  }
  bool StartOwn(const DaemonSpec& d) {
    own = StartOwnDaemon(s, d);
    return WaitLog(own->log_path(), "ready: taking jobs");
  }
  Redis& r() { return s.redis(); }
};

}  // namespace

// =============================================================================
// Task failures
// =============================================================================

struct RetriedCase {
  const char* hook;   // sim:fail=<hook>
  const char* cls;    // the result's error class
  const char* name;   // test name suffix
};

class UpstreamRetriedTaskFailure : public ::testing::TestWithParam<RetriedCase> {};

// A task failure a new task may fix is retried as a new task, max_attempts (3) times
// in all, then the job fails with a refund; every attempt is one task upstream.
TEST_P(UpstreamRetriedTaskFailure, RetriedAsNewTasksUpToMaxAttemptsThenRefunded) {
  const RetriedCase& c = GetParam();
  Env e("retried");
  ASSERT_TRUE(e.StartDaemon()) << e.s.Logs();
  e.r().Push("runway:jobs", Job("f1", 301, std::string("x sim:fail=") + c.hook + " sim:secs=2"));
  ASSERT_TRUE(WaitResult(e.r(), "f1")) << e.s.Logs();
  ResultEvent r = ResultOf(e.r(), "f1");
  EXPECT_EQ(r.status, "failed");
  EXPECT_EQ(r.error_class, c.cls) << r.error_message;
  EXPECT_EQ(r.attempts, 3);
  EXPECT_EQ(r.refund, kCharged);
  if (std::string(c.hook) == "none") {
    EXPECT_TRUE(r.error_code_null) << r.error_code;
  } else {
    EXPECT_EQ(r.error_code, c.hook);
  }
  std::this_thread::sleep_for(300ms);  // nothing more may be created
  SimStats st = Stats(e.s);
  EXPECT_EQ(st.Made(301), 3);
  EXPECT_EQ(st.Made(301), r.attempts);
  EXPECT_EQ(RefundsById(e.r()), (std::map<std::string, int64_t>{{"f1", kCharged}}));
  // None of these failures is charged: Runway gave every credit back.
  EXPECT_EQ(st.balance["main"], kBalance);
}

INSTANTIATE_TEST_SUITE_P(Upstream, UpstreamRetriedTaskFailure,
                         ::testing::Values(RetriedCase{"INTERNAL", "upstream_failure", "INTERNAL"},
                                           RetriedCase{"THIRD_PARTY.UNAVAILABLE", "upstream_unavailable",
                                                       "THIRD_PARTY_UNAVAILABLE"},
                                           RetriedCase{"INPUT_PREPROCESSING.INTERNAL", "upstream_failure",
                                                       "INPUT_PREPROCESSING_INTERNAL"},
                                           RetriedCase{"none", "upstream_failure", "null_failureCode"}),
                         [](const ::testing::TestParamInfo<RetriedCase>& i) { return std::string(i.param.name); });

TEST(Upstream, MaxAttemptsIsConfigurable) {
  Env e("maxattempts");
  DaemonOptions d;
  d.extra_toml = "[jobs]\nmax_attempts = 2\n";
  ASSERT_TRUE(e.StartDaemon(d)) << e.s.Logs();
  e.r().Push("runway:jobs", Job("m1", 311, "x sim:fail=INTERNAL sim:secs=2"));
  ASSERT_TRUE(WaitResult(e.r(), "m1")) << e.s.Logs();
  ResultEvent r = ResultOf(e.r(), "m1");
  EXPECT_EQ(r.error_class, "upstream_failure");
  EXPECT_EQ(r.attempts, 2);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(Stats(e.s).Made(311), 2);
}

struct FinalCase {
  const char* hook;
  const char* cls;
  bool charged_upstream;  // Runway keeps the credits (moderation) or gives them back
  const char* name;
};

class UpstreamFinalTaskFailure : public ::testing::TestWithParam<FinalCase> {};

// Moderation and invalid assets are never retried: one task, a refund to the user.
TEST_P(UpstreamFinalTaskFailure, NeverRetriedAndRefunded) {
  const FinalCase& c = GetParam();
  Env e("final");
  ASSERT_TRUE(e.StartDaemon()) << e.s.Logs();
  e.r().Push("runway:jobs", Job("n1", 321, std::string("x sim:fail=") + c.hook + " sim:secs=2"));
  ASSERT_TRUE(WaitResult(e.r(), "n1")) << e.s.Logs();
  ResultEvent r = ResultOf(e.r(), "n1");
  EXPECT_EQ(r.status, "failed");
  EXPECT_EQ(r.error_class, c.cls) << r.error_message;
  EXPECT_EQ(r.error_code, c.hook);
  EXPECT_EQ(r.attempts, 1);
  EXPECT_EQ(r.refund, kCharged);
  std::this_thread::sleep_for(500ms);  // a retry would have been created by now
  SimStats st = Stats(e.s);
  EXPECT_EQ(st.Made(321), 1);
  EXPECT_EQ(RefundsById(e.r()), (std::map<std::string, int64_t>{{"n1", kCharged}}));
  EXPECT_EQ(st.balance["main"], c.charged_upstream ? kBalance - kCost : kBalance);
}

INSTANTIATE_TEST_SUITE_P(Upstream, UpstreamFinalTaskFailure,
                         ::testing::Values(FinalCase{"SAFETY.INPUT.TEXT", "moderation", true, "SAFETY_INPUT_TEXT"},
                                           FinalCase{"ASSET.INVALID", "invalid_input", false, "ASSET_INVALID"}),
                         [](const ::testing::TestParamInfo<FinalCase>& i) { return std::string(i.param.name); });

// =============================================================================
// Refusals of the request itself
// =============================================================================

// An unknown body key passes the daemon's checks, reaches Runway and is a 400 with
// issues: the job fails invalid_input naming the key, once, with a refund.
TEST(Upstream, Validation400FailsInvalidInputWithTheIssueAndNoRetry) {
  Env e("v400");
  ASSERT_TRUE(e.StartDaemon()) << e.s.Logs();
  e.r().Push("runway:jobs",
             JobWithBody("v1", R"({"model":"gen4_turbo","promptText":"a calm sea","seed":401,)"
                               R"("promptImage":"https://cdn.example.com/a.jpg","ratio":"1280:720","duration":5,)"
                               R"("foo":1})"));
  ASSERT_TRUE(WaitResult(e.r(), "v1")) << e.s.Logs();
  ResultEvent r = ResultOf(e.r(), "v1");
  EXPECT_EQ(r.status, "failed");
  EXPECT_EQ(r.error_class, "invalid_input");
  EXPECT_EQ(r.error_code, "http_400");
  EXPECT_NE(r.error_message.find("foo"), std::string::npos) << r.error_message;
  EXPECT_NE(r.error_message.find("Validation of body failed"), std::string::npos) << r.error_message;
  EXPECT_EQ(r.refund, kCharged);
  std::this_thread::sleep_for(500ms);
  SimStats st = Stats(e.s);
  EXPECT_EQ(st.Req("POST /v1/image_to_video"), 1) << "a 400 must not be sent again";
  EXPECT_EQ(st.Resp("400"), 1);
  EXPECT_EQ(st.tasks_created, 0);
  EXPECT_EQ(RefundsById(e.r()), (std::map<std::string, int64_t>{{"v1", kCharged}}));
}

// An http:// asset is refused by the daemon before any request: nothing reaches Runway.
TEST(Upstream, HttpAssetIsRefusedBeforeAnyRequest) {
  Env e("httpasset");
  ASSERT_TRUE(e.StartDaemon()) << e.s.Logs();
  e.r().Push("runway:jobs",
             JobWithBody("h1", R"({"model":"gen4_turbo","promptText":"a calm sea","seed":411,)"
                               R"("promptImage":"http://cdn.example.com/a.jpg","ratio":"1280:720","duration":5})"));
  ASSERT_TRUE(WaitResult(e.r(), "h1")) << e.s.Logs();
  ResultEvent r = ResultOf(e.r(), "h1");
  EXPECT_EQ(r.status, "failed");
  EXPECT_EQ(r.error_class, "invalid_input");
  EXPECT_NE(r.error_message.find("https"), std::string::npos) << r.error_message;
  EXPECT_LE(r.attempts, 1);
  EXPECT_EQ(r.refund, kCharged);
  SimStats st = Stats(e.s);
  EXPECT_EQ(st.Req("POST /v1/image_to_video"), 0);
  EXPECT_EQ(st.tasks_created, 0);
}

// =============================================================================
// Chaos on creates, one status at a time
// =============================================================================

// 429 on every create for a while: the create is sent again after the Retry-After
// (1 s from the simulator, never shortened) and succeeds; exactly one task.
TEST(Upstream, Create429IsRetriedAfterRetryAfterAndSucceeds) {
  Env e("c429");
  ASSERT_TRUE(e.StartDaemon()) << e.s.Logs();
  SetChaos(e.s, R"({"rate_429":1})");
  int64_t pushed_wall = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
  e.r().Push("runway:jobs", Job("r1", 501));
  ASSERT_TRUE(WaitCounter(e.s, true, "429", 2)) << e.s.Logs();
  SetChaos(e.s, "{}");
  ASSERT_TRUE(WaitResult(e.r(), "r1")) << e.s.Logs();
  ResultEvent r = ResultOf(e.r(), "r1");
  EXPECT_EQ(r.status, "succeeded") << r.error_class << " " << r.error_message;
  EXPECT_EQ(r.attempts, 1);
  SimStats st = Stats(e.s);
  int64_t refused = st.Resp("429");
  EXPECT_GE(refused, 2);
  EXPECT_EQ(st.Made(501), 1);
  EXPECT_EQ(st.Req("POST /v1/image_to_video"), refused + 1);
  EXPECT_TRUE(RefundsById(e.r()).empty());
  // Each refusal said "Retry-After: 1": the task cannot exist sooner than that many
  // seconds after the job was pushed (backoff alone would be ~0.1 s at this scale).
  auto tasks = Tasks(e.s);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_GE(tasks[0].created_ms - pushed_wall, refused * 1000 - 50);
}

class UpstreamCreateRefused : public ::testing::TestWithParam<int> {};

// 502 and 503 on a create are certain refusals: retried with backoff, one task.
TEST_P(UpstreamCreateRefused, RetriedWithBackoffAndSucceeds) {
  const int status = GetParam();
  Env e("c5xx");
  DaemonOptions d;
  d.extra_toml = "[jobs]\nmax_create_retries = 30\n";  // the test decides when refusals stop
  ASSERT_TRUE(e.StartDaemon(d)) << e.s.Logs();
  SetChaos(e.s, "{\"rate_" + std::to_string(status) + "\":1}");
  e.r().Push("runway:jobs", Job("s1", 511));
  ASSERT_TRUE(WaitCounter(e.s, true, std::to_string(status), 3)) << e.s.Logs();
  SetChaos(e.s, "{}");
  ASSERT_TRUE(WaitResult(e.r(), "s1")) << e.s.Logs();
  ResultEvent r = ResultOf(e.r(), "s1");
  EXPECT_EQ(r.status, "succeeded") << r.error_class << " " << r.error_message;
  SimStats st = Stats(e.s);
  EXPECT_EQ(st.Made(511), 1);
  EXPECT_EQ(st.Req("POST /v1/image_to_video"), st.Resp(std::to_string(status)) + 1);
  EXPECT_TRUE(RefundsById(e.r()).empty());
}

INSTANTIATE_TEST_SUITE_P(Upstream, UpstreamCreateRefused, ::testing::Values(502, 503),
                         [](const ::testing::TestParamInfo<int>& i) { return "http_" + std::to_string(i.param); });

// A 504 on a create may hide a created task: never sent again, outcome_unknown with
// an event and a refund — whether the simulator created the task (it did, here) or not.
TEST(Upstream, Create504IsOutcomeUnknownWithEventAndRefund) {
  Env e("c504");
  ASSERT_TRUE(e.StartDaemon()) << e.s.Logs();
  SetChaos(e.s, R"({"rate_504":1,"rate_504_created":1})");
  e.r().Push("runway:jobs", Job("u1", 521));
  ASSERT_TRUE(WaitResult(e.r(), "u1")) << e.s.Logs();
  SetChaos(e.s, R"({"rate_504":1,"rate_504_created":0})");
  e.r().Push("runway:jobs", Job("u2", 522));
  ASSERT_TRUE(WaitResult(e.r(), "u2")) << e.s.Logs();
  SetChaos(e.s, "{}");
  for (const char* id : {"u1", "u2"}) {
    ResultEvent r = ResultOf(e.r(), id);
    EXPECT_EQ(r.status, "failed") << id;
    EXPECT_EQ(r.error_class, "outcome_unknown") << id << ": " << r.error_message;
    EXPECT_EQ(r.error_code, "http_504") << id;
    EXPECT_EQ(r.attempts, 1) << id;
    EXPECT_EQ(r.refund, kCharged) << id;
    EXPECT_EQ(CountEvents(e.r(), "outcome_unknown", id), 1) << id;
  }
  std::this_thread::sleep_for(500ms);
  SimStats st = Stats(e.s);
  EXPECT_EQ(st.Req("POST /v1/image_to_video"), 2) << "a 504 on a create must never be resent";
  EXPECT_EQ(st.Made(521), 1);  // the task exists (and is charged) upstream
  EXPECT_EQ(st.Made(522), 0);
  EXPECT_EQ(RefundsById(e.r()), (std::map<std::string, int64_t>{{"u1", kCharged}, {"u2", kCharged}}));
}

// on_unknown_outcome = "resubmit": a 504 is followed by a new create (attempt 2), up
// to max_create_retries; here every create is a 504 that created a task.
TEST(Upstream, Create504WithResubmitIsCreatedAgain) {
  Env e("c504r");
  DaemonSpec d;
  d.upstream = "on_unknown_outcome = \"resubmit\"\n";
  d.extra = "[jobs]\nmax_create_retries = 1\n";
  ASSERT_TRUE(e.StartOwn(d)) << e.s.Logs();
  SetChaos(e.s, R"({"rate_504":1,"rate_504_created":1})");
  e.r().Push("runway:jobs", Job("w1", 531));
  ASSERT_TRUE(WaitResult(e.r(), "w1")) << e.s.Logs();
  ResultEvent r = ResultOf(e.r(), "w1");
  EXPECT_EQ(r.error_class, "outcome_unknown") << r.error_message;
  EXPECT_EQ(r.attempts, 2);
  EXPECT_EQ(r.refund, kCharged);
  std::this_thread::sleep_for(500ms);
  SimStats st = Stats(e.s);
  EXPECT_EQ(st.Req("POST /v1/image_to_video"), 2);
  EXPECT_EQ(st.Made(531), 2);  // resubmitting chose a possible double charge, as configured
}

// ... and when the second create is answered, the job succeeds on it.
TEST(Upstream, Create504WithResubmitSucceedsOnTheSecondCreate) {
  Env e("c504r2");
  DaemonSpec d;
  d.upstream = "on_unknown_outcome = \"resubmit\"\n";
  d.extra = "[jobs]\nretry_base_ms = 20000\n";  // 0.5..1 s at this time scale: time to clear the chaos
  ASSERT_TRUE(e.StartOwn(d)) << e.s.Logs();
  SetChaos(e.s, R"({"rate_504":1,"rate_504_created":1})");
  e.r().Push("runway:jobs", Job("w2", 532));
  ASSERT_TRUE(WaitCounter(e.s, true, "504", 1)) << e.s.Logs();
  SetChaos(e.s, "{}");
  ASSERT_TRUE(WaitResult(e.r(), "w2")) << e.s.Logs();
  ResultEvent r = ResultOf(e.r(), "w2");
  EXPECT_EQ(r.status, "succeeded") << r.error_class << " " << r.error_message;
  EXPECT_EQ(r.attempts, 2);
  SimStats st = Stats(e.s);
  EXPECT_EQ(st.Req("POST /v1/image_to_video"), 2);
  EXPECT_EQ(st.Made(532), 2);
  EXPECT_TRUE(RefundsById(e.r()).empty());
}

// The connection drops after the simulator created the task, on a connection curl
// reuses: outcome_unknown, and exactly the one task — curl did not silently send the
// POST again on a fresh connection (the body has no seek callback).
TEST(Upstream, ResetAfterCreateIsOutcomeUnknownWithExactlyOneCreation) {
  Env e("resetafter");
  ASSERT_TRUE(e.StartDaemon()) << e.s.Logs();
  // Warm a keep-alive connection with one ordinary job.
  e.r().Push("runway:jobs", Job("k0", 600));
  ASSERT_TRUE(WaitResult(e.r(), "k0")) << e.s.Logs();
  ASSERT_EQ(ResultOf(e.r(), "k0").status, "succeeded");
  // In this state the daemon's next requests go over the kept-alive connection: a
  // second ordinary job opens no connection (the one counted is this test's request).
  int64_t c0 = Stats(e.s).connections;
  e.r().Push("runway:jobs", Job("k00", 599));
  ASSERT_TRUE(WaitResult(e.r(), "k00")) << e.s.Logs();
  int64_t c1 = Stats(e.s).connections;
  EXPECT_EQ(c1 - c0, 1) << "the daemon did not reuse its connection";
  SetChaos(e.s, R"({"reset_after":1})");  // +1 connection (this test's)
  e.r().Push("runway:jobs", Job("k1", 601));
  ASSERT_TRUE(WaitResult(e.r(), "k1")) << e.s.Logs();
  SetChaos(e.s, "{}");  // +1 connection (this test's)
  ResultEvent r = ResultOf(e.r(), "k1");
  EXPECT_EQ(r.status, "failed");
  EXPECT_EQ(r.error_class, "outcome_unknown") << r.error_message;
  EXPECT_EQ(r.refund, kCharged);
  EXPECT_EQ(r.attempts, 1);
  EXPECT_EQ(CountEvents(e.r(), "outcome_unknown", "k1"), 1);
  std::this_thread::sleep_for(500ms);
  SimStats st = Stats(e.s);  // +1 connection (this test's)
  EXPECT_EQ(st.Made(601), 1) << "exactly the one task the dropped answer was about";
  EXPECT_EQ(st.duplicate_seeds, 0);
  EXPECT_EQ(st.Req("POST /v1/image_to_video"), 3) << "k0's, k00's and k1's one create";
  EXPECT_EQ(st.Resp("reset"), 1);
  // The daemon opened at most one connection for k1: curl's "connection died,
  // retrying a fresh connect" on the reused one (libcurl 7.88 connects, then gives up
  // because the body cannot be rewound) — and the simulator saw no second POST.
  EXPECT_LE(st.connections - c1, 4);
}

// The connection drops after the request was sent, before the simulator processed
// it. The daemon cannot tell this from reset_after (the request left; no answer
// came): by the money rule it is outcome_unknown, never a blind second create.
TEST(Upstream, ResetBeforeIsNeverResentBlindly) {
  Env e("resetbefore");
  ASSERT_TRUE(e.StartDaemon()) << e.s.Logs();
  SetChaos(e.s, R"({"reset_before":1})");
  e.r().Push("runway:jobs", Job("b1", 611));
  ASSERT_TRUE(WaitResult(e.r(), "b1")) << e.s.Logs();
  SetChaos(e.s, "{}");
  ResultEvent r = ResultOf(e.r(), "b1");
  EXPECT_EQ(r.error_class, "outcome_unknown") << r.error_message;
  EXPECT_EQ(r.refund, kCharged);
  std::this_thread::sleep_for(500ms);
  SimStats st = Stats(e.s);
  EXPECT_EQ(st.Req("POST /v1/image_to_video"), 1);
  EXPECT_EQ(st.Made(611), 0);
}

// With on_unknown_outcome = "resubmit", the dropped create is sent again and the job
// succeeds with exactly one task (the first request was never processed).
TEST(Upstream, ResetBeforeWithResubmitSucceedsWithExactlyOneCreation) {
  Env e("resetbefore2");
  DaemonSpec d;
  d.upstream = "on_unknown_outcome = \"resubmit\"\n";
  d.extra = "[jobs]\nretry_base_ms = 20000\n";
  ASSERT_TRUE(e.StartOwn(d)) << e.s.Logs();
  SetChaos(e.s, R"({"reset_before":1})");
  e.r().Push("runway:jobs", Job("b2", 612));
  ASSERT_TRUE(WaitCounter(e.s, true, "reset", 1)) << e.s.Logs();
  SetChaos(e.s, "{}");
  ASSERT_TRUE(WaitResult(e.r(), "b2")) << e.s.Logs();
  ResultEvent r = ResultOf(e.r(), "b2");
  EXPECT_EQ(r.status, "succeeded") << r.error_class << " " << r.error_message;
  SimStats st = Stats(e.s);
  EXPECT_EQ(st.Made(612), 1);
  EXPECT_EQ(st.Req("POST /v1/image_to_video"), 2);
  EXPECT_TRUE(RefundsById(e.r()).empty());
}

// A connection that fails before the request is sent (nothing listens) is a certain
// refusal: the create is retried, and succeeds once the simulator is back — one task.
TEST(Upstream, CreateNotSentIsRetriedAndSucceedsOnce) {
  Stack s("notsent");
  s.StartRedis();
  int port = FreePort();
  auto sim = StartOwnSim(s, port);
  DaemonSpec d;
  d.base_url = "http://127.0.0.1:" + std::to_string(port);
  d.extra = "[jobs]\nmax_create_retries = 30\nretry_cap_ms = 20000\n";
  auto daemon = StartOwnDaemon(s, d);
  ASSERT_TRUE(WaitLog(daemon->log_path(), "ready: taking jobs")) << s.Logs();
  // The ledger needs a first balance reading before any create.
  ASSERT_TRUE(WaitFor([&] { return CountEvents(s.redis(), "balance_reconciled") >= 1; }, 10s)) << s.Logs();
  sim->Signal(SIGKILL);
  sim->Wait(5s);
  s.redis().Push("runway:jobs", Job("ns1", 621));
  ASSERT_TRUE(WaitFor([&] { return CountInLog(daemon->log_path(), "create refused (not_sent)") >= 2; }, 20s))
      << s.Logs();
  sim = StartOwnSim(s, port);
  ASSERT_TRUE(WaitResult(s.redis(), "ns1")) << s.Logs();
  ResultEvent r = ResultOf(s.redis(), "ns1");
  EXPECT_EQ(r.status, "succeeded") << r.error_class << " " << r.error_message;
  EXPECT_EQ(r.attempts, 1);
  std::string body;
  ASSERT_TRUE(Fetch("http://127.0.0.1:" + std::to_string(port) + "/_sim/stats", &body));
  SimStats st = ParseStats(body);
  EXPECT_EQ(st.Made(621), 1);
  EXPECT_EQ(st.Req("POST /v1/image_to_video"), 1);
}

// A 200 whose body cannot be read may be a created task: outcome_unknown, not resent.
TEST(Upstream, SpoiledCreateAnswerIsOutcomeUnknown) {
  Env e("spoiled");
  ASSERT_TRUE(e.StartDaemon()) << e.s.Logs();
  SetChaos(e.s, R"({"malformed_rate":1})");
  e.r().Push("runway:jobs", Job("m1", 631));
  ASSERT_TRUE(WaitResult(e.r(), "m1")) << e.s.Logs();
  SetChaos(e.s, R"({"truncated_rate":1})");
  e.r().Push("runway:jobs", Job("t1", 632));
  ASSERT_TRUE(WaitResult(e.r(), "t1")) << e.s.Logs();
  SetChaos(e.s, "{}");
  for (const char* id : {"m1", "t1"}) {
    ResultEvent r = ResultOf(e.r(), id);
    EXPECT_EQ(r.status, "failed") << id;
    EXPECT_EQ(r.error_class, "outcome_unknown") << id << ": " << r.error_message;
    EXPECT_EQ(r.refund, kCharged) << id;
    EXPECT_EQ(CountEvents(e.r(), "outcome_unknown", id), 1) << id;
  }
  std::this_thread::sleep_for(500ms);
  SimStats st = Stats(e.s);
  EXPECT_EQ(st.Made(631), 1);
  EXPECT_EQ(st.Made(632), 1);
  EXPECT_EQ(st.Req("POST /v1/image_to_video"), 2);
}

// Chaos on polls (every status and every spoiled answer) only delays: polls are
// retried, every job succeeds on its one task, nothing is cancelled or refunded.
TEST(Upstream, PollChaosIsRetriedAndJobsSucceed) {
  Env e("pollchaos");
  ASSERT_TRUE(e.StartDaemon()) << e.s.Logs();
  const int n = 6;
  for (int i = 0; i < n; ++i) e.r().Push("runway:jobs", Job("p" + std::to_string(i), 700 + i, "x sim:secs=80"));
  ASSERT_TRUE(WaitFor([&] { return Stats(e.s).Req("GET /v1/tasks") >= n; }, 20s)) << e.s.Logs();
  int64_t gets = Stats(e.s).Req("GET /v1/tasks");
  // Every poll is refused: 429, 502, 503, 504 or a reset before processing.
  SetChaos(e.s, R"({"rate_429":0.2,"rate_502":0.2,"rate_503":0.2,"rate_504":0.2,"reset_before":0.2})");
  ASSERT_TRUE(WaitFor([&] { return Stats(e.s).Req("GET /v1/tasks") >= gets + 2 * n; }, 30s)) << e.s.Logs();
  gets = Stats(e.s).Req("GET /v1/tasks");
  // Every poll is processed but its answer is lost or spoiled.
  SetChaos(e.s, R"({"reset_after":0.4,"malformed_rate":0.3,"truncated_rate":0.3})");
  ASSERT_TRUE(WaitFor([&] { return Stats(e.s).Req("GET /v1/tasks") >= gets + 2 * n; }, 30s)) << e.s.Logs();
  SetChaos(e.s, "{}");
  ASSERT_TRUE(WaitFor([&] { return e.r().Int({"LLEN", "runway:results"}) >= n; }, 60s)) << e.s.Logs();
  SimStats st = Stats(e.s);
  for (int i = 0; i < n; ++i) {
    ResultEvent r = ResultOf(e.r(), "p" + std::to_string(i));
    EXPECT_EQ(r.status, "succeeded") << r.id << " " << r.error_class << " " << r.error_message;
    EXPECT_EQ(st.Made(700 + i), 1) << r.id;
  }
  EXPECT_GT(st.Resp("429") + st.Resp("502") + st.Resp("503") + st.Resp("504"), 0);
  EXPECT_GT(st.Resp("reset"), 0);
  EXPECT_EQ(st.Req("DELETE /v1/tasks"), 0);
  EXPECT_TRUE(RefundsById(e.r()).empty());
}

// =============================================================================
// Deadlines and cancels
// =============================================================================

// A job past its deadline is cancelled upstream (DELETE), fails deadline_exceeded
// with a refund, and Runway gives the credits back.
TEST(Upstream, DeadlineCancelsUpstreamAndRefunds) {
  Env e("deadline");
  ASSERT_TRUE(e.StartDaemon()) << e.s.Logs();
  e.r().Push("runway:jobs", Job("dl1", 801, "x sim:secs=100", ",\"deadline_s\":1"));
  ASSERT_TRUE(WaitResult(e.r(), "dl1", 20s)) << e.s.Logs();
  ResultEvent r = ResultOf(e.r(), "dl1");
  EXPECT_EQ(r.status, "failed");
  EXPECT_EQ(r.error_class, "deadline_exceeded") << r.error_message;
  EXPECT_EQ(r.refund, kCharged);
  EXPECT_FALSE(r.task_id.empty());
  SimStats st = Stats(e.s);
  EXPECT_EQ(st.Req("DELETE /v1/tasks"), 1);
  EXPECT_EQ(st.Made(801), 1);
  auto tasks = Tasks(e.s);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].id, r.task_id);
  EXPECT_EQ(tasks[0].status, "CANCELLED");
  EXPECT_TRUE(tasks[0].deleted);
  EXPECT_EQ(tasks[0].cost, 0);
  EXPECT_EQ(st.balance["main"], kBalance) << "the cancelled task's credits came back";
  EXPECT_EQ(RefundsById(e.r()), (std::map<std::string, int64_t>{{"dl1", kCharged}}));
}

// An operator's cancel (LPUSH runway:cancel <id>) while the task runs: DELETE
// upstream, status "cancelled", class cancelled, a refund.
TEST(Upstream, OperatorCancelCancelsUpstreamAndRefunds) {
  Env e("opcancel");
  ASSERT_TRUE(e.StartDaemon()) << e.s.Logs();
  e.r().Push("runway:jobs", Job("oc1", 811, "x sim:secs=200"));
  // Polled once: the task id is recorded and the task runs.
  ASSERT_TRUE(WaitFor([&] { return Stats(e.s).Req("GET /v1/tasks") >= 1; }, 20s)) << e.s.Logs();
  e.r().Push("runway:cancel", "oc1");
  ASSERT_TRUE(WaitResult(e.r(), "oc1", 20s)) << e.s.Logs();
  ResultEvent r = ResultOf(e.r(), "oc1");
  EXPECT_EQ(r.status, "cancelled");
  EXPECT_EQ(r.error_class, "cancelled") << r.error_message;
  EXPECT_EQ(r.refund, kCharged);
  SimStats st = Stats(e.s);
  EXPECT_EQ(st.Req("DELETE /v1/tasks"), 1);
  auto tasks = Tasks(e.s);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].status, "CANCELLED");
  EXPECT_TRUE(tasks[0].deleted);
  EXPECT_EQ(st.balance["main"], kBalance);
  EXPECT_EQ(RefundsById(e.r()), (std::map<std::string, int64_t>{{"oc1", kCharged}}));
}

// =============================================================================
// Rate limits: a 429 slows the account that got it, not the daemon
// =============================================================================

TEST(Upstream, A429SlowsOnlyItsAccount) {
  SimOptions so;
  so.extra_toml = std::string("[[account]]\nname = \"second\"\nkey = \"") + kSecondKey + "\"\nbalance = " +
                  std::to_string(kBalance) + "\n";
  Env e("slowacct", so);
  DaemonSpec d;
  d.accounts = "[[account]]\nname = \"second\"\nkey_env = \"RUNWAY_TEST_KEY2\"\n";
  d.env["RUNWAY_TEST_KEY2"] = kSecondKey;
  ASSERT_TRUE(e.StartOwn(d)) << e.s.Logs();
  // Both accounts have their first balance reading (so neither waits for one).
  ASSERT_TRUE(WaitFor([&] { return CountEvents(e.r(), "balance_reconciled") >= 2; }, 10s)) << e.s.Logs();
  SetChaos(e.s, R"({"rate_429":1})");
  int64_t pushed_wall = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
  e.r().Push("runway:jobs", Job("a1", 901, "a calm sea sim:secs=2", ",\"account\":\"main\""));
  ASSERT_TRUE(WaitCounter(e.s, true, "429", 1)) << e.s.Logs();
  SetChaos(e.s, "{}");
  // "main" now waits out the 429's Retry-After (1 s); "second" must not.
  for (int i = 0; i < 3; ++i)
    e.r().Push("runway:jobs", Job("b" + std::to_string(i), 911 + i, "a calm sea sim:secs=2",
                                  ",\"account\":\"second\""));
  ASSERT_TRUE(WaitFor([&] { return e.r().Int({"LLEN", "runway:results"}) >= 4; }, 30s)) << e.s.Logs();
  for (const char* id : {"a1", "b0", "b1", "b2"}) EXPECT_EQ(ResultOf(e.r(), id).status, "succeeded") << id;
  EXPECT_EQ(ResultOf(e.r(), "a1").account, "main");
  EXPECT_EQ(ResultOf(e.r(), "b0").account, "second");
  int64_t a_created = 0;
  std::vector<int64_t> b_created;
  for (const auto& t : Tasks(e.s)) {
    if (t.seed == 901) a_created = t.created_ms;
    else if (t.seed >= 911 && t.seed <= 913) b_created.push_back(t.created_ms);
    EXPECT_EQ(t.account, t.seed == 901 ? "main" : "second") << t.seed;
  }
  ASSERT_EQ(b_created.size(), 3u);
  EXPECT_GE(a_created - pushed_wall, 950) << "main's create came before its Retry-After";
  for (int64_t b : b_created)
    EXPECT_LT(b, a_created) << "the second account's jobs waited for the first account's slowdown";
}

// =============================================================================
// TLS and the base_url rule
// =============================================================================

namespace {

// A self-signed certificate for localhost and 127.0.0.1 in `dir`.
bool MakeCert(const std::string& dir, std::string* cert, std::string* key) {
  *cert = dir + "/sim-cert.pem";
  *key = dir + "/sim-key.pem";
  std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost "
                    "-addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' -keyout '" + *key + "' -out '" + *cert +
                    "' >'" + dir + "/openssl.log' 2>&1";
  return std::system(cmd.c_str()) == 0;
}

}  // namespace

// Without the simulator's certificate the daemon must not talk to it: nothing is
// created, and jobs fail upstream_unavailable once the account's balance has failed to
// read three times in a row (about 10 s), well before their deadline.
TEST(Upstream, TlsWithoutCaFileFailsVerificationAndNothingIsCreated) {
  Stack s("tls-noca");
  s.StartRedis();
  std::string cert, key;
  ASSERT_TRUE(MakeCert(s.dir(), &cert, &key)) << ReadFile(s.dir() + "/openssl.log");
  int port = 0;
  auto sim = StartOwnSim(s, 0, cert, key, &port);
  ASSERT_GT(port, 0);
  DaemonSpec d;
  d.base_url = "https://127.0.0.1:" + std::to_string(port);
  d.extra = "[jobs]\nmax_create_retries = 2\n";
  auto daemon = StartOwnDaemon(s, d);
  ASSERT_TRUE(WaitLog(daemon->log_path(), "ready: taking jobs")) << s.Logs();
  s.redis().Push("runway:jobs", Job("tl1", 1001, "a calm sea sim:secs=2", ",\"deadline_s\":120"));
  ASSERT_TRUE(WaitResult(s.redis(), "tl1", 40s)) << s.Logs();
  ResultEvent r = ResultOf(s.redis(), "tl1");
  EXPECT_EQ(r.status, "failed");
  EXPECT_EQ(r.error_class, "upstream_unavailable") << r.error_code << ": " << r.error_message;
  EXPECT_EQ(r.error_code, "balance_unreadable") << r.error_message;
  EXPECT_EQ(r.refund, kCharged);
  std::string body;
  ASSERT_TRUE(Fetch("https://127.0.0.1:" + std::to_string(port) + "/_sim/stats", &body, cert));
  SimStats st = ParseStats(body);
  EXPECT_EQ(st.tasks_created, 0);
  EXPECT_EQ(st.Req("POST /v1/image_to_video"), 0) << "no request may complete over an unverified TLS connection";
  EXPECT_EQ(st.Req("GET /v1/organization"), 0);
}

// With ca_file naming the simulator's certificate, the same setup works.
TEST(Upstream, TlsWithCaFileSucceeds) {
  Stack s("tls-ca");
  s.StartRedis();
  std::string cert, key;
  ASSERT_TRUE(MakeCert(s.dir(), &cert, &key)) << ReadFile(s.dir() + "/openssl.log");
  int port = 0;
  auto sim = StartOwnSim(s, 0, cert, key, &port);
  ASSERT_GT(port, 0);
  DaemonSpec d;
  d.base_url = "https://127.0.0.1:" + std::to_string(port);
  d.upstream = "ca_file = \"" + cert + "\"\n";
  auto daemon = StartOwnDaemon(s, d);
  ASSERT_TRUE(WaitLog(daemon->log_path(), "ready: taking jobs")) << s.Logs();
  for (int i = 0; i < 5; ++i) s.redis().Push("runway:jobs", Job("tc" + std::to_string(i), 1011 + i));
  ASSERT_TRUE(WaitFor([&] { return s.redis().Int({"LLEN", "runway:results"}) >= 5; }, 30s)) << s.Logs();
  std::string body;
  ASSERT_TRUE(Fetch("https://127.0.0.1:" + std::to_string(port) + "/_sim/stats", &body, cert));
  SimStats st = ParseStats(body);
  for (int i = 0; i < 5; ++i) {
    ResultEvent r = ResultOf(s.redis(), "tc" + std::to_string(i));
    EXPECT_EQ(r.status, "succeeded") << r.id << " " << r.error_class << " " << r.error_message;
    EXPECT_EQ(st.Made(1011 + i), 1);
  }
  EXPECT_TRUE(RefundsById(s.redis()).empty());
}

// Plain http:// to anything but loopback is refused at start: exit 2, one line, and
// no connection is attempted (the daemon exits before it has a loop).
TEST(Upstream, PlainHttpToANonLoopbackHostIsRefusedAtStart) {
  Stack s("nonloop");
  s.StartRedis();
  DaemonSpec d;
  d.base_url = "http://10.0.0.1";
  auto daemon = StartOwnDaemon(s, d);
  EXPECT_EQ(daemon->Wait(10s), 2);
  std::string log = ReadFile(daemon->log_path());
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << log;
  EXPECT_NE(log.find("base_url"), std::string::npos) << log;
  EXPECT_EQ(log.find("starting"), std::string::npos) << log;
  EXPECT_EQ(log.find(kTestKey), std::string::npos);
}

// =============================================================================
// Found while testing the above: stopping an idle daemon
// =============================================================================

// With nothing in flight, SIGTERM must not wait out shutdown_grace_ms: there is no
// outcome write and no create on the wire to wait for.
TEST(Upstream, IdleDaemonStopsWithoutWaitingForTheGracePeriod) {
  Env e("idlestop");
  DaemonSpec d;
  d.grace_ms = 8000;
  ASSERT_TRUE(e.StartOwn(d)) << e.s.Logs();
  e.r().Push("runway:jobs", Job("i1", 1101));
  ASSERT_TRUE(WaitResult(e.r(), "i1")) << e.s.Logs();
  std::this_thread::sleep_for(300ms);
  int64_t t0 = NowMs();
  e.own->Signal(SIGTERM);
  EXPECT_EQ(e.own->Wait(15s), 0);
  int64_t took = NowMs() - t0;
  std::string log = ReadFile(e.own->log_path());
  EXPECT_LT(took, 3000) << "an idle daemon took " << took << " ms to stop\n" << log;
  EXPECT_EQ(log.find("grace period over"), std::string::npos);
}
