// tests/fault/stop_test.cc — SIGTERM while a create, a cancel or a take is on the
// wire, or about to be.
//
// A stop must not turn a create that went out into one that "certainly did not
// happen", and must not hand the job to another daemon while its answer may still
// come: either would end with a second paid task, or with a task that exists and is
// charged while the job was refunded as an unknown outcome. Nor may it leave a job
// marked "create_sent" when no create went out (also when Redis did not answer the
// hold's give-back at once), lose an operator's cancel, or leave a job where no daemon
// looks, nor announce READY=1 after STOPPING=1. The simulator's `slow` chaos holds
// every answer (the task is created at once, the response comes later), and
// RedisProxy::ArmHold holds a Redis reply: each makes its window as wide as needed.
// Found by review on 2026-12-07; docs/reliability.md lists them with the fixes.
#include <gtest/gtest.h>
#include <signal.h>

#include "fault.h"
#include "ledger/scripts.h"
#include "queue/scripts.h"
#include "sim_view.h"

using namespace harness;
using namespace fault;
using namespace std::chrono_literals;

namespace {

// redis-server, a simulator whose every answer is held `slow_ms`, and daemon d1 with
// job `id` (seed `seed`) pushed; returns the job once its create is on the wire (the
// record says create_sent, and the create goes out right after that write).
std::string StartWithACreateOnTheWire(Stack& s, FaultDaemons& d, int slow_ms, const std::string& id, int64_t seed) {
  s.StartRedis();
  SimOptions so;
  so.extra_toml = "[chaos]\nslow_rate = 1.0\nslow_ms = " + std::to_string(slow_ms) + "\n";
  s.StartSim(so);
  d.Start("d1");
  EXPECT_TRUE(d.WaitReady("d1")) << d.Tail();
  const std::string job = MakeJob(id, "image_to_video", "gen4_turbo", 5, 26, seed);
  s.redis().Push("runway:jobs", job);
  EXPECT_TRUE(WaitFor([&] { return RecordField(s.redis(), id, "state") == "create_sent"; }, 20s)) << d.Tail();
  std::this_thread::sleep_for(100ms);
  return job;
}

std::string Sha(Stack& s, const std::string& script) {
  auto r = s.redis().Cmd({"SCRIPT", "LOAD", script});
  return r && r->type == REDIS_REPLY_STRING ? std::string(r->str, r->len) : std::string();
}

// Starts d1 again and runs the job to its result, then checks what every test here
// expects of the next start: the job succeeded on one task, with no unknown outcome.
// Returns the run's audit for further checks.
Audit RestartAndExpectOneSuccess(ProxiedStack& p, const std::string& id, int64_t seed, const std::string& job) {
  FaultDaemons& d = p.d;
  d.Start("d1");
  EXPECT_TRUE(d.WaitReady("d1")) << d.Tail();
  EXPECT_TRUE(Drained(p.s, 1, 30s)) << d.Tail();
  EXPECT_EQ(d.Stop("d1"), 0);
  const Audit a = AuditRun(p.s, {{id, seed, 26, job}});
  EXPECT_EQ(a.outcome_unknown, 0u) << a.Summary() << "\n" << JobLogLines(p.s.dir(), {id}) << d.Tail(3000);
  EXPECT_EQ(a.succeeded, 1u) << a.Summary();
  EXPECT_EQ(a.creations, 1) << a.Summary();
  return a;
}

}  // namespace

// The answer takes longer than shutdown_grace_ms (2 s): the engine closes curl with
// the create sent. Before the fix HttpEngine::Close reported every aborted request as
// "not sent", the create was settled as refused, and the next start created a second
// task. Now the record stays "create_sent", and the next start applies
// on_unknown_outcome (the default: a failed outcome_unknown result with its refund).
TEST(Stop, PastTheGraceASentCreateStaysUnknownAndIsNeverSentAgain) {
  Stack s("stop_grace");
  FaultDaemons d(s);
  const int64_t seed = 5555;
  const std::string job = StartWithACreateOnTheWire(s, d, 3000, "m5", seed);
  ASSERT_FALSE(::testing::Test::HasFailure());
  EXPECT_EQ(d.Stop("d1"), 0) << d.Tail();
  EXPECT_EQ(RecordField(s.redis(), "m5", "state"), "create_sent") << d.Tail();
  std::this_thread::sleep_for(2s);  // the simulator answers the first create: the task exists
  d.Start("d1");
  ASSERT_TRUE(d.WaitReady("d1")) << d.Tail();
  ASSERT_TRUE(Drained(s, 1, 40s)) << d.Tail();
  EXPECT_EQ(d.Stop("d1"), 0);
  const Audit a = AuditRun(s, {{"m5", seed, 26, job}});
  EXPECT_EQ(a.creations, 1) << a.Summary() << "\n" << JobLogLines(s.dir(), {"m5"}) << d.Tail(3000);
  EXPECT_EQ(a.outcome_unknown, 1u) << a.Summary();
  EXPECT_EQ(a.refunded_credits, 26) << a.Summary();
  EXPECT_TRUE(a.ok()) << a.Summary();
}

