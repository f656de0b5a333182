// tests/integration/intake_test.cc — producers' mistakes at intake, end to end
// (redis-server, runway-sim, runwayd): whatever a producer pushes ends once, in one
// result (or, when no id can be read, one dead entry), and leaves nothing behind in the
// daemon's processing list to be taken again at the next start; and a job admitted under
// one configuration is not refused when it is read again under another.
#include <gtest/gtest.h>

#include <csignal>
#include <string>
#include <thread>

#include "harness.h"
#include "outcomes.h"
#include "sim_view.h"

using namespace harness;
using namespace std::chrono_literals;

namespace {

void StartStack(Stack& s) {
  s.StartRedis();
  s.StartSim();
  s.StartDaemon();
  ASSERT_TRUE(s.WaitReady(0)) << s.Logs();
}

}  // namespace

// An empty string is a list element Redis takes like any other. It is not a job: one
// dead entry with "id": null, and it leaves the processing list. Before the fix kFinish
// skipped the removal for an empty raw (it read '' as "nothing to remove"), so the
// element stayed in runway:processing:d1 and every start took it again: one more dead
// entry per restart, and a processing list that never emptied.
TEST(Intake, AnEmptyJobIsDeadLetteredOnceAndLeavesTheProcessingList) {
  Stack s("intake-empty");
  ASSERT_NO_FATAL_FAILURE(StartStack(s));
  auto& r = s.redis();
  r.Push("runway:jobs", "");
  r.Push("runway:jobs", MakeJob("after-empty", "image_to_video", "gen4_turbo", 5, 0, 5100));
  ASSERT_TRUE(WaitFor([&] { return ResultsFor(r, "after-empty").size() == 1; }, 30s)) << s.Logs();
  ASSERT_TRUE(WaitFor([&] { return r.Int({"LLEN", "runway:dead"}) == 1; }, 10s)) << s.Logs();
  EXPECT_EQ(r.Int({"LLEN", "runway:processing:d1"}), 0);

  s.daemon(0).Signal(SIGTERM);
  ASSERT_EQ(s.daemon(0).Wait(10s), 0) << s.Logs();
  s.StartDaemon();
  ASSERT_TRUE(s.WaitReady(1)) << s.Logs();
  std::this_thread::sleep_for(500ms);  // a second dead entry would come now
  EXPECT_EQ(r.Int({"LLEN", "runway:dead"}), 1) << "the empty job was taken again at the restart";
  EXPECT_EQ(r.Int({"LLEN", "runway:processing:d1"}), 0);
}

// A job admitted under one configuration is resumed under another: a restart with a
// lower jobs.max_bytes (the same happens after a SIGHUP, when the job comes back from the
// retry set, or when a peer configured otherwise adopts it). Its task was created and
// runs at Runway. Before the fix Resume() parsed the record's raw with the new limit and
// ended the job invalid_job with a refund, never polling the task Runway ran and charged
// (and settling its ledger hold as never charged).
TEST(Intake, ARecordAdmittedUnderAnotherLimitIsResumedNotRefused) {
  Stack s("intake-resume-limit");
  s.StartRedis();
  SimOptions so;
  so.extra_toml = "[task]\nduration_s = 100\njitter_s = 0\n";  // 5 s at the test's time scale
  s.StartSim(so);
  s.StartDaemon();
  ASSERT_TRUE(s.WaitReady(0)) << s.Logs();
  auto& r = s.redis();
  const std::string job = MakeJob("big", "image_to_video", "gen4_turbo", 5, 26, 5200, std::string(900, 'x'));
  ASSERT_GT(job.size(), 1024u);
  r.Push("runway:jobs", job);
  ASSERT_TRUE(WaitFor([&] {
    auto st = r.Cmd({"HGET", "runway:job:big", "state"});
    return st->type == REDIS_REPLY_STRING && std::string(st->str) == "task";
  }, 20s)) << s.Logs();
  s.daemon(0).Signal(SIGKILL);
  ASSERT_EQ(s.daemon(0).Wait(5s), -SIGKILL);

  DaemonOptions o;
  o.extra_toml = "[jobs]\nmax_bytes = 1024\n";
  s.StartDaemon(o);
  ASSERT_TRUE(s.WaitReady(1)) << s.Logs();
  ASSERT_TRUE(WaitFor([&] { return ResultsFor(r, "big").size() == 1; }, 30s)) << s.Logs();
  const ResultEvent x = ResultsFor(r, "big")[0];
  EXPECT_EQ(x.status, "succeeded") << x.error_class << ": " << x.error_message;
  EXPECT_EQ(x.attempts, 1);
  EXPECT_TRUE(RefundsById(r).empty());
  EXPECT_EQ(SimStatsOf(s).Made(5200), 1);
  // A new job over the new limit is refused as before.
  r.Push("runway:jobs", MakeJob("big2", "image_to_video", "gen4_turbo", 5, 26, 5201, std::string(900, 'x')));
  ASSERT_TRUE(WaitFor([&] { return r.Int({"LLEN", "runway:dead"}) == 1; }, 10s)) << s.Logs();
  EXPECT_EQ(SimStatsOf(s).Made(5201), 0);
}

