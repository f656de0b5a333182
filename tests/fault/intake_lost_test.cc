// tests/fault/intake_lost_test.cc — intake's windows: replies lost around a take, and a
// stop's last take. Whatever the daemon loses or leaves, every push ends in one result.
//
// A producer that retries an LPUSH whose reply it lost pushes the same bytes twice. The
// daemon's processing list then holds two equal raws, and a lost reply can leave it
// unsure which of them its tasks account for: the job must run once, the copy end
// duplicate_job, and the processing list be emptied. A stopping daemon's last blocking
// take must not move a job where no peer will adopt it.
#include <gtest/gtest.h>

#include <csignal>

#include "fault.h"
#include "outcomes.h"
#include "queue/scripts.h"
#include "sim_view.h"

using namespace harness;
using namespace fault;
using namespace std::chrono_literals;

// The blocking take serves the first copy; its admission and the batch take that moves
// the second copy go out in one write, both run, and both replies are lost with the
// connection. Before the fix the processing-list resync counted the first copy's task
// (its admission unanswered, in fact done) as holding the second copy's raw, and the
// second copy stayed in the processing list with no task and no result until a restart.
TEST(LostReply, AnAdmissionAndATakeLostTogetherStrandNoCopyOfARepeatedPush) {
  ProxiedStack p("lost_take_admit");
  Stack& s = p.s;
  RedisProxy& proxy = p.proxy;
  FaultDaemons& d = p.d;
  ASSERT_TRUE(p.StartDaemon("d1")) << d.Tail();
  const std::string job = MakeJob("twice", "image_to_video", "gen4_turbo", 5, 26, 8100);
  proxy.ArmDrop("runway:job:twice");  // the admission, and the take written with it
  s.redis().Cmd({"LPUSH", "runway:jobs", job, job});
  ASSERT_TRUE(WaitFor([&] { return proxy.fired(); }, 10s)) << d.Tail();
  const bool both = WaitFor([&] { return ResultsFor(s.redis(), "twice").size() >= 2; }, 20s);
  EXPECT_TRUE(both) << "results " << ResultsFor(s.redis(), "twice").size() << ", left in processing "
                    << s.redis().Int({"LLEN", "runway:processing:d1"}) << "\n" << d.Tail(3000);
  EXPECT_TRUE(WaitFor([&] { return LeftInRedis(s.redis()) == 0; }, 10s));
  ASSERT_EQ(d.Stop("d1"), 0);
  const auto results = ResultsFor(s.redis(), "twice");
  ASSERT_EQ(results.size(), 2u);
  int succeeded = 0, duplicates = 0;
  for (const auto& x : results) {
    succeeded += x.status == "succeeded";
    duplicates += x.error_code == "duplicate_job";
  }
  EXPECT_EQ(succeeded, 1);
  EXPECT_EQ(duplicates, 1);
  EXPECT_TRUE(RefundsById(s.redis()).empty());
  EXPECT_EQ(SimStatsOf(s).Made(8100), 1);
}

// A stopping daemon deleted its heartbeat while its blocking take (BLMOVE, up to a third
// of the TTL) still waited in Redis. A peer that adopted in between found its lists
// empty and forgot it (kAdopt drops a dead daemon with nothing left); a job pushed then
// was served to that BLMOVE, into the processing list of a daemon nobody adopts any
// more: no result, ever, unless a daemon with that id starts again. Here the DEL's reply
// is held (the daemon stays in that window) and the peer's adoption is kAdopt run by
// hand as "dz". Fixed: the heartbeat is deleted only once no take is outstanding.
TEST(LostReply, AStopDropsItsHeartbeatOnlyWithNoTakeOutstanding) {
  ProxiedStack p("stop_blmove");
  Stack& s = p.s;
  RedisProxy& proxy = p.proxy;
  FaultDaemons& d = p.d;
  FaultDaemonOptions o;
  o.heartbeat_ttl_ms = 3000;  // the blocking take waits up to 1 s
  ASSERT_TRUE(p.StartDaemon("d1", o)) << d.Tail();
  proxy.ArmHold("DEL\r\n$16\r\nrunway:daemon:d1");
  d.proc("d1").Signal(SIGTERM);
  ASSERT_TRUE(WaitFor([&] { return proxy.fired(); }, 5s)) << d.Tail();
  ASSERT_TRUE(WaitFor([&] { return s.redis().Int({"EXISTS", "runway:daemon:d1"}) == 0; }, 5s));
  auto adopt = s.redis().Cmd({"EVAL", runwayd::scripts::kAdopt, "1", "runway:daemons", "runway", "dz", "100"});
  ASSERT_EQ(s.redis().Int({"SISMEMBER", "runway:daemons", "d1"}), 0) << "the peer forgot d1";
  const std::string job = MakeJob("late", "image_to_video", "gen4_turbo", 5, 26, 8200);
  s.redis().Push("runway:jobs", job);
  std::this_thread::sleep_for(300ms);  // d1's blocking take, if one still waits, is served now
  proxy.Release();
  EXPECT_EQ(d.Stop("d1"), 0) << d.Tail();
  FaultDaemonOptions o2;
  d.Start("d2", o2);  // straight to Redis
  ASSERT_TRUE(d.WaitReady("d2")) << d.Tail();
  EXPECT_TRUE(WaitFor([&] { return ResultsFor(s.redis(), "late").size() == 1; }, 15s))
      << "left in runway:processing:d1: " << s.redis().Int({"LLEN", "runway:processing:d1"}) << "\n" << d.Tail(3000);
  EXPECT_EQ(d.Stop("d2"), 0) << d.Tail();
}

// `runwayctl enqueue` whose push ran but whose answer was lost (a timeout, a dropped
// connection) said only "no answer": an operator takes that for "not queued" and
// enqueues it again, and the copy ends as a duplicate_job failure for the same id. It
// must say the job may be queued all the same.
TEST(LostReply, RunwayctlEnqueueWithoutAnAnswerSaysTheJobMayBeQueued) {
  ProxiedStack p("ctl_lost_push");
  Stack& s = p.s;
  const std::string job = MakeJob("ctl_lost", "image_to_video", "gen4_turbo", 5, 26, 8200, "lost-push-prompt");
  p.proxy.ArmDrop("lost-push-prompt");  // only the push carries the job's body
  ShellRun r = RunShell(ShellQuote(Bin("runwayctl")) + " --timeout 1 --redis redis://127.0.0.1:" +
                            std::to_string(p.proxy.port()) + " enqueue -",
                        s.dir(), job);
  EXPECT_TRUE(p.proxy.fired());
  EXPECT_EQ(r.rc, 1) << r;
  EXPECT_NE(r.err.find("the job may have been pushed all the same"), std::string::npos) << r;
  EXPECT_EQ(s.redis().List("runway:jobs"), std::vector<std::string>{job}) << "it was";
}