// The answer comes within the grace period: it is recorded, and the task is polled to
// its end by whoever holds the job. Before the fix the stop deleted the heartbeat
// first, a peer adopted the job at once, ended it outcome_unknown with a refund, and
// the stopping daemon's answer was then fenced off: a paid task nobody polled.
TEST(Stop, APeerDoesNotAdoptAJobWhoseCreateIsOnTheWire) {
  Stack s("stop_peer");
  FaultDaemons d(s);
  const int64_t seed = 5454;
  const std::string job = StartWithACreateOnTheWire(s, d, 500, "m4", seed);
  ASSERT_FALSE(::testing::Test::HasFailure());
  d.proc("d1").Signal(SIGTERM);
  d.Start("d2");
  ASSERT_TRUE(d.WaitReady("d2")) << d.Tail();
  EXPECT_EQ(d.proc("d1").Wait(10s), 0);
  ASSERT_TRUE(Drained(s, 1, 30s)) << d.Tail();
  EXPECT_EQ(d.Stop("d2"), 0);
  const Audit a = AuditRun(s, {{"m4", seed, 26, job}});
  EXPECT_EQ(a.outcome_unknown, 0u) << a.Summary() << "\n" << JobLogLines(s.dir(), {"m4"}) << d.Tail(3000);
  EXPECT_EQ(a.succeeded, 1u) << a.Summary();
  EXPECT_EQ(a.creations, 1) << a.Summary();
  EXPECT_TRUE(a.ok()) << a.Summary();
}

// SIGTERM while the admission (which reserves the credits and marks the job
// "create_sent") is in Redis and its reply on the way: the reply comes while stopping,
// and the create must not go out then. Before the fix the record was left
// "create_sent" with no create sent, and the next start ended the job outcome_unknown
// (refunded, though nothing was made). Now the reservation is given back ("refused"),
// and the next start runs the job: one task, a success.
TEST(Stop, AReservationAnsweredWhileStoppingIsGivenBack) {
  ProxiedStack p("stop_reserve");
  FaultDaemons& d = p.d;
  ASSERT_TRUE(p.StartDaemon("d1")) << d.Tail();
  const int64_t seed = 5353;
  const std::string job = MakeJob("m3", "image_to_video", "gen4_turbo", 5, 26, seed);
  p.proxy.ArmHold("runway:replayed:m3");  // kAdmit, the only command that names this key
  p.s.redis().Push("runway:jobs", job);
  ASSERT_TRUE(WaitFor([&] { return p.proxy.fired(); }, 10s)) << d.Tail();
  ASSERT_TRUE(WaitFor([&] { return RecordField(p.s.redis(), "m3", "state") == "create_sent"; }, 10s)) << d.Tail();
  d.proc("d1").Signal(SIGTERM);
  ASSERT_TRUE(WaitFor([&] { return CountLines(d.log_path("d1"), "stopping: ") > 0; }, 10s)) << d.Tail();
  p.proxy.Release();
  EXPECT_EQ(d.proc("d1").Wait(10s), 0) << d.Tail();
  EXPECT_EQ(RecordField(p.s.redis(), "m3", "state"), "refused") << d.Tail();
  const Audit a = RestartAndExpectOneSuccess(p, "m3", seed, job);
  EXPECT_TRUE(a.ok()) << a.Summary();
}

