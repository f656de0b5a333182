// tests/integration/replay_test.cc — scripts/replay against real processes: jobs fail
// for real in runway-sim (invalid_input, moderation) or in the daemon (invalid_job),
// land in runway:dead, and the script puts chosen ones back; the daemon runs them
// again, and a job is never refunded twice. The script alone: replay_script_test.cc.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "replay_env.h"
#include "sim_view.h"

using namespace harness;
using namespace replay_env;
using namespace std::chrono_literals;

TEST(Replay, DryRunReportsAndChangesNothing) {
  Stack s("replay-dry");
  ASSERT_NO_FATAL_FAILURE(StartWithThreeDeadJobs(s));
  auto& r = s.redis();
  auto before = r.List("runway:dead");
  std::vector<std::string> order = DeadIds(r);  // oldest first

  ReplayRun all = Replay(s, Args(s, {"--dry-run"}));
  ASSERT_EQ(all.rc, 0) << all.out << all.err;
  EXPECT_EQ(all.out, "dry run: would move 3 of 3 dead jobs: " + Join(order) + "\n");

  ReplayRun js = Replay(s, Args(s, {"--dry-run", "--json"}));
  ASSERT_EQ(js.rc, 0) << js.err;
  Summary sum = ParseSummary(js.out);
  EXPECT_TRUE(sum.dry_run);
  EXPECT_EQ(sum.dead, 3);
  EXPECT_EQ(sum.matched, 3);
  EXPECT_EQ(sum.moved, 3);
  EXPECT_EQ(sum.undecodable, 0);
  EXPECT_EQ(sum.ids, order);

  ReplayRun two = Replay(s, Args(s, {"--dry-run", "--json", "--class", "invalid_input", "--class", "moderation,cancelled"}));
  ASSERT_EQ(two.rc, 0) << two.err;
  sum = ParseSummary(two.out);
  EXPECT_EQ(sum.moved, 2);
  EXPECT_EQ(std::set<std::string>(sum.ids.begin(), sum.ids.end()), (std::set<std::string>{"rp_asset", "rp_mod"}));

  // The reason is matched as plain text, whatever the case.
  std::string mod_reason;
  for (const auto& d : DeadList(r))
    if (d.id == "rp_mod") mod_reason = d.reason;
  ASSERT_FALSE(mod_reason.empty());
  std::string upper;
  for (char c : mod_reason) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  ReplayRun reason = Replay(s, Args(s, {"--dry-run", "--reason", upper}));
  ASSERT_EQ(reason.rc, 0) << reason.err;
  EXPECT_EQ(reason.out, "dry run: would move 1 of 3 dead jobs: rp_mod\n") << "reason: " << mod_reason;
  ReplayRun none = Replay(s, Args(s, {"--dry-run", "--reason", "(.*"}));  // not a pattern: no match, no error
  ASSERT_EQ(none.rc, 0) << none.err;
  EXPECT_EQ(none.out, "dry run: would move 0 of 3 dead jobs\n");

  // Age: all three died seconds ago.
  ReplayRun old = Replay(s, Args(s, {"--dry-run", "--older-than", "1h"}));
  EXPECT_EQ(old.out, "dry run: would move 0 of 3 dead jobs\n") << old.err;
  ReplayRun recent = Replay(s, Args(s, {"--dry-run", "--newer-than", "1h", "--json"}));
  EXPECT_EQ(ParseSummary(recent.out).moved, 3) << recent.err;

  EXPECT_EQ(r.List("runway:dead"), before);
  EXPECT_EQ(r.Int({"LLEN", "runway:jobs"}), 0);
  EXPECT_EQ(r.Int({"EXISTS", "runway:done:rp_asset", "runway:done:rp_mod"}), 2);
  EXPECT_EQ(r.Int({"EXISTS", "runway:replayed:rp_asset", "runway:replayed:rp_mod", "runway:replayed:rp_bad"}), 0);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(r.Int({"LLEN", "runway:results"}), 3);
}

