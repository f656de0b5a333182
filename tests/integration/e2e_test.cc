// tests/integration/e2e_test.cc — the reliable job path, end to end, on real processes:
// redis-server, runway-sim (real HTTP) and runwayd. Tasks run at a time scale of 0.05
// (a 20 s task takes 1 s), so each test takes seconds, not minutes.
#include <gtest/gtest.h>
#include <signal.h>

#include <map>

#include "harness.h"
#include "outcomes.h"
#include "sim_view.h"

using namespace harness;
using namespace std::chrono_literals;

namespace {

struct Mix {
  std::string endpoint, model;
  int duration;
};
const Mix kMix[] = {{"image_to_video", "gen4_turbo", 5},
                    {"text_to_video", "veo3.1_fast", 6},
                    {"image_to_video", "veo3.1", 8},
                    {"text_to_video", "gen4.5", 5}};

// Pushes n mixed jobs j<base+i> with seed base+i; every 10th is free (charged 0).
std::map<std::string, int64_t> PushJobs(Redis& r, int n, int base, const std::string& prompt = "a calm sea") {
  std::map<std::string, int64_t> charged;
  for (int i = 0; i < n; ++i) {
    const Mix& m = kMix[i % 4];
    std::string id = "j" + std::to_string(base + i);
    int64_t c = (i % 10 == 9) ? 0 : 26;
    charged[id] = c;
    r.Push("runway:jobs", MakeJob(id, m.endpoint, m.model, m.duration, c, base + i, prompt));
  }
  return charged;
}

bool WaitResults(Redis& r, size_t n, std::chrono::milliseconds t) {
  return WaitFor([&] { return static_cast<size_t>(r.Int({"LLEN", "runway:results"})) >= n; }, t);
}

// Every job exactly once; refunds equal the failed charged jobs; no second create
// for any attempt except those reported outcome_unknown; nothing left in flight.
void CheckInvariants(Stack& s, const std::map<std::string, int64_t>& charged) {
  auto results = ReadResults(s.redis());
  std::map<std::string, int> seen;
  for (const auto& r : results) ++seen[r.id];
  for (const auto& [id, c] : charged) EXPECT_EQ(seen[id], 1) << "job " << id << " results";
  EXPECT_EQ(results.size(), charged.size());
  auto refunds = RefundsById(s.redis());
  std::map<std::string, int64_t> expected;
  for (const auto& r : results)
    if (r.status != "succeeded" && charged.at(r.id) > 0) expected[r.id] = charged.at(r.id);
  EXPECT_EQ(refunds, expected);
  auto creations = SimStatsOf(s).creations;
  for (const auto& r : results) {
    int64_t seed = std::stoll(r.id.substr(1));
    int64_t made = creations.count(seed) ? creations[seed] : 0;
    // `attempts` is the tasks created; an unanswered create counts although it may not have made one.
    if (r.error_class == "outcome_unknown") EXPECT_TRUE(made == r.attempts || made == r.attempts - 1) << r.id;
    else EXPECT_EQ(made, r.attempts) << "job " << r.id << " status " << r.status << " " << r.error_class;
  }
  EXPECT_EQ(s.redis().Int({"LLEN", "runway:processing:d1"}), 0);
  EXPECT_EQ(s.redis().Int({"SCARD", "runway:inflight:d1"}), 0);
  EXPECT_EQ(s.redis().Int({"LLEN", "runway:jobs"}), 0);
}

}  // namespace

TEST(EndToEnd, TwoHundredMixedJobsWithFailures) {
  Stack s("e2e200");
  s.StartRedis();
  SimOptions so;
  so.extra_toml = "[task]\nfailure_rate = 0.1\nfailure_codes = [\"SAFETY.INPUT.TEXT\", \"ASSET.INVALID\", \"INTERNAL\"]\n";
  s.StartSim(so);
  s.StartDaemon();
  ASSERT_TRUE(s.WaitReady(0)) << s.Logs();
  auto charged = PushJobs(s.redis(), 200, 1000);
  ASSERT_TRUE(WaitResults(s.redis(), 200, 90s)) << s.Logs();
  std::this_thread::sleep_for(300ms);  // nothing more may arrive
  CheckInvariants(s, charged);
  auto results = ReadResults(s.redis());
  int failed = 0, succeeded = 0;
  for (const auto& r : results) (r.status == "succeeded" ? succeeded : failed)++;
  EXPECT_GT(failed, 0);
  EXPECT_GT(succeeded, 150);
  // Every create says its body is JSON; no poll carries a Content-Type (no body).
  SimStats st = SimStatsOf(s);
  auto requests = st.requests, types = st.content_types;
  int64_t creates = 0;
  for (const auto& [route, n] : requests)
    if (route.rfind("POST /v1/", 0) == 0) {
      creates += n;
      EXPECT_EQ(types[route + " application/json"], n) << route;
    }
  EXPECT_GE(creates, 200);
  EXPECT_GT(requests["GET /v1/tasks"], 0);
  for (const auto& [key, n] : types) EXPECT_EQ(key.rfind("GET ", 0), std::string::npos) << key << ": " << n;
  s.daemon(0).Signal(SIGTERM);
  EXPECT_EQ(s.daemon(0).Wait(5s), 0) << s.Logs();
}

