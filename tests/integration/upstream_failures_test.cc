// tests/integration/upstream_failures_test.cc — how a job ends when Runway fails its
// task or refuses its request, and when the job is cancelled: task failures retried
// as new tasks (INTERNAL, THIRD_PARTY.UNAVAILABLE, INPUT_PREPROCESSING.INTERNAL, null)
// or not (SAFETY.*, ASSET.INVALID); a 400 with issues and the daemon's own checks;
// deadlines and operator cancels (DELETE upstream, refund, credits returned).
// Shared setup and helpers: upstream_env.h.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <thread>

#include "upstream_env.h"

using namespace harness;
using namespace upstream_env;
using namespace std::chrono_literals;

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
  SimStats st = SimStatsOf(e.s);
  EXPECT_EQ(st.Made(301), 3);
  EXPECT_EQ(st.Made(301), r.attempts);
  EXPECT_EQ(RefundsById(e.r()), (std::map<std::string, int64_t>{{"f1", kCharged}}));
  // None of these failures is charged: Runway gave every credit back.
  EXPECT_EQ(st.Balance("main"), kBalance);
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
  EXPECT_EQ(SimStatsOf(e.s).Made(311), 2);
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
  SimStats st = SimStatsOf(e.s);
  EXPECT_EQ(st.Made(321), 1);
  EXPECT_EQ(RefundsById(e.r()), (std::map<std::string, int64_t>{{"n1", kCharged}}));
  EXPECT_EQ(st.Balance("main"), c.charged_upstream ? kBalance - kCost : kBalance);
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
  SimStats st = SimStatsOf(e.s);
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
  SimStats st = SimStatsOf(e.s);
  EXPECT_EQ(st.Req("POST /v1/image_to_video"), 0);
  EXPECT_EQ(st.tasks_created, 0);
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
  SimStats st = SimStatsOf(e.s);
  EXPECT_EQ(st.Req("DELETE /v1/tasks"), 1);
  EXPECT_EQ(st.Made(801), 1);
  auto tasks = SimTasksOf(e.s);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].id, r.task_id);
  EXPECT_EQ(tasks[0].status, "CANCELLED");
  EXPECT_TRUE(tasks[0].deleted);
  EXPECT_EQ(tasks[0].cost, 0);
  EXPECT_EQ(st.Balance("main"), kBalance) << "the cancelled task's credits came back";
  EXPECT_EQ(RefundsById(e.r()), (std::map<std::string, int64_t>{{"dl1", kCharged}}));
}

// An operator's cancel (LPUSH runway:cancel <id>) while the task runs: DELETE
// upstream, status "cancelled", class cancelled, a refund.
TEST(Upstream, OperatorCancelCancelsUpstreamAndRefunds) {
  Env e("opcancel");
  ASSERT_TRUE(e.StartDaemon()) << e.s.Logs();
  e.r().Push("runway:jobs", Job("oc1", 811, "x sim:secs=200"));
  // Polled once: the task id is recorded and the task runs.
  ASSERT_TRUE(WaitFor([&] { return SimStatsOf(e.s).Req("GET /v1/tasks") >= 1; }, 20s)) << e.s.Logs();
  e.r().Push("runway:cancel", "oc1");
  ASSERT_TRUE(WaitResult(e.r(), "oc1", 20s)) << e.s.Logs();
  ResultEvent r = ResultOf(e.r(), "oc1");
  EXPECT_EQ(r.status, "cancelled");
  EXPECT_EQ(r.error_class, "cancelled") << r.error_message;
  EXPECT_EQ(r.refund, kCharged);
  SimStats st = SimStatsOf(e.s);
  EXPECT_EQ(st.Req("DELETE /v1/tasks"), 1);
  auto tasks = SimTasksOf(e.s);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].status, "CANCELLED");
  EXPECT_TRUE(tasks[0].deleted);
  EXPECT_EQ(st.Balance("main"), kBalance);
  EXPECT_EQ(RefundsById(e.r()), (std::map<std::string, int64_t>{{"oc1", kCharged}}));
}

// A reply_to that names a key holding something other than a list. Redis does not
// roll a script back: the result's LPUSH failed after the ledger and the refund were
// written, every retry failed the same way, and the job never ended. Now the result
// goes to runway:results, with its one refund, and the key is left alone.
TEST(Upstream, AReplyToThatIsNotAListGetsItsResultOnTheDefaultList) {
  Env e("replyto");
  ASSERT_TRUE(e.StartDaemon()) << e.s.Logs();
  e.r().Cmd({"SET", "runway:results:web", "not a list"});
  e.r().Push("runway:jobs",
             Job("q1", 341, "x sim:fail=SAFETY.INPUT.TEXT sim:secs=2", ",\"reply_to\":\"runway:results:web\""));
  ASSERT_TRUE(WaitResult(e.r(), "q1")) << e.s.Logs();
  ResultEvent r = ResultOf(e.r(), "q1");
  EXPECT_EQ(r.status, "failed");
  EXPECT_EQ(r.refund, kCharged);
  EXPECT_EQ(RefundsById(e.r()), (std::map<std::string, int64_t>{{"q1", kCharged}}));
  auto v = e.r().Cmd({"GET", "runway:results:web"});
  ASSERT_TRUE(v && v->type == REDIS_REPLY_STRING);
  EXPECT_EQ(std::string(v->str, v->len), "not a list");
  EXPECT_EQ(e.r().Int({"EXISTS", "runway:job:q1"}), 0) << "the job record is released";
  EXPECT_EQ(CountInLog(e.s.daemon(0).log_path(), "holds something other than a list"), 1) << e.s.Logs();
}
