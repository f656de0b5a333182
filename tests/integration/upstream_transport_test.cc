// tests/integration/upstream_transport_test.cc — the daemon's side of the connection
// to Runway: a 429 slows only the account that got it, a busy balance reading keeps
// the jobs waiting for it, create bodies small and large
// arrive whole, TLS is verified (and works with ca_file), plain http:// is refused for
// a non-loopback host, and an idle daemon stops without waiting out its grace period.
// Shared setup and helpers: upstream_env.h.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "upstream_env.h"

using namespace harness;
using namespace upstream_env;
using namespace std::chrono_literals;

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
  ASSERT_TRUE(WaitSimCounter(e.s, true, "429", 1)) << e.s.Logs();
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
  for (const auto& t : SimTasksOf(e.s)) {
    if (t.seed == 901) a_created = t.created_ms;
    else if (t.seed >= 911 && t.seed <= 913) b_created.push_back(t.created_ms);
    EXPECT_EQ(t.account, t.seed == 901 ? "main" : "second") << t.seed;
  }
  ASSERT_EQ(b_created.size(), 3u);
  EXPECT_GE(a_created - pushed_wall, 950) << "main's create came before its Retry-After";
  for (int64_t b : b_created)
    EXPECT_LT(b, a_created) << "the second account's jobs waited for the first account's slowdown";
}

// Runway answers the balance reading 429 for the daemon's first 15 s (several daemons
// restarted at once, say). A job waiting for the account's first reading failed
// balance_unreadable after the third (~10 s), refunded, although Runway was only
// busy. Answers that say "later" (429, 502 - 504) now keep such jobs waiting for a
// minute, and the job runs once a reading succeeds.
TEST(Upstream, ABusyBalanceReadingAtStartKeepsTheJobsWaiting) {
  Env e("orgbusy");
  SetChaos(e.s, R"({"rate_429":1,"organization":true})");
  ASSERT_TRUE(e.StartDaemon()) << e.s.Logs();
  e.r().Push("runway:jobs", Job("ob1", 551));
  ASSERT_TRUE(WaitSimCounter(e.s, true, "429", 4, 40s)) << e.s.Logs();
  SetChaos(e.s, "{}");
  ASSERT_TRUE(WaitResult(e.r(), "ob1", 40s)) << e.s.Logs();
  ResultEvent r = ResultOf(e.r(), "ob1");
  EXPECT_EQ(r.status, "succeeded") << r.error_class << " " << r.error_code << ": " << r.error_message;
  EXPECT_EQ(r.attempts, 1);
  SimStats st = SimStatsOf(e.s);
  EXPECT_EQ(st.Made(551), 1);
  EXPECT_GE(st.Req("GET /v1/organization"), 5) << st.raw;
}

// =============================================================================
// TLS and the base_url rule
// =============================================================================

// A create's body goes to curl as CURLOPT_POSTFIELDS: inline with the headers up to
// 64 KB, in later sends above that. Both arrive whole (the simulator parses and
// validates them: a cut or doubled body is a 400) and each is sent once.
TEST(Upstream, SmallAndLargeCreateBodiesArriveWhole) {
  Env e("bigbody");
  ASSERT_TRUE(e.StartDaemon()) << e.s.Logs();
  auto body = [](int64_t seed, size_t image_bytes) {
    std::string img = "data:image/png;base64,";
    const std::string_view b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; img.size() < image_bytes; ++i) img.push_back(b64[(i * 7) % 64]);
    return R"({"model":"gen4_turbo","promptText":"a calm sea sim:secs=1","seed":)" + std::to_string(seed) +
           R"(,"promptImage":")" + img + R"(","ratio":"1280:720","duration":5})";
  };
  const std::string small = body(951, 2000), large = body(952, 200000);
  ASSERT_GT(large.size(), 65536u);
  e.r().Push("runway:jobs", JobWithBody("s1", small));
  e.r().Push("runway:jobs", JobWithBody("l1", large));
  ASSERT_TRUE(WaitFor([&] { return e.r().Int({"LLEN", "runway:results"}) >= 2; }, 30s)) << e.s.Logs();
  for (const char* id : {"s1", "l1"}) {
    const ResultEvent r = ResultOf(e.r(), id);
    EXPECT_EQ(r.status, "succeeded") << id << ": " << r.error_class << " " << r.error_message;
  }
  SimStats st = SimStatsOf(e.s);
  EXPECT_EQ(st.Req("POST /v1/image_to_video"), 2);
  EXPECT_EQ(st.Made(951), 1);
  EXPECT_EQ(st.Made(952), 1);
}

// Without the simulator's certificate the daemon must not talk to it: nothing is
// created, and jobs fail upstream_unavailable once the account's balance has failed to
// read three times in a row (about 10 s), well before their deadline.
TEST(Upstream, TlsWithoutCaFileFailsVerificationAndNothingIsCreated) {
  Stack s("tls-noca");
  s.StartRedis();
  TlsSim sim;
  ASSERT_TRUE(StartTlsSim(s, &sim)) << s.Logs();
  DaemonSpec d;
  d.base_url = sim.base_url;
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
  ASSERT_TRUE(Fetch(sim.base_url + "/_sim/stats", &body, sim.cert));
  SimStats st = ReadSimStats(body);
  EXPECT_EQ(st.tasks_created, 0);
  EXPECT_EQ(st.Req("POST /v1/image_to_video"), 0) << "no request may complete over an unverified TLS connection";
  EXPECT_EQ(st.Req("GET /v1/organization"), 0);
}

// With ca_file naming the simulator's certificate, the same setup works.
TEST(Upstream, TlsWithCaFileSucceeds) {
  Stack s("tls-ca");
  s.StartRedis();
  TlsSim sim;
  ASSERT_TRUE(StartTlsSim(s, &sim)) << s.Logs();
  DaemonSpec d;
  d.base_url = sim.base_url;
  d.upstream = "ca_file = \"" + sim.cert + "\"\n";
  auto daemon = StartOwnDaemon(s, d);
  ASSERT_TRUE(WaitLog(daemon->log_path(), "ready: taking jobs")) << s.Logs();
  for (int i = 0; i < 5; ++i) s.redis().Push("runway:jobs", Job("tc" + std::to_string(i), 1011 + i));
  ASSERT_TRUE(WaitFor([&] { return s.redis().Int({"LLEN", "runway:results"}) >= 5; }, 30s)) << s.Logs();
  std::string body;
  ASSERT_TRUE(Fetch(sim.base_url + "/_sim/stats", &body, sim.cert));
  SimStats st = ReadSimStats(body);
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
