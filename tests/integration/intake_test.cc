// tests/integration/intake_test.cc — producers' mistakes at intake, end to end
// (redis-server, runway-sim, runwayd): whatever a producer pushes ends once, in one
// result (or, when no id can be read, one dead entry), and leaves nothing behind in the
// daemon's processing list to be taken again at the next start.
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