TEST(EndToEnd, MalformedJobsAreDeadLetteredWhileGoodJobsComplete) {
  Stack s("malformed");
  s.StartRedis();
  s.StartSim();
  s.StartDaemon();
  ASSERT_TRUE(s.WaitReady(0)) << s.Logs();
  auto& r = s.redis();
  std::map<std::string, int64_t> good;
  for (int i = 0; i < 10; ++i) {
    if (i == 3) r.Push("runway:jobs", "this is not json");
    if (i == 5) r.Push("runway:jobs", R"({"v":1,"endpoint":"text_to_video"})");
    if (i == 6)
      r.Push("runway:jobs",
             R"({"v":1,"id":"bad1","endpoint":"teleport","body":{"model":"x"},"charged":10,"user":"u\"q"})");
    if (i == 7) r.Push("runway:jobs", std::string(300 * 1024, ' ') + "{}");
    std::string id = "g" + std::to_string(i);
    good[id] = 26;
    r.Push("runway:jobs", MakeJob(id, "image_to_video", "gen4_turbo", 5, 26, 500 + i));
  }
  ASSERT_TRUE(WaitResults(r, 11, 30s)) << s.Logs();
  std::this_thread::sleep_for(300ms);
  auto results = ReadResults(r);
  ASSERT_EQ(results.size(), 11u);
  int ok = 0;
  for (const auto& x : results) {
    if (x.id == "bad1") {
      EXPECT_EQ(x.status, "failed");
      EXPECT_EQ(x.error_class, "invalid_job");
      EXPECT_EQ(x.refund, 10);
    } else {
      EXPECT_EQ(x.status, "succeeded") << x.id;
      ok += x.status == "succeeded";
    }
  }
  EXPECT_EQ(ok, 10);
  EXPECT_EQ(r.Int({"LLEN", "runway:dead"}), 4);
  auto refunds = RefundsById(r);
  EXPECT_EQ(refunds, (std::map<std::string, int64_t>{{"bad1", 10}}));
  EXPECT_TRUE(s.daemon(0).running());
  EXPECT_EQ(r.Int({"LLEN", "runway:processing:d1"}), 0);
}

TEST(EndToEnd, ExhaustedAccountFailsWithInsufficientCreditsAndRefunds) {
  Stack s("exhausted");
  s.StartRedis();
  SimOptions so;
  so.balance = 200;  // eight 5 s gen4_turbo tasks at 25 credits
  s.StartSim(so);
  DaemonOptions d;
  d.extra_toml = "[ledger]\ncredit_wait_s = 1\n";  // no top-up is coming: fail fast
  s.StartDaemon(d);
  ASSERT_TRUE(s.WaitReady(0)) << s.Logs();
  std::map<std::string, int64_t> charged;
  for (int i = 0; i < 20; ++i) {
    std::string id = "x" + std::to_string(i);
    charged[id] = 26;
    s.redis().Push("runway:jobs", MakeJob(id, "image_to_video", "gen4_turbo", 5, 26, 700 + i));
  }
  ASSERT_TRUE(WaitResults(s.redis(), 20, 30s)) << s.Logs();
  auto results = ReadResults(s.redis());
  int succeeded = 0, insufficient = 0;
  for (const auto& x : results) {
    if (x.status == "succeeded") ++succeeded;
    if (x.error_class == "upstream_insufficient_credits") {
      ++insufficient;
      EXPECT_EQ(x.refund, 26);
    }
  }
  EXPECT_EQ(succeeded, 8);
  EXPECT_EQ(insufficient, 12);
  EXPECT_EQ(RefundsById(s.redis()).size(), 12u);
  // The ledger knew: Runway never had to refuse a create for lack of credits.
  SimStats st = SimStatsOf(s);
  EXPECT_EQ(st.Resp("400"), 0) << st.raw;
  auto acct = s.redis().Cmd({"HGET", "runway:account:main", "estimate"});
  ASSERT_EQ(acct->type, REDIS_REPLY_STRING);
  EXPECT_EQ(std::string(acct->str), "0");
}