// As above, but the give-back (kSettle "refused") gets no answer: Redis is cut off
// just as it is sent, and comes back 150 ms later, well within the grace period.
// Before the fix the unanswered settle was taken as done: the daemon stopped with the
// record still "create_sent" (and the hold in the account hash), and the next start
// failed the job outcome_unknown with a refund although no create had gone out. Now
// the give-back is repeated until Redis answers, and the stop waits for it.
TEST(Stop, AGivenBackReservationIsRepeatedUntilRedisAnswers) {
  ProxiedStack p("stop_giveback");
  FaultDaemons& d = p.d;
  ASSERT_TRUE(p.StartDaemon("d1")) << d.Tail();
  const std::string settle_sha = Sha(p.s, runwayd::ledger::kSettle);
  ASSERT_FALSE(settle_sha.empty());
  const int64_t seed = 5252;
  const std::string job = MakeJob("m2", "image_to_video", "gen4_turbo", 5, 26, seed);
  p.proxy.ArmHold("runway:replayed:m2");  // kAdmit, the only command that names this key
  p.s.redis().Push("runway:jobs", job);
  ASSERT_TRUE(WaitFor([&] { return p.proxy.fired(); }, 10s)) << d.Tail();
  ASSERT_TRUE(WaitFor([&] { return RecordField(p.s.redis(), "m2", "state") == "create_sent"; }, 10s)) << d.Tail();
  d.proc("d1").Signal(SIGTERM);
  ASSERT_TRUE(WaitFor([&] { return CountLines(d.log_path("d1"), "stopping: ") > 0; }, 10s)) << d.Tail();
  p.proxy.ArmCut(settle_sha);  // the give-back never reaches Redis, nor anything else until Heal()
  p.proxy.Release();
  ASSERT_TRUE(WaitFor([&] { return p.proxy.fired(); }, 10s)) << d.Tail();
  std::this_thread::sleep_for(150ms);
  p.proxy.Heal();
  EXPECT_EQ(d.proc("d1").Wait(10s), 0) << d.Tail();
  EXPECT_EQ(RecordField(p.s.redis(), "m2", "state"), "refused") << d.Tail();
  EXPECT_EQ(RecordField(p.s.redis(), "m2", "hold_slot"), "") << "the hold is given back";
  const Audit a = RestartAndExpectOneSuccess(p, "m2", seed, job);
  EXPECT_TRUE(a.ok()) << a.Summary();
}

// SIGTERM while the blocking take (BLMOVE) waits in Redis. The stop dropped the
// heartbeat at once; a peer that adopted then found nothing and forgot this daemon
// (kAdopt removes a dead daemon with empty lists from runway:daemons), and a job pushed
// before the BLMOVE's timeout was moved into this daemon's processing list, which
// nobody reads any more: with the daemon gone for good, no result. Here the peer's
// adoption is run by hand while the heartbeat's DEL is held (its reply late), and the
// BLMOVE is a fresh one (its 1 s timeout ahead). Now the stop waits for the take to
// return before the heartbeat goes; the job stays in runway:jobs for the peer.
TEST(Stop, ATakeWaitingInRedisEndsBeforeTheHeartbeatGoes) {
  ProxiedStack p("stop_take");
  FaultDaemons& d = p.d;
  FaultDaemonOptions o;
  o.heartbeat_ttl_ms = 3000;  // a BLMOVE of 1 s
  ASSERT_TRUE(p.StartDaemon("d1", o)) << d.Tail();
  p.proxy.ArmHold("BLMOVE");  // only to see a fresh BLMOVE go out
  ASSERT_TRUE(WaitFor([&] { return p.proxy.fired(); }, 10s)) << d.Tail();
  p.proxy.ArmHold("\r\nDEL\r\n");  // the stop's heartbeat DEL, the only DEL the daemon sends
  p.proxy.Release();
  d.proc("d1").Signal(SIGTERM);
  // Old code: the DEL is sent at once, within the BLMOVE's second. Fixed: after it.
  if (WaitFor([&] { return p.proxy.fired(); }, 600ms)) {
    // A peer's adoption, as kAdopt runs it, now that d1's heartbeat is gone.
    p.s.redis().Cmd({"EVAL", runwayd::scripts::kAdopt, "1", "runway:daemons", "runway", "d2", "100"});
    EXPECT_EQ(p.s.redis().Int({"SISMEMBER", "runway:daemons", "d1"}), 0);
  }
  const int64_t seed = 5151;
  const std::string job = MakeJob("m1", "image_to_video", "gen4_turbo", 5, 26, seed);
  p.s.redis().Push("runway:jobs", job);
  std::this_thread::sleep_for(200ms);
  p.proxy.Release();
  EXPECT_EQ(d.proc("d1").Wait(10s), 0) << d.Tail();
  // The peer, a real daemon now, must find the job wherever the stop left it.
  ASSERT_TRUE(p.StartDaemon("d2", o)) << d.Tail();
  EXPECT_TRUE(Drained(p.s, 1, 20s)) << "processing:d1 holds " << p.s.redis().Int({"LLEN", "runway:processing:d1"})
                                    << d.Tail();
  EXPECT_EQ(d.Stop("d2"), 0);
  const Audit a = AuditRun(p.s, {{"m1", seed, 26, job}});
  EXPECT_TRUE(a.ok()) << a.Summary();
}

