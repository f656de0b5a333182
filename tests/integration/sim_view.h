// tests/integration/sim_view.h — what runway-sim saw, read back for assertions.
//
// The simulator's test endpoints (/_sim/stats, /_sim/tasks, /_sim/chaos) are how a
// test proves what reached "Runway": how many creates, how many tasks per job seed,
// which statuses were answered, what each account was charged. One parser for every
// test, as outcomes.h is for the daemon's events. Every field the simulator always
// sends is required: a body without one, or with a count that is not an integer, is
// an error, never an empty reading that would let "0 creations" pass. A key the
// simulator never counted reads as 0 through Req/Resp/Made. The parse touches no
// socket; the *Of(Stack&) readers add the GET.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "harness.h"

namespace harness {

// GET /_sim/stats, flattened.
struct SimStats {
  struct Account {
    int64_t balance = 0, created = 0;
    std::map<std::string, int64_t> max_concurrency;  // model -> most tasks running at once
  };
  std::string raw;  // the body, for failure messages
  std::map<std::string, int64_t> requests;       // "POST /v1/image_to_video" -> n
  std::map<std::string, int64_t> responses;      // "200", "429", "reset" -> n
  std::map<std::string, int64_t> content_types;  // request Content-Type -> n
  std::map<int64_t, int64_t> creations;          // job seed -> tasks created with it
  std::map<std::string, Account> accounts;       // by account name
  int64_t connections = -1, tasks_created = -1, duplicate_seeds = -1, throttled = -1;  // -1: not read

  // 0 for a key the simulator never counted.
  int64_t Req(const std::string& k) const { return Get(requests, k); }
  int64_t Resp(const std::string& k) const { return Get(responses, k); }
  int64_t Made(int64_t seed) const { return Get(creations, seed); }
  // The account's balance; fails the test for an account the simulator does not have.
  int64_t Balance(const std::string& account) const;

 private:
  template <class M, class K>
  static int64_t Get(const M& m, const K& k) {
    auto it = m.find(k);
    return it == m.end() ? 0 : it->second;
  }
};

// Parses a /_sim/stats body. False (and `error` says why) when it is not one.
bool ParseSimStats(const std::string& body, SimStats* out, std::string* error);
// The same, failing the test on a bad body (for a simulator reached some other way).
SimStats ReadSimStats(const std::string& body);
// GET /_sim/stats from the stack's simulator; a bad body fails the test.
SimStats SimStatsOf(Stack& s);

// One entry of GET /_sim/tasks.
struct SimTask {
  std::string id, account, status;
  int64_t seed = -1, created_ms = 0, cost = -1;
  bool deleted = false;
};

// GET /_sim/tasks; a bad body fails the test.
std::vector<SimTask> SimTasksOf(Stack& s);

// POST /_sim/chaos (the simulator's fault rates, "{}" for none); a refusal fails the test.
void SetChaos(Stack& s, const std::string& json);

// Waits until the simulator's counter `key` of requests (or of responses) reaches n.
bool WaitSimCounter(Stack& s, bool responses, const std::string& key, int64_t n,
                    std::chrono::milliseconds timeout = std::chrono::seconds(20));

}  // namespace harness