TEST(EndToEnd, KilledDaemonRestartsAndFinishesEveryJob) {
  Stack s("kill");
  s.StartRedis();
  s.StartSim();
  s.StartDaemon();
  ASSERT_TRUE(s.WaitReady(0)) << s.Logs();
  auto charged = PushJobs(s.redis(), 300, 2000);
  std::this_thread::sleep_for(700ms);  // mid-run: creates, polls and outcomes in flight
  s.daemon(0).Signal(SIGKILL);
  EXPECT_EQ(s.daemon(0).Wait(5s), -SIGKILL);
  size_t before = static_cast<size_t>(s.redis().Int({"LLEN", "runway:results"}));
  EXPECT_LT(before, 300u) << "the kill came too late to test anything";
  s.StartDaemon();  // same id: it takes back its processing list and in-flight records
  ASSERT_TRUE(s.WaitReady(1)) << s.Logs();
  ASSERT_TRUE(WaitResults(s.redis(), 300, 90s)) << s.Logs();
  std::this_thread::sleep_for(300ms);
  CheckInvariants(s, charged);
}

TEST(EndToEnd, SigtermStopsQuicklyAndTheNextStartResumes) {
  Stack s("sigterm");
  s.StartRedis();
  s.StartSim();
  s.StartDaemon();
  ASSERT_TRUE(s.WaitReady(0)) << s.Logs();
  auto charged = PushJobs(s.redis(), 100, 3000);
  std::this_thread::sleep_for(500ms);
  int64_t t0 = NowMs();
  s.daemon(0).Signal(SIGTERM);
  EXPECT_EQ(s.daemon(0).Wait(5s), 0) << s.Logs();
  EXPECT_LT(NowMs() - t0, 3000);
  EXPECT_EQ(ReadFile(s.daemon(0).log_path()).find("did not close cleanly"), std::string::npos);
  s.StartDaemon();
  ASSERT_TRUE(s.WaitReady(1)) << s.Logs();
  ASSERT_TRUE(WaitResults(s.redis(), 100, 60s)) << s.Logs();
  std::this_thread::sleep_for(300ms);
  CheckInvariants(s, charged);
}

TEST(EndToEnd, DuplicateIdIsNotSubmittedTwice) {
  Stack s("dup");
  s.StartRedis();
  s.StartSim();
  s.StartDaemon();
  ASSERT_TRUE(s.WaitReady(0)) << s.Logs();
  std::string job = MakeJob("same", "image_to_video", "gen4_turbo", 5, 26, 900);
  s.redis().Push("runway:jobs", job);
  s.redis().Push("runway:jobs", job);
  ASSERT_TRUE(WaitResults(s.redis(), 2, 30s)) << s.Logs();
  auto results = ReadResults(s.redis());
  ASSERT_EQ(results.size(), 2u);
  int dups = 0;
  for (const auto& x : results) dups += x.duplicate_of == "same";
  EXPECT_EQ(dups, 1);
  EXPECT_EQ(SimStatsOf(s).Made(900), 1);
  EXPECT_TRUE(RefundsById(s.redis()).empty());
  // Pushed again after it finished: remembered for the dedup window.
  s.redis().Push("runway:jobs", job);
  ASSERT_TRUE(WaitResults(s.redis(), 3, 30s)) << s.Logs();
  EXPECT_EQ(SimStatsOf(s).Made(900), 1);
}

TEST(EndToEnd, PollBudgetCapsRequestsPerAccount) {
  Stack s("budget");
  s.StartRedis();
  s.StartSim();
  DaemonOptions d;
  d.extra_toml = "[polling]\nmax_rps_per_account = 10\n";
  s.StartDaemon(d);
  ASSERT_TRUE(s.WaitReady(0)) << s.Logs();
  // 60 tasks that run for 200 simulated s (10 s here): unbudgeted, they would be polled
  // every 250 ms each, some 240 GETs a second.
  for (int i = 0; i < 60; ++i)
    s.redis().Push("runway:jobs", MakeJob("b" + std::to_string(i), "image_to_video", "gen4_turbo", 5, 0, 800 + i,
                                          "x sim:secs=200"));
  auto gets = [&] { return SimStatsOf(s).Req("GET /v1/tasks"); };
  ASSERT_TRUE(WaitFor([&] { return s.redis().Int({"SCARD", "runway:inflight:d1"}) == 60; }, 10s));
  std::this_thread::sleep_for(1s);
  int64_t g0 = gets();
  std::this_thread::sleep_for(3s);
  int64_t g1 = gets();
  EXPECT_GT(g1 - g0, 10) << "polling stopped altogether";
  EXPECT_LE(g1 - g0, 10 * 3 + 10) << "the budget of 10 GETs/s was exceeded";
}

