// tests/integration/ledger_focused_test.cc — the ledger's paths one at a time:
// fallback models, credit waits rescued or expired, pinned jobs, low-balance and
// reconciliation events, disabled accounts, and the regressions found while writing
// ledger_randomized_test.cc. Setup: ledger_world.h.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "ledger_world.h"

using namespace harness;
using namespace ledger_world;
using namespace std::chrono_literals;

// =====================================================================================
// Focused tests: one path each.
// =====================================================================================

// No account can pay for the primary model: the job runs its fallback model, and the
// result names the model actually used.
TEST(LedgerFocused, FallbackWhenThePrimaryModelIsTooExpensiveEverywhere) {
  World w("ledger-fallback");
  w.StartSim({{"main", kKeyMain, 200, ""}, {"second", kKeySecond, 250, ""}});
  w.StartDaemon("d1", {{"main", kKeyMain}, {"second", kKeySecond}}, kLedgerFast);
  Redis& r = w.s.redis();
  // image_to_video veo3.1 8 s = 320 credits; gen4_turbo 8 s = 40.
  r.Push("runway:jobs", Job("fb1", "image_to_video", "veo3.1", 8, 30, 11, "a calm sea",
                            ",\"fallback_models\":[\"veo3.1\",\"gen4_turbo\"]"));
  ASSERT_TRUE(WaitFor([&] { return r.Int({"LLEN", "runway:results"}) >= 1; }, 15s)) << w.Logs();
  auto x = Results(r)["fb1"];
  EXPECT_EQ(x.status, "succeeded");
  EXPECT_EQ(x.model, "gen4_turbo");
  EXPECT_EQ(x.account, "second");  // the account with the most credit
  EXPECT_EQ(x.attempts, 1);
  SimStats st = SimStatsOf(w.s);
  EXPECT_EQ(st.creations[11], 1);
  EXPECT_EQ(st.Balance("second"), 210);
  EXPECT_EQ(st.Balance("main"), 200);
  EXPECT_EQ(st.Resp("400"), 0) << st.raw;
  EXPECT_TRUE(RefundsById(r).empty());
  ASSERT_TRUE(WaitReconciledAfter(r, {"main", "second"}, WallMs() + 20, 5s));
  CheckLedgerAtRest(w, {"main", "second"});
}

// A job no account can pay waits for credit; a top-up during the wait rescues it, and
// the reading that sees the top-up is a balance_reconciled event with the drift.
TEST(LedgerFocused, CreditWaitIsRescuedByATopUp) {
  World w("ledger-rescue");
  w.StartSim({{"main", kKeyMain, 30, ""}});
  w.StartDaemon("d1", {{"main", kKeyMain}}, "reconcile_interval_s = 1\ncredit_wait_s = 20");
  Redis& r = w.s.redis();
  r.Push("runway:jobs", Job("c1", "image_to_video", "gen4_turbo", 5, 26, 21));  // 25 of 30
  ASSERT_TRUE(WaitFor([&] { return r.Int({"LLEN", "runway:results"}) >= 1; }, 10s)) << w.Logs();
  r.Push("runway:jobs", Job("c2", "image_to_video", "gen4_turbo", 5, 26, 22));  // 5 left: waits
  ASSERT_TRUE(WaitFor([&] { return CreditWaiters(w, {"d1"}).count("c2") > 0; }, 5s)) << w.Logs();
  std::this_thread::sleep_for(1500ms);  // a reading or two while it waits: nothing changes
  EXPECT_EQ(r.Int({"LLEN", "runway:results"}), 1);
  size_t events_before = Events(r).size();
  int64_t t_topup = NowMs();
  w.s.SimPost("/_sim/topup", "{\"account\":\"main\",\"credits\":100}");
  ASSERT_TRUE(WaitFor([&] { return r.Int({"LLEN", "runway:results"}) >= 2; }, 10s)) << w.Logs();
  int64_t rescue_ms = NowMs() - t_topup;
  auto x = Results(r)["c2"];
  EXPECT_EQ(x.status, "succeeded") << x.error_class;
  EXPECT_LT(rescue_ms, 5000) << "the top-up should be seen within one reconcile interval";
  EXPECT_TRUE(RefundsById(r).empty());
  // The first reading after the top-up: before 5, after 105, drift -100.
  bool found = false;
  auto events = Events(r);
  for (size_t i = 0; i + events_before < events.size() && !found; ++i) {
    // Events() is oldest first: the new ones are at the end.
    const Event& e = events[events_before + i];
    if (e.type != "balance_reconciled" || e.account != "main" || !e.ints.count("drift")) continue;
    if (e.ints.at("balance") != 105) continue;
    found = true;
    EXPECT_EQ(e.ints.at("estimate_before"), 5) << e.raw;
    EXPECT_EQ(e.ints.at("estimate"), 105) << e.raw;
    EXPECT_EQ(e.ints.at("drift"), -100) << e.raw;
  }
  EXPECT_TRUE(found) << "no balance_reconciled event saw the top-up";
  ASSERT_TRUE(WaitReconciledAfter(r, {"main"}, WallMs() + 20, 5s));
  CheckLedgerAtRest(w, {"main"});
  EXPECT_EQ(SimStatsOf(w.s).Balance("main"), 80);
}

