// tests/fault/lost_reply_test.cc — a script that ran in Redis but whose reply was lost.
//
// RedisProxy::ArmDrop(needle) forwards the chosen command, swallows its reply and
// closes the connection: the daemon gets no reply for a step Redis did apply (what a
// redis-server killed after the write, a network cut or the stall watchdog does). For
// each step that moves a job between owners, these prove that the daemon neither keeps
// a job Redis let go (a second paid task) nor forgets one Redis gave it (no result):
//   * kSettle's retry hand-off: one task per attempt (LostReply.SettleHandOff...);
//   * kAdopt and kTakeDue: the jobs they made ours are loaded and end in a result;
//   * the cancel poll: an operator's cancel is not lost with the reply;
//   * kReserve: the job is not refused for the slot or credit its lost hold took.
//   * kSettle of an unknown create's hold, cut off: repeated, so it is counted as charged.
// Each test failed before its fix (daemon/lost_replies.cc, kSettle, kTakeCancels).
#include <gtest/gtest.h>

#include "fault.h"
#include "ledger/scripts.h"
#include "outcomes.h"
#include "sim_view.h"
#include "queue/scripts.h"

using namespace harness;
using namespace fault;
using namespace std::chrono_literals;

namespace {

std::string Sha(Stack& s, const std::string& script) {
  auto r = s.redis().Cmd({"SCRIPT", "LOAD", script});
  return r && r->type == REDIS_REPLY_STRING ? std::string(r->str, r->len) : std::string();
}

// The job's record (without its raw), its membership of d's in-flight set and of the
// retry set, and the results so far: where a job without a result is stuck.
std::string Where(Stack& s, const std::string& id, const std::string& d) {
  std::string out = "record:";
  auto all = s.redis().Cmd({"HGETALL", "runway:job:" + id});
  if (all && all->type == REDIS_REPLY_ARRAY)
    for (size_t i = 0; i + 1 < all->elements; i += 2)
      if (std::string(all->element[i]->str) != "raw")
        out += std::string(" ") + all->element[i]->str + "=" + all->element[i + 1]->str;
  out += "\nin runway:inflight:" + d + ": " + std::to_string(s.redis().Int({"SISMEMBER", "runway:inflight:" + d, id}));
  out += "\nin runway:retry: " + std::to_string(s.redis().Int({"ZRANK", "runway:retry", id}) >= 0);
  out += "\nresults: " + std::to_string(CountResults(s.redis())) + "\n";
  return out;
}

}  // namespace

// Attempt 1's task fails (INTERNAL) and kSettle hands the job to the retry set, but
// its reply is lost and Redis stays away a little (as in a restart). The daemon must
// not keep the job in memory while Redis has let it go: its own kTakeDue takes the job
// back when due, and two copies would both create attempt 2. Exactly 2 tasks.
TEST(LostReply, SettleHandOffRunsOneTaskPerAttempt) {
  ProxiedStack p("lost_settle");
  Stack& s = p.s;
  RedisProxy& proxy = p.proxy;
  FaultDaemons& d = p.d;
  FaultDaemonOptions o;
  o.extra_toml = "[jobs]\nmax_attempts = 2\nretry_base_ms = 20000\n";  // due 1 s later (time_scale 0.05)
  ASSERT_TRUE(p.StartDaemon("d1", o)) << d.Tail();
  const std::string settle_sha = Sha(s, runwayd::ledger::kSettle);
  ASSERT_FALSE(settle_sha.empty());
  const int64_t seed = 5151;
  const std::string job = MakeJob("m1", "image_to_video", "gen4_turbo", 5, 26, seed, "sim:fail=INTERNAL", "");
  proxy.ArmDrop(settle_sha);  // the job's first kSettle is attempt 1's hand-off
  s.redis().Push("runway:jobs", job);
  ASSERT_TRUE(WaitFor([&] { return proxy.fired(); }, 20s)) << d.Tail();
  // Redis unreachable for 2.5 s: the reconnect's first command (CLIENT SETNAME) is cut.
  proxy.ArmCut("runwayd:d1");
  std::this_thread::sleep_for(2500ms);
  proxy.Heal();
  EXPECT_TRUE(Drained(s, 1, 40s)) << Where(s, "m1", "d1") << d.Tail(4000);
  std::this_thread::sleep_for(3s);  // time for a second copy to create and finish too
  EXPECT_EQ(d.Stop("d1"), 0);
  const Audit a = AuditRun(s, {{"m1", seed, 26, job}});
  EXPECT_EQ(a.creations, 2) << "attempt 1's task and attempt 2's: " << a.Summary() << "\n"
                            << JobLogLines(s.dir(), {"m1"}) << d.Tail(3000);
  EXPECT_TRUE(a.ok()) << a.Summary();
}