// At the in-flight cap intake waits for room for a batch (a tenth of the cap here: 2),
// so that one finished task does not cost one intake round trip for one job. A short
// tail must not wait for that: here one job ends, 19 run for 100 s, and the job queued
// behind them is taken after a short wait for more room, not when a long task ends.
TEST(EndToEnd, RoomBelowABatchIsFilledAfterAShortWait) {
  Stack s("tail");
  s.StartRedis();
  s.StartSim();
  DaemonOptions d;
  d.daemon_keys = "max_in_flight = 20";
  s.StartDaemon(d);
  ASSERT_TRUE(s.WaitReady(0)) << s.Logs();
  for (int i = 0; i < 19; ++i)
    s.redis().Push("runway:jobs", MakeJob("long" + std::to_string(i), "image_to_video", "gen4_turbo", 5, 0, 700 + i,
                                          "x sim:secs=2000"));
  s.redis().Push("runway:jobs", MakeJob("short", "image_to_video", "gen4_turbo", 5, 0, 799, "x sim:secs=5"));
  ASSERT_TRUE(WaitFor([&] { return s.redis().Int({"SCARD", "runway:inflight:d1"}) == 20; }, 10s)) << s.Logs();
  s.redis().Push("runway:jobs", MakeJob("tail", "image_to_video", "gen4_turbo", 5, 0, 798, "x sim:secs=5"));
  ASSERT_TRUE(WaitResults(s.redis(), 1, 20s)) << s.Logs();
  // The queued job is taken within seconds of the first finish (the long tasks end 100 s in).
  ASSERT_TRUE(WaitResults(s.redis(), 2, 15s)) << s.Logs();
  std::map<std::string, std::string> done;  // id -> status
  for (const auto& r : ReadResults(s.redis())) done[r.id] = r.status;
  EXPECT_EQ(done, (std::map<std::string, std::string>{{"short", "succeeded"}, {"tail", "succeeded"}}));
  EXPECT_EQ(s.redis().Int({"SCARD", "runway:inflight:d1"}), 19);
}

// Redis forgets the daemon's scripts (SCRIPT FLUSH, or a restart without persistence
// before the daemon reloads them): EVALSHA answers NOSCRIPT, and the daemon sends the
// same call again as EVAL with every key and argument intact.
TEST(EndToEnd, ScriptsFlushedFromRedisAreSentAgainWhole) {
  Stack s("noscript");
  s.StartRedis();
  s.StartSim();
  s.StartDaemon();
  ASSERT_TRUE(s.WaitReady(0)) << s.Logs();
  auto eval_calls = [&] {
    auto rep = s.redis().Cmd({"INFO", "commandstats"});
    std::string info(rep->str, rep->len);
    size_t p = info.find("cmdstat_eval:calls=");
    return p == std::string::npos ? 0L : std::atol(info.c_str() + p + 19);
  };
  for (int i = 0; i < 5; ++i)
    s.redis().Push("runway:jobs", MakeJob("ns" + std::to_string(i), "image_to_video", "gen4_turbo", 5, 26, 950 + i));
  ASSERT_TRUE(WaitResults(s.redis(), 5, 30s)) << s.Logs();
  const long before = eval_calls();
  s.redis().Cmd({"SCRIPT", "FLUSH"});
  for (int i = 5; i < 10; ++i)
    s.redis().Push("runway:jobs", MakeJob("ns" + std::to_string(i), "image_to_video", "gen4_turbo", 5, 26, 950 + i,
                                          "x sim:fail=SAFETY.INPUT.TEXT"));
  ASSERT_TRUE(WaitResults(s.redis(), 10, 30s)) << s.Logs();
  EXPECT_GT(eval_calls(), before) << "the calls after the flush went through EVAL";
  // Every key and argument survived the resend: the right job, its failure, its refund.
  std::map<std::string, ResultEvent> by_id;
  for (auto& x : ReadResults(s.redis())) by_id[x.id] = x;
  ASSERT_EQ(by_id.size(), 10u);
  for (int i = 0; i < 10; ++i) {
    const ResultEvent& x = by_id["ns" + std::to_string(i)];
    EXPECT_EQ(x.status, i < 5 ? "succeeded" : "failed") << x.id;
    EXPECT_EQ(x.refund, i < 5 ? -1 : 26) << x.id;
  }
  EXPECT_EQ(RefundsById(s.redis()).size(), 5u);
  EXPECT_EQ(s.redis().Int({"SCARD", "runway:inflight:d1"}), 0);
}