// Nobody tops up: the wait expires, the job fails upstream_insufficient_credits and is
// refunded; Runway never saw a create for it.
TEST(LedgerFocused, CreditWaitExpiresWithInsufficientCreditsAndARefund) {
  World w("ledger-expire");
  w.StartSim({{"main", kKeyMain, 10, ""}, {"second", kKeySecond, 20, ""}});
  w.StartDaemon("d1", {{"main", kKeyMain}, {"second", kKeySecond}}, "reconcile_interval_s = 1\ncredit_wait_s = 2");
  Redis& r = w.s.redis();
  int64_t t0 = NowMs();
  r.Push("runway:jobs", Job("e1", "image_to_video", "gen4_turbo", 5, 26, 31));  // 25 > 10, 20
  ASSERT_TRUE(WaitFor([&] { return r.Int({"LLEN", "runway:results"}) >= 1; }, 10s)) << w.Logs();
  int64_t took = NowMs() - t0;
  auto x = Results(r)["e1"];
  EXPECT_EQ(x.status, "failed");
  EXPECT_EQ(x.error_class, "upstream_insufficient_credits");
  EXPECT_EQ(x.refund, 26);
  EXPECT_EQ(RefundsById(r), (std::map<std::string, int64_t>{{"e1", 26}}));
  EXPECT_GE(took, 1900) << "failed before credit_wait_s";
  EXPECT_LT(took, 6000);
  SimStats st = SimStatsOf(w.s);
  EXPECT_EQ(st.tasks_created, 0);
  EXPECT_EQ(st.Resp("400"), 0) << st.raw;
  EXPECT_EQ(CreditWaiters(w, {"d1"}).count("e1"), 1u);
  ASSERT_TRUE(WaitReconciledAfter(r, {"main", "second"}, WallMs() + 20, 5s));
  CheckLedgerAtRest(w, {"main", "second"});
}

// A job pinned to an account waits for that account's slot: with max_concurrent = 1
// the pinned jobs run one after the other there (never elsewhere, never THROTTLED),
// and none fails for lack of concurrency.
TEST(LedgerFocused, PinnedJobsWaitForTheirAccountsSlot) {
  World w("ledger-pinned");
  w.StartSim({{"main", kKeyMain, 1000, "{ gen4_turbo = { max_concurrent = 1 } }"}, {"second", kKeySecond, 1000, ""}});
  w.StartDaemon("d1", {{"main", kKeyMain}, {"second", kKeySecond, 5}}, kLedgerFast);
  w.StartDaemon("d2", {{"main", kKeyMain}, {"second", kKeySecond, 5}}, kLedgerFast);
  Redis& r = w.s.redis();
  for (int i = 0; i < 5; ++i)
    r.Push("runway:jobs", Job("p" + std::to_string(i), "image_to_video", "gen4_turbo", 2, 10, 40 + i,
                              "sim:secs=6", ",\"account\":\"main\""));
  ASSERT_TRUE(WaitFor([&] { return r.Int({"LLEN", "runway:results"}) >= 5; }, 20s)) << w.Logs();
  for (const auto& [id, x] : Results(r)) {
    EXPECT_EQ(x.status, "succeeded") << id << " " << x.error_class;
    EXPECT_EQ(x.account, "main") << id;
    EXPECT_EQ(x.attempts, 1) << id;
  }
  SimStats st = SimStatsOf(w.s);
  EXPECT_EQ(st.throttled, 0) << st.raw;
  EXPECT_EQ(st.accounts["main"].max_concurrency["gen4_turbo"], 1) << st.raw;
  EXPECT_EQ(st.Balance("second"), 1000);
  EXPECT_EQ(st.tasks_created, 5);
  ASSERT_TRUE(WaitReconciledAfter(r, {"main", "second"}, WallMs() + 20, 5s));
  CheckLedgerAtRest(w, {"main", "second"});
}

