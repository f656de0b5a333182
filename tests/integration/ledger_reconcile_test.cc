// tests/integration/ledger_reconcile_test.cc — readings of Runway's balance against
// the ledger's scripts: stale and concurrent readings, charges and returns that a
// reading did or did not include, the low-balance event's hysteresis, limits and
// daily usage. Fixture: ledger_scripts_fixture.h.
#include <gtest/gtest.h>

#include <string>

#include "ledger_scripts_fixture.h"

namespace ledger_scripts {
namespace {

TEST_F(LedgerScripts, StaleReadingIsIgnored) {
  ASSERT_EQ(Reconcile(100, 2000)[0], "ok");
  Reply r = Reconcile(40, 1000);  // sent before the one applied
  EXPECT_EQ(r[0], "stale");
  EXPECT_EQ(N(kAcc, "balance"), 100);
  EXPECT_EQ(Reconcile(90, 2000)[0], "ok");  // same instant: applied
}

// A charge that lands while a reading is in flight (after the counters were read,
// before Runway answered) is in Runway's balance *and* in charged_total - charged_base:
// the estimate is low by it until the next reading, never high.
TEST_F(LedgerScripts, ChargeDuringAReadingMakesTheEstimateLowUntilTheNextOne) {
  ASSERT_EQ(Reconcile(100, 10)[0], "ok");
  int64_t runway = 100;
  NewJob("j1");
  ASSERT_EQ(Reserve("j1", 25)[0], "ok");
  Reading rd = StartReading(20);  // HMGET: charged_total 0
  runway -= 25;                   // the create reaches Runway...
  ASSERT_EQ(Created("j1", 25)[0], "ok");
  Reply r = Apply(rd, runway);  // ...and GET /v1/organization already shows it
  ASSERT_EQ(r[0], "ok");
  EXPECT_EQ(std::atoll(r[2].c_str()), 50);  // 75 - 25: low by the charge
  EXPECT_LE(Estimate(), runway);
  r = Reconcile(runway, 30);
  EXPECT_EQ(r[2], "75");
  EXPECT_EQ(r[1], "50");  // drift -25: the estimate erred low
}

// Two daemons read at once: whichever is applied, the estimate is never above Runway.
TEST_F(LedgerScripts, ConcurrentReadingsByTwoDaemons) {
  ASSERT_EQ(Reconcile(200, 10)[0], "ok");
  int64_t runway = 200;
  NewJob("a");
  NewJob("b");
  ASSERT_EQ(Reserve("a", 30)[0], "ok");
  Reading r1 = StartReading(100);  // d1
  runway -= 30;
  ASSERT_EQ(Created("a", 30)[0], "ok");
  Reading r2 = StartReading(101);  // d2
  ASSERT_EQ(Reserve("b", 40)[0], "ok");
  int64_t b1 = runway;  // d1's GET answered before b's create
  runway -= 40;
  ASSERT_EQ(Created("b", 40)[0], "ok");
  int64_t b2 = runway;
  ASSERT_EQ(Apply(r2, b2)[0], "ok");  // d2's answer lands first
  EXPECT_LE(Estimate(), runway);
  EXPECT_EQ(Apply(r1, b1)[0], "stale");
  EXPECT_LE(Estimate(), runway);
  EXPECT_EQ(Reconcile(runway, 200)[2], std::to_string(runway));
}

// Regression (was a bug, fixed by leaving returns out of the estimate until a reading):
// a return (uncharged failure, cancellation, final cost below the charge) happens in
// Runway when the task ends, but reaches the ledger only when the daemon next polls the
// task. A reading taken in between already includes it; adding the booked return on top
// counted it twice, so the estimate was HIGH by the returned credits until the next
// reading, and creates were admitted that Runway refused for lack of credits.
TEST_F(LedgerScripts, ReturnSettledAfterAReadingThatIncludedItIsNotCountedTwice) {
  ASSERT_EQ(Reconcile(100, 10)[0], "ok");
  int64_t runway = 100;
  NewJob("j1");
  ASSERT_EQ(Reserve("j1", 25)[0], "ok");
  runway -= 25;
  ASSERT_EQ(Created("j1", 25)[0], "ok");
  runway += 25;  // the task fails upstream (ASSET.INVALID, not charged): Runway returns 25
  ASSERT_EQ(Reconcile(runway, 20)[0], "ok");  // a reading before the daemon's next poll
  EXPECT_EQ(Estimate(), runway);
  Finish("j1", 0);  // the daemon's poll sees FAILED, cost 0
  EXPECT_LE(Estimate(), runway) << "the estimate must never exceed Runway's balance (no outside spending here)";
  // The next reading would report a positive drift if the estimate had been high.
  Reply r = Reconcile(runway, 30);
  EXPECT_LE(std::atoll(r[1].c_str()) - std::atoll(r[2].c_str()), 0) << "drift > 0: the estimate erred high";
}

// A return the ledger books before any reading saw it: the estimate stays low by it (it
// never guesses whether Runway already gave it back) until the next reading.
TEST_F(LedgerScripts, ReturnIsCountedByTheNextReading) {
  ASSERT_EQ(Reconcile(100, 10)[0], "ok");
  int64_t runway = 100;
  NewJob("j1");
  ASSERT_EQ(Reserve("j1", 25)[0], "ok");
  runway -= 25;
  ASSERT_EQ(Created("j1", 25)[0], "ok");
  runway += 25;  // cancelled: Runway returns 25
  Finish("j1", 0);
  EXPECT_EQ(Estimate(), 75);
  Reply r = Reconcile(runway, 20);
  EXPECT_EQ(r[2], "100");
  EXPECT_EQ(r[1], "75");  // drift -25: low, never high
}

TEST_F(LedgerScripts, LowBalanceCrossesOncePerCrossingWithHysteresis) {
  Reply r = Reconcile(150, 10, 100);
  ASSERT_EQ(r[0], "ok");
  EXPECT_EQ(r[3], "0");
  int crossings = 0;
  auto step = [&](const std::string& id, int64_t cost) {
    NewJob(id);
    Reply x = Reserve(id, cost);
    EXPECT_EQ(x[0], "ok") << id;
    crossings += x[2] == "1";
    x = Created(id, cost);
    crossings += x[2] == "1";
    Finish(id, cost);
  };
  step("a", 25);  // 125
  step("b", 30);  // 95: crossed
  step("c", 30);  // 65: still low, no new event
  EXPECT_EQ(crossings, 1);
  EXPECT_EQ(H(kAcc, "low"), "1");
  // A reading a little above the threshold (within 10%) keeps it low...
  r = Reconcile(105, 20, 100);
  EXPECT_EQ(r[3], "0");
  EXPECT_EQ(H(kAcc, "low"), "1");
  step("d", 10);  // 95: no new crossing
  EXPECT_EQ(crossings, 1);
  // ...a top-up well above clears it, and the next dip is a new crossing.
  r = Reconcile(300, 30, 100);
  EXPECT_EQ(r[3], "0");
  EXPECT_EQ(H(kAcc, "low"), "0");
  step("e", 150);  // 150: above
  step("f", 60);   // 90: crossed again
  EXPECT_EQ(crossings, 2);
  // A reading below the threshold on an account not yet low is a crossing too.
  Cmd({"HSET", kAcc, "low", "0"});
  r = Reconcile(50, 40, 100);
  EXPECT_EQ(r[3], "1");
}

TEST_F(LedgerScripts, ReconcileSetsLimitsAndDailyUsage) {
  ASSERT_EQ(Reconcile(100, 10, 0, {"gen4_turbo", "2", "50", "7", "veo3.1", "", "", ""})[0], "ok");
  EXPECT_EQ(H(kAcc, "limit:gen4_turbo"), "2");
  EXPECT_EQ(H(kAcc, "daily_limit:gen4_turbo"), "50");
  EXPECT_EQ(H(kAcc, "daily:gen4_turbo"), "7");
  EXPECT_EQ(H(kAcc, "limit:veo3.1"), "<nil>");
  // A limit that became unlimited is removed.
  ASSERT_EQ(Reconcile(100, 20, 0, {"gen4_turbo", "", "", "8"})[0], "ok");
  EXPECT_EQ(H(kAcc, "limit:gen4_turbo"), "<nil>");
  EXPECT_EQ(H(kAcc, "daily:gen4_turbo"), "8");
}

}  // namespace
}  // namespace ledger_scripts