// A create refused (503: certainly not made), and Redis cut off just as its hold is
// settled; SIGTERM comes while Redis is still away, and it is back 300 ms later.
// Before the fix the unanswered settle was left to the next reservation, which a
// stopping daemon never makes: it stopped at once, the record kept "create_sent" and
// its hold, and the next start failed the job outcome_unknown with a refund although
// Runway had refused the create. Now a stop gives such a hold back first, repeating
// until Redis answers within the grace period.
TEST(Stop, ARefusedCreatesHoldIsGivenBackWhenRedisComesBackDuringTheStop) {
  ProxiedStack p("stop_refused");
  FaultDaemons& d = p.d;
  ASSERT_TRUE(p.StartDaemon("d1")) << d.Tail();
  const std::string settle_sha = Sha(p.s, runwayd::ledger::kSettle);
  ASSERT_FALSE(settle_sha.empty());
  const int64_t seed = 5050;
  const std::string job = MakeJob("m0", "image_to_video", "gen4_turbo", 5, 26, seed);
  SetChaos(p.s, R"({"rate_503":1})");
  p.proxy.ArmCut(settle_sha);  // the job's first kSettle is the refused create's
  p.s.redis().Push("runway:jobs", job);
  ASSERT_TRUE(WaitFor([&] { return p.proxy.fired(); }, 20s)) << d.Tail();
  d.proc("d1").Signal(SIGTERM);
  ASSERT_TRUE(WaitFor([&] { return CountLines(d.log_path("d1"), "stopping: ") > 0; }, 10s)) << d.Tail();
  std::this_thread::sleep_for(300ms);
  p.proxy.Heal();
  EXPECT_EQ(d.proc("d1").Wait(10s), 0) << d.Tail();
  EXPECT_EQ(RecordField(p.s.redis(), "m0", "state"), "refused") << d.Tail();
  EXPECT_EQ(RecordField(p.s.redis(), "m0", "hold_slot"), "") << "the hold is given back";
  SetChaos(p.s, "{}");
  RestartAndExpectOneSuccess(p, "m0", seed, job);
}

// SIGTERM while the start's recovery reads this daemon's in-flight set (its reply held).
// Before the fix the recovery, answered after the stop began, went on to say READY=1
// to systemd after STOPPING=1 and logged "ready: taking jobs" for a daemon that takes
// nothing (as item 32's reload did). Now a stopping daemon says nothing of the kind,
// and still stops cleanly.
TEST(Stop, ASigtermDuringRecoveryIsNotFollowedByReady) {
  ProxiedStack p("stop_recovery");
  FaultDaemons& d = p.d;
  p.proxy.ArmHold("$8\r\nSMEMBERS\r\n");  // Recover's LoadInflight (scripts name SMEMBERS in their text only)
  FaultDaemonOptions o;
  o.redis_port = p.proxy.port();
  d.Start("d1", o);
  ASSERT_TRUE(WaitFor([&] { return p.proxy.fired(); }, 10s)) << d.Tail();
  d.proc("d1").Signal(SIGTERM);
  ASSERT_TRUE(WaitFor([&] { return CountLines(d.log_path("d1"), "stopping: ") > 0; }, 10s)) << d.Tail();
  p.proxy.Release();
  EXPECT_EQ(d.proc("d1").Wait(10s), 0) << d.Tail();
  EXPECT_EQ(CountLines(d.log_path("d1"), "ready: taking jobs"), 0u) << d.Tail();
}