TEST(Replay, OneClassGoesBackRunsAgainAndIsNotRefundedTwice) {
  Stack s("replay-class");
  ASSERT_NO_FATAL_FAILURE(StartWithThreeDeadJobs(s));
  auto& r = s.redis();
  std::map<std::string, std::string> before;
  for (const auto& d : DeadList(r)) before[d.id] = d.raw;
  auto first = ResultsFor(r, "rp_asset");
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].refund, 26);
  EXPECT_FALSE(first[0].replayed);

  ReplayRun run = Replay(s, Args(s, {"--class", "invalid_input"}));
  ASSERT_EQ(run.rc, 0) << run.err;
  EXPECT_EQ(run.out, "moved 1 of 3 dead jobs to runway:jobs: rp_asset\n");

  // The same body fails the same way again: a second result, a new dead entry.
  ASSERT_TRUE(WaitFor([&] { return r.Int({"LLEN", "runway:results"}) == 4 && r.Int({"LLEN", "runway:dead"}) == 3; },
                      10s))
      << s.Logs();
  std::this_thread::sleep_for(300ms);  // nothing more may arrive
  EXPECT_EQ(r.Int({"LLEN", "runway:results"}), 4);

  auto again = ResultsFor(r, "rp_asset");
  ASSERT_EQ(again.size(), 2u);
  const ResultEvent& second = again[1];
  EXPECT_EQ(second.status, "failed");
  EXPECT_EQ(second.error_class, "invalid_input");
  EXPECT_TRUE(second.replayed);
  EXPECT_TRUE(second.duplicate_of.empty());
  EXPECT_EQ(second.refund, -1) << "the refund was emitted the first time: the replayed result offers none";
  // One run after the other, never both at once.
  EXPECT_GE(second.taken_at, first[0].finished_at);
  EXPECT_EQ(RefundCounts(r), (std::map<std::string, int>{{"rp_asset", 1}, {"rp_mod", 1}, {"rp_bad", 1}}));
  auto made = SimStatsOf(s).creations;
  EXPECT_EQ(made[101], 2) << "one task per run";
  EXPECT_EQ(made[102], 1);
  for (const auto& x : ReadResults(r)) EXPECT_TRUE(x.duplicate_of.empty()) << x.id;

  // The dead list: the other two untouched, rp_asset dead again (newest).
  auto dead = DeadList(r);
  ASSERT_EQ(dead.size(), 3u);
  EXPECT_EQ(dead.back().id, "rp_asset");
  EXPECT_NE(dead.back().raw, before["rp_asset"]);
  EXPECT_EQ(dead.back().job, MakeJob("rp_asset", "image_to_video", "gen4_turbo", 5, 26, 101, "sim:fail=ASSET.INVALID"));
  for (size_t i = 0; i + 1 < dead.size(); ++i) EXPECT_EQ(dead[i].raw, before[dead[i].id]);
  // The daemon consumed the replay marker and wrote its dedup marker again.
  EXPECT_EQ(r.Int({"EXISTS", "runway:replayed:rp_asset"}), 0);
  EXPECT_EQ(r.Int({"EXISTS", "runway:done:rp_asset"}), 1);
  EXPECT_EQ(r.Int({"EXISTS", "runway:refunded:rp_asset"}), 1);
  EXPECT_EQ(r.Int({"LLEN", "runway:processing:d1"}), 0);
  EXPECT_EQ(r.Int({"SCARD", "runway:inflight:d1"}), 0);

  // The malformed job too: it fails again, and its refund is still not repeated.
  ReplayRun bad = Replay(s, Args(s, {"--class", "invalid_job"}));
  ASSERT_EQ(bad.rc, 0) << bad.err;
  EXPECT_EQ(bad.out, "moved 1 of 3 dead jobs to runway:jobs: rp_bad\n");
  ASSERT_TRUE(WaitFor([&] { return r.Int({"LLEN", "runway:results"}) == 5 && r.Int({"LLEN", "runway:dead"}) == 3; },
                      10s))
      << s.Logs();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(RefundCounts(r), (std::map<std::string, int>{{"rp_asset", 1}, {"rp_mod", 1}, {"rp_bad", 1}}));
  auto bad_results = ResultsFor(r, "rp_bad");
  ASSERT_EQ(bad_results.size(), 2u);
  EXPECT_EQ(bad_results[1].refund, -1) << "no second refund event, so the result promises none";
  EXPECT_FALSE(bad_results[0].replayed);
  EXPECT_TRUE(bad_results[1].replayed) << "never admitted, yet its finish read the replay marker";
  EXPECT_EQ(r.Int({"EXISTS", "runway:replayed:rp_bad"}), 0) << "its finish consumed the replay marker";
  EXPECT_EQ(DeadList(r).back().job, kBadJob);
}

