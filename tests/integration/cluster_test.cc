// tests/integration/cluster_test.cc — two daemons on one Redis: a killed daemon's
// jobs are adopted by the survivor and every job still ends exactly once.
#include <gtest/gtest.h>
#include <signal.h>

#include <map>
#include <set>

#include "harness.h"
#include "outcomes.h"

using namespace harness;
using namespace std::chrono_literals;

namespace {

// id -> results of that job.
std::map<std::string, int> ResultCounts(Redis& r) {
  std::map<std::string, int> out;
  for (const auto& x : ReadResults(r)) ++out[x.id];
  return out;
}

}  // namespace

TEST(Cluster, SurvivorAdoptsTheJobsOfAKilledDaemon) {
  Stack s("cluster");
  s.StartRedis();
  s.StartSim();
  DaemonOptions a, b;
  a.id = "d1";
  b.id = "d2";
  a.extra_toml = b.extra_toml = "";
  std::string hb = "";
  // Short heartbeats so adoption happens within the test's time.
  a.heartbeat_ttl_ms = b.heartbeat_ttl_ms = 1000;
  s.StartDaemon(a);
  s.StartDaemon(b);
  ASSERT_TRUE(s.WaitReady(0)) << s.Logs();
  ASSERT_TRUE(s.WaitReady(1)) << s.Logs();
  const int n = 300;
  for (int i = 0; i < n; ++i)
    s.redis().Push("runway:jobs", MakeJob("c" + std::to_string(i), "image_to_video", "gen4_turbo", 5, 26, 5000 + i));
  std::this_thread::sleep_for(600ms);
  s.daemon(0).Signal(SIGKILL);
  ASSERT_EQ(s.daemon(0).Wait(5s), -SIGKILL);
  ASSERT_TRUE(WaitFor([&] { return s.redis().Int({"LLEN", "runway:results"}) >= n; }, 60s)) << s.Logs();
  std::this_thread::sleep_for(300ms);
  auto counts = ResultCounts(s.redis());
  EXPECT_EQ(counts.size(), static_cast<size_t>(n));
  for (const auto& [id, c] : counts) EXPECT_EQ(c, 1) << id;
  EXPECT_EQ(s.redis().Int({"LLEN", "runway:processing:d1"}), 0);
  EXPECT_EQ(s.redis().Int({"SCARD", "runway:inflight:d1"}), 0);
  EXPECT_EQ(s.redis().Int({"SCARD", "runway:inflight:d2"}), 0);
  EXPECT_EQ(s.redis().Int({"SISMEMBER", "runway:daemons", "d1"}), 0) << "the dead daemon is forgotten";
  std::string log2 = ReadFile(s.daemon(1).log_path());
  EXPECT_NE(log2.find("adopted"), std::string::npos) << s.Logs();
}

TEST(Cluster, CancelReachesTheDaemonThatHoldsTheJobAndQueuedJobs) {
  Stack s("cancel2");
  s.StartRedis();
  s.StartSim();
  DaemonOptions a, b;
  a.id = "d1";
  b.id = "d2";
  s.StartDaemon(a);
  ASSERT_TRUE(s.WaitReady(0)) << s.Logs();
  // A long task on d1; the cancel is popped by whichever daemon looks first.
  s.redis().Push("runway:jobs", MakeJob("long", "image_to_video", "gen4_turbo", 5, 26, 42, "x sim:secs=400"));
  ASSERT_TRUE(WaitFor([&] { return s.redis().Int({"SISMEMBER", "runway:inflight:d1", "long"}) == 1; }, 10s));
  s.StartDaemon(b);
  ASSERT_TRUE(s.WaitReady(1)) << s.Logs();
  // Cancel a job that is not taken yet too: it is cancelled at admission.
  s.redis().Push("runway:cancel", "queued");
  s.redis().Push("runway:cancel", "long");
  std::this_thread::sleep_for(1500ms);
  s.redis().Push("runway:jobs", MakeJob("queued", "image_to_video", "gen4_turbo", 5, 30, 43));
  ASSERT_TRUE(WaitFor([&] { return s.redis().Int({"LLEN", "runway:results"}) >= 2; }, 20s)) << s.Logs();
  int cancelled = 0;
  for (const auto& r : s.redis().List("runway:results")) cancelled += r.find("\"status\":\"cancelled\"") != std::string::npos;
  EXPECT_EQ(cancelled, 2);
  EXPECT_EQ(s.redis().Int({"LLEN", "runway:refunds"}), 2);
  EXPECT_EQ(s.redis().Int({"LLEN", "runway:processing:d1"}) + s.redis().Int({"LLEN", "runway:processing:d2"}), 0);
}