// A job that is not valid UTF-8 is refused unread: one dead entry, "id": null. Its `job`
// cannot hold the bytes as they came (an event is valid UTF-8). Before the fix they were
// replaced by U+FFFD, which made the text a valid job: scripts/replay pushed back a job
// the producer never sent (here with a prompt changed), and the daemon ran it at Runway
// (a paid task) and answered an id that had never been answered. Replaced by U+001A, a
// control character no JSON text may hold raw, the job is refused again as it was.
TEST(Intake, AJobNotInUtf8IsNotRunWhenItsDeadEntryIsReplayed) {
  Stack s("intake-utf8-replay");
  ASSERT_NO_FATAL_FAILURE(StartStack(s));
  auto& r = s.redis();
  r.Push("runway:jobs", MakeJob("latin1", "image_to_video", "gen4_turbo", 5, 26, 5300, "caf\xe9 au lait"));
  ASSERT_TRUE(WaitFor([&] { return r.Int({"LLEN", "runway:dead"}) == 1; }, 10s)) << s.Logs();
  const ShellRun run = RunShell(ShellQuote(std::string(RUNWAYD_SOURCE_DIR) + "/scripts/replay") + " -p " +
                                    std::to_string(s.redis_port()) + " --class invalid_job",
                                s.dir());
  ASSERT_EQ(run.rc, 0) << run;
  ASSERT_TRUE(WaitFor([&] { return r.Int({"LLEN", "runway:jobs"}) == 0; }, 10s));
  r.Push("runway:jobs", MakeJob("after-replay", "image_to_video", "gen4_turbo", 5, 0, 5301));
  ASSERT_TRUE(WaitFor([&] { return ResultsFor(r, "after-replay").size() == 1; }, 30s)) << s.Logs();
  EXPECT_TRUE(ResultsFor(r, "latin1").empty()) << "the replayed text ran as a job";
  EXPECT_EQ(SimStatsOf(s).Made(5300), 0);
  EXPECT_TRUE(RefundsById(r).empty());
  EXPECT_EQ(r.Int({"LLEN", "runway:dead"}), 1) << "refused again: one dead entry";
  EXPECT_EQ(r.Int({"LLEN", "runway:processing:d1"}), 0);
}

// An operator cancelled a job while it was queued, and the producer had pushed it twice
// (an LPUSH retried after a lost reply). The first copy ends cancelled, refunded; the
// second is a copy of a job that has ended. Before the fix the cancel at admission set no
// dedup marker (only admitted jobs had one), so the second copy was admitted and run: a
// paid task and a success for an id already cancelled and refunded.
TEST(Intake, ACopyOfAJobCancelledWhileQueuedIsADuplicate) {
  Stack s("intake-cancel-copy");
  ASSERT_NO_FATAL_FAILURE(StartStack(s));
  auto& r = s.redis();
  r.Cmd({"SET", "runway:cancelreq:cq", "1", "EX", "86400"});  // kRouteCancel's "marked"
  const std::string job = MakeJob("cq", "image_to_video", "gen4_turbo", 5, 26, 5400);
  r.Cmd({"LPUSH", "runway:jobs", job, job});
  ASSERT_TRUE(WaitFor([&] { return ResultsFor(r, "cq").size() >= 2; }, 30s)) << s.Logs();
  std::this_thread::sleep_for(300ms);
  const auto results = ResultsFor(r, "cq");
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].status, "cancelled");
  EXPECT_EQ(results[0].refund, 26);
  EXPECT_EQ(results[1].error_code, "duplicate_job") << results[1].status;
  EXPECT_EQ(SimStatsOf(s).Made(5400), 0) << "the cancelled job ran";
  EXPECT_EQ(RefundsById(r).size(), 1u);
  EXPECT_EQ(r.Int({"LLEN", "runway:processing:d1"}), 0);
}