// A dead daemon d0 (no heartbeat) left an admitted job. d2's kAdopt moves it into d2's
// in-flight set, but the reply is lost. d2 keeps beating, so nobody else adopts it: d2
// itself must load it and run it to a result.
TEST(LostReply, AdoptLoadsTheAdoptedJobs) {
  ProxiedStack p("lost_adopt");
  Stack& s = p.s;
  RedisProxy& proxy = p.proxy;
  FaultDaemons& d = p.d;
  ASSERT_TRUE(p.StartDaemon("d2")) << d.Tail();
  const std::string sha = Sha(s, runwayd::scripts::kAdopt);
  const int64_t seed = 5252;
  const std::string job = MakeJob("m2", "image_to_video", "gen4_turbo", 5, 26, seed, "a calm sea", "");
  proxy.ArmDrop(sha);
  // d0's admitted job, written in one step as kAdmit writes it.
  s.redis().Cmd({"EVAL",
                 "redis.call('HSET', KEYS[1], 'raw', ARGV[1], 'daemon', 'd0', 'state', 'admitted', 'taken_at', ARGV[2],"
                 " 'attempt', '0') redis.call('SADD', KEYS[2], 'm2') redis.call('SADD', KEYS[3], 'd0') return 1",
                 "3", "runway:job:m2", "runway:inflight:d0", "runway:daemons", job, std::to_string(WallMs())});
  ASSERT_TRUE(WaitFor([&] { return proxy.fired(); }, 10s)) << d.Tail();
  EXPECT_TRUE(Drained(s, 1, 20s)) << Where(s, "m2", "d2") << d.Tail(3000);
  EXPECT_EQ(d.Stop("d2"), 0);
  const Audit a = AuditRun(s, {{"m2", seed, 26, job}});
  EXPECT_TRUE(a.ok()) << a.Summary() << "\n" << JobLogLines(s.dir(), {"m2"});
}

// A job waits in the retry set, due now. d1's kTakeDue makes it d1's, but the reply is
// lost: d1 must load it from its in-flight set and run attempt 2 to a result.
TEST(LostReply, TakeDueLoadsTheTakenRetry) {
  ProxiedStack p("lost_takedue");
  Stack& s = p.s;
  RedisProxy& proxy = p.proxy;
  FaultDaemons& d = p.d;
  ASSERT_TRUE(p.StartDaemon("d1")) << d.Tail();
  const std::string sha = Sha(s, runwayd::scripts::kTakeDue);
  const int64_t seed = 5353;
  const std::string job = MakeJob("m3", "image_to_video", "gen4_turbo", 5, 26, seed, "a calm sea", "");
  proxy.ArmDrop(sha);
  const std::string now = std::to_string(WallMs());
  // The record as kSettle's hand-off leaves it (attempt 1 used, no owner, no hold).
  s.redis().Cmd({"EVAL",
                 "redis.call('HSET', KEYS[1], 'raw', ARGV[1], 'state', 'retry', 'taken_at', ARGV[2], 'attempt', '1',"
                 " 'account', 'main', 'model', 'gen4_turbo', 'task_id', '') redis.call('ZADD', KEYS[2], ARGV[2], 'm3')"
                 " return 1",
                 "2", "runway:job:m3", "runway:retry", job, now});
  ASSERT_TRUE(WaitFor([&] { return proxy.fired(); }, 10s)) << d.Tail();
  EXPECT_TRUE(Drained(s, 1, 20s)) << Where(s, "m3", "d1") << d.Tail(3000);
  EXPECT_EQ(d.Stop("d1"), 0);
  const Audit a = AuditRun(s, {{"m3", seed, 26, job}});
  EXPECT_EQ(a.creations, 1) << "attempt 2 only: attempt 1's task is not in the simulator";
}

// An operator cancels a running job (LPUSH runway:cancel), and the reply of the poll
// that read the cancel is lost. The read must not have consumed it: the next poll
// cancels the task (the job would otherwise run 20 s and succeed).
TEST(LostReply, CancelPollKeepsTheCancel) {
  ProxiedStack p("lost_cancel");
  Stack& s = p.s;
  RedisProxy& proxy = p.proxy;
  FaultDaemons& d = p.d;
  ASSERT_TRUE(p.StartDaemon("d1")) << d.Tail();
  const int64_t seed = 5656;
  const std::string job = MakeJob("m6", "image_to_video", "gen4_turbo", 5, 26, seed, "x sim:secs=400", "");
  s.redis().Push("runway:jobs", job);
  ASSERT_TRUE(WaitFor([&] { return RecordField(s.redis(), "m6", "state") == "task"; }, 20s)) << d.Tail();
  // The poll names P:cancel as one whole argument; nothing else the daemon sends does.
  proxy.ArmDrop("\r\nrunway:cancel\r\n");
  s.redis().Push("runway:cancel", "m6");
  ASSERT_TRUE(WaitFor([&] { return proxy.fired(); }, 10s)) << d.Tail();
  ASSERT_TRUE(Drained(s, 1, 30s)) << Where(s, "m6", "d1") << d.Tail(3000);
  auto results = s.redis().List("runway:results");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_NE(results[0].find("\"status\":\"cancelled\""), std::string::npos) << results[0];
  EXPECT_EQ(s.redis().Int({"LLEN", "runway:cancel:d1"}), 0) << "a handled cancel is removed";
  EXPECT_EQ(d.Stop("d1"), 0);
}

