// tests/integration/upstream_answers_test.cc — answers from Runway that are well-formed
// JSON but lie: a cost no task could have, a poll answered about another task, a
// success without an output. The simulator's hooks sim:report_cost=N, sim:other_id and
// sim:no_output make them (sim/state.h); what is charged upstream does not change. Shared setup and helpers: upstream_env.h.
#include <gtest/gtest.h>

#include <string>

#include "upstream_env.h"

using namespace harness;
using namespace upstream_env;
using namespace std::chrono_literals;

// estimatedCost and cost of 1e17 credits. The ledger's kCreated received the figure,
// Lua turned it into a double that HINCRBY refused ("not an integer"), and the daemon
// retried the script forever: the job never polled and never ended. Such a figure is
// now "unknown": the estimate stays the price table's and the job succeeds.
TEST(Upstream, AnImplausibleCostDoesNotStopTheJob) {
  Env e("hugecost");
  ASSERT_TRUE(e.StartDaemon()) << e.s.Logs();
  e.r().Push("runway:jobs", Job("hc1", 901, "x sim:secs=2 sim:report_cost=100000000000000000"));
  ASSERT_TRUE(WaitResult(e.r(), "hc1", 30s)) << e.s.Logs();
  ResultEvent r = ResultOf(e.r(), "hc1");
  EXPECT_EQ(r.status, "succeeded") << r.error_message;
  EXPECT_EQ(r.attempts, 1);
  EXPECT_EQ(SimStatsOf(e.s).Made(901), 1);
}

// Every poll is answered 200 about another task (a different id). Its status is not
// this job's: the daemon does not use it (it succeeded on it before), polls on, and
// at the deadline cancels its own task.
TEST(Upstream, APollAnsweredAboutAnotherTaskIsNotUsed) {
  Env e("otherid");
  ASSERT_TRUE(e.StartDaemon()) << e.s.Logs();
  e.r().Push("runway:jobs", Job("oi1", 902, "x sim:secs=1 sim:other_id", ",\"deadline_s\":3"));
  ASSERT_TRUE(WaitResult(e.r(), "oi1", 30s)) << e.s.Logs();
  ResultEvent r = ResultOf(e.r(), "oi1");
  EXPECT_EQ(r.status, "failed");
  EXPECT_EQ(r.error_class, "deadline_exceeded") << r.error_message;
  EXPECT_EQ(r.refund, kCharged);
  EXPECT_FALSE(r.has_output);
  EXPECT_EQ(SimStatsOf(e.s).Made(902), 1);
  EXPECT_GE(CountInLog(e.s.dir() + "/d1.log", "another task"), 1u) << e.s.Logs();
}

// The task ends (SUCCEEDED, charged) well before the deadline, but the next poll was
// due after it. At the deadline the daemon sent DELETE without looking: Runway deletes
// a finished task too, so the paid video was destroyed, the job failed
// deadline_exceeded with a refund, and the ledger settled the task at 0 credits. Now
// the deadline first looks at the task once and cancels only one still unfinished.
TEST(Upstream, TheDeadlineLooksAtTheTaskBeforeCancellingIt) {
  Env e("deadlinelook");
  DaemonOptions d;
  d.extra_toml = "[polling]\nfirst_poll_ms = 100000\nmin_interval_ms = 100000\nmax_interval_ms = 100000\n";
  ASSERT_TRUE(e.StartDaemon(d)) << e.s.Logs();
  e.r().Push("runway:jobs", Job("dl2", 903, "x sim:secs=2", ",\"deadline_s\":2"));
  ASSERT_TRUE(WaitResult(e.r(), "dl2", 30s)) << e.s.Logs();
  ResultEvent r = ResultOf(e.r(), "dl2");
  EXPECT_EQ(r.status, "succeeded") << r.error_class << ": " << r.error_message;
  EXPECT_EQ(r.refund, -1);
  SimStats st = SimStatsOf(e.s);
  EXPECT_EQ(st.Req("DELETE /v1/tasks"), 0);
  EXPECT_EQ(st.Made(903), 1);
}

