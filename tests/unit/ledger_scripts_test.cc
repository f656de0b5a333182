// tests/unit/ledger_scripts_test.cc — the ledger's Lua scripts (ledger/scripts.h) and the
// settle step of queue's kFinish, run against a real redis-server that the fixture
// starts on a free port (the only unit test that opens a socket: Lua has no mock).
//
// Each test drives the scripts the way the daemon does (kReserve before a create,
// kCreated after it, kSettle/kFinish at the end, kReconcile with the counters read
// before GET /v1/organization) while playing Runway's balance by hand, so every
// claim of docs/ledger.md about the estimate can be checked step by step.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "ledger/scripts.h"
#include "queue/scripts.h"

extern char** environ;

namespace {

using runwayd::ledger::kCreated;
using runwayd::ledger::kReconcile;
using runwayd::ledger::kReserve;
using runwayd::ledger::kSettle;
using runwayd::scripts::kFinish;

const std::string kAcc = "runway:account:main";
const std::string kDaemon = "d1";

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// One reply, flattened: strings/status/integers as text, arrays element by element.
struct Reply {
  std::vector<std::string> items;
  std::string text;  // a scalar reply
  bool error = false;
  const std::string& operator[](size_t i) const {
    static const std::string kNone = "<none>";
    return i < items.size() ? items[i] : kNone;
  }
};

std::string Scalar(const redisReply* r) {
  switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR: return std::string(r->str, r->len);
    case REDIS_REPLY_INTEGER: return std::to_string(r->integer);
    case REDIS_REPLY_NIL: return "<nil>";
    default: return "<?>";
  }
}

