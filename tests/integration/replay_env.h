// tests/integration/replay_env.h — what replay_test.cc and replay_script_test.cc share:
// running scripts/replay as an operator would (its output, stderr and exit status),
// reading runway:dead and the results back, and hand-made dead entries. Test support,
// defined inline here.
#pragma once

#include <gtest/gtest.h>
#include <simdjson.h>

#include <map>
#include <string>
#include <vector>

#include "harness.h"
#include "outcomes.h"

namespace replay_env {

using namespace harness;
using namespace std::chrono_literals;

inline const std::string kReplay = std::string(RUNWAYD_SOURCE_DIR) + "/scripts/replay";

using ReplayRun = ShellRun;

inline std::string Quote(const std::string& s) { return ShellQuote(s); }

// Runs scripts/replay with `args` (each quoted); `env` is a prefix such as "PATH=... ".
inline ReplayRun Replay(const Stack& s, const std::vector<std::string>& args, const std::string& env = "") {
  std::string cmd = env + Quote(kReplay);
  for (const auto& a : args) cmd += " " + Quote(a);
  return RunShell(cmd, s.dir());
}

inline std::vector<std::string> Port(const Stack& s) { return {"-p", std::to_string(s.redis_port())}; }

inline std::vector<std::string> Args(const Stack& s, std::vector<std::string> more) {
  auto a = Port(s);
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

struct Dead {
  std::string raw, job, id, reason, error_class, dead_at;
};

// runway:dead, oldest first.
inline std::vector<Dead> DeadList(Redis& r, const std::string& key = "runway:dead") {
  std::vector<Dead> out;
  simdjson::dom::parser p;
  for (const auto& s : r.List(key)) {
    simdjson::dom::element e;
    Dead d;
    d.raw = s;
    if (p.parse(s).get(e)) {
      out.push_back(d);
      continue;
    }
    std::string_view v;
    if (!e["job"].get_string().get(v)) d.job = std::string(v);
    if (!e["id"].get_string().get(v)) d.id = std::string(v);
    if (!e["reason"].get_string().get(v)) d.reason = std::string(v);
    if (!e["error_class"].get_string().get(v)) d.error_class = std::string(v);
    if (!e["dead_at"].get_string().get(v)) d.dead_at = std::string(v);
    out.push_back(d);
  }
  return out;
}

// refund id -> number of refund events.
inline std::map<std::string, int> RefundCounts(Redis& r) {
  std::map<std::string, int> out;
  simdjson::dom::parser p;
  for (const auto& s : r.List("runway:refunds")) {
    simdjson::dom::element e;
    std::string_view id;
    if (p.parse(s).get(e) || e["refund_id"].get_string().get(id)) {
      ADD_FAILURE() << "bad refund event: " << s;
      continue;
    }
    ++out[std::string(id)];
  }
  return out;
}

// The --json summary.
struct Summary {
  bool ok = false, dry_run = false, ids_truncated = false;
  int64_t dead = -1, undecodable = -1, matched = -1, moved = -1;
  std::map<std::string, int64_t> not_moved;
  std::vector<std::string> ids;  // "" for null
  std::vector<std::pair<std::string, std::string>> not_moved_ids;
};

inline Summary ParseSummary(const std::string& text) {
  Summary s;
  simdjson::dom::parser p;
  simdjson::dom::element e;
  if (p.parse(text).get(e)) {
    ADD_FAILURE() << "summary is not JSON: " << text;
    return s;
  }
  s.ok = true;
  EXPECT_EQ(e["dry_run"].get_bool().get(s.dry_run), simdjson::SUCCESS) << text;
  EXPECT_EQ(e["ids_truncated"].get_bool().get(s.ids_truncated), simdjson::SUCCESS) << text;
  EXPECT_EQ(e["dead"].get_int64().get(s.dead), simdjson::SUCCESS) << text;
  EXPECT_EQ(e["undecodable"].get_int64().get(s.undecodable), simdjson::SUCCESS) << text;
  EXPECT_EQ(e["matched"].get_int64().get(s.matched), simdjson::SUCCESS) << text;
  EXPECT_EQ(e["moved"].get_int64().get(s.moved), simdjson::SUCCESS) << text;
  simdjson::dom::object nm;
  if (!e["not_moved"].get_object().get(nm))
    for (auto kv : nm) s.not_moved[std::string(kv.key)] = kv.value.get_int64().value_unsafe();
  simdjson::dom::array ids;
  if (!e["ids"].get_array().get(ids))
    for (auto v : ids) {
      std::string_view sv;
      s.ids.emplace_back(v.get_string().get(sv) ? "" : std::string(sv));
    }
  simdjson::dom::array nmi;
  if (!e["not_moved_ids"].get_array().get(nmi))
    for (auto v : nmi) {
      std::string_view id, why;
      if (v["id"].get_string().get(id)) id = "";
      EXPECT_EQ(v["why"].get_string().get(why), simdjson::SUCCESS) << text;
      s.not_moved_ids.emplace_back(std::string(id), std::string(why));
    }
  return s;
}

inline std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& x : v) out += (out.empty() ? "" : ", ") + x;
  return out;
}

