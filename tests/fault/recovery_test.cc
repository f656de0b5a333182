// tests/fault/recovery_test.cc — the start's recovery (Engine::Recover) when Redis fails
// it half way.
//
// Recover() loads this daemon's in-flight records, resumes each (which may reserve and
// create at once), then reads its processing list; if either read gets no reply it
// starts again on the next connection. Found by review on 2026-12-07; docs/reliability.md
// lists it with the fix.
#include <gtest/gtest.h>

#include "fault.h"

using namespace harness;
using namespace fault;
using namespace std::chrono_literals;

// A record of d1's (admitted, not reserved yet) waits for d1's start; the account has a
// reading, so resuming it reserves and creates at once. The read of the processing list
// that follows loses its reply (the connection is cut), so the recovery runs again on
// the next connection. Before the fix it resumed the record a second time: the task of
// the first pass was taken for a stale one and dropped, and the record, "create_sent" by
// the first pass's reservation, was failed outcome_unknown with a refund while the first
// pass's create made a task (or before it went out). Now the second pass leaves records
// that a task here already holds: one task, a success.
TEST(Recovery, ARecoveryRetriedAfterALostReplyResumesEachRecordOnce) {
  ProxiedStack p("recovery_twice");
  Stack& s = p.s;
  FaultDaemons& d = p.d;
  const int64_t seed = 5959;
  const std::string job = MakeJob("m9", "image_to_video", "gen4_turbo", 5, 26, seed);
  s.redis().Cmd({"HSET", "runway:account:main", "balance", "1000000"});
  s.redis().Cmd({"EVAL",
                 "redis.call('HSET', KEYS[1], 'raw', ARGV[1], 'daemon', 'd1', 'state', 'admitted', 'taken_at', ARGV[2],"
                 " 'attempt', '0') redis.call('SADD', KEYS[2], 'm9') redis.call('SADD', KEYS[3], 'd1') return 1",
                 "3", "runway:job:m9", "runway:inflight:d1", "runway:daemons", job, std::to_string(WallMs())});
  p.proxy.ArmDrop("$6\r\nLRANGE\r\n");  // Recover's LoadProcessing: the first LRANGE d1 sends
  ASSERT_TRUE(p.StartDaemon("d1")) << d.Tail();
  EXPECT_TRUE(p.proxy.fired());
  ASSERT_TRUE(Drained(s, 1, 30s)) << d.Tail();
  std::this_thread::sleep_for(1s);  // time for a second copy to create and finish too
  EXPECT_EQ(d.Stop("d1"), 0);
  const Audit a = AuditRun(s, {{"m9", seed, 26, job}});
  EXPECT_EQ(a.outcome_unknown, 0u) << a.Summary() << "\n" << JobLogLines(s.dir(), {"m9"}) << d.Tail(3000);
  EXPECT_EQ(a.succeeded, 1u) << a.Summary();
  EXPECT_EQ(a.creations, 1) << a.Summary();
  EXPECT_TRUE(a.ok()) << a.Summary();
}
