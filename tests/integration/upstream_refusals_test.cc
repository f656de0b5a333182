// tests/integration/upstream_refusals_test.cc — creates Runway refuses for the account's
// sake (not enough credits, the daily limit) while the ledger, freshly reconciled, says
// the account can take the job: the refusal must end the job, not be resent until its
// deadline. Shared setup and helpers: upstream_env.h.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <thread>

#include "upstream_env.h"

using namespace harness;
using namespace upstream_env;
using namespace std::chrono_literals;

// The daemon's price table is out of date (1 credit a second for gen4_turbo; Runway
// takes 5): the account's 20 credits cover the estimate (5) but not the task (25).
// Runway answers 400 "not enough credits"; the daemon marked the account short and read
// its balance, which cleared the mark and showed 20 >= 5, so the job was reserved and
// created again, refused again, and so on as fast as the round trips went until its
// deadline: hundreds of creates and balance readings, and the job ended
// deadline_exceeded. A refusal of that kind is now a refused create like a 429: resent
// at most jobs.max_create_retries times, then the job fails
// upstream_insufficient_credits, refunded.
TEST(Upstream, ACreditRefusalTheLedgerCannotSeeIsNotResentUntilTheDeadline) {
  SimOptions so;
  so.balance = 20;
  Env e("creditloop", so);
  DaemonOptions d;
  d.extra_toml = "[prices.gen4_turbo]\nper_second = 1\n[ledger]\ncredit_wait_s = 1\n";
  ASSERT_TRUE(e.StartDaemon(d)) << e.s.Logs();
  e.r().Push("runway:jobs", Job("cl1", 951, "x sim:secs=1", ",\"deadline_s\":8"));
  ASSERT_TRUE(WaitResult(e.r(), "cl1", 30s)) << e.s.Logs();
  ResultEvent r = ResultOf(e.r(), "cl1");
  EXPECT_EQ(r.status, "failed");
  EXPECT_EQ(r.error_class, "upstream_insufficient_credits") << r.error_code << ": " << r.error_message;
  EXPECT_EQ(r.refund, kCharged);
  std::this_thread::sleep_for(300ms);
  SimStats st = SimStatsOf(e.s);
  EXPECT_EQ(st.tasks_created, 0);
  EXPECT_EQ(st.Balance("main"), 20);
  // The first create and max_create_retries (6) resends, no more.
  EXPECT_LE(st.Req("POST /v1/image_to_video"), 7) << st.raw;
  EXPECT_EQ(RefundsById(e.r()), (std::map<std::string, int64_t>{{"cl1", kCharged}}));
}

// Once the task runs, every request is answered 429 with "Retry-After: 3600". The
// daemon honoured the hint (capped at an hour) for the next poll, for the account's
// slowdown, and for each of its DELETE retries: a job with a 3 s deadline had no
// result an hour later. The hint now holds a poll only up to the deadline, and the
// look and the cancel a passed deadline needs are retried within the usual backoff cap
// (the account's slowdown does not hold them): the job ends deadline_exceeded,
// refunded, after the usual eight DELETE attempts, in seconds.
TEST(Upstream, ALongRetryAfterDoesNotHoldAJobPastItsDeadline) {
  Env e("longhint");
  ASSERT_TRUE(e.StartDaemon()) << e.s.Logs();
  e.r().Push("runway:jobs", Job("lh1", 952, "x sim:secs=400", ",\"deadline_s\":3"));
  ASSERT_TRUE(WaitFor([&] { return SimStatsOf(e.s).Req("GET /v1/tasks") >= 1; }, 20s)) << e.s.Logs();
  SetChaos(e.s, R"({"rate_429":1,"retry_after_s":3600})");
  ASSERT_TRUE(WaitResult(e.r(), "lh1", 30s)) << e.s.Logs();
  ResultEvent r = ResultOf(e.r(), "lh1");
  EXPECT_EQ(r.status, "failed");
  EXPECT_EQ(r.error_class, "deadline_exceeded") << r.error_code << ": " << r.error_message;
  EXPECT_EQ(r.refund, kCharged);
  SimStats st = SimStatsOf(e.s);
  EXPECT_EQ(st.Made(952), 1);
  EXPECT_GE(st.Req("DELETE /v1/tasks"), 1) << st.raw;
  EXPECT_LE(st.Req("DELETE /v1/tasks"), 9) << st.raw;
}

// The same hint on a create: the refused create was retried after the hint (an hour),
// and only then did the job see that its 3 s deadline had passed. The retry now waits
// no longer than the deadline.
TEST(Upstream, ALongRetryAfterOnACreateDoesNotHoldAJobPastItsDeadline) {
  Env e("longhintcreate");
  ASSERT_TRUE(e.StartDaemon()) << e.s.Logs();
  SetChaos(e.s, R"({"rate_429":1,"retry_after_s":3600})");
  e.r().Push("runway:jobs", Job("lh2", 953, "x sim:secs=2", ",\"deadline_s\":3"));
  ASSERT_TRUE(WaitResult(e.r(), "lh2", 30s)) << e.s.Logs();
  ResultEvent r = ResultOf(e.r(), "lh2");
  EXPECT_EQ(r.status, "failed");
  EXPECT_EQ(r.error_class, "deadline_exceeded") << r.error_code << ": " << r.error_message;
  EXPECT_EQ(r.refund, kCharged);
  SimStats st = SimStatsOf(e.s);
  EXPECT_EQ(st.tasks_created, 0);
  EXPECT_EQ(st.Req("POST /v1/image_to_video"), 1) << st.raw;
}

// The same loop with the daily limit: Runway allows one gen4_turbo a day, the daemon's
// configuration says 100 (as a reading whose usage misses Runway's rolling window
// would). The second job was refused 429 "daily task limit", the reading reopened the
// model, and the job was sent again at once until its deadline. It now fails
// upstream_unavailable after max_create_retries resends, refunded.
TEST(Upstream, ADailyLimitRefusalTheLedgerCannotSeeIsNotResentUntilTheDeadline) {
  SimOptions so;
  so.account_limits = "{gen4_turbo = {max_daily = 1}}";
  Env e("dailyloop", so);
  DaemonOptions d;
  d.extra_toml = "limits = {gen4_turbo = {max_daily = 100}}\n[ledger]\ncredit_wait_s = 1\n";
  ASSERT_TRUE(e.StartDaemon(d)) << e.s.Logs();
  e.r().Push("runway:jobs", Job("dl1", 954, "x sim:secs=1"));
  ASSERT_TRUE(WaitResult(e.r(), "dl1", 30s)) << e.s.Logs();
  EXPECT_EQ(ResultOf(e.r(), "dl1").status, "succeeded");
  e.r().Push("runway:jobs", Job("dl2", 955, "x sim:secs=1", ",\"deadline_s\":8"));
  ASSERT_TRUE(WaitResult(e.r(), "dl2", 30s)) << e.s.Logs();
  ResultEvent r = ResultOf(e.r(), "dl2");
  EXPECT_EQ(r.status, "failed");
  EXPECT_EQ(r.error_class, "upstream_unavailable") << r.error_code << ": " << r.error_message;
  EXPECT_EQ(r.error_code, "http_429");
  EXPECT_EQ(r.refund, kCharged);
  SimStats st = SimStatsOf(e.s);
  EXPECT_EQ(st.Made(955), 0);
  EXPECT_LE(st.Req("POST /v1/image_to_video"), 1 + 7) << st.raw;
}
