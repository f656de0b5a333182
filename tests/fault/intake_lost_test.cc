// tests/fault/intake_lost_test.cc — intake's lost replies with a job pushed twice.
//
// A producer that retries an LPUSH whose reply it lost pushes the same bytes twice. The
// daemon's processing list then holds two equal raws, and a lost reply can leave it
// unsure which of them its tasks account for. Whatever the daemon loses, each push ends
// in one result: the job runs once, the copy ends duplicate_job, and the processing list
// is emptied.
#include <gtest/gtest.h>

#include "fault.h"
#include "outcomes.h"
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