// SIGTERM while an operator's cancel (DELETE) is on the wire: Runway cancels the task at
// once, the answer takes 500 ms. Before the fix the stop did not wait for it: the DELETE
// was cut off, the cancel (acknowledged in Redis, held in memory) was lost with the
// process, and the next start found the task gone (404): the job ended failed
// upstream_failure "task_not_found", dead-lettered for a replay, not cancelled. Now the
// stop waits for the DELETE's answer, as for a create's, and the job ends cancelled.
TEST(Stop, ACancelOnTheWireIsAnsweredBeforeTheStop) {
  Stack s("stop_cancel");
  FaultDaemons d(s);
  s.StartRedis();
  s.StartSim();
  d.Start("d1");
  ASSERT_TRUE(d.WaitReady("d1")) << d.Tail();
  const std::string job = MakeJob("m6", "image_to_video", "gen4_turbo", 5, 26, 5656, "x sim:secs=400", "");
  s.redis().Push("runway:jobs", job);
  ASSERT_TRUE(WaitFor([&] { return RecordField(s.redis(), "m6", "state") == "task"; }, 20s)) << d.Tail();
  SetChaos(s, R"({"slow_rate":1,"slow_ms":500})");  // every answer 500 ms late, the DELETE's too
  s.redis().Push("runway:cancel", "m6");
  ASSERT_TRUE(WaitSimCounter(s, false, "DELETE /v1/tasks", 1, 10s)) << d.Tail();
  d.proc("d1").Signal(SIGTERM);
  EXPECT_EQ(d.proc("d1").Wait(10s), 0) << d.Tail();
  SetChaos(s, "{}");
  d.Start("d1");
  ASSERT_TRUE(d.WaitReady("d1")) << d.Tail();
  ASSERT_TRUE(Drained(s, 1, 30s)) << d.Tail();
  EXPECT_EQ(d.Stop("d1"), 0);
  auto results = s.redis().List("runway:results");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_NE(results[0].find("\"status\":\"cancelled\""), std::string::npos) << results[0] << d.Tail(3000);
  EXPECT_EQ(s.redis().Int({"LLEN", "runway:dead"}), 0) << "an operator's cancel is not dead-lettered";
}

// SIGTERM after an operator's cancel was read (and trimmed from the daemon's cancel list)
// but before it was carried out: the look at the task that comes first (GET) is on the
// wire, its answer 500 ms late. Before the fix the cancel lived only in memory and went
// with the process: the next start ran the job to its end, a success the operator had
// cancelled (and paid). Now the stop writes the cancel into the record (cancelled=1, as
// kRouteCancel does for a job held here), and the next start cancels the task.
TEST(Stop, ACancelReadButNotCarriedOutSurvivesTheStop) {
  Stack s("stop_cancel_read");
  FaultDaemons d(s);
  s.StartRedis();
  s.StartSim();
  d.Start("d1");
  ASSERT_TRUE(d.WaitReady("d1")) << d.Tail();
  const std::string job = MakeJob("m7", "image_to_video", "gen4_turbo", 5, 26, 5757, "x sim:secs=400", "");
  s.redis().Push("runway:jobs", job);
  ASSERT_TRUE(WaitFor([&] { return RecordField(s.redis(), "m7", "state") == "task"; }, 20s)) << d.Tail();
  SetChaos(s, R"({"slow_rate":1,"slow_ms":500})");  // the look's answer comes 500 ms late
  s.redis().Push("runway:cancel", "m7");
  ASSERT_TRUE(WaitFor([&] { return CountLines(d.log_path("d1"), "cancel requested by an operator") > 0; }, 10s));
  ASSERT_TRUE(WaitFor([&] { return s.redis().Int({"LLEN", "runway:cancel:d1"}) == 0; }, 2s)) << "trimmed";
  d.proc("d1").Signal(SIGTERM);
  EXPECT_EQ(d.proc("d1").Wait(10s), 0) << d.Tail();
  SetChaos(s, "{}");
  d.Start("d1");
  ASSERT_TRUE(d.WaitReady("d1")) << d.Tail();
  ASSERT_TRUE(Drained(s, 1, 40s)) << d.Tail();
  EXPECT_EQ(d.Stop("d1"), 0);
  auto results = s.redis().List("runway:results");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_NE(results[0].find("\"status\":\"cancelled\""), std::string::npos) << results[0] << d.Tail(3000);
}
