// tests/integration/upstream_chaos_test.cc — chaos per status on creates (429, 502,
// 503, 504, resets before and after processing, spoiled 200s) and on polls. The
// money rule under test: a create whose outcome is unknown is never resent blindly,
// and every job still ends in exactly one result with at most the tasks it paid for.
// Shared setup and helpers: upstream_env.h.
#include <gtest/gtest.h>
#include <signal.h>

#include <map>
#include <string>
#include <thread>

#include "upstream_env.h"

using namespace harness;
using namespace upstream_env;
using namespace std::chrono_literals;

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
  ASSERT_TRUE(WaitSimCounter(e.s, true, "429", 2)) << e.s.Logs();
  SetChaos(e.s, "{}");
  ASSERT_TRUE(WaitResult(e.r(), "r1")) << e.s.Logs();
  ResultEvent r = ResultOf(e.r(), "r1");
  EXPECT_EQ(r.status, "succeeded") << r.error_class << " " << r.error_message;
  EXPECT_EQ(r.attempts, 1);
  SimStats st = SimStatsOf(e.s);
  int64_t refused = st.Resp("429");
  EXPECT_GE(refused, 2);
  EXPECT_EQ(st.Made(501), 1);
  EXPECT_EQ(st.Req("POST /v1/image_to_video"), refused + 1);
  EXPECT_TRUE(RefundsById(e.r()).empty());
  // Each refusal said "Retry-After: 1": the task cannot exist sooner than that many
  // seconds after the job was pushed (backoff alone would be ~0.1 s at this scale).
  auto tasks = SimTasksOf(e.s);
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
  ASSERT_TRUE(WaitSimCounter(e.s, true, std::to_string(status), 3)) << e.s.Logs();
  SetChaos(e.s, "{}");
  ASSERT_TRUE(WaitResult(e.r(), "s1")) << e.s.Logs();
  ResultEvent r = ResultOf(e.r(), "s1");
  EXPECT_EQ(r.status, "succeeded") << r.error_class << " " << r.error_message;
  SimStats st = SimStatsOf(e.s);
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
  SimStats st = SimStatsOf(e.s);
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
  SimStats st = SimStatsOf(e.s);
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
  ASSERT_TRUE(WaitSimCounter(e.s, true, "504", 1)) << e.s.Logs();
  SetChaos(e.s, "{}");
  ASSERT_TRUE(WaitResult(e.r(), "w2")) << e.s.Logs();
  ResultEvent r = ResultOf(e.r(), "w2");
  EXPECT_EQ(r.status, "succeeded") << r.error_class << " " << r.error_message;
  EXPECT_EQ(r.attempts, 2);
  SimStats st = SimStatsOf(e.s);
  EXPECT_EQ(st.Req("POST /v1/image_to_video"), 2);
  EXPECT_EQ(st.Made(532), 2);
  EXPECT_TRUE(RefundsById(e.r()).empty());
}

// The connection drops after the simulator created the task, on a connection curl
// reuses: outcome_unknown, and exactly the one task — curl did not silently send the
// POST again on a fresh connection (its pre-request callback refuses a second send).
TEST(Upstream, ResetAfterCreateIsOutcomeUnknownWithExactlyOneCreation) {
  Env e("resetafter");
  ASSERT_TRUE(e.StartDaemon()) << e.s.Logs();
  // Warm a keep-alive connection with one ordinary job.
  e.r().Push("runway:jobs", Job("k0", 600));
  ASSERT_TRUE(WaitResult(e.r(), "k0")) << e.s.Logs();
  ASSERT_EQ(ResultOf(e.r(), "k0").status, "succeeded");
  // In this state the daemon's next requests go over the kept-alive connection: a
  // second ordinary job opens no connection (the one counted is this test's request).
  int64_t c0 = SimStatsOf(e.s).connections;
  e.r().Push("runway:jobs", Job("k00", 599));
  ASSERT_TRUE(WaitResult(e.r(), "k00")) << e.s.Logs();
  int64_t c1 = SimStatsOf(e.s).connections;
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
  SimStats st = SimStatsOf(e.s);  // +1 connection (this test's)
  EXPECT_EQ(st.Made(601), 1) << "exactly the one task the dropped answer was about";
  EXPECT_EQ(st.duplicate_seeds, 0);
  EXPECT_EQ(st.Req("POST /v1/image_to_video"), 3) << "k0's, k00's and k1's one create";
  EXPECT_EQ(st.Resp("reset"), 1);
  // The daemon opened at most one connection for k1: curl's "connection died,
  // retrying a fresh connect" on the reused one (libcurl 7.88 connects, then the
  // daemon's pre-request callback aborts the second send) — and the simulator saw no
  // second POST.
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
  SimStats st = SimStatsOf(e.s);
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
  ASSERT_TRUE(WaitSimCounter(e.s, true, "reset", 1)) << e.s.Logs();
  SetChaos(e.s, "{}");
  ASSERT_TRUE(WaitResult(e.r(), "b2")) << e.s.Logs();
  ResultEvent r = ResultOf(e.r(), "b2");
  EXPECT_EQ(r.status, "succeeded") << r.error_class << " " << r.error_message;
  SimStats st = SimStatsOf(e.s);
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
  SimStats st = ReadSimStats(body);
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
  SimStats st = SimStatsOf(e.s);
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
  ASSERT_TRUE(WaitFor([&] { return SimStatsOf(e.s).Req("GET /v1/tasks") >= n; }, 20s)) << e.s.Logs();
  int64_t gets = SimStatsOf(e.s).Req("GET /v1/tasks");
  // Every poll is refused: 429, 502, 503, 504 or a reset before processing.
  SetChaos(e.s, R"({"rate_429":0.2,"rate_502":0.2,"rate_503":0.2,"rate_504":0.2,"reset_before":0.2})");
  ASSERT_TRUE(WaitFor([&] { return SimStatsOf(e.s).Req("GET /v1/tasks") >= gets + 2 * n; }, 30s)) << e.s.Logs();
  gets = SimStatsOf(e.s).Req("GET /v1/tasks");
  // Every poll is processed but its answer is lost or spoiled.
  SetChaos(e.s, R"({"reset_after":0.4,"malformed_rate":0.3,"truncated_rate":0.3})");
  ASSERT_TRUE(WaitFor([&] { return SimStatsOf(e.s).Req("GET /v1/tasks") >= gets + 2 * n; }, 30s)) << e.s.Logs();
  SetChaos(e.s, "{}");
  ASSERT_TRUE(WaitFor([&] { return e.r().Int({"LLEN", "runway:results"}) >= n; }, 60s)) << e.s.Logs();
  SimStats st = SimStatsOf(e.s);
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