// A replayed job whose daemon restarts while it runs resumes from its Redis record: the
// record keeps "replayed" (admission moved the marker there), and the finish script, not
// the daemon's memory, decides whether the result carries a refund.
TEST(Replay, ReplayedJobResumedAfterARestartKeepsItsFlagAndIsNotRefundedTwice) {
  Stack s("replay-resume");
  s.StartRedis();
  s.StartSim();
  auto& r = s.redis();
  const std::string job = MakeJob("rr1", "image_to_video", "gen4_turbo", 5, 26, 131, "sim:fail=ASSET.INVALID");
  const std::string now = std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                              std::chrono::system_clock::now().time_since_epoch()).count());
  // What admission of a replayed job leaves, as a SIGKILL right after it would.
  r.Cmd({"HSET", "runway:job:rr1", "raw", job, "daemon", "d1", "state", "admitted", "taken_at", now, "attempt", "0",
         "replayed", "1"});
  r.Cmd({"SADD", "runway:inflight:d1", "rr1"});
  r.Cmd({"SADD", "runway:daemons", "d1"});
  r.Cmd({"SET", "runway:refunded:rr1", "1", "EX", "600"});  // its first run was refunded
  s.StartDaemon();
  ASSERT_TRUE(s.WaitReady(0)) << s.Logs();
  ASSERT_TRUE(WaitFor([&] { return r.Int({"LLEN", "runway:results"}) >= 1; }, 15s)) << s.Logs();
  std::this_thread::sleep_for(300ms);
  auto res = ResultsFor(r, "rr1");
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].status, "failed");
  EXPECT_TRUE(res[0].replayed);
  EXPECT_EQ(res[0].refund, -1);
  EXPECT_EQ(r.Int({"LLEN", "runway:refunds"}), 0);
}

TEST(Replay, IdPatternAndLimitTakeTheOldestMatches) {
  Stack s("replay-limit");
  s.StartRedis();
  s.StartSim();
  s.StartDaemon();
  ASSERT_TRUE(s.WaitReady(0)) << s.Logs();
  auto& r = s.redis();
  for (int i = 1; i <= 4; ++i)
    r.Push("runway:jobs", MakeJob("batch_" + std::to_string(i), "image_to_video", "gen4_turbo", 5, 26, 200 + i,
                                  "sim:fail=ASSET.INVALID"));
  r.Push("runway:jobs", MakeJob("other_1", "image_to_video", "gen4_turbo", 5, 26, 209, "sim:fail=ASSET.INVALID"));
  ASSERT_TRUE(WaitFor([&] { return r.Int({"LLEN", "runway:dead"}) == 5; }, 10s)) << s.Logs();
  std::vector<std::string> batch;  // the batch ids in dead order, oldest first
  for (const auto& id : DeadIds(r))
    if (id.rfind("batch_", 0) == 0) batch.push_back(id);
  ASSERT_EQ(batch.size(), 4u);

  ReplayRun dry = Replay(s, Args(s, {"--id", "batch_*", "--limit", "2", "--dry-run"}));
  ASSERT_EQ(dry.rc, 0) << dry.err;
  EXPECT_EQ(dry.out, "dry run: would move 2 of 5 dead jobs: " + batch[0] + ", " + batch[1] +
                         "\nmatched 4; not moved: 2 over --limit\n");
  ReplayRun glob = Replay(s, Args(s, {"--id", "batch_[2-3]", "--id", "?ther_1", "--dry-run", "--json"}));
  Summary g = ParseSummary(glob.out);
  EXPECT_EQ(std::set<std::string>(g.ids.begin(), g.ids.end()),
            (std::set<std::string>{"batch_2", "batch_3", "other_1"}));
  ReplayRun nomatch = Replay(s, Args(s, {"--id", "BATCH_*", "--dry-run"}));  // case-sensitive, like Redis
  EXPECT_EQ(nomatch.out, "dry run: would move 0 of 5 dead jobs\n");

  ReplayRun run = Replay(s, Args(s, {"--id", "batch_*", "--limit", "2", "--json"}));
  ASSERT_EQ(run.rc, 0) << run.err;
  Summary sum = ParseSummary(run.out);
  EXPECT_FALSE(sum.dry_run);
  EXPECT_EQ(sum.matched, 4);
  EXPECT_EQ(sum.moved, 2);
  EXPECT_EQ(sum.not_moved["limit"], 2);
  EXPECT_EQ(sum.ids, (std::vector<std::string>{batch[0], batch[1]}));

  ASSERT_TRUE(WaitFor([&] { return r.Int({"LLEN", "runway:results"}) == 7 && r.Int({"LLEN", "runway:dead"}) == 5; },
                      10s))
      << s.Logs();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(r.Int({"LLEN", "runway:results"}), 7);
  auto made = SimStatsOf(s).creations;
  for (int i = 1; i <= 4; ++i) {
    std::string id = "batch_" + std::to_string(i);
    bool moved = id == batch[0] || id == batch[1];
    auto res = ResultsFor(r, id);
    ASSERT_EQ(res.size(), moved ? 2u : 1u) << id;
    EXPECT_EQ(res.back().replayed, moved) << id;
    EXPECT_EQ(made[200 + i], moved ? 2 : 1) << id;
  }
  EXPECT_EQ(made[209], 1);
  auto refunds = RefundCounts(r);
  EXPECT_EQ(refunds.size(), 5u);
  for (const auto& [id, n] : refunds) EXPECT_EQ(n, 1) << id;
  // The two that ran again are now the newest dead entries.
  auto ids = DeadIds(r);
  EXPECT_EQ(std::set<std::string>(ids.end() - 2, ids.end()), (std::set<std::string>{batch[0], batch[1]}));
}