class LedgerScripts : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = FreePort();
    char tmpl[] = "/tmp/ledger-scripts-XXXXXX";
    dir_ = mkdtemp(tmpl);
    std::string port = std::to_string(port_);
    std::vector<std::string> argv = {"/usr/bin/redis-server", "--port", port, "--bind", "127.0.0.1",
                                     "--dir", dir_, "--save", "", "--appendonly", "no", "--daemonize", "no"};
    std::vector<char*> av;
    for (auto& s : argv) av.push_back(s.data());
    av.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    ASSERT_EQ(posix_spawn(&pid_, av[0], &fa, nullptr, av.data(), environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    for (int i = 0; i < 500 && c_ == nullptr; ++i) {
      redisContext* c = redisConnect("127.0.0.1", port_);
      if (c && !c->err) {
        c_ = c;
        break;
      }
      if (c) redisFree(c);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_NE(c_, nullptr) << "redis-server did not start";
  }
  void TearDown() override {
    if (c_) redisFree(c_);
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    std::system(("rm -rf '" + dir_ + "'").c_str());
  }

  Reply Cmd(const std::vector<std::string>& argv) {
    std::vector<const char*> a;
    std::vector<size_t> l;
    for (auto& s : argv) a.push_back(s.data()), l.push_back(s.size());
    auto* r = static_cast<redisReply*>(redisCommandArgv(c_, static_cast<int>(a.size()), a.data(), l.data()));
    Reply out;
    if (r == nullptr) {
      out.error = true;
      out.text = "no reply";
      return out;
    }
    out.error = r->type == REDIS_REPLY_ERROR;
    if (r->type == REDIS_REPLY_ARRAY) {
      for (size_t i = 0; i < r->elements; ++i) out.items.push_back(Scalar(r->element[i]));
    } else {
      out.text = Scalar(r);
    }
    freeReplyObject(r);
    return out;
  }
  Reply Eval(const std::string& script, const std::vector<std::string>& keys, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"EVAL", script, std::to_string(keys.size())};
    argv.insert(argv.end(), keys.begin(), keys.end());
    argv.insert(argv.end(), args.begin(), args.end());
    Reply r = Cmd(argv);
    EXPECT_FALSE(r.error) << r.text;
    return r;
  }
  std::string H(const std::string& key, const std::string& field) { return Cmd({"HGET", key, field}).text; }
  int64_t N(const std::string& key, const std::string& field) {
    std::string v = H(key, field);
    return v == "<nil>" ? 0 : std::atoll(v.c_str());
  }
  // The estimate now, computed by the scripts' own estimate() (kFinish does not rewrite
  // the `estimate` field). Returns wait for the next reading (ledger/scripts.h).
  int64_t Estimate() {
    Reply r = Eval(runwayd::ledger::kLuaPrelude + "return estimate(KEYS[1])", {kAcc}, {});
    return std::atoll(r.text.c_str());
  }

  // The daemon's steps.
  void NewJob(const std::string& id, const std::string& daemon = kDaemon) {
    Cmd({"HSET", "runway:job:" + id, "daemon", daemon, "state", "admitted", "raw", "{}"});
  }
  Reply Reserve(const std::string& id, int64_t cost, const std::string& model = "gen4_turbo",
                const std::string& daemon = kDaemon) {
    return Eval(kReserve, {kAcc, "runway:job:" + id},
                {daemon, "main", model, std::to_string(cost), "1", "1000", "", "runway"});
  }
  Reply Created(const std::string& id, int64_t charged) {
    return Eval(kCreated, {kAcc, "runway:job:" + id}, {kDaemon, "task-" + id, std::to_string(charged), "1"});
  }
  Reply Settle(const std::string& id, int64_t final_cost, const std::string& state = "retry") {
    return Eval(kSettle, {kAcc, "runway:job:" + id}, {kDaemon, std::to_string(final_cost), state, "runway"});
  }
  Reply Finish(const std::string& id, int64_t final_cost, bool owned = true) {
    return Eval(kFinish,
                {"runway:job:" + id, "runway:inflight:d1", "runway:results", "runway:refunds", "runway:refunded:" + id,
                 "runway:done:" + id, "runway:processing:d1", "runway:dead"},
                {id, kDaemon, "{\"id\":\"" + id + "\"}", "", "60", "", "", "60", "succeeded", owned ? "1" : "0",
                 std::to_string(final_cost), "runway"});
  }
  // What Engine::Reconcile does: HMGET the counters, then (later) apply Runway's balance.
  struct Reading {
    std::string c0, r0;
    int64_t sent_at;
  };
  Reading StartReading(int64_t sent_at) {
    Reply r = Cmd({"HMGET", kAcc, "charged_total", "returned_total"});
    auto v = [](const std::string& s) { return s == "<nil>" ? std::string("0") : s; };
    return {v(r[0]), v(r[1]), sent_at};
  }
  Reply Apply(const Reading& rd, int64_t balance, int64_t low_threshold = 0,
              std::vector<std::string> models = {"gen4_turbo", "2", "", ""}) {
    std::vector<std::string> args = {std::to_string(balance), std::to_string(rd.sent_at), rd.c0, rd.r0, "1",
                                     std::to_string(low_threshold)};
    args.insert(args.end(), models.begin(), models.end());
    return Eval(kReconcile, {kAcc}, args);
  }
  Reply Reconcile(int64_t balance, int64_t sent_at, int64_t low_threshold = 0,
                  std::vector<std::string> models = {"gen4_turbo", "2", "", ""}) {
    return Apply(StartReading(sent_at), balance, low_threshold, std::move(models));
  }

  int port_ = 0;
  pid_t pid_ = -1;
  std::string dir_;
  redisContext* c_ = nullptr;
};

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

TEST_F(LedgerScripts, FinishOfAnotherDaemonsJobLeavesItsHold) {
  ASSERT_EQ(Reconcile(100, 10)[0], "ok");
  NewJob("j1");
  ASSERT_EQ(Reserve("j1", 25)[0], "ok");
  Cmd({"HSET", "runway:job:j1", "daemon", "d2"});  // adopted by d2
  EXPECT_EQ(Finish("j1", 0).text, "not_owner");
  EXPECT_EQ(N(kAcc, "reserved"), 25);
  EXPECT_EQ(H("runway:job:j1", "hold_reserved"), "25");
}

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
