// tests/integration/invalid_copy_test.cc — an invalid job that reuses a known id, end
// to end (redis-server, runway-sim, runwayd). The id names the first job: the copy is a
// duplicate whatever else is wrong with it, so it must end as duplicate_job with no
// refund and no dead entry, exactly as a valid copy does. Only an invalid job whose id
// nobody knows gets invalid_job and its refund.
#include <gtest/gtest.h>

#include <map>

#include "harness.h"
#include "outcomes.h"
#include "sim_view.h"

using namespace harness;
using namespace std::chrono_literals;

namespace {

// The job with one field the contract does not know: refused by the parser, id readable.
std::string InvalidCopy(const std::string& job) { return job.substr(0, job.size() - 1) + R"(,"deadline":60})"; }

void StartStack(Stack& s) {
  s.StartRedis();
  s.StartSim();
  s.StartDaemon();
  ASSERT_TRUE(s.WaitReady(0)) << s.Logs();
}

void ExpectDuplicate(const ResultEvent& x, const std::string& id) {
  EXPECT_EQ(x.status, "failed");
  EXPECT_EQ(x.error_class, "invalid_job");
  EXPECT_EQ(x.error_code, "duplicate_job");
  EXPECT_EQ(x.duplicate_of, id);
  EXPECT_EQ(x.refund, -1) << "a duplicate is never refunded";
}

}  // namespace

// The reviewer's case: jobS succeeded, then a copy with a stray field came. Before the
// fix it got a second terminal result with a refund of 26 for a job that succeeded.
TEST(InvalidCopy, OfASucceededJobIsADuplicateWithoutRefund) {
  Stack s("invalid-copy-done");
  ASSERT_NO_FATAL_FAILURE(StartStack(s));
  auto& r = s.redis();
  const std::string job = MakeJob("jobS", "image_to_video", "gen4_turbo", 5, 26, 4100);
  r.Push("runway:jobs", job);
  ASSERT_TRUE(WaitFor([&] { return ResultsFor(r, "jobS").size() == 1; }, 30s)) << s.Logs();
  ASSERT_EQ(ResultsFor(r, "jobS")[0].status, "succeeded");
  r.Push("runway:jobs", InvalidCopy(job));
  ASSERT_TRUE(WaitFor([&] { return ResultsFor(r, "jobS").size() == 2; }, 30s)) << s.Logs();
  std::this_thread::sleep_for(300ms);  // nothing more may arrive
  auto results = ResultsFor(r, "jobS");
  ASSERT_EQ(results.size(), 2u);
  ExpectDuplicate(results[1], "jobS");
  EXPECT_TRUE(RefundsById(r).empty());
  EXPECT_EQ(r.Int({"EXISTS", "runway:refunded:jobS"}), 0);
  EXPECT_EQ(r.Int({"LLEN", "runway:dead"}), 0) << "a duplicate is not dead-lettered";
  EXPECT_EQ(r.Int({"LLEN", "runway:processing:d1"}), 0);
  EXPECT_EQ(SimStatsOf(s).Made(4100), 1);
}

// The other way round: while the first job runs, an invalid copy must not take the
// refund marker, or the first job's failure would lose its refund.
TEST(InvalidCopy, WhileTheJobRunsLeavesItsRefundToIt) {
  Stack s("invalid-copy-running");
  ASSERT_NO_FATAL_FAILURE(StartStack(s));
  auto& r = s.redis();
  const std::string job =
      MakeJob("jobR", "image_to_video", "gen4_turbo", 5, 26, 4200, "x sim:secs=60 sim:fail=SAFETY.INPUT.TEXT");
  r.Push("runway:jobs", job);
  ASSERT_TRUE(WaitFor([&] { return r.Int({"SCARD", "runway:inflight:d1"}) == 1; }, 10s)) << s.Logs();
  r.Push("runway:jobs", InvalidCopy(job));
  ASSERT_TRUE(WaitFor([&] { return ResultsFor(r, "jobR").size() == 2; }, 30s)) << s.Logs();
  std::this_thread::sleep_for(300ms);
  auto results = ResultsFor(r, "jobR");
  ASSERT_EQ(results.size(), 2u);
  ExpectDuplicate(results[0], "jobR");
  EXPECT_EQ(results[1].status, "failed");
  EXPECT_EQ(results[1].error_class, "moderation");
  EXPECT_EQ(results[1].refund, 26) << "the job itself keeps its refund";
  EXPECT_EQ(RefundsById(r), (std::map<std::string, int64_t>{{"jobR", 26}}));
  EXPECT_EQ(r.Int({"LLEN", "runway:dead"}), 1) << "only the job's own failure";
}

// A record another daemon holds is known too (kFinish reads it, as kAdmit does); an
// unknown id still gets invalid_job, a dead entry and its refund.
TEST(InvalidCopy, OfAJobAnotherDaemonHoldsIsADuplicateAndAnUnknownIdIsRefunded) {
  Stack s("invalid-copy-other");
  ASSERT_NO_FATAL_FAILURE(StartStack(s));
  auto& r = s.redis();
  r.Cmd({"HSET", "runway:job:jobO", "daemon", "d9", "state", "task", "raw", "{}"});
  r.Push("runway:jobs", InvalidCopy(MakeJob("jobO", "image_to_video", "gen4_turbo", 5, 26, 4300)));
  r.Push("runway:jobs", InvalidCopy(MakeJob("jobU", "image_to_video", "gen4_turbo", 5, 26, 4301)));
  ASSERT_TRUE(WaitFor([&] { return r.Int({"LLEN", "runway:results"}) == 2; }, 30s)) << s.Logs();
  std::this_thread::sleep_for(300ms);
  auto other = ResultsFor(r, "jobO");
  ASSERT_EQ(other.size(), 1u);
  ExpectDuplicate(other[0], "jobO");
  EXPECT_NE(other[0].error_message.find("in flight on daemon d9"), std::string::npos) << other[0].error_message;
  auto unknown = ResultsFor(r, "jobU");
  ASSERT_EQ(unknown.size(), 1u);
  EXPECT_EQ(unknown[0].error_class, "invalid_job");
  EXPECT_EQ(unknown[0].error_code, "invalid_job");
  EXPECT_EQ(unknown[0].refund, 26);
  EXPECT_EQ(RefundsById(r), (std::map<std::string, int64_t>{{"jobU", 26}}));
  EXPECT_EQ(r.Int({"LLEN", "runway:dead"}), 1);
  EXPECT_EQ(r.Cmd({"HGET", "runway:job:jobO", "daemon"})->str, std::string("d9")) << "the record is untouched";
  EXPECT_EQ(r.Int({"LLEN", "runway:processing:d1"}), 0);
}
