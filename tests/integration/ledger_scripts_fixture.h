// tests/integration/ledger_scripts_fixture.h — the fixture of ledger_scripts_test.cc
// and ledger_reconcile_test.cc: the ledger's Lua scripts (ledger/scripts.h) and the
// settle step of queue's kFinish, run against a real redis-server (harness::Stack,
// Redis only: Lua has no mock).
//
// Each test drives the scripts the way the daemon does (kReserve before a create,
// kCreated after it, kSettle/kFinish at the end, kReconcile with the counters read
// before GET /v1/organization) while playing Runway's balance by hand, so every
// claim of docs/ledger.md about the estimate can be checked step by step.
#pragma once

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "harness.h"
#include "ledger/scripts.h"
#include "queue/scripts.h"

namespace ledger_scripts {

using runwayd::ledger::kCreated;
using runwayd::ledger::kReconcile;
using runwayd::ledger::kReserve;
using runwayd::ledger::kSettle;
using runwayd::scripts::kFinish;

const std::string kAcc = "runway:account:main";
const std::string kDaemon = "d1";

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

inline std::string Scalar(const redisReply* r) {
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
    stack_ = std::make_unique<harness::Stack>("ledger-scripts");
    stack_->StartRedis();
    c_ = redisConnect("127.0.0.1", stack_->redis_port());
    ASSERT_TRUE(c_ != nullptr && c_->err == 0) << "cannot connect to redis-server";
  }
  void TearDown() override {
    if (c_) redisFree(c_);
    stack_.reset();
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

  std::unique_ptr<harness::Stack> stack_;
  redisContext* c_ = nullptr;
};

}  // namespace ledger_scripts