// The three failing jobs every daemon test starts with.
inline const char* const kBadJob = R"({"v":1,"id":"rp_bad","endpoint":"image_to_video","charged":7,"user":"u_bad"})";

inline void StartWithThreeDeadJobs(Stack& s) {
  s.StartRedis();
  s.StartSim();
  s.StartDaemon();
  ASSERT_TRUE(s.WaitReady(0)) << s.Logs();
  auto& r = s.redis();
  r.Push("runway:jobs", MakeJob("rp_asset", "image_to_video", "gen4_turbo", 5, 26, 101, "sim:fail=ASSET.INVALID"));
  r.Push("runway:jobs", MakeJob("rp_mod", "text_to_video", "veo3.1_fast", 6, 30, 102, "sim:fail=SAFETY.INPUT.TEXT"));
  r.Push("runway:jobs", kBadJob);
  ASSERT_TRUE(WaitFor([&] { return r.Int({"LLEN", "runway:results"}) == 3 && r.Int({"LLEN", "runway:dead"}) == 3; },
                      10s))
      << s.Logs();
  std::map<std::string, std::string> classes;
  for (const auto& d : DeadList(r)) classes[d.id] = d.error_class;
  ASSERT_EQ(classes, (std::map<std::string, std::string>{
                         {"rp_asset", "invalid_input"}, {"rp_mod", "moderation"}, {"rp_bad", "invalid_job"}}));
  ASSERT_EQ(RefundCounts(r), (std::map<std::string, int>{{"rp_asset", 1}, {"rp_mod", 1}, {"rp_bad", 1}}));
}

inline std::vector<std::string> DeadIds(Redis& r, const std::string& key = "runway:dead") {
  std::vector<std::string> ids;
  for (const auto& d : DeadList(r, key)) ids.push_back(d.id);
  return ids;
}

// A dead entry as the daemon writes it, for the script-only tests.
inline std::string DeadEntry(const std::string& id, const std::string& cls, const std::string& reason, int64_t charged,
                      const std::string& dead_at) {
  std::string job = R"({"v":1,"id":")" + id + R"(","endpoint":"text_to_video","body":{"model":"gen4.5"},"charged":)" +
                    std::to_string(charged) + "}";
  std::string escaped;
  for (char c : job) escaped += c == '"' ? std::string("\\\"") : std::string(1, c);
  return R"({"v":1,"job":")" + escaped + R"(","id":")" + id + R"(","reason":")" + reason + R"(","error_class":")" +
         cls + R"(","attempts":1,"taken_at":null,"dead_at":")" + dead_at + R"("})";
}

inline std::string JobOf(const std::string& id, int64_t charged) {
  return R"({"v":1,"id":")" + id + R"(","endpoint":"text_to_video","body":{"model":"gen4.5"},"charged":)" +
         std::to_string(charged) + "}";
}

}  // namespace replay_env
