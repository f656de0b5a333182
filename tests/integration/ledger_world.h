// tests/integration/ledger_world.h — what the ledger_*_test.cc files share.
//
// Those files test the ledger (issue 5) on real processes: redis-server, runway-sim
// with several accounts, and runwayd daemons started here with one key per account
// (each from its own environment variable).
//   ledger_randomized_test.cc  the acceptance test: three small accounts,
//                              two daemons, a seeded random mix, every invariant of
//                              docs/ledger.md checked at quiescence;
//   ledger_focused_test.cc     one path each, and the regressions found on the way.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "harness.h"
#include "outcomes.h"
#include "sim_view.h"

namespace ledger_world {

using harness::Process;
using harness::Redis;
using harness::ResultEvent;
using harness::Stack;

// Test keys (valid-looking public test values, one per simulated account).
extern const std::string kKeyMain, kKeySecond, kKeyThird, kKeyWrong;

// Reconciliation every second and a 4 s credit wait: a [ledger] table for short tests.
extern const char* kLedgerFast;

int64_t WallMs();

struct SimAccount {
  std::string name, key;
  int64_t balance = 0;
  std::string limits;  // TOML inline table, "" for none
  SimAccount(std::string n, std::string k, int64_t b, std::string l = "")
      : name(std::move(n)), key(std::move(k)), balance(b), limits(std::move(l)) {}
};

struct DaemonAccount {
  std::string name, key;  // the key is put in LEDGER_KEY_<NAME>
  int priority = 0;
  int64_t low_balance = 0;
  std::string limits;  // TOML inline table, "" for none
  DaemonAccount(std::string n, std::string k, int p = 0, int64_t low = 0, std::string l = "")
      : name(std::move(n)), key(std::move(k)), priority(p), low_balance(low), limits(std::move(l)) {}
};

// A Stack plus daemons started by the test (destroyed first: they are declared after).
struct World {
  Stack s;
  std::vector<std::unique_ptr<Process>> daemons;
  explicit World(const std::string& name) : s(name) {}
  ~World() { daemons.clear(); }

  // Starts Redis and the simulator. The first account must be "main" with kKeyMain
  // (the harness writes it); `extra` is more simulator configuration.
  void StartSim(const std::vector<SimAccount>& accounts, const std::string& extra = "");
  // Starts runwayd `id` (log: <dir>/<id>.log, appended to on a restart) and waits
  // until it is ready; a daemon that does not start fails the test.
  Process& StartDaemon(const std::string& id, const std::vector<DaemonAccount>& accounts, const std::string& ledger,
                       const std::string& extra = "", const std::string& daemon_extra = "");
  std::string DaemonLogPath(const std::string& id) const { return s.dir() + "/" + id + ".log"; }
  std::string DaemonLog(const std::string& id) const;
  std::string Logs() { return s.Logs(); }
};

// ---- what the daemons wrote ----

// id -> its result; `counts` gets how many results each id has.
std::map<std::string, ResultEvent> Results(Redis& r, std::map<std::string, int>* counts = nullptr);

// An account event of runway:events: its type, account and integer fields.
struct Event {
  std::string type, account;
  std::map<std::string, int64_t> ints;
  std::string raw;
};
std::vector<Event> Events(Redis& r);
size_t CountEvents(Redis& r, const std::string& type, const std::string& account);

std::map<std::string, std::string> Hash(Redis& r, const std::string& key);
// An integer field of a hash; INT64_MIN when absent.
int64_t HInt(Redis& r, const std::string& key, const std::string& field);
std::vector<std::string> Keys(Redis& r, const std::string& pattern);

// The estimate now, computed by the ledger's own Lua (the `estimate` field is only
// rewritten by the ledger scripts, not by kFinish's settle step).
int64_t LiveEstimate(Redis& r, const std::string& account);

// Waits until every named account has a reading sent after `after_ms` (wall clock),
// i.e. the counters were read when nothing was in flight any more.
bool WaitReconciledAfter(Redis& r, const std::vector<std::string>& accounts, int64_t after_ms,
                         std::chrono::milliseconds timeout);

// The ledger at rest: estimate == Runway's balance, nothing reserved, no slot held,
// no job record (so no hold_* field) left. Failures are reported, not returned.
void CheckLedgerAtRest(World& w, const std::vector<std::string>& accounts);

// Job ids the daemons parked waiting for credit (from their logs).
std::set<std::string> CreditWaiters(World& w, const std::vector<std::string>& daemon_ids);
size_t CountInLogs(World& w, const std::vector<std::string>& daemon_ids, const std::string& needle);

std::string Job(const std::string& id, const std::string& endpoint, const std::string& model, int duration,
                int64_t charged, int64_t seed, const std::string& prompt = "a calm sea", const std::string& extra = "");

}  // namespace ledger_world