// low_balance is emitted once per crossing (hysteresis: cleared 10% above the
// threshold), by whichever of two daemons made the estimate cross.
TEST(LedgerFocused, LowBalanceEventOncePerCrossing) {
  World w("ledger-low");
  // 185: two jobs leave 135, well above the threshold even if a reading races a create
  // (the estimate may then be low by one job's 25, docs/ledger.md).
  w.StartSim({{"main", kKeyMain, 185, ""}});
  std::vector<DaemonAccount> acc = {{"main", kKeyMain, 0, 100, ""}};
  w.StartDaemon("d1", acc, "reconcile_interval_s = 1\ncredit_wait_s = 2");
  w.StartDaemon("d2", acc, "reconcile_interval_s = 1\ncredit_wait_s = 2");
  Redis& r = w.s.redis();
  auto run = [&](const std::string& id, int seed, size_t n_results) {
    r.Push("runway:jobs", Job(id, "image_to_video", "gen4_turbo", 5, 0, seed));  // 25
    ASSERT_TRUE(WaitFor([&] { return static_cast<size_t>(r.Int({"LLEN", "runway:results"})) >= n_results; }, 10s))
        << w.Logs();
  };
  run("w1", 51, 1);  // 160
  run("w2", 52, 2);  // 135
  EXPECT_EQ(CountEvents(r, "low_balance", "main"), 0u);
  run("w3", 53, 3);  // 110
  run("w4", 54, 4);  // 85: crossed
  run("w5", 58, 5);  // 60: still low
  std::this_thread::sleep_for(2500ms);  // readings by both daemons: still low, no new event
  EXPECT_EQ(CountEvents(r, "low_balance", "main"), 1u);
  // Back above the threshold + 10% (110) after a top-up, then down again: a new crossing.
  w.s.SimPost("/_sim/topup", "{\"account\":\"main\",\"credits\":100}");  // 160
  ASSERT_TRUE(WaitFor([&] { return HInt(r, "runway:account:main", "estimate") == 160; }, 5s)) << w.Logs();
  EXPECT_TRUE(WaitFor([&] { return Hash(r, "runway:account:main")["low"] == "0"; }, 2s));
  run("w6", 55, 6);  // 135
  run("w7", 56, 7);  // 110
  run("w8", 57, 8);  // 85: crossed again
  std::this_thread::sleep_for(2500ms);
  EXPECT_EQ(CountEvents(r, "low_balance", "main"), 2u);
  for (const auto& e : Events(r))
    if (e.type == "low_balance") {
      EXPECT_EQ(e.ints.count("threshold") ? e.ints.at("threshold") : -1, 100) << e.raw;
      EXPECT_LT(e.ints.count("estimate") ? e.ints.at("estimate") : 1000, 100) << e.raw;
    }
}

