// tools/runwayctl/status.cc — `runwayctl status` and `runwayctl accounts`.
//
// status: the contract's lists (lengths), the jobs in flight (per daemon, and per
// state of their records), the daemons (heartbeat alive or expired) and the accounts.
// accounts: every P:account:<name> hash (found with SCAN), with the ledger's estimate
// computed by the same formula as ledger/scripts.h, reserved credits, flags, and per
// model the slots in use against the limit and today's generations against the daily
// limit. Read-only: neither command writes anything.
#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "tools/runwayctl/ctl.h"

namespace runwayctl {
namespace {

struct ModelUse {
  std::optional<int64_t> inflight, limit, daily, daily_limit;
};

struct Account {
  std::string name;
  std::map<std::string, std::string> f;
  std::optional<int64_t> balance, estimate, reserved, reconciled_at, low_threshold;
  bool low = false, disabled = false, short_ = false;
  std::map<std::string, ModelUse> models;

  std::optional<int64_t> Int(const std::string& k) const {
    auto it = f.find(k);
    return it == f.end() ? std::nullopt : ToInt(it->second);
  }
  std::string Flags() const {
    std::string s;
    for (auto [on, name] : {std::pair{disabled, "disabled"}, {low, "low"}, {short_, "short"}})
      if (on) s += (s.empty() ? "" : ",") + std::string(name);
    return s.empty() ? "-" : s;
  }
};

// SCAN's MATCH is a glob: escape the prefix's own glob characters.
std::string GlobEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::vector<Account> LoadAccounts(Redis& r, const Globals& g) {
  std::string head = KeysFor(g).account("");
  std::set<std::string> keys;
  std::string cursor = "0";
  do {
    Reply rep = r.Cmd({"SCAN", cursor, "MATCH", GlobEscape(head) + "*", "COUNT", "1000"});
    const redisReply* raw = rep.get();
    if (raw->type != REDIS_REPLY_ARRAY || raw->elements != 2) Fail(kRuntime, "redis at " + r.where() + ": odd SCAN reply");
    cursor = std::string(raw->element[0]->str, raw->element[0]->len);
    const redisReply* list = raw->element[1];
    for (size_t i = 0; i < list->elements; ++i) keys.emplace(list->element[i]->str, list->element[i]->len);
  } while (cursor != "0");
  std::vector<std::vector<std::string>> cmds;
  for (const auto& k : keys) cmds.push_back({"HGETALL", k});
  std::vector<Reply> reps = r.Pipeline(cmds);
  std::vector<Account> out;
  size_t i = 0;
  for (const auto& k : keys) {
    const Reply& rep = reps[i++];
    if (rep.error() || rep.size() == 0) continue;  // not a hash, or gone since the SCAN
    Account a;
    a.name = k.substr(head.size());
    for (size_t j = 0; j + 1 < rep.size(); j += 2) a.f[rep.at(j)] = rep.at(j + 1);
    a.balance = a.Int("balance");
    a.reserved = a.Int("reserved");
    a.reconciled_at = a.Int("reconciled_at");
    a.low_threshold = a.Int("low_threshold");
    if (a.balance) {
      auto n = [&](const char* f) { return a.Int(f).value_or(0); };
      // Returned credits are not in it: the ledger waits for a reading to show them.
      a.estimate = *a.balance - n("reserved") - (n("charged_total") - n("charged_base"));
    } else {
      a.estimate = a.Int("estimate");
    }
    a.low = a.f["low"] == "1";
    a.disabled = a.f["disabled"] == "1";
    a.short_ = a.f["short"] == "1";
    for (const auto& [field, value] : a.f) {
      auto take = [&](std::string_view p, std::optional<int64_t> ModelUse::*m) {
        if (field.rfind(p, 0) == 0 && field.size() > p.size()) a.models[field.substr(p.size())].*m = ToInt(value);
      };
      take("inflight:", &ModelUse::inflight);
      take("limit:", &ModelUse::limit);
      take("daily:", &ModelUse::daily);
      take("daily_limit:", &ModelUse::daily_limit);
    }
    out.push_back(std::move(a));
  }
  return out;
}

std::string N(const std::optional<int64_t>& v, const char* none = "-") { return v ? std::to_string(*v) : none; }

void AccountsJson(JsonWriter& w, const std::vector<Account>& accounts) {
  w.StartArray();
  for (const auto& a : accounts) {
    w.StartObject();
    KeyStr(w, "name", a.name);
    KeyNumOrNull(w, "balance", a.balance);
    KeyNumOrNull(w, "estimate", a.estimate);
    KeyInt(w, "reserved", a.reserved.value_or(0));
    KeyTime(w, "reconciled_at", a.reconciled_at);
    KeyNumOrNull(w, "low_threshold", a.low_threshold);
    Key(w, "low"), w.Bool(a.low);
    Key(w, "disabled"), w.Bool(a.disabled);
    Key(w, "short"), w.Bool(a.short_);
    Key(w, "models");
    w.StartObject();
    for (const auto& [m, u] : a.models) {
      Key(w, m);
      w.StartObject();
      KeyInt(w, "in_flight", u.inflight.value_or(0));
      KeyNumOrNull(w, "limit", u.limit);
      KeyInt(w, "daily", u.daily.value_or(0));
      KeyNumOrNull(w, "daily_limit", u.daily_limit);
      w.EndObject();
    }
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
}

std::string AccountsText(const std::vector<Account>& accounts, int64_t now) {
  if (accounts.empty()) return "no accounts in Redis yet (a daemon writes them at its first balance reading)\n";
  Table t({"ACCOUNT", "BALANCE", "ESTIMATE", "RESERVED", "RECONCILED", "FLAGS"});
  Table m({"ACCOUNT", "MODEL", "IN FLIGHT", "LIMIT", "TODAY", "DAILY LIMIT"});
  for (const auto& a : accounts) {
    t.Row({Printable(a.name, 64), N(a.balance, "unknown"), N(a.estimate, "unknown"), N(a.reserved, "0"),
           a.reconciled_at ? Ago(*a.reconciled_at, now) : "never", a.Flags()});
    for (const auto& [model, u] : a.models)
      m.Row({Printable(a.name, 64), Printable(model, 64), N(u.inflight, "0"), N(u.limit, "-"), N(u.daily, "0"),
             N(u.daily_limit, "-")});
  }
  return t.Render() + (m.empty() ? "" : "\n" + m.Render());
}

}  // namespace

int RunStatus(const Globals& g) {
  auto r = Redis::Open(g);
  runwayd::Keys k = KeysFor(g);
  int64_t now = NowMs();
  // A keyed command first: on a Cluster it moves the session to the prefix's node.
  long long jobs = r->Cmd({"LLEN", k.jobs()}).integer();
  long long retrying = r->Cmd({"ZCARD", k.retry()}).integer();  // waiting for their next attempt
  std::vector<std::pair<std::string, std::string>> lists = {
      {"results", k.results()}, {"refunds", k.refunds()}, {"dead", k.dead()}, {"events", k.events()},
      {"cancel", k.cancel()}};
  std::vector<std::vector<std::string>> cmds;
  for (const auto& [name, key] : lists) cmds.push_back({"LLEN", key});
  cmds.push_back({"SMEMBERS", k.daemons()});
  std::vector<Reply> reps = r->Pipeline(cmds);
  std::vector<long long> lens;
  for (size_t i = 0; i < lists.size(); ++i) lens.push_back(reps[i].integer());
  std::vector<std::string> daemons;
  for (size_t i = 0; i < reps.back().size(); ++i) daemons.push_back(reps.back().at(i));
  std::sort(daemons.begin(), daemons.end());

  struct Daemon {
    std::string id;
    bool alive = false;
    std::optional<int64_t> beat, ttl_ms;
    long long taken = 0;
    std::vector<std::string> inflight;
  };
  std::vector<Daemon> ds;
  cmds.clear();
  for (const auto& d : daemons) {
    cmds.push_back({"GET", DaemonKey(g, "daemon", d)});
    cmds.push_back({"PTTL", DaemonKey(g, "daemon", d)});
    cmds.push_back({"LLEN", DaemonKey(g, "processing", d)});
    cmds.push_back({"SMEMBERS", DaemonKey(g, "inflight", d)});
  }
  reps = r->Pipeline(cmds);
  std::vector<std::vector<std::string>> state_cmds;
  const size_t kMaxStates = 10000;  // records read for the per-state count
  for (size_t i = 0; i < daemons.size(); ++i) {
    Daemon d;
    d.id = daemons[i];
    d.alive = !reps[4 * i].nil() && !reps[4 * i].error();
    if (d.alive) {
      d.beat = ToInt(reps[4 * i].str());
      d.ttl_ms = reps[4 * i + 1].integer();
    }
    d.taken = reps[4 * i + 2].integer();
    for (size_t j = 0; j < reps[4 * i + 3].size(); ++j) {
      d.inflight.push_back(reps[4 * i + 3].at(j));
      if (state_cmds.size() < kMaxStates) state_cmds.push_back({"HGET", k.job(d.inflight.back()), "state"});
    }
    ds.push_back(std::move(d));
  }
  std::map<std::string, long long> by_state;
  for (const auto& rep : r->Pipeline(state_cmds)) by_state[rep.nil() ? "gone" : rep.str()]++;
  long long inflight = 0, taken = 0;
  for (const auto& d : ds) {
    inflight += static_cast<long long>(d.inflight.size());
    taken += d.taken;
  }
  std::vector<Account> accounts = LoadAccounts(*r, g);

  if (g.json) {
    rapidjson::StringBuffer b;
    JsonWriter w(b);
    w.StartObject();
    KeyInt(w, "v", 1);
    KeyStr(w, "redis", r->where());
    KeyStr(w, "prefix", g.prefix);
    KeyTime(w, "now", now);
    Key(w, "queues");
    w.StartObject();
    KeyInt(w, "jobs", jobs);
    KeyInt(w, "retry", retrying);
    for (size_t i = 0; i < lists.size(); ++i) KeyInt(w, lists[i].first, lens[i]);
    w.EndObject();
    Key(w, "in_flight");
    w.StartObject();
    KeyInt(w, "total", inflight);
    KeyInt(w, "taken", taken);
    Key(w, "by_state");
    w.StartObject();
    for (const auto& [s, n] : by_state) KeyInt(w, s, n);
    w.EndObject();
    Key(w, "by_state_complete"), w.Bool(inflight <= static_cast<long long>(kMaxStates));
    w.EndObject();
    Key(w, "daemons");
    w.StartArray();
    for (const auto& d : ds) {
      w.StartObject();
      KeyStr(w, "id", d.id);
      Key(w, "alive"), w.Bool(d.alive);
      KeyTime(w, "last_beat", d.beat);
      KeyNumOrNull(w, "ttl_ms", d.ttl_ms);
      KeyInt(w, "taken", d.taken);
      KeyInt(w, "in_flight", static_cast<int64_t>(d.inflight.size()));
      w.EndObject();
    }
    w.EndArray();
    Key(w, "accounts");
    AccountsJson(w, accounts);
    w.EndObject();
    PrintJson(b);
    return kOk;
  }

  std::string out = "redis " + r->where() + "  prefix " + g.prefix + "\n";
  out += "queues: jobs " + std::to_string(jobs) + "  retry " + std::to_string(retrying);
  for (size_t i = 0; i < lists.size(); ++i) out += "  " + lists[i].first + " " + std::to_string(lens[i]);
  out += "\nin flight: " + std::to_string(inflight);
  if (!by_state.empty()) {
    std::string parts;
    for (const auto& [s, n] : by_state) parts += (parts.empty() ? "" : ", ") + s + " " + std::to_string(n);
    out += " (" + parts + (inflight > static_cast<long long>(kMaxStates) ? ", of the first 10000" : "") + ")";
  }
  out += "; taken, not yet admitted: " + std::to_string(taken) + "\n\n";
  size_t alive = std::count_if(ds.begin(), ds.end(), [](const Daemon& d) { return d.alive; });
  if (ds.empty()) {
    out += "daemons: none has registered\n";
  } else {
    out += "daemons: " + std::to_string(alive) + " alive of " + std::to_string(ds.size()) + "\n";
    Table t({"DAEMON", "ALIVE", "LAST BEAT", "EXPIRES IN", "TAKEN", "IN FLIGHT"});
    for (const auto& d : ds)
      t.Row({Printable(d.id, 64), d.alive ? "yes" : "NO (heartbeat expired)", d.beat ? Ago(*d.beat, now) : "-",
             d.ttl_ms && *d.ttl_ms >= 0 ? Span(*d.ttl_ms) : "-", std::to_string(d.taken),
             std::to_string(d.inflight.size())});
    out += t.Render();
  }
  out += "\n" + AccountsText(accounts, now);
  fputs(out.c_str(), stdout);
  return kOk;
}

int RunAccounts(const Globals& g, const std::vector<std::string>& names) {
  auto r = Redis::Open(g);
  r->Cmd({"EXISTS", KeysFor(g).jobs()});  // a keyed command first (Cluster)
  std::vector<Account> accounts = LoadAccounts(*r, g);
  if (!names.empty()) {
    std::vector<Account> chosen;
    for (const auto& n : names) {
      auto it = std::find_if(accounts.begin(), accounts.end(), [&](const Account& a) { return a.name == n; });
      if (it == accounts.end()) Fail(kNotFound, "no account \"" + Printable(n, 64) + "\" under " + KeysFor(g).account(""));
      chosen.push_back(*it);
    }
    accounts = std::move(chosen);
  }
  if (g.json) {
    rapidjson::StringBuffer b;
    JsonWriter w(b);
    w.StartObject();
    KeyInt(w, "v", 1);
    KeyStr(w, "prefix", g.prefix);
    KeyTime(w, "now", NowMs());
    Key(w, "accounts");
    AccountsJson(w, accounts);
    w.EndObject();
    PrintJson(b);
    return kOk;
  }
  fputs(AccountsText(accounts, NowMs()).c_str(), stdout);
  return kOk;
}

}  // namespace runwayctl
