// tests/fault/fault_test.cc — the issue-4 scenarios: every job ends in exactly one
// result, none is lost, no attempt is created twice upstream (except a create whose
// answer was lost: outcome_unknown), no refund twice and refunds equal the failed
// charged jobs, whatever is killed on the way:
//   DaemonKills     SIGKILL one of two daemons at random moments, restart it each time
//   RedisRestarts   SIGKILL redis-server (AOF, appendfsync always) and restart it
//   KillsUnderChaos DaemonKills while runway-sim answers 429/502/503/504, resets
//                   connections, answers slowly, malformed or truncated
// The CI sizes are small (400 jobs, 5 kills, 2 restarts: about a minute each at the
// simulator's time_scale 0.05); scripts/fault runs the same binary with the issue's
// sizes through RUNWAYD_FAULT_JOBS / _KILLS / _REDIS_RESTARTS / _SEED (see fault.h).
// Every daemon stopped with SIGTERM must exit 0 (its uv loop closed with no handle
// left), and no log may contain a sanitizer report.
#include <gtest/gtest.h>
#include <signal.h>

#include <random>
#include <sstream>

#include "fault.h"

using namespace harness;
using namespace fault;
using namespace std::chrono_literals;

namespace {

// Tasks of 1-3 s (at 0.05) so kills land on running tasks; 10% fail: INTERNAL is
// retried with a new task (attempts > 1), moderation and invalid assets are refunded.
const char* kTaskToml =
    "[task]\nduration_s = 40\njitter_s = 20\nfailure_rate = 0.1\n"
    "failure_codes = [\"SAFETY.INPUT.TEXT\", \"ASSET.INVALID\", \"INTERNAL\", \"INTERNAL\"]\n";

const char* kChaosToml =
    "[chaos]\nrate_429 = 0.03\nrate_502 = 0.02\nrate_503 = 0.02\nrate_504 = 0.02\nrate_504_created = 0.5\n"
    "reset_before = 0.02\nreset_after = 0.02\nslow_rate = 0.02\nslow_ms = 800\nmalformed_rate = 0.02\n"
    "truncated_rate = 0.02\n";
// Profiles switched at runtime through POST /_sim/chaos, one per kill.
const char* kChaosProfiles[] = {
    R"({"rate_429":0.06,"rate_502":0.04,"rate_503":0.04,"rate_504":0.04,"rate_504_created":0.5,"reset_before":0.03,"reset_after":0.03,"slow_rate":0.03,"slow_ms":1200,"malformed_rate":0.03,"truncated_rate":0.03})",
    R"({"rate_429":0.02,"rate_502":0.01,"rate_503":0.01,"rate_504":0.01,"reset_before":0.01,"reset_after":0.01,"slow_rate":0.01,"slow_ms":500,"malformed_rate":0.01,"truncated_rate":0.01})",
    R"({"rate_504":0.08,"rate_504_created":1.0,"reset_after":0.05,"truncated_rate":0.05})",
};

const char* kAof = "--appendonly yes --appendfsync always";

std::string PercentilesJson(const Percentiles& p) {
  std::ostringstream o;
  o << "{\"n\":" << p.n << ",\"p50\":" << p.p50 << ",\"max\":" << p.max << "}";
  return o.str();
}

std::string AuditJson(const Audit& a) {
  std::ostringstream o;
  o << "\"results\":" << a.results << ",\"succeeded\":" << a.succeeded << ",\"failed\":" << a.failed
    << ",\"outcome_unknown\":" << a.outcome_unknown << ",\"unknown_created\":" << a.unknown_created
    << ",\"retried\":" << a.retried << ",\"lost\":" << a.lost
    << ",\"duplicate_results\":" << a.duplicate_results << ",\"creations\":" << a.creations
    << ",\"extra_creations\":" << a.extra_creations << ",\"attempt_mismatches\":" << a.creation_mismatches
    << ",\"orphan_creations\":" << a.orphan_creations << ",\"refunds\":" << a.refunds
    << ",\"refunded_credits\":" << a.refunded_credits << ",\"refunds_twice\":" << a.refunds_twice
    << ",\"refund_mismatches\":" << a.refund_mismatches << ",\"left_in_redis\":" << a.left_in_redis;
  return o.str();
}

// Waits until every job has a result and nothing is left in flight in Redis.
bool WaitDrained(Stack& s, size_t jobs, std::chrono::milliseconds timeout) {
  return WaitFor([&] { return CountResults(s.redis()) >= jobs && LeftInRedis(s.redis()) == 0; }, timeout);
}

// SIGTERM every daemon: each must exit 0 (clean loop close); then no log may hold a
// sanitizer report or an unclean close. Returns false on any problem.
bool StopAllCleanly(Stack& s, FaultDaemons& d) {
  bool ok = true;
  for (const auto& id : d.ids()) {
    if (!d.running(id)) continue;
    const int rc = d.Stop(id);
    EXPECT_EQ(rc, 0) << "daemon " << id << " did not stop cleanly on SIGTERM\n" << d.Tail();
    ok = ok && rc == 0;
  }
  std::vector<std::string> files;
  for (const auto& id : d.ids()) files.push_back(d.log_path(id));
  files.push_back(s.dir() + "/sim.log");
  for (const auto& f : files) {
    auto problems = ProcessProblems(f);
    EXPECT_TRUE(problems.empty()) << f << ":\n" << (problems.empty() ? "" : problems.front()) << "\n" << d.Tail();
    ok = ok && problems.empty();
  }
  return ok;
}

struct KillRecord {
  std::string victim, survivor;
  int64_t at_ms = 0;
  bool restart_at_once = false;
};

// Kill to the first "resumed: polling" line (any daemon) before the next kill; and
// kill to the survivor's "adopted" line.
void RecoveryTimes(FaultDaemons& d, const std::vector<KillRecord>& kills, std::vector<int64_t>* adopt_resume,
                   std::vector<int64_t>* restart_resume, std::vector<int64_t>* adopted_at, int64_t* adopted_jobs) {
  std::map<std::string, std::vector<LogLine>> logs;
  for (const auto& id : d.ids()) logs[id] = ReadJsonLog(d.log_path(id));
  for (size_t k = 0; k < kills.size(); ++k) {
    const int64_t from = kills[k].at_ms, to = k + 1 < kills.size() ? kills[k + 1].at_ms : INT64_MAX;
    int64_t first_resume = INT64_MAX, first_adopt = INT64_MAX;
    for (const auto& [id, lines] : logs) {
      for (const auto& l : lines) {
        if (l.ts_ms < from || l.ts_ms >= to) continue;
        if (l.msg.find("resumed: polling") != std::string::npos) first_resume = std::min(first_resume, l.ts_ms);
        if (id == kills[k].survivor && l.msg.rfind("adopted ", 0) == 0) {
          first_adopt = std::min(first_adopt, l.ts_ms);
          *adopted_jobs += std::atoll(l.msg.c_str() + 8);
        }
      }
    }
    if (first_resume != INT64_MAX) (kills[k].restart_at_once ? restart_resume : adopt_resume)->push_back(first_resume - from);
    if (first_adopt != INT64_MAX) adopted_at->push_back(first_adopt - from);
  }
}

void RunDaemonKills(const std::string& scenario, const Params& p, bool chaos) {
  Stack s(scenario);
  s.StartRedis();
  SimOptions so;
  so.extra_toml = std::string(kTaskToml) + (chaos ? kChaosToml : "");
  s.StartSim(so);
  FaultDaemons d(s);
  FaultDaemonOptions o;  // heartbeat_ttl_ms = 1000: adoption within about a second
  d.Start("d1", o);
  d.Start("d2", o);
  ASSERT_TRUE(d.WaitReady("d1")) << d.Tail();
  ASSERT_TRUE(d.WaitReady("d2")) << d.Tail();

  const auto jobs = MakeJobs(p.jobs, 100000);
  const double push_s = p.push_s > 0 ? p.push_s : std::max(6.0, 2.0 * p.kills);
  std::mt19937_64 rng(p.seed);
  std::uniform_real_distribution<double> u(0.2, 0.9);
  const auto t0 = std::chrono::steady_clock::now();
  Producer producer(s.redis_port(), jobs, push_s);
  std::vector<KillRecord> kills;
  int waited_adoption_fail = 0;
  for (int k = 0; k < p.kills; ++k) {
    // A random moment in the k-th slice of the push period (later if the last
    // restart took longer than the slice).
    std::this_thread::sleep_until(t0 + std::chrono::duration<double>((k + u(rng)) * push_s / p.kills));
    KillRecord r;
    r.victim = (rng() & 1) ? "d1" : "d2";
    r.survivor = r.victim == "d1" ? "d2" : "d1";
    r.restart_at_once = k % 3 == 2;
    // Kill while it holds jobs (it nearly always does).
    WaitFor([&] { return s.redis().Int({"SCARD", "runway:inflight:" + r.victim}) > 0; }, 5s);
    if (chaos) s.SimPost("/_sim/chaos", kChaosProfiles[k % 3]);
    r.at_ms = d.Kill(r.victim);
    kills.push_back(r);
    if (!r.restart_at_once) {
      // The survivor adopts everything the victim held, then forgets it.
      bool adopted = WaitFor([&] { return s.redis().Int({"SISMEMBER", "runway:daemons", r.victim}) == 0; }, 30s);
      EXPECT_TRUE(adopted) << "kill " << k << ": " << r.survivor << " did not adopt the jobs of " << r.victim << "\n"
                           << d.Tail();
      if (!adopted) ++waited_adoption_fail;
    }
    d.Start(r.victim, o);
    ASSERT_TRUE(d.WaitReady(r.victim)) << "restart after kill " << k << "\n" << d.Tail();
  }
  producer.Join();
  const auto drain_timeout = std::chrono::milliseconds(120000 + 100 * static_cast<int64_t>(p.jobs));
  const bool drained = WaitDrained(s, jobs.size(), drain_timeout);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_TRUE(drained) << "not every job finished within " << drain_timeout.count() << " ms: results "
                       << CountResults(s.redis()) << "/" << jobs.size() << ", left in redis "
                       << LeftInRedis(s.redis()) << "\n" << DescribeMissing(s, jobs) << d.Tail();
  const bool clean = StopAllCleanly(s, d);  // nothing can arrive after this

  const Audit a = AuditRun(s, jobs);
  EXPECT_TRUE(a.ok()) << a.Summary() << "\n" << JobLogLines(s.dir(), a.bad_ids);
  std::vector<int64_t> adopt_resume, restart_resume, adopted_at;
  int64_t adopted_jobs = 0;
  RecoveryTimes(d, kills, &adopt_resume, &restart_resume, &adopted_at, &adopted_jobs);
  const Percentiles rec = Summarise(adopt_resume), rst = Summarise(restart_resume), adp = Summarise(adopted_at);
  std::ostringstream j;
  j << "{\"scenario\":\"" << scenario << "\",\"seed\":" << p.seed << ",\"jobs\":" << p.jobs << ",\"kills\":"
    << kills.size() << ",\"push_s\":" << push_s << ",\"seconds\":" << static_cast<int64_t>(seconds) << ","
    << AuditJson(a) << ",\"adopted_jobs\":" << adopted_jobs << ",\"kill_to_adopted_ms\":" << PercentilesJson(adp)
    << ",\"kill_to_adopted_poll_ms\":" << PercentilesJson(rec)
    << ",\"kill_to_restarted_poll_ms\":" << PercentilesJson(rst) << ",\"adoption_timeouts\":" << waited_adoption_fail
    << ",\"clean_stops\":" << (clean ? "true" : "false") << "}";
  Report(j.str());
  // Every adoption-mode kill that left tasks running must have been picked up.
  EXPECT_GT(rec.n, 0u) << "no adopted task was resumed: the kills hit nothing";
}

}  // namespace