// Every reading is a balance_reconciled event; with nothing in flight the drift is
// exactly what changed outside the daemon (a top-up: negative, the estimate was low;
// outside spending on the same Runway account: positive, the estimate was high).
TEST(LedgerFocused, BalanceReconciledEventsCarryTheDrift) {
  World w("ledger-drift");
  w.StartSim({{"main", kKeyMain, 500, ""}});
  w.StartDaemon("d1", {{"main", kKeyMain}}, kLedgerFast);
  Redis& r = w.s.redis();
  r.Push("runway:jobs", Job("d1", "image_to_video", "gen4_turbo", 4, 0, 61));  // 20
  ASSERT_TRUE(WaitFor([&] { return r.Int({"LLEN", "runway:results"}) >= 1; }, 10s)) << w.Logs();
  ASSERT_TRUE(WaitReconciledAfter(r, {"main"}, WallMs() + 20, 5s));
  // The first (or last) reading that saw `balance`.
  auto reading = [&](int64_t balance, bool first) -> std::optional<Event> {
    std::optional<Event> found;
    for (const auto& e : Events(r)) {  // oldest first
      if (e.type != "balance_reconciled" || !e.ints.count("balance") || e.ints.at("balance") != balance) continue;
      if (!e.ints.count("drift")) continue;  // the daemon's first reading has no "before"
      found = e;
      if (first) break;
    }
    return found;
  };
  // The reconciliation sent after the job may not have been answered yet: wait for it.
  ASSERT_TRUE(WaitFor([&] { return reading(480, false).has_value(); }, 5s)) << "no reading of 480\n" << w.Logs();
  auto e = reading(480, false);
  EXPECT_EQ(e->ints.at("drift"), 0) << e->raw;
  w.s.SimPost("/_sim/topup", "{\"account\":\"main\",\"credits\":70}");  // 550
  ASSERT_TRUE(WaitFor([&] { return reading(550, true).has_value(); }, 5s));
  e = reading(550, true);
  EXPECT_EQ(e->ints.at("estimate_before"), 480) << e->raw;
  EXPECT_EQ(e->ints.at("estimate"), 550) << e->raw;
  EXPECT_EQ(e->ints.at("drift"), -70) << e->raw;
  // Someone else spends 45 credits with the same key: the estimate was high by 45.
  w.s.SimPost("/_sim/topup", "{\"account\":\"main\",\"credits\":-45}");  // 505
  ASSERT_TRUE(WaitFor([&] { return reading(505, true).has_value(); }, 5s));
  e = reading(505, true);
  EXPECT_EQ(e->ints.at("drift"), 45) << e->raw;
  EXPECT_EQ(HInt(r, "runway:account:main", "estimate"), 505);
}

// A key Runway refuses (401): the account is disabled with one account_disabled event,
// and every job runs on the other account, even the ones that prefer the bad one.
TEST(LedgerFocused, UnauthorizedAccountIsDisabledAndJobsGoElsewhere) {
  World w("ledger-401");
  w.StartSim({{"main", kKeyMain, 500, ""}, {"second", kKeySecond, 500, ""}});
  // The daemon's key for "second" is not the one Runway (the simulator) knows.
  w.StartDaemon("d1", {{"main", kKeyMain, 0}, {"second", kKeyWrong, 10}}, kLedgerFast);
  Redis& r = w.s.redis();
  ASSERT_TRUE(WaitFor([&] { return CountEvents(r, "account_disabled", "second") >= 1; }, 5s)) << w.Logs();
  for (int i = 0; i < 4; ++i)
    r.Push("runway:jobs", Job("u" + std::to_string(i), "image_to_video", "gen4_turbo", 2, 10, 70 + i));
  ASSERT_TRUE(WaitFor([&] { return r.Int({"LLEN", "runway:results"}) >= 4; }, 10s)) << w.Logs();
  for (const auto& [id, x] : Results(r)) {
    EXPECT_EQ(x.status, "succeeded") << id << " " << x.error_class;
    EXPECT_EQ(x.account, "main") << id;
  }
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(CountEvents(r, "account_disabled", "second"), 1u);
  for (const auto& e : Events(r))
    if (e.type == "account_disabled") {
      EXPECT_EQ(e.ints.count("http_status") ? e.ints.at("http_status") : 0, 401);
    }
  EXPECT_EQ(Hash(r, "runway:account:second")["disabled"], "1");
  SimStats st = SimStatsOf(w.s);
  EXPECT_EQ(st.Balance("second"), 500);
  EXPECT_EQ(st.Balance("main"), 460);
  // A job pinned to the disabled account fails at once (account_unusable) and is refunded.
  r.Push("runway:jobs", Job("u9", "image_to_video", "gen4_turbo", 2, 10, 79, "a calm sea", ",\"account\":\"second\""));
  ASSERT_TRUE(WaitFor([&] { return r.Int({"LLEN", "runway:results"}) >= 5; }, 10s)) << w.Logs();
  auto x = Results(r)["u9"];
  EXPECT_EQ(x.error_class, "account_unusable");
  EXPECT_EQ(x.refund, 10);
  ASSERT_TRUE(WaitReconciledAfter(r, {"main"}, WallMs() + 20, 5s));
  CheckLedgerAtRest(w, {"main"});
}

// =====================================================================================
// Bugs found while writing the tests above (all fixed): each test began as a reproduction.
// =====================================================================================

