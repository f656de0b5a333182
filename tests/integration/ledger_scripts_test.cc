// tests/integration/ledger_scripts_test.cc — one job's money through the ledger's
// scripts: reservation, creation, settlement, finish, and the admission's own first
// reservation. Readings of Runway's balance: ledger_reconcile_test.cc. Fixture:
// ledger_scripts_fixture.h.
#include <gtest/gtest.h>

#include <string>

#include "ledger_scripts_fixture.h"

namespace ledger_scripts {
namespace {

TEST_F(LedgerScripts, OneJobFromReservationToFinish) {
  ASSERT_EQ(Reconcile(100, 10)[0], "ok");
  EXPECT_EQ(H(kAcc, "estimate"), "100");
  EXPECT_EQ(H(kAcc, "limit:gen4_turbo"), "2");
  NewJob("j1");
  Reply r = Reserve("j1", 25);
  ASSERT_EQ(r[0], "ok");
  EXPECT_EQ(r[1], "75");
  EXPECT_EQ(N(kAcc, "reserved"), 25);
  EXPECT_EQ(N(kAcc, "inflight:gen4_turbo"), 1);
  EXPECT_EQ(N(kAcc, "daily:gen4_turbo"), 1);
  EXPECT_EQ(H("runway:job:j1", "state"), "create_sent");
  EXPECT_EQ(H("runway:job:j1", "hold_reserved"), "25");
  // Runway takes 25 at creation; the daemon records the task.
  r = Created("j1", 25);
  ASSERT_EQ(r[0], "ok");
  EXPECT_EQ(r[1], "75");
  EXPECT_EQ(N(kAcc, "reserved"), 0);
  EXPECT_EQ(N(kAcc, "charged_total"), 25);
  EXPECT_EQ(H("runway:job:j1", "hold_charged"), "25");
  // Succeeded at cost 25: the finish settles the hold and frees the slot.
  Reply f = Finish("j1", 25);
  EXPECT_EQ(f.text, "0");
  EXPECT_EQ(N(kAcc, "inflight:gen4_turbo"), 0);
  EXPECT_EQ(N(kAcc, "reserved"), 0);
  EXPECT_EQ(Cmd({"EXISTS", "runway:job:j1"}).text, "0");
  EXPECT_EQ(Estimate(), 75);
  // The next reading (Runway says 75) leaves no drift.
  r = Reconcile(75, 20);
  EXPECT_EQ(r[1], "75");  // estimate before
  EXPECT_EQ(r[2], "75");  // after
}

TEST_F(LedgerScripts, ReserveRefusesWithTheReason) {
  NewJob("j1");
  EXPECT_EQ(Reserve("j1", 10)[0], "unknown");  // no reading yet
  ASSERT_EQ(Reconcile(50, 10, 0, {"gen4_turbo", "1", "3", "2"})[0], "ok");
  EXPECT_EQ(Reserve("j1", 51)[0], "credit");
  NewJob("j2");
  ASSERT_EQ(Reserve("j1", 10)[0], "ok");
  EXPECT_EQ(Reserve("j2", 10)[0], "slot");  // max_concurrent 1
  ASSERT_EQ(Settle("j1", 0, "refused")[0], "ok");
  EXPECT_EQ(N(kAcc, "inflight:gen4_turbo"), 0);
  EXPECT_EQ(N(kAcc, "daily:gen4_turbo"), 3);  // 2 used + this reservation; a refused create still counts
  EXPECT_EQ(Reserve("j2", 10)[0], "daily");  // max_daily 3
  Cmd({"HSET", kAcc, "short", "1"});
  EXPECT_EQ(Reserve("j2", 10, "gen4.5")[0], "short");
  Cmd({"HSET", kAcc, "disabled", "1"});
  EXPECT_EQ(Reserve("j2", 10, "gen4.5")[0], "disabled");
  Cmd({"HDEL", kAcc, "disabled"});
  NewJob("j3", "d2");
  EXPECT_EQ(Reserve("j3", 10, "gen4.5")[0], "not_owner");
  // A reading clears "short" (Runway refused a create for credits; the reading says why).
  ASSERT_EQ(Reconcile(50, 20, 0, {"gen4_turbo", "1", "3", "2"})[0], "ok");
  EXPECT_EQ(Reserve("j2", 10, "gen4.5")[0], "ok");
}

TEST_F(LedgerScripts, SettleAppliesTheFinalCost) {
  ASSERT_EQ(Reconcile(1000, 10, 0, {"gen4_turbo", "", "", ""})[0], "ok");
  // -2: the create's answer was lost; assume the reservation was charged.
  NewJob("a");
  ASSERT_EQ(Reserve("a", 30)[0], "ok");
  ASSERT_EQ(Settle("a", -2, "resubmit")[0], "ok");
  EXPECT_EQ(N(kAcc, "reserved"), 0);
  EXPECT_EQ(N(kAcc, "charged_total"), 30);
  EXPECT_EQ(Estimate(), 970);
  // -1: a task exists and its cost is unknown: the charge stays.
  NewJob("b");
  ASSERT_EQ(Reserve("b", 40)[0], "ok");
  ASSERT_EQ(Created("b", 40)[0], "ok");
  Finish("b", -1);
  EXPECT_EQ(N(kAcc, "charged_total"), 70);
  EXPECT_EQ(N(kAcc, "returned_total"), 0);
  // 0 after a task was created: an uncharged failure or a cancellation returns the charge.
  NewJob("c");
  ASSERT_EQ(Reserve("c", 50)[0], "ok");
  ASSERT_EQ(Created("c", 50)[0], "ok");
  Finish("c", 0);
  EXPECT_EQ(N(kAcc, "returned_total"), 50);
  // More than charged: the difference is charged.
  NewJob("d");
  ASSERT_EQ(Reserve("d", 20)[0], "ok");
  ASSERT_EQ(Created("d", 20)[0], "ok");
  Finish("d", 26);
  EXPECT_EQ(N(kAcc, "charged_total"), 70 + 50 + 26);
  // c's 50 are returned in Runway but count only from the next reading (errs low).
  EXPECT_EQ(Estimate(), 1000 - 30 - 40 - 50 - 26);
  EXPECT_EQ(N(kAcc, "inflight:gen4_turbo"), 0);
  EXPECT_EQ(N(kAcc, "reserved"), 0);
  // Runway's balance: 1000 - 30 - 40 - 26 (c was returned). The reading brings the return in.
  EXPECT_EQ(Reconcile(904, 20, 0, {"gen4_turbo", "", "", ""})[2], "904");
  // A hold is released once: settling again changes nothing.
  NewJob("e");
  ASSERT_EQ(Reserve("e", 10)[0], "ok");
  ASSERT_EQ(Settle("e", 0, "refused")[0], "ok");
  ASSERT_EQ(Settle("e", 0, "refused")[0], "ok");
  EXPECT_EQ(N(kAcc, "reserved"), 0);
  EXPECT_EQ(N(kAcc, "inflight:gen4_turbo"), 0);
  EXPECT_EQ(Cmd({"HEXISTS", "runway:job:e", "hold_account"}).text, "0");
}

// A script whose reply was lost is run again by the daemon (flow.cc DoRecordTask,
// lost_replies.cc HandOff): the second run must change nothing.
TEST_F(LedgerScripts, CreatedRetriedAfterALostReplyChargesOnce) {
  ASSERT_EQ(Reconcile(1000, 10, 0, {"gen4_turbo", "", "", ""})[0], "ok");
  NewJob("a");
  ASSERT_EQ(Reserve("a", 30)[0], "ok");
  ASSERT_EQ(Created("a", 30)[0], "ok");
  Reply again = Created("a", 30);
  ASSERT_EQ(again[0], "ok");
  EXPECT_EQ(again[1], "970");
  EXPECT_EQ(N(kAcc, "charged_total"), 30);
  EXPECT_EQ(N(kAcc, "reserved"), 0);
  EXPECT_EQ(Estimate(), 970);
  EXPECT_EQ(H("runway:job:a", "hold_charged"), "30");
  EXPECT_EQ(H("runway:job:a", "task_id"), "task-a");
}

TEST_F(LedgerScripts, RetryHandOffRetriedAfterALostReplyLetsTheJobGo) {
  ASSERT_EQ(Reconcile(1000, 10, 0, {"gen4_turbo", "", "", ""})[0], "ok");
  NewJob("h");
  Cmd({"SADD", "runway:inflight:d1", "h"});
  ASSERT_EQ(Reserve("h", 30)[0], "ok");
  ASSERT_EQ(Created("h", 30)[0], "ok");
  auto hand_off = [&] {
    return Eval(kSettle, {kAcc, "runway:job:h"}, {kDaemon, "30", "retry", "runway", "h", "5000"});
  };
  Reply first = hand_off();
  ASSERT_EQ(first[0], "ok");
  EXPECT_EQ(first[3], "1");
  // The same call again (its first reply was lost): the same answer, nothing moves.
  Reply again = hand_off();
  ASSERT_EQ(again[0], "ok");
  EXPECT_EQ(again[3], "1") << "queued: the caller must let the job go";
  EXPECT_EQ(H("runway:job:h", "daemon"), "<nil>");
  EXPECT_EQ(Cmd({"ZSCORE", "runway:retry", "h"}).text, "5000");
  EXPECT_EQ(Cmd({"SISMEMBER", "runway:inflight:d1", "h"}).text, "0");
  EXPECT_EQ(N(kAcc, "charged_total"), 30);
  EXPECT_EQ(N(kAcc, "inflight:gen4_turbo"), 0);
  // Taken by another daemon meanwhile: the late retry is not the owner.
  Cmd({"ZREM", "runway:retry", "h"});
  Cmd({"HSET", "runway:job:h", "daemon", "d2"});
  EXPECT_EQ(hand_off()[0], "not_owner");
}

TEST_F(LedgerScripts, FinishOfAnotherDaemonsJobLeavesItsHold) {
  ASSERT_EQ(Reconcile(100, 10)[0], "ok");
  NewJob("j1");
  ASSERT_EQ(Reserve("j1", 25)[0], "ok");
  Cmd({"HSET", "runway:job:j1", "daemon", "d2"});  // adopted by d2
  EXPECT_EQ(Finish("j1", 0).text, "not_owner");
  EXPECT_EQ(N(kAcc, "reserved"), 25);
  EXPECT_EQ(H("runway:job:j1", "hold_reserved"), "25");
}

// kReserve ran but its reply was lost (RedisConn answers NULL for a command that ran
// before the connection died): the daemon holds nothing in memory and runs kReserve
// again. The job's own hold, which nothing will ever use, must not count against it:
// otherwise it is refused for the credit or the slot it holds itself, and waits (for
// a slot, or for credit until it fails insufficient_credits) with nothing in flight.
TEST_F(LedgerScripts, ReserveRetriedAfterALostReplyIsNotRefusedByItsOwnHold) {
  ASSERT_EQ(Reconcile(100, 10, 0, {"gen4_turbo", "1", "", ""})[0], "ok");  // max_concurrent 1
  NewJob("c");
  ASSERT_EQ(Reserve("c", 60)[0], "ok");  // the reply is lost
  Reply again = Reserve("c", 60);
  EXPECT_EQ(again[0], "ok") << "refused for its own 60 credits: " << again[0];
  EXPECT_EQ(N(kAcc, "reserved"), 60) << "reserved once";
  EXPECT_EQ(N(kAcc, "inflight:gen4_turbo"), 1);
  ASSERT_EQ(Finish("c", 0).text, "0");
  NewJob("s");
  ASSERT_EQ(Reserve("s", 10)[0], "ok");  // the reply is lost
  again = Reserve("s", 10);
  EXPECT_EQ(again[0], "ok") << "refused for its own slot: " << again[0];
  EXPECT_EQ(N(kAcc, "reserved"), 10);
  EXPECT_EQ(N(kAcc, "inflight:gen4_turbo"), 1);
  // Refused for another reason, the retry still gives the lost hold back.
  Cmd({"HSET", kAcc, "short", "1"});
  EXPECT_EQ(Reserve("s", 10)[0], "short");
  EXPECT_EQ(N(kAcc, "reserved"), 0);
  EXPECT_EQ(N(kAcc, "inflight:gen4_turbo"), 0);
  EXPECT_EQ(H("runway:job:s", "hold_account"), "<nil>");
  // ... and its record no longer says "create_sent": no create went out with that hold.
  // (A daemon that stopped or died while the job waits would otherwise resume it as
  // a create whose answer was lost, and fail it outcome_unknown with a refund.)
  EXPECT_EQ(H("runway:job:s", "state"), "refused");
}

// A fallback's reservation stores the fallback's body in the record (a restart or the
// retry set resumes with it). A later attempt back on the producer's model (the credit
// wait restores it) reserves with body '': the fallback's body must not stay, or the
// next resume would send it (another model) under the producer's model, its slot and
// its price.
TEST_F(LedgerScripts, ReservationWithoutAFallbackLeavesNoFallbackBody) {
  ASSERT_EQ(Reconcile(1000, 10, 0, {"gen4_turbo", "", "", ""})[0], "ok");
  NewJob("f");
  ASSERT_EQ(Eval(kReserve, {kAcc, "runway:job:f"},
                 {kDaemon, "main", "gen3a_turbo", "50", "1", "1000", "{\"model\":\"gen3a_turbo\"}", "runway"})[0],
            "ok");
  EXPECT_EQ(H("runway:job:f", "body"), "{\"model\":\"gen3a_turbo\"}");
  ASSERT_EQ(Created("f", 50)[0], "ok");
  ASSERT_EQ(Settle("f", 0, "retry")[0], "ok");
  ASSERT_EQ(Reserve("f", 50, "gen4_turbo")[0], "ok");  // attempt 2, the producer's model
  EXPECT_EQ(H("runway:job:f", "model"), "gen4_turbo");
  EXPECT_EQ(H("runway:job:f", "body"), "<nil>") << "the fallback's body outlived its reservation";
}

// The first reservation made by the admission itself (queue's kAdmit with an account):
// the same bookkeeping as kReserve, and a retry of the same admission (a lost reply,
// same token) answers with the reservation already made instead of making a second.
TEST_F(LedgerScripts, AdmissionMakesTheFirstReservationOnceEvenWhenRetried) {
  Reconcile(1000, 1);
  const std::string raw = "{\"id\":\"a1\"}";
  Cmd({"LPUSH", "runway:processing:d1", raw});
  auto admit = [&](const std::string& token) {
    return Eval(runwayd::scripts::kAdmit,
                {"runway:job:a1", "runway:done:a1", "runway:inflight:d1", "runway:processing:d1",
                 "runway:refunded:a1", "runway:replayed:a1", "runway:cancelreq:a1", kAcc},
                {"a1", raw, kDaemon, "1000", token, "runway", "main", "gen4_turbo", "25", "1", "1000"});
  };
  Reply first = admit("7");
  ASSERT_EQ(first.items.size(), 7u) << first.text;
  EXPECT_EQ(first[0], "ok");
  EXPECT_EQ(first[3], "ok");
  EXPECT_EQ(first[4], "975");
  EXPECT_EQ(first[6], "main");
  EXPECT_EQ(N(kAcc, "reserved"), 25);
  EXPECT_EQ(N(kAcc, "inflight:gen4_turbo"), 1);
  EXPECT_EQ(H("runway:job:a1", "state"), "create_sent");
  EXPECT_EQ(H("runway:job:a1", "hold_account"), "main");
  EXPECT_EQ(Cmd({"LLEN", "runway:processing:d1"}).text, "0");

  Reply again = admit("7");  // the same task, after a lost reply
  ASSERT_EQ(again.items.size(), 7u) << again.text;
  EXPECT_EQ(again[0], "ok");
  EXPECT_EQ(again[3], "ok");
  EXPECT_EQ(again[6], "main");
  EXPECT_EQ(N(kAcc, "reserved"), 25) << "reserved once";
  EXPECT_EQ(N(kAcc, "inflight:gen4_turbo"), 1);

  Cmd({"LPUSH", "runway:processing:d1", raw});  // another copy, another task (token)
  Reply copy = admit("9");
  EXPECT_EQ(copy[0], "dup_running");
  EXPECT_EQ(N(kAcc, "reserved"), 25);
}

}  // namespace
}  // namespace ledger_scripts