// The task SUCCEEDED without an output URL (sim:no_output): charged, and it will not
// change. The daemon polled it to the deadline and then sent DELETE, which deleted a
// charged task, and failed the job deadline_exceeded with an upstream cost of 0. Now
// it fails upstream_failure (refunded) after a few looks, with Runway's cost.
TEST(Upstream, ASuccessWithoutAnOutputFailsWithItsCost) {
  Env e("nooutput");
  ASSERT_TRUE(e.StartDaemon()) << e.s.Logs();
  e.r().Push("runway:jobs", Job("no1", 904, "x sim:secs=1 sim:no_output", ",\"deadline_s\":15"));
  ASSERT_TRUE(WaitResult(e.r(), "no1", 40s)) << e.s.Logs();
  ResultEvent r = ResultOf(e.r(), "no1");
  EXPECT_EQ(r.status, "failed");
  EXPECT_EQ(r.error_class, "upstream_failure") << r.error_code << ": " << r.error_message;
  EXPECT_EQ(r.error_code, "no_output");
  EXPECT_EQ(r.refund, kCharged);
  EXPECT_FALSE(r.has_output);
  const std::vector<std::string> raw = e.r().List("runway:results");
  ASSERT_EQ(raw.size(), 1u);
  EXPECT_NE(raw[0].find("\"upstream\":" + std::to_string(kCost)), std::string::npos) << raw[0];
  SimStats st = SimStatsOf(e.s);
  EXPECT_EQ(st.Req("DELETE /v1/tasks"), 0);
  EXPECT_EQ(st.Made(904), 1);
}

// The first poll of a live task is answered 404 "Could not find Task" (sim:gone_gets=1:
// a replica behind the create, say). The daemon failed the job task_not_found at once
// and refunded it while the task ran on and was charged. A 404 is now believed only
// when a second look, Runway's update period later, says the same.
TEST(Upstream, AOne404PollIsLookedAtAgainBeforeTheTaskIsGivenUp) {
  Env e("gone1");
  ASSERT_TRUE(e.StartDaemon()) << e.s.Logs();
  e.r().Push("runway:jobs", Job("g1", 905, "x sim:secs=2 sim:gone_gets=1"));
  ASSERT_TRUE(WaitResult(e.r(), "g1", 30s)) << e.s.Logs();
  ResultEvent r = ResultOf(e.r(), "g1");
  EXPECT_EQ(r.status, "succeeded") << r.error_class << " " << r.error_code << ": " << r.error_message;
  EXPECT_EQ(r.attempts, 1);
  EXPECT_TRUE(r.has_output);
  SimStats st = SimStatsOf(e.s);
  EXPECT_EQ(st.Made(905), 1);
  EXPECT_GE(st.Req("GET /v1/tasks"), 2) << st.raw;
  EXPECT_EQ(st.Req("DELETE /v1/tasks"), 0);
}

// A task that stays gone (deleted elsewhere): the second 404 ends the job
// task_not_found, refunded, with no DELETE and no second create.
TEST(Upstream, ATaskGoneOnTwoLooksFailsTaskNotFound) {
  Env e("gone2");
  ASSERT_TRUE(e.StartDaemon()) << e.s.Logs();
  e.r().Push("runway:jobs", Job("g2", 906, "x sim:secs=2 sim:gone_gets=1000"));
  ASSERT_TRUE(WaitResult(e.r(), "g2", 30s)) << e.s.Logs();
  ResultEvent r = ResultOf(e.r(), "g2");
  EXPECT_EQ(r.status, "failed");
  EXPECT_EQ(r.error_class, "upstream_failure") << r.error_message;
  EXPECT_EQ(r.error_code, "task_not_found") << r.error_message;
  EXPECT_EQ(r.refund, kCharged);
  SimStats st = SimStatsOf(e.s);
  EXPECT_EQ(st.Made(906), 1);
  EXPECT_EQ(st.Req("GET /v1/tasks"), 2) << st.raw;
  EXPECT_EQ(st.Req("DELETE /v1/tasks"), 0);
}
