// tests/integration/chaos_test.cc — 1,000 jobs against a misbehaving runway-sim:
// 5% 5xx (502/503/504), 5% 429, 1% connections reset after the request was processed,
// 1% malformed 200 bodies, 5% of answers 300 ms late, on creates and polls alike.
// Whatever happens, the money invariants hold:
//   * every job ends in exactly one result, and nothing is left in flight;
//   * no task is created twice for one job attempt: the simulator's creations for a
//     job's seed equal its attempts, except for jobs reported outcome_unknown, which
//     may have fewer (the create may not have happened) but never more;
//   * exactly one refund per failed job with charged > 0, none for anything else;
//   * every outcome_unknown result has its outcome_unknown event.
#include <gtest/gtest.h>
#include <signal.h>
#include <simdjson.h>

#include <map>
#include <set>

#include "harness.h"
#include "outcomes.h"
#include "sim_view.h"

using namespace harness;
using namespace std::chrono_literals;

namespace {

}  // namespace

TEST(Chaos, ThousandJobsUnderChaosKeepTheMoneyInvariants) {
  Stack s("chaos");
  s.StartRedis();
  SimOptions so;
  so.extra_toml =
      "[chaos]\n"
      "rate_502 = 0.0167\nrate_503 = 0.0167\nrate_504 = 0.0166\n"  // 5% 5xx
      "rate_429 = 0.05\n"
      "reset_after = 0.01\n"
      "malformed_rate = 0.01\n"
      "slow_rate = 0.05\nslow_ms = 300\n";
  s.StartSim(so);
  s.StartDaemon();
  ASSERT_TRUE(s.WaitReady(0)) << s.Logs();
  auto& r = s.redis();
  const int n = 1000;
  std::map<std::string, int64_t> charged;
  for (int i = 0; i < n; ++i) {
    std::string id = "x" + std::to_string(i);
    int64_t c = (i % 10 == 9) ? 0 : 26;  // every 10th job is free: never refunded
    charged[id] = c;
    r.Push("runway:jobs", MakeJob(id, i % 2 ? "text_to_video" : "image_to_video", i % 2 ? "gen4.5" : "gen4_turbo",
                                  5, c, 50000 + i, "a calm sea sim:secs=4"));
  }
  int64_t t0 = NowMs();
  ASSERT_TRUE(WaitFor([&] { return r.Int({"LLEN", "runway:results"}) >= n; }, 90s))
      << r.Int({"LLEN", "runway:results"}) << " results\n" << s.Logs();
  int64_t took_ms = NowMs() - t0;
  std::this_thread::sleep_for(500ms);  // nothing more may arrive

  // Exactly one result per job.
  auto results = ReadResults(r);
  std::map<std::string, int> seen;
  for (const auto& x : results) ++seen[x.id];
  for (const auto& [id, c] : charged) EXPECT_EQ(seen[id], 1) << "results of job " << id;
  EXPECT_EQ(results.size(), static_cast<size_t>(n));

  // Creations: one per attempt, fewer only for an unknown outcome.
  simdjson::dom::parser p;
  const SimStats stats = SimStatsOf(s);
  ASSERT_GE(stats.tasks_created, 0) << stats.raw.substr(0, 200);  // the stats were read
  int succeeded = 0, unknown = 0, other_failed = 0;
  for (const auto& x : results) {
    int64_t seed = 50000 + std::stoll(x.id.substr(1));
    int64_t m = stats.Made(seed);
    if (x.status == "succeeded") {
      ++succeeded;
      EXPECT_EQ(m, x.attempts) << x.id << " succeeded";
    } else if (x.error_class == "outcome_unknown") {
      ++unknown;
      EXPECT_LE(m, x.attempts) << x.id << " outcome_unknown";
    } else {
      ++other_failed;
      EXPECT_EQ(m, x.attempts) << x.id << " " << x.status << " " << x.error_class;
    }
  }
  // Nothing is configured to fail tasks or to resubmit: at most one task per job (none
  // when every create was refused), and the simulator never saw a seed twice.
  for (const auto& x : results) EXPECT_LE(x.attempts, 1) << x.id;
  EXPECT_EQ(stats.duplicate_seeds, 0);

  // Refunds: exactly the failed charged jobs, each once, with the charged credits.
  std::map<std::string, int64_t> refunds, expected;
  for (const auto& s2 : r.List("runway:refunds")) {
    simdjson::dom::element e;
    std::string_view id;
    int64_t credits = 0;
    ASSERT_FALSE(p.parse(s2).get(e) || e["refund_id"].get_string().get(id) || e["credits"].get_int64().get(credits))
        << s2;
    EXPECT_EQ(refunds.count(std::string(id)), 0u) << "refund emitted twice for " << id;
    refunds[std::string(id)] = credits;
  }
  for (const auto& x : results) {
    if (x.status != "succeeded" && charged.at(x.id) > 0) {
      expected[x.id] = charged.at(x.id);
      EXPECT_EQ(x.refund, charged.at(x.id)) << x.id;
    } else {
      EXPECT_EQ(x.refund, -1) << x.id;
    }
  }
  EXPECT_EQ(refunds, expected);

  // One outcome_unknown event per outcome_unknown result.
  std::map<std::string, int> unknown_events;
  for (const auto& ev : r.List("runway:events")) {
    simdjson::dom::element e;
    std::string_view type, job;
    if (p.parse(ev).get(e) || e["type"].get_string().get(type)) continue;
    if (type == "outcome_unknown" && !e["job"].get_string().get(job)) ++unknown_events[std::string(job)];
  }
  for (const auto& x : results) {
    if (x.error_class == "outcome_unknown") {
      EXPECT_EQ(unknown_events[x.id], 1) << x.id;
    }
  }
  EXPECT_EQ(unknown_events.size(), static_cast<size_t>(unknown));

  // Nothing left behind.
  EXPECT_EQ(r.Int({"LLEN", "runway:processing:d1"}), 0);
  EXPECT_EQ(r.Int({"SCARD", "runway:inflight:d1"}), 0);
  EXPECT_EQ(r.Int({"LLEN", "runway:jobs"}), 0);

  // The chaos happened, and most jobs still succeeded.
  const int64_t r429 = stats.Resp("429"), resets = stats.Resp("reset");
  const int64_t r5xx = stats.Resp("502") + stats.Resp("503") + stats.Resp("504");
  EXPECT_GT(r429, 0);
  EXPECT_GT(r5xx, 0);
  EXPECT_GT(resets, 0);
  EXPECT_GT(succeeded, 900);
  EXPECT_GT(unknown, 0);
  EXPECT_EQ(other_failed, 0) << "refused creates are retried; polls are retried";
  std::printf("chaos: %d succeeded, %d outcome_unknown, %d other failures in %lld ms; 429=%lld 5xx=%lld reset=%lld\n",
              succeeded, unknown, other_failed, static_cast<long long>(took_ms), static_cast<long long>(r429),
              static_cast<long long>(r5xx), static_cast<long long>(resets));

  s.daemon(0).Signal(SIGTERM);
  EXPECT_EQ(s.daemon(0).Wait(10s), 0) << s.Logs();
}