// An operator's cancel that reaches the daemons after its job ended (here sent with
// `runwayctl cancel --force`; a cancel that crosses the job's failure is routed the same
// way) finds nobody holding the id and is remembered as runway:cancelreq:<id> for a
// day. A replay within that day is the newer decision: the stale cancel must not end
// the replayed job "cancelled" at admission without running it.
TEST(Replay, AnOlderCancelWaitingForTheIdDoesNotCancelTheReplayedJob) {
  Stack s("replay-cancelreq");
  s.StartRedis();
  s.StartSim();
  s.StartDaemon();
  ASSERT_TRUE(s.WaitReady(0)) << s.Logs();
  auto& r = s.redis();
  r.Push("runway:jobs", MakeJob("rc_1", "image_to_video", "gen4_turbo", 5, 26, 301, "sim:fail=ASSET.INVALID"));
  ASSERT_TRUE(WaitFor([&] { return r.Int({"LLEN", "runway:dead"}) == 1; }, 10s)) << s.Logs();

  ShellRun cancel = RunShell(ShellQuote(Bin("runwayctl")) + " --redis redis://127.0.0.1:" +
                                 std::to_string(s.redis_port()) + " cancel --force rc_1",
                             s.dir());
  ASSERT_EQ(cancel.rc, 0) << cancel;
  ASSERT_TRUE(WaitFor([&] { return r.Int({"EXISTS", "runway:cancelreq:rc_1"}) == 1; }, 10s)) << s.Logs();

  ReplayRun dry = Replay(s, Args(s, {"--id", "rc_1", "--dry-run"}));
  ASSERT_EQ(dry.rc, 0) << dry.err;
  EXPECT_EQ(r.Int({"EXISTS", "runway:cancelreq:rc_1"}), 1) << "--dry-run writes nothing";
  ReplayRun run = Replay(s, Args(s, {"--id", "rc_1"}));
  ASSERT_EQ(run.rc, 0) << run.err;
  EXPECT_EQ(run.out, "moved 1 of 1 dead jobs to runway:jobs: rc_1\n");

  ASSERT_TRUE(WaitFor([&] { return r.Int({"LLEN", "runway:results"}) == 2; }, 10s)) << s.Logs();
  std::this_thread::sleep_for(300ms);
  auto res = ResultsFor(r, "rc_1");
  ASSERT_EQ(res.size(), 2u);
  EXPECT_EQ(res[1].status, "failed") << "the replayed job ran";
  EXPECT_EQ(res[1].error_class, "invalid_input");
  EXPECT_TRUE(res[1].replayed);
  EXPECT_EQ(res[1].refund, -1);
  EXPECT_EQ(SimStatsOf(s).creations[301], 2) << "one task per run";
  EXPECT_EQ(RefundCounts(r), (std::map<std::string, int>{{"rc_1", 1}}));
  EXPECT_EQ(r.Int({"EXISTS", "runway:cancelreq:rc_1"}), 0);
}