// Found by this test, fixed by leaving returns out of the estimate until a
// reading. Runway gives credits back when a task fails uncharged, the ledger learns it at
// its next poll; a reading in between already includes the return, so the ledger must not
// add it again. When it did, the estimate was high by the return until the next reading
// and the daemon admitted a create Runway refused for lack of credits. Deterministic:
// polls are slow (first after 5 s), readings every 3 s, and the jobs that would spend
// phantom credits are pushed the moment the failed job's result appears.
TEST(LedgerFocused, ReturnedCreditsAreNeverCountedTwice) {
  World w("ledger-bug-return");
  w.StartSim({{"main", kKeyMain, 100, ""}});
  w.StartDaemon("d1", {{"main", kKeyMain}}, "reconcile_interval_s = 3\ncredit_wait_s = 2",
                "[polling]\nfirst_poll_ms = 100000\nmax_interval_ms = 100000\n");
  Redis& r = w.s.redis();
  // Fails upstream at once (ASSET.INVALID is not charged: Runway returns the 25).
  r.Push("runway:jobs", Job("f", "image_to_video", "gen4_turbo", 5, 0, 81, "sim:fail=ASSET.INVALID sim:secs=1"));
  ASSERT_TRUE(WaitFor([&] { return r.Int({"LLEN", "runway:results"}) >= 1; }, 15s)) << w.Logs();
  int64_t estimate = LiveEstimate(r, "main");
  SimStats st = SimStatsOf(w.s);
  EXPECT_EQ(st.Balance("main"), 100);
  EXPECT_LE(estimate, st.Balance("main")) << "the estimate is above Runway's balance with nothing in flight";
  // Spend what the estimate says is there: five jobs of 25.
  for (int i = 0; i < 5; ++i)
    r.Push("runway:jobs", Job("s" + std::to_string(i), "image_to_video", "gen4_turbo", 5, 0, 90 + i));
  ASSERT_TRUE(WaitFor([&] { return r.Int({"LLEN", "runway:results"}) >= 6; }, 20s)) << w.Logs();
  st = SimStatsOf(w.s);
  EXPECT_EQ(st.Resp("400"), 0) << "Runway refused a create for insufficient credits that the estimate allowed\n"
                                    << st.raw;
  EXPECT_EQ(CountInLogs(w, {"d1"}, "although the estimate said so"), 0u);
}

// "disabled" is written to the account hash on a 401. After the key is fixed and the
// daemon restarted, a successful reading clears it and the account is used again.
TEST(LedgerFocused, AccountComesBackAfterItsKeyIsFixed) {
  World w("ledger-bug-disabled");
  w.StartSim({{"main", kKeyMain, 500, ""}, {"second", kKeySecond, 500, ""}});
  Process& first = w.StartDaemon("d1", {{"main", kKeyMain, 0}, {"second", kKeyWrong, 10}}, kLedgerFast);
  Redis& r = w.s.redis();
  ASSERT_TRUE(WaitFor([&] { return CountEvents(r, "account_disabled", "second") >= 1; }, 5s)) << w.Logs();
  first.Signal(SIGTERM);
  ASSERT_EQ(first.Wait(5s), 0);
  // The operator fixes the key and restarts.
  w.StartDaemon("d1", {{"main", kKeyMain, 0}, {"second", kKeySecond, 10}}, kLedgerFast);
  // Until a reading succeeds the account stays as the last run left it: jobs routed
  // before that rightly go to "main".
  ASSERT_TRUE(WaitFor([&] { return r.Int({"HEXISTS", "runway:account:second", "disabled"}) == 0; }, 5s))
      << w.Logs();
  for (int i = 0; i < 2; ++i)
    r.Push("runway:jobs", Job("v" + std::to_string(i), "image_to_video", "gen4_turbo", 2, 10, 110 + i));
  ASSERT_TRUE(WaitFor([&] { return r.Int({"LLEN", "runway:results"}) >= 2; }, 10s)) << w.Logs();
  for (const auto& [id, x] : Results(r)) {
    EXPECT_EQ(x.status, "succeeded") << id;
    EXPECT_EQ(x.account, "second") << id << ": the fixed account (priority 10) was never used again";
  }
}

