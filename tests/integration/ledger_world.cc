// tests/integration/ledger_world.cc — see ledger_world.h.
#include "ledger_world.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cctype>
#include <climits>
#include <cstdlib>
#include <sstream>

#include "ledger/scripts.h"

namespace ledger_world {

using namespace harness;
using namespace std::chrono_literals;

const std::string kKeyMain = kTestKey;
const std::string kKeySecond = "key_" + std::string(128, 'b');
const std::string kKeyThird = "key_" + std::string(128, 'c');
const std::string kKeyWrong = "key_" + std::string(128, 'e');

const char* kLedgerFast = "reconcile_interval_s = 1\ncredit_wait_s = 4";

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void World::StartSim(const std::vector<SimAccount>& accounts, const std::string& extra) {
  SimOptions so;
  so.balance = accounts.at(0).balance;
  so.account_limits = accounts.at(0).limits;
  std::ostringstream t;
  for (size_t i = 1; i < accounts.size(); ++i) {
    const SimAccount& a = accounts[i];
    t << "[[account]]\nname = \"" << a.name << "\"\nkey = \"" << a.key << "\"\nbalance = " << a.balance << "\n";
    if (!a.limits.empty()) t << "limits = " << a.limits << "\n";
  }
  t << extra;
  so.extra_toml = t.str();
  s.StartRedis();
  s.StartSim(so);
}

Process& World::StartDaemon(const std::string& id, const std::vector<DaemonAccount>& accounts,
                            const std::string& ledger, const std::string& extra, const std::string& daemon_extra) {
  std::ostringstream t;
  t << "[daemon]\nid = \"" << id << "\"\ntime_scale = 0.05\nshutdown_grace_ms = 2000\nheartbeat_ttl_ms = 2000\n"
    << daemon_extra << "\n"
    << "[redis]\nurl = \"redis://127.0.0.1:" << s.redis_port() << "\"\nprefix = \"runway\"\n"
    << "[upstream]\nbase_url = \"http://127.0.0.1:" << s.sim_port() << "\"\n"
    << "[metrics]\nlisten = \"127.0.0.1:0\"\n"  // a free port: daemons and tests run side by side
    << "[ledger]\n" << ledger << "\n" << extra << "\n";
  std::map<std::string, std::string> env;
  for (const auto& a : accounts) {
    std::string var = "LEDGER_KEY_" + a.name;
    for (auto& c : var) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    env[var] = a.key;
    t << "[[account]]\nname = \"" << a.name << "\"\nkey_env = \"" << var << "\"\npriority = " << a.priority
      << "\nlow_balance = " << a.low_balance << "\n";
    if (!a.limits.empty()) t << "limits = " << a.limits << "\n";
  }
  std::string cfg = s.dir() + "/" + id + ".toml";
  WriteFile(cfg, t.str());
  const std::string log = DaemonLogPath(id);
  size_t before = ReadFile(log).size();  // a restart appends to the same log
  daemons.push_back(std::make_unique<Process>(std::vector<std::string>{Bin("runwayd"), "--config", cfg}, env, log));
  bool ready = WaitFor([&] { return ReadFile(log).find("ready: taking jobs", before) != std::string::npos; }, 10s);
  EXPECT_TRUE(ready) << "runwayd " << id << " did not start:\n" << ReadFile(log);
  return *daemons.back();
}

std::string World::DaemonLog(const std::string& id) const { return ReadFile(DaemonLogPath(id)); }

std::map<std::string, ResultEvent> Results(Redis& r, std::map<std::string, int>* counts) {
  std::map<std::string, ResultEvent> out;
  for (auto& x : ReadResults(r)) {
    if (counts) ++(*counts)[x.id];
    out[x.id] = std::move(x);
  }
  return out;
}

std::vector<Event> Events(Redis& r) {
  std::vector<Event> out;
  simdjson::dom::parser p;
  for (const auto& s : r.List("runway:events")) {
    simdjson::dom::object o;
    if (p.parse(s).get_object().get(o)) {
      ADD_FAILURE() << "event is not a JSON object: " << s;
      continue;
    }
    Event ev;
    ev.raw = s;
    for (auto kv : o) {
      std::string k(kv.key);
      std::string_view sv;
      int64_t n = 0;
      if (k == "type" && !kv.value.get_string().get(sv)) ev.type = std::string(sv);
      else if (k == "account" && !kv.value.get_string().get(sv)) ev.account = std::string(sv);
      else if (!kv.value.get_int64().get(n)) ev.ints[k] = n;
    }
    out.push_back(ev);
  }
  return out;
}

size_t CountEvents(Redis& r, const std::string& type, const std::string& account) {
  size_t n = 0;
  for (const auto& e : Events(r)) n += e.type == type && e.account == account;
  return n;
}

std::map<std::string, std::string> Hash(Redis& r, const std::string& key) {
  auto rep = r.Cmd({"HGETALL", key});
  std::map<std::string, std::string> out;
  for (size_t i = 0; i + 1 < rep->elements; i += 2)
    out[std::string(rep->element[i]->str, rep->element[i]->len)] =
        std::string(rep->element[i + 1]->str, rep->element[i + 1]->len);
  return out;
}

int64_t HInt(Redis& r, const std::string& key, const std::string& field) {
  auto rep = r.Cmd({"HGET", key, field});
  return rep->type == REDIS_REPLY_STRING ? std::atoll(rep->str) : INT64_MIN;
}

std::vector<std::string> Keys(Redis& r, const std::string& pattern) {
  auto rep = r.Cmd({"KEYS", pattern});
  std::vector<std::string> out;
  for (size_t i = 0; i < rep->elements; ++i) out.emplace_back(rep->element[i]->str, rep->element[i]->len);
  return out;
}

int64_t LiveEstimate(Redis& r, const std::string& account) {
  auto rep = r.Cmd({"EVAL", runwayd::ledger::kLuaPrelude + "return estimate(KEYS[1])", "1", "runway:account:" + account});
  return rep->type == REDIS_REPLY_INTEGER ? rep->integer : INT64_MIN;
}

bool WaitReconciledAfter(Redis& r, const std::vector<std::string>& accounts, int64_t after_ms,
                         std::chrono::milliseconds timeout) {
  return WaitFor([&] {
    for (const auto& a : accounts)
      if (HInt(r, "runway:account:" + a, "recon_sent_at") <= after_ms) return false;
    return true;
  }, timeout);
}

void CheckLedgerAtRest(World& w, const std::vector<std::string>& accounts) {
  Redis& r = w.s.redis();
  SimStats st = SimStatsOf(w.s);
  for (const auto& name : accounts) {
    auto h = Hash(r, "runway:account:" + name);
    ASSERT_TRUE(h.count("estimate")) << name << " was never reconciled";
    EXPECT_EQ(std::atoll(h["estimate"].c_str()), st.Balance(name))
        << "account " << name << ": the estimate differs from Runway's balance after the final reconciliation";
    EXPECT_EQ(LiveEstimate(r, name), st.Balance(name)) << name;
    EXPECT_EQ(h["reserved"].empty() ? "0" : h["reserved"], "0") << name << ": a reservation leaked";
    for (const auto& [f, v] : h)
      if (f.rfind("inflight:", 0) == 0) {
        EXPECT_EQ(v, "0") << name << ": slot leaked: " << f;
      }
  }
  for (const auto& k : Keys(r, "runway:job:*")) {
    auto h = Hash(r, k);
    ADD_FAILURE() << "job record left at rest: " << k;
    for (const auto& [f, v] : h) EXPECT_NE(f.rfind("hold_", 0), 0u) << k << " still holds " << f << "=" << v;
  }
}

std::set<std::string> CreditWaiters(World& w, const std::vector<std::string>& daemon_ids) {
  std::set<std::string> out;
  for (const auto& d : daemon_ids) {
    std::istringstream in(w.DaemonLog(d));
    for (std::string line; std::getline(in, line);) {
      size_t at = line.find("job=");
      if (at == std::string::npos || line.find("waiting up to") == std::string::npos) continue;
      at += 4;
      out.insert(line.substr(at, line.find(' ', at) - at));
    }
  }
  return out;
}

size_t CountInLogs(World& w, const std::vector<std::string>& daemon_ids, const std::string& needle) {
  size_t n = 0;
  for (const auto& d : daemon_ids) n += CountInLog(w.DaemonLogPath(d), needle);
  return n;
}

std::string Job(const std::string& id, const std::string& endpoint, const std::string& model, int duration,
                int64_t charged, int64_t seed, const std::string& prompt, const std::string& extra) {
  return MakeJob(id, endpoint, model, duration, charged, seed, prompt, extra);
}

}  // namespace ledger_world
