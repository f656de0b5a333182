// tests/integration/retry_test.cc — retries wait in the retry set (P:retry), not in a
// daemon: a failed attempt's job leaves its daemon in the same Lua step that settles
// the attempt, and whichever daemon is alive when it is due takes it back atomically.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <functional>
#include <thread>

#include "harness.h"
#include "outcomes.h"
#include "sim_view.h"

using namespace harness;
using namespace std::chrono_literals;

namespace {

// Backoff 60 s at the daemons' time scale (0.05): about 1.5-3 s real, long enough to look.
const char* kSlowRetries = "[jobs]\nretry_base_ms = 60000\nretry_cap_ms = 60000\nmax_attempts = 2\n";

struct Result {
  std::string status, error_class;
  int64_t attempts = -1;
  int count = 0;
};

// The results of job `id`: how many, and the last one's fields.
Result ResultFor(Redis& r, const std::string& id) {
  Result out;
  const std::vector<ResultEvent> all = ResultsFor(r, id);
  out.count = static_cast<int>(all.size());
  if (!all.empty()) {
    out.status = all.back().status;
    out.attempts = all.back().attempts;
    out.error_class = all.back().error_class;
  }
  return out;
}

// Tasks the simulator created for `seed`.
int64_t Made(Stack& s, int64_t seed) { return SimStatsOf(s).Made(seed); }

bool InRetrySet(Redis& r, const std::string& id) {
  auto rep = r.Cmd({"ZSCORE", "runway:retry", id});
  return rep && rep->type == REDIS_REPLY_STRING;
}

// A redis-server, the simulator and daemon d1 (index 0) with slow retries, ready.
void StartWithSlowRetries(Stack& s, DaemonOptions* o) {
  s.StartRedis();
  s.StartSim();
  o->extra_toml = kSlowRetries;
  ASSERT_TRUE(s.WaitReady(s.StartDaemon(*o))) << s.Logs();
}

// A job whose every task fails INTERNAL (retried with a new task) after 2 s.
std::string FailingJob(const std::string& id, int64_t seed) {
  return MakeJob(id, "image_to_video", "gen4_turbo", 5, 26, seed, "a calm sea sim:fail=INTERNAL sim:secs=2");
}

// Pushes `job` and waits until its first attempt has failed and it waits in P:retry.
void PushUntilWaiting(Stack& s, const std::string& job, const std::string& id) {
  s.redis().Push("runway:jobs", job);
  ASSERT_TRUE(WaitFor([&] { return InRetrySet(s.redis(), id); }, 15s)) << s.Logs();
}

}  // namespace

