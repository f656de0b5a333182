// tests/integration/sim_view.cc — see sim_view.h.
#include "sim_view.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cstdint>
#include <string>
#include <utility>

namespace harness {
namespace {

// Reads a JSON object of integers into `out`; `conv` turns each key into the map's key.
template <class M, class Conv>
bool ReadCounts(simdjson::dom::element parent, const char* name, M* out, Conv conv, std::string* error) {
  simdjson::dom::object o;
  if (parent[name].get_object().get(o)) {
    *error = std::string("no object \"") + name + "\"";
    return false;
  }
  for (auto kv : o) {
    int64_t n = 0;
    if (kv.value.get_int64().get(n)) {
      *error = std::string(name) + "." + std::string(kv.key) + " is not an integer";
      return false;
    }
    (*out)[conv(std::string(kv.key))] = n;
  }
  return true;
}

std::string Same(std::string k) { return k; }

}  // namespace

int64_t SimStats::Balance(const std::string& account) const {
  auto it = accounts.find(account);
  if (it == accounts.end()) {
    ADD_FAILURE() << "the simulator has no account \"" << account << "\"";
    return INT64_MIN;
  }
  return it->second.balance;
}

bool ParseSimStats(const std::string& body, SimStats* out, std::string* error) {
  *out = SimStats{};
  out->raw = body;
  error->clear();
  simdjson::dom::parser p;
  simdjson::dom::element e;
  if (auto err = p.parse(body).get(e)) {
    *error = std::string("not JSON: ") + simdjson::error_message(err);
    return false;
  }
  auto seed = [](const std::string& k) { return std::stoll(k); };
  if (!ReadCounts(e, "requests", &out->requests, Same, error) ||
      !ReadCounts(e, "responses", &out->responses, Same, error) ||
      !ReadCounts(e, "content_types", &out->content_types, Same, error) ||
      !ReadCounts(e, "creations_by_seed", &out->creations, seed, error))
    return false;
  for (auto [name, field] : {std::pair{"connections", &out->connections},
                             std::pair{"tasks_created", &out->tasks_created},
                             std::pair{"duplicate_seeds", &out->duplicate_seeds},
                             std::pair{"throttled_tasks", &out->throttled}}) {
    if (e[name].get_int64().get(*field)) {
      *error = std::string("no integer \"") + name + "\"";
      return false;
    }
  }
  simdjson::dom::object accounts;
  if (e["accounts"].get_object().get(accounts)) {
    *error = "no object \"accounts\"";
    return false;
  }
  for (auto kv : accounts) {
    SimStats::Account& a = out->accounts[std::string(kv.key)];
    if (kv.value["balance"].get_int64().get(a.balance) || kv.value["created"].get_int64().get(a.created) ||
        !ReadCounts(kv.value, "max_concurrency_seen", &a.max_concurrency, Same, error)) {
      *error = "account " + std::string(kv.key) + ": " + (error->empty() ? "no balance or created" : *error);
      return false;
    }
  }
  return true;
}

SimStats ReadSimStats(const std::string& body) {
  SimStats st;
  std::string error;
  if (!ParseSimStats(body, &st, &error)) ADD_FAILURE() << "bad /_sim/stats (" << error << "): " << body.substr(0, 200);
  return st;
}

SimStats SimStatsOf(Stack& s) { return ReadSimStats(s.SimGet("/_sim/stats")); }

std::vector<SimTask> SimTasksOf(Stack& s) {
  std::vector<SimTask> out;
  const std::string body = s.SimGet("/_sim/tasks");
  simdjson::dom::parser p;
  simdjson::dom::array arr;
  if (p.parse(body).get(arr)) {
    ADD_FAILURE() << "bad /_sim/tasks: " << body.substr(0, 200);
    return out;
  }
  for (simdjson::dom::element t : arr) {
    SimTask x;
    std::string_view id, account, status;
    if (t["id"].get_string().get(id) || t["account"].get_string().get(account) ||
        t["status"].get_string().get(status) || t["created_ms"].get_int64().get(x.created_ms) ||
        t["deleted"].get_bool().get(x.deleted)) {
      ADD_FAILURE() << "bad /_sim/tasks entry: " << simdjson::to_string(t).substr(0, 200);
      continue;
    }
    x.id = id, x.account = account, x.status = status;
    if (t["seed"].get_int64().get(x.seed)) x.seed = -1;  // a create without a seed
    if (t["cost"].get_int64().get(x.cost)) x.cost = -1;  // not charged (yet)
    out.push_back(std::move(x));
  }
  return out;
}

void SetChaos(Stack& s, const std::string& json) {
  std::string answer = s.SimPost("/_sim/chaos", json);
  EXPECT_TRUE(answer.empty()) << "POST /_sim/chaos " << json << ": " << answer;
}

bool WaitSimCounter(Stack& s, bool responses, const std::string& key, int64_t n, std::chrono::milliseconds timeout) {
  return WaitFor([&] {
    SimStats st = SimStatsOf(s);
    return (responses ? st.Resp(key) : st.Req(key)) >= n;
  }, timeout);
}

}  // namespace harness