TEST(Fault, DaemonKills) {
  const Params p = Params::FromEnv(400, 5, 0);
  RunDaemonKills("daemon_kills", p, /*chaos=*/false);
}

TEST(Fault, KillsUnderChaos) {
  const Params p = Params::FromEnv(400, 5, 0);
  RunDaemonKills("kills_under_chaos", p, /*chaos=*/true);
}

TEST(Fault, RedisRestarts) {
  const Params p = Params::FromEnv(400, 0, 2);
  Stack s("redis_restarts");
  s.StartRedis(kAof);
  SimOptions so;
  so.extra_toml = kTaskToml;
  s.StartSim(so);
  FaultDaemons d(s);
  FaultDaemonOptions o;
  d.Start("d1", o);
  d.Start("d2", o);
  ASSERT_TRUE(d.WaitReady("d1")) << d.Tail();
  ASSERT_TRUE(d.WaitReady("d2")) << d.Tail();

  const auto jobs = MakeJobs(p.jobs, 300000);
  const double push_s = p.push_s > 0 ? p.push_s : std::max(8.0, 4.0 * p.redis_restarts);
  std::mt19937_64 rng(p.seed);
  std::uniform_real_distribution<double> when(0.2, 0.8), down(0.3, 2.5);
  const auto t0 = std::chrono::steady_clock::now();
  Producer producer(s.redis_port(), jobs, push_s);
  std::vector<int64_t> up_at, downtime_ms;
  for (int k = 0; k < p.redis_restarts; ++k) {
    std::this_thread::sleep_until(t0 + std::chrono::duration<double>((k + when(rng)) * push_s / p.redis_restarts));
    const int64_t killed = WallMs();
    s.StopRedis(SIGKILL);
    // The outage itself: the daemons keep working upstream and hold their outcomes.
    std::this_thread::sleep_for(std::chrono::duration<double>(down(rng)));
    s.StartRedis(kAof);
    up_at.push_back(WallMs());
    downtime_ms.push_back(up_at.back() - killed);
  }
  producer.Join();
  const auto drain_timeout = std::chrono::milliseconds(120000 + 100 * static_cast<int64_t>(p.jobs));
  const bool drained = WaitDrained(s, jobs.size(), drain_timeout);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_TRUE(drained) << "not every job finished within " << drain_timeout.count() << " ms: results "
                       << CountResults(s.redis()) << "/" << jobs.size() << ", left in redis "
                       << LeftInRedis(s.redis()) << "\n" << DescribeMissing(s, jobs) << d.Tail();
  const bool clean = StopAllCleanly(s, d);

  const Audit a = AuditRun(s, jobs);
  EXPECT_TRUE(a.ok()) << a.Summary() << "\n" << JobLogLines(s.dir(), a.bad_ids);
  // Redis back to the daemons' reconnection, per restart (the slower daemon).
  std::vector<int64_t> reconnect;
  std::map<std::string, std::vector<LogLine>> logs;
  for (const auto& id : d.ids()) logs[id] = ReadJsonLog(d.log_path(id));
  for (size_t k = 0; k < up_at.size(); ++k) {
    int64_t worst = -1;
    for (const auto& [id, lines] : logs) {
      for (const auto& l : lines)
        if (l.ts_ms >= up_at[k] && l.msg.find(": connected") != std::string::npos) {
          worst = std::max(worst, l.ts_ms - up_at[k]);
          break;
        }
    }
    if (worst >= 0) reconnect.push_back(worst);
  }
  size_t held = 0;
  for (const auto& id : d.ids()) held += CountLines(d.log_path(id), "outcome kept in memory");
  std::ostringstream j;
  j << "{\"scenario\":\"redis_restarts\",\"seed\":" << p.seed << ",\"jobs\":" << p.jobs
    << ",\"redis_restarts\":" << up_at.size() << ",\"push_s\":" << push_s << ",\"seconds\":"
    << static_cast<int64_t>(seconds) << "," << AuditJson(a) << ",\"redis_down_ms\":"
    << PercentilesJson(Summarise(downtime_ms)) << ",\"redis_up_to_reconnect_ms\":"
    << PercentilesJson(Summarise(reconnect)) << ",\"outcomes_held_in_memory\":" << held
    << ",\"clean_stops\":" << (clean ? "true" : "false") << "}";
  Report(j.str());
}