// The account hash says "disabled" although this daemon's key works (another run's or
// another daemon's verdict). A job that meets the flag goes elsewhere, but the daemon
// keeps reading the account: the next good reading clears the flag, here and in Redis.
// (It used to take the flag as its own verdict and never read the account again.)
TEST(LedgerFocused, StaleDisabledFlagIsClearedByTheNextReading) {
  World w("ledger-stale-disabled");
  w.StartSim({{"main", kKeyMain, 500, ""}, {"second", kKeySecond, 500, ""}});
  w.StartDaemon("d1", {{"main", kKeyMain, 0}, {"second", kKeySecond, 10}}, kLedgerFast);
  Redis& r = w.s.redis();
  ASSERT_TRUE(WaitFor([&] { return CountEvents(r, "balance_reconciled", "second") >= 1; }, 5s)) << w.Logs();
  r.Cmd({"HSET", "runway:account:second", "disabled", "1"});
  r.Push("runway:jobs", Job("s0", "image_to_video", "gen4_turbo", 2, 10, 120));
  ASSERT_TRUE(WaitFor([&] { return r.Int({"LLEN", "runway:results"}) >= 1; }, 10s)) << w.Logs();
  EXPECT_EQ(Results(r)["s0"].account, "main") << "the flag was ignored";
  ASSERT_TRUE(WaitFor([&] { return r.Int({"HEXISTS", "runway:account:second", "disabled"}) == 0; }, 5s))
      << "no reading cleared the flag\n" << w.Logs();
  for (int i = 1; i < 3; ++i)
    r.Push("runway:jobs", Job("s" + std::to_string(i), "image_to_video", "gen4_turbo", 2, 10, 120 + i));
  ASSERT_TRUE(WaitFor([&] { return r.Int({"LLEN", "runway:results"}) >= 3; }, 10s)) << w.Logs();
  auto res = Results(r);
  EXPECT_EQ(res["s1"].account, "second");
  EXPECT_EQ(res["s2"].account, "second");
}

// `attempts` is "Runway tasks created for this job (0 when none)": a job that never
// reached Runway (its credit wait expired) reports 0.
TEST(LedgerFocused, JobThatNeverReachedRunwayReportsZeroAttempts) {
  World w("ledger-bug-attempts");
  w.StartSim({{"main", kKeyMain, 10, ""}});
  w.StartDaemon("d1", {{"main", kKeyMain}}, "reconcile_interval_s = 1\ncredit_wait_s = 1");
  Redis& r = w.s.redis();
  r.Push("runway:jobs", Job("a0", "image_to_video", "gen4_turbo", 5, 26, 121));
  ASSERT_TRUE(WaitFor([&] { return r.Int({"LLEN", "runway:results"}) >= 1; }, 10s)) << w.Logs();
  auto x = Results(r)["a0"];
  EXPECT_EQ(x.error_class, "upstream_insufficient_credits");
  EXPECT_EQ(SimStatsOf(w.s).tasks_created, 0);
  EXPECT_EQ(x.attempts, 0);
}

// The credit wait starts again for each attempt: a retry (after an uncharged INTERNAL
// failure) that finds no credit waits credit_wait_s instead of failing at once with the
// first attempt's expired wait. Since returns count only from the next reading, this is
// what a retry on a tight account always meets: the failed attempt's credits come back
// with the next reading, a second or so later.
TEST(LedgerFocused, CreditWaitStartsAgainForARetry) {
  World w("ledger-bug-rewait");
  w.StartSim({{"main", kKeyMain, 10, ""}});
  w.StartDaemon("d1", {{"main", kKeyMain}}, "reconcile_interval_s = 1\ncredit_wait_s = 2");
  Redis& r = w.s.redis();
  // 25 credits; every attempt runs 2 s (real) and fails INTERNAL (not charged, retried).
  r.Push("runway:jobs", Job("rw", "image_to_video", "gen4_turbo", 5, 26, 131, "sim:fail=INTERNAL sim:secs=40"));
  ASSERT_TRUE(WaitFor([&] { return CreditWaiters(w, {"d1"}).count("rw") > 0; }, 5s)) << w.Logs();
  w.s.SimPost("/_sim/topup", "{\"account\":\"main\",\"credits\":25}");  // 35: the first attempt runs
  ASSERT_TRUE(WaitFor([&] { return r.Int({"LLEN", "runway:results"}) >= 1; }, 25s)) << w.Logs();
  auto x = Results(r)["rw"];
  SimStats st = SimStatsOf(w.s);
  EXPECT_EQ(x.error_class, "upstream_failure") << "attempts " << x.attempts << ", tasks created " << st.creations[131];
  EXPECT_EQ(st.creations[131], 3) << "max_attempts (3) tasks, each failing INTERNAL";
}