// d1's task fails (INTERNAL, retryable). While the job waits for its retry, no daemon
// holds it: the record names none and d1's in-flight set lacks it. d1 stops; d2, started
// later, takes the due retry and ends the job with its second (and last) attempt.
TEST(Retry, WaitsInTheRetrySetAndAnyDaemonTakesItWhenDue) {
  Stack s("retry-set");
  DaemonOptions o;
  ASSERT_NO_FATAL_FAILURE(StartWithSlowRetries(s, &o));
  const size_t d1 = 0;
  ASSERT_NO_FATAL_FAILURE(PushUntilWaiting(s, FailingJob("rt1", 7101), "rt1"));
  EXPECT_EQ(s.redis().Int({"SISMEMBER", "runway:inflight:d1", "rt1"}), 0);
  EXPECT_EQ(s.redis().Int({"HEXISTS", "runway:job:rt1", "daemon"}), 0) << "a waiting retry belongs to no daemon";
  EXPECT_EQ(s.redis().Int({"HEXISTS", "runway:job:rt1", "hold_account"}), 0)
      << "the failed attempt's hold is settled before the wait";
  auto slots = s.redis().Cmd({"HGET", "runway:account:main", "inflight:gen4_turbo"});
  ASSERT_TRUE(slots && slots->type == REDIS_REPLY_STRING);
  EXPECT_EQ(std::string(slots->str, slots->len), "0") << "its slot is free";
  // An operator sees where it is.
  ShellRun ctl = RunShell(ShellQuote(Bin("runwayctl")) + " --redis redis://127.0.0.1:" +
                          std::to_string(s.redis_port()) + " job rt1", s.dir());
  EXPECT_NE(ctl.out.find("waiting for attempt 2, due "), std::string::npos) << ctl;
  s.daemon(d1).Signal(SIGTERM);
  ASSERT_EQ(s.daemon(d1).Wait(5s), 0) << s.Logs();

  o.id = "d2";
  size_t d2 = s.StartDaemon(o);
  ASSERT_TRUE(s.WaitReady(d2)) << s.Logs();
  ASSERT_TRUE(WaitFor([&] { return ResultFor(s.redis(), "rt1").count > 0; }, 30s)) << s.Logs();
  std::this_thread::sleep_for(300ms);  // nothing more may arrive
  Result r = ResultFor(s.redis(), "rt1");
  EXPECT_EQ(r.count, 1);
  EXPECT_EQ(r.status, "failed");
  EXPECT_EQ(r.error_class, "upstream_failure");
  EXPECT_EQ(r.attempts, 2);
  EXPECT_EQ(Made(s, 7101), 2) << "one task per attempt";
  EXPECT_EQ(s.redis().Int({"ZCARD", "runway:retry"}), 0);
  EXPECT_EQ(s.redis().Int({"LLEN", "runway:refunds"}), 1);
  s.daemon(d2).Signal(SIGTERM);
  EXPECT_EQ(s.daemon(d2).Wait(5s), 0);
}

// An operator's cancel for a job waiting for its retry ends it cancelled when it is
// due: no second task is created.
TEST(Retry, CancelWhileWaitingEndsTheJobWithoutANewTask) {
  Stack s("retry-cancel");
  DaemonOptions o;
  ASSERT_NO_FATAL_FAILURE(StartWithSlowRetries(s, &o));
  const size_t d1 = 0;
  ASSERT_NO_FATAL_FAILURE(PushUntilWaiting(s, FailingJob("rc1", 7201), "rc1"));
  s.redis().Push("runway:cancel", "rc1");
  ASSERT_TRUE(WaitFor([&] { return ResultFor(s.redis(), "rc1").count > 0; }, 30s)) << s.Logs();
  std::this_thread::sleep_for(300ms);
  Result r = ResultFor(s.redis(), "rc1");
  EXPECT_EQ(r.count, 1);
  EXPECT_EQ(r.status, "cancelled");
  EXPECT_EQ(r.attempts, 1);
  EXPECT_EQ(Made(s, 7201), 1);
  s.daemon(d1).Signal(SIGTERM);
  EXPECT_EQ(s.daemon(d1).Wait(5s), 0);
}

// A copy of a job pushed while the job waits in the retry set (its record names no
// daemon) is refused as a duplicate: it must not take over the record, or the retry
// and the copy would both create tasks.
TEST(Retry, CopyPushedWhileWaitingIsADuplicate) {
  Stack s("retry-dup");
  DaemonOptions o;
  ASSERT_NO_FATAL_FAILURE(StartWithSlowRetries(s, &o));
  const size_t d1 = 0;
  const std::string job = FailingJob("rd1", 7301);
  ASSERT_NO_FATAL_FAILURE(PushUntilWaiting(s, job, "rd1"));
  s.redis().Push("runway:jobs", job);
  ASSERT_TRUE(WaitFor([&] { return ResultFor(s.redis(), "rd1").count >= 2; }, 30s)) << s.Logs();
  std::this_thread::sleep_for(300ms);
  Result r = ResultFor(s.redis(), "rd1");
  EXPECT_EQ(r.count, 2) << "one duplicate_job result for the copy, one for the job";
  EXPECT_EQ(Made(s, 7301), 2) << "the job's two attempts, nothing for the copy";
  EXPECT_EQ(s.redis().Int({"LLEN", "runway:refunds"}), 1);
  s.daemon(d1).Signal(SIGTERM);
  EXPECT_EQ(s.daemon(d1).Wait(5s), 0);
}
