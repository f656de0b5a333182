// tests/fault/cancel_test.cc — cancels (an operator's, or the deadline's) in the windows
// where the daemon does not see the task as it is.
//
//   * A finished task that the daemon has not polled yet: Runway's DELETE deletes a
//     finished task too, and a finished task was charged. Cancelling it would throw
//     away a paid output and refund the user for it; its outcome must stand.
//   * A job this daemon holds in Redis but has not loaded (between a lost reply and
//     the resync, or until the next start): kRouteCancel answered "mine" and the
//     cancel was dropped. It must reach the job when it is loaded, in every state.
//   * A DELETE on the wire when the daemon dies (SIGKILL): the next start finds the
//     task gone. The job must end as its cancel would have, not as a task deleted by
//     someone else (upstream_failure "task_not_found").
// Each test failed before its fix (DoPoll looks before a DELETE; kRouteCancel keeps a
// "mine" cancel in the record and Resume honours it; a gone task ends as its cancel;
// an operator's cancel is written into the record before it is acknowledged).
#include <gtest/gtest.h>

#include "fault.h"
#include "sim_view.h"

using namespace harness;
using namespace fault;
using namespace std::chrono_literals;

namespace {

// The result event of job `id`, "" if none.
std::string ResultOf(Stack& s, const std::string& id) {
  for (const std::string& r : s.redis().List("runway:results"))
    if (r.find("\"id\":\"" + id + "\"") != std::string::npos) return r;
  return "";
}

bool Has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

// Both tasks end at once (sim:secs=0), and the daemon's first poll comes 10 s after
// the create. Meanwhile an operator cancels c1, and c2's deadline (1 s) passes. Both
// tasks had already succeeded: both jobs must succeed, with no refund.
TEST(Cancel, AFinishedTaskIsNotDeletedByALateCancel) {
  ProxiedStack p("cancel_finished");
  Stack& s = p.s;
  FaultDaemons& d = p.d;
  FaultDaemonOptions o;
  o.extra_toml = "[polling]\nmin_interval_ms = 200000\nfirst_poll_ms = 200000\n";  // 10 s at time_scale 0.05
  ASSERT_TRUE(p.StartDaemon("d1", o)) << d.Tail();
  const std::string c1 = MakeJob("c1", "image_to_video", "gen4_turbo", 5, 26, 7101, "x sim:secs=0", "");
  const std::string c2 = MakeJob("c2", "image_to_video", "gen4_turbo", 5, 26, 7102, "x sim:secs=0", ",\"deadline_s\":1");
  s.redis().Push("runway:jobs", c1);
  s.redis().Push("runway:jobs", c2);
  ASSERT_TRUE(WaitFor([&] {
    return RecordField(s.redis(), "c1", "state") == "task" && RecordField(s.redis(), "c2", "state") == "task";
  }, 10s)) << d.Tail();
  std::this_thread::sleep_for(1500ms);  // both tasks finished upstream; c2's deadline passed
  ASSERT_EQ(CountResults(s.redis()), 0u) << "the first poll must come later for this test to mean anything";
  s.redis().Push("runway:cancel", "c1");
  ASSERT_TRUE(Drained(s, 2, 30s)) << d.Tail(3000);
  const std::string r1 = ResultOf(s, "c1"), r2 = ResultOf(s, "c2");
  EXPECT_TRUE(Has(r1, "\"status\":\"succeeded\"")) << r1 << "\n" << JobLogLines(s.dir(), {"c1"});
  EXPECT_TRUE(Has(r2, "\"status\":\"succeeded\"")) << r2 << "\n" << JobLogLines(s.dir(), {"c2"});
  EXPECT_EQ(s.redis().Int({"LLEN", "runway:refunds"}), 0);
  EXPECT_EQ(d.Stop("d1"), 0);
  const Audit a = AuditRun(s, {{"c1", 7101, 26, c1}, {"c2", 7102, 26, c2}});
  EXPECT_TRUE(a.ok()) << a.Summary();
}

// d1 is running when two records naming it appear in Redis that it has not loaded (as
// a lost kAdopt or kTakeDue reply leaves them): u1 admitted, no task yet; u2 with a
// live task. An operator cancels both while d1 holds them unloaded, then d1 restarts
// and loads them. Both must end cancelled: no task for u1, u2's task cancelled.
TEST(Cancel, ACancelForAJobNotLoadedYetReachesItWhenLoaded) {
  ProxiedStack p("cancel_unloaded");
  Stack& s = p.s;
  FaultDaemons& d = p.d;
  ASSERT_TRUE(p.StartDaemon("d1")) << d.Tail();
  const std::string u1 = MakeJob("u1", "image_to_video", "gen4_turbo", 5, 26, 7201, "a calm sea", "");
  const std::string u2 = MakeJob("u2", "image_to_video", "gen4_turbo", 5, 26, 7202, "a calm sea sim:secs=400", "");
  std::string answer;
  const std::string task = SimCreateTaskFor(s, 7202, "a calm sea sim:secs=400", &answer);
  ASSERT_FALSE(task.empty()) << answer;
  const std::string now = std::to_string(WallMs());
  s.redis().Cmd({"HSET", "runway:job:u1", "raw", u1, "daemon", "d1", "state", "admitted", "taken_at", now,
                 "attempt", "0"});
  s.redis().Cmd({"HSET", "runway:job:u2", "raw", u2, "daemon", "d1", "state", "task", "taken_at", now, "attempt",
                 "1", "account", "main", "model", "gen4_turbo", "submitted_at", now, "task_id", task, "estimated",
                 "25"});
  s.redis().Cmd({"SADD", "runway:inflight:d1", "u1", "u2"});
  s.redis().Push("runway:cancel", "u1");
  s.redis().Push("runway:cancel", "u2");
  ASSERT_TRUE(WaitFor([&] {
    return s.redis().Int({"LLEN", "runway:cancel"}) == 0 && s.redis().Int({"LLEN", "runway:cancel:d1"}) == 0;
  }, 10s)) << d.Tail();
  EXPECT_EQ(CountResults(s.redis()), 0u) << "d1 has not loaded them";
  EXPECT_EQ(d.Stop("d1"), 0);
  d.Start("d1");
  ASSERT_TRUE(d.WaitReady("d1")) << d.Tail();
  ASSERT_TRUE(Drained(s, 2, 30s)) << d.Tail(3000);
  const std::string r1 = ResultOf(s, "u1"), r2 = ResultOf(s, "u2");
  EXPECT_TRUE(Has(r1, "\"status\":\"cancelled\"")) << r1 << "\n" << JobLogLines(s.dir(), {"u1"});
  EXPECT_TRUE(Has(r2, "\"status\":\"cancelled\"")) << r2 << "\n" << JobLogLines(s.dir(), {"u2"});
  EXPECT_EQ(d.Stop("d1"), 0);
  const Audit a = AuditRun(s, {{"u1", 7201, 26, u1}, {"u2", 7202, 26, u2}});
  EXPECT_EQ(a.creations, 1) << "u2's task only: " << a.Summary();
  EXPECT_EQ(a.refunds, 2u) << a.Summary();
}

// An operator's cancel for a job of d1 reached d1's own cancel list (a peer forwarded it
// there, kRouteCancel, or d1 had moved it from runway:cancel) and d1 was killed before
// it handled it. d2 adopts d1's job; the cancel must follow the job, not stay in the
// list of a daemon that may never start again: the job ends cancelled, its task deleted.
TEST(Cancel, ACancelLeftWithAKilledDaemonReachesTheAdopter) {
  ProxiedStack p("cancel_adopted");
  Stack& s = p.s;
  FaultDaemons& d = p.d;
  ASSERT_TRUE(p.StartDaemon("d1")) << d.Tail();
  const std::string a1 = MakeJob("a1", "image_to_video", "gen4_turbo", 5, 26, 7301, "a calm sea sim:secs=600", "");
  s.redis().Push("runway:jobs", a1);
  ASSERT_TRUE(WaitFor([&] { return RecordField(s.redis(), "a1", "state") == "task"; }, 10s)) << d.Tail();
  d.Kill("d1");
  s.redis().Push("runway:cancel:d1", "a1");  // as kRouteCancel forwards it to the job's owner
  std::this_thread::sleep_for(1200ms);       // d1's heartbeat (1 s) expires
  ASSERT_TRUE(p.StartDaemon("d2")) << d.Tail();
  // The task runs 30 s (time_scale 0.05): a result within 15 s is the cancel's.
  ASSERT_TRUE(Drained(s, 1, 15s)) << d.Tail(3000);
  const std::string r = ResultOf(s, "a1");
  EXPECT_TRUE(Has(r, "\"status\":\"cancelled\"")) << r << "\n" << JobLogLines(s.dir(), {"a1"});
  EXPECT_EQ(s.redis().Int({"LLEN", "runway:cancel:d1"}), 0);
  EXPECT_EQ(d.Stop("d2"), 0);
  const Audit a = AuditRun(s, {{"a1", 7301, 26, a1}});
  EXPECT_TRUE(a.ok()) << a.Summary();
  EXPECT_EQ(a.refunds, 1u) << a.Summary();
}

namespace {

// d1 runs `job` (id `id`) to a live task; then every answer comes 500 ms late, an
// operator cancels the job if `by_operator` (else its deadline passes), and d1 is killed
// once the DELETE has reached the simulator, which deletes the task at once. d1 starts
// again and the job is drained. Returns its result ("" if none).
std::string KillWithTheDeleteOnTheWire(Stack& s, FaultDaemons& d, const std::string& id, const std::string& job,
                                       bool by_operator) {
  s.StartRedis();
  s.StartSim();
  d.Start("d1");
  EXPECT_TRUE(d.WaitReady("d1")) << d.Tail();
  s.redis().Push("runway:jobs", job);
  EXPECT_TRUE(WaitFor([&] { return RecordField(s.redis(), id, "state") == "task"; }, 10s)) << d.Tail();
  SetChaos(s, R"({"slow_rate":1,"slow_ms":500})");
  if (by_operator) s.redis().Push("runway:cancel", id);
  EXPECT_TRUE(WaitSimCounter(s, false, "DELETE /v1/tasks", 1, 10s)) << d.Tail();
  d.Kill("d1");
  SetChaos(s, "{}");
  d.Start("d1");
  EXPECT_TRUE(d.WaitReady("d1")) << d.Tail();
  EXPECT_TRUE(Drained(s, 1, 30s)) << d.Tail();
  EXPECT_EQ(d.Stop("d1"), 0);
  return ResultOf(s, id);
}

}  // namespace

// The deadline (2 s) passes while the task runs, and d1 is killed with the DELETE on the
// wire. The next start computes the deadline from the record, looks, finds the task
// gone. Before the fix that was "deleted elsewhere": failed upstream_failure
// "task_not_found". Now the job ends as the deadline's cancel: deadline_exceeded.
TEST(Cancel, ADeadlineCancelCutOffByACrashEndsAsTheDeadline) {
  Stack s("cancel_deadline_crash");
  FaultDaemons d(s);
  const std::string k1 = MakeJob("k1", "image_to_video", "gen4_turbo", 5, 26, 7401, "x sim:secs=400", ",\"deadline_s\":2");
  const std::string r = KillWithTheDeleteOnTheWire(s, d, "k1", k1, false);
  EXPECT_TRUE(Has(r, "\"class\":\"deadline_exceeded\"")) << r << "\n" << JobLogLines(s.dir(), {"k1"});
  const Audit a = AuditRun(s, {{"k1", 7401, 26, k1}});
  EXPECT_TRUE(a.ok()) << a.Summary();
  EXPECT_EQ(a.creations, 1) << a.Summary();
  EXPECT_EQ(a.refunds, 1u) << a.Summary();
}

// An operator cancels a running task, and d1 is killed with the DELETE on the wire.
// Before the fix the cancel had been acknowledged (trimmed from d1's cancel list) as
// soon as it was flagged in memory, so it died with d1: the next start found the task
// gone and failed the job "task_not_found", dead-lettered as a failure. Now the cancel
// is in the record before it is acknowledged, and the job ends cancelled.
TEST(Cancel, AnOperatorCancelCutOffByACrashEndsCancelled) {
  Stack s("cancel_op_crash");
  FaultDaemons d(s);
  const std::string k2 = MakeJob("k2", "image_to_video", "gen4_turbo", 5, 26, 7402, "x sim:secs=400", "");
  const std::string r = KillWithTheDeleteOnTheWire(s, d, "k2", k2, true);
  EXPECT_TRUE(Has(r, "\"status\":\"cancelled\"")) << r << "\n" << JobLogLines(s.dir(), {"k2"});
  EXPECT_EQ(s.redis().Int({"LLEN", "runway:dead"}), 0) << "an operator's cancel is not dead-lettered";
  const Audit a = AuditRun(s, {{"k2", 7402, 26, k2}});
  EXPECT_TRUE(a.ok()) << a.Summary();
  EXPECT_EQ(a.refunds, 1u) << a.Summary();
}