// Attempt 1 fails (INTERNAL); attempt 2 is reserved by kReserve (the first reservation
// rode on kAdmit), whose reply is lost. With max_concurrent 1, the job's own lost hold
// is the slot its retried kReserve waits for: it must not wait for itself (it waited
// until its deadline, with nothing in flight), but create attempt 2 at once.
TEST(LostReply, ReserveRetriedIsNotRefusedByItsOwnHold) {
  ProxiedStack p("lost_reserve");
  Stack& s = p.s;
  RedisProxy& proxy = p.proxy;
  FaultDaemons& d = p.d;
  FaultDaemonOptions o;
  // Due 0.1 s later (time_scale 0.05); no reading after the first one rewrites the limit.
  o.extra_toml = "[jobs]\nmax_attempts = 2\nretry_base_ms = 2000\n[ledger]\nreconcile_interval_s = 3600\n";
  ASSERT_TRUE(p.StartDaemon("d1", o)) << d.Tail();
  ASSERT_TRUE(WaitFor([&] { return s.redis().Int({"HEXISTS", "runway:account:main", "balance"}) == 1; }, 10s));
  s.redis().Cmd({"HSET", "runway:account:main", "limit:gen4_turbo", "1"});
  const std::string sha = Sha(s, runwayd::ledger::kReserve);
  ASSERT_FALSE(sha.empty());
  const int64_t seed = 5757;
  const std::string job = MakeJob("m7", "image_to_video", "gen4_turbo", 5, 26, seed, "sim:fail=INTERNAL", "");
  proxy.ArmDrop(sha);
  s.redis().Push("runway:jobs", job);
  ASSERT_TRUE(WaitFor([&] { return proxy.fired(); }, 20s)) << d.Tail();
  EXPECT_TRUE(Drained(s, 1, 20s)) << Where(s, "m7", "d1") << d.Tail(3000);
  EXPECT_EQ(d.Stop("d1"), 0);
  const Audit a = AuditRun(s, {{"m7", seed, 26, job}});
  EXPECT_EQ(a.creations, 2) << a.Summary();
  EXPECT_TRUE(a.ok()) << a.Summary();
  auto field = [&](const char* f) {
    auto r = s.redis().Cmd({"HGET", "runway:account:main", f});
    return r->type == REDIS_REPLY_STRING ? std::string(r->str, r->len) : std::string("0");
  };
  EXPECT_EQ(field("inflight:gen4_turbo"), "0");
  EXPECT_EQ(field("reserved"), "0");
}

// A create is answered 504 (Runway may have made the task) and the operator chose
// on_unknown_outcome = "resubmit". Redis is cut off just as that create's hold is
// settled as charged (kSettle with -2). The settle must be repeated until Redis
// answers: left in the record, the hold was released by the next kReserve as never
// charged, and the ledger believed the account had 25 credits more than it may have
// until the next reading.
TEST(LostReply, UnknownCreateIsSettledAsChargedWhenRedisWasAway) {
  ProxiedStack p("lost_settle_charged");
  Stack& s = p.s;
  RedisProxy& proxy = p.proxy;
  FaultDaemonOptions o;
  o.upstream_toml = "on_unknown_outcome = \"resubmit\"";
  o.extra_toml = "[jobs]\nmax_create_retries = 1\n";
  ASSERT_TRUE(p.StartDaemon("d1", o)) << p.d.Tail();
  const std::string settle_sha = Sha(s, runwayd::ledger::kSettle);
  ASSERT_FALSE(settle_sha.empty());
  const int64_t seed = 5858;
  const std::string job = MakeJob("m8", "image_to_video", "gen4_turbo", 5, 26, seed);
  SetChaos(s, R"({"rate_504":1,"rate_504_created":1})");  // the task is made, the answer is a 504
  proxy.ArmCut(settle_sha);  // the job's first kSettle is that create's
  s.redis().Push("runway:jobs", job);
  ASSERT_TRUE(WaitFor([&] { return proxy.fired(); }, 20s)) << p.d.Tail();
  SetChaos(s, "{}");  // the resubmitted create is answered
  std::this_thread::sleep_for(1500ms);
  proxy.Heal();
  ASSERT_TRUE(Drained(s, 1, 30s)) << Where(s, "m8", "d1") << p.d.Tail(3000);
  EXPECT_EQ(p.d.Stop("d1"), 0);
  const auto results = ResultsFor(s.redis(), "m8");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status, "succeeded") << results[0].error_class << " " << results[0].error_message;
  EXPECT_EQ(results[0].attempts, 2);
  auto h = [&](const std::string& f) {
    auto x = s.redis().Cmd({"HGET", "runway:account:main", f});
    return x && x->type == REDIS_REPLY_STRING ? std::string(x->str, x->len) : std::string("0");
  };
  EXPECT_EQ(h("reserved"), "0");
  EXPECT_EQ(h("inflight:gen4_turbo"), "0");
  // The unanswered create assumed charged (25) plus the resubmitted task's 25.
  EXPECT_EQ(h("charged_total"), "50") << JobLogLines(s.dir(), {"m8"}) << p.d.Tail(3000);
}
