// tests/integration/replay_test.cc — scripts/replay against real processes: jobs fail
// for real in runway-sim (invalid_input, moderation) or in the daemon (invalid_job),
// land in runway:dead, and the script puts chosen ones back; the daemon runs them
// again. Also the script alone against hand-made dead entries (filters, safety
// checks, atomic removal, braced prefixes), its errors and its handling of passwords.
#include <gtest/gtest.h>
#include <simdjson.h>
#include <sys/wait.h>

#include <cstdio>
#include <map>
#include <set>
#include <thread>

#include "harness.h"
#include "outcomes.h"

using namespace harness;
using namespace std::chrono_literals;

namespace {

const std::string kReplay = std::string(RUNWAYD_SOURCE_DIR) + "/scripts/replay";

struct ReplayRun {
  int rc = -1;
  std::string out, err;
};

std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Runs scripts/replay with `args` (each quoted); `env` is a prefix such as "PATH=... ".
ReplayRun Replay(const Stack& s, const std::vector<std::string>& args, const std::string& env = "") {
  static int n = 0;
  std::string errf = s.dir() + "/replay-" + std::to_string(++n) + ".err";
  std::string cmd = env + Quote(kReplay);
  for (const auto& a : args) cmd += " " + Quote(a);
  cmd += " 2>" + Quote(errf);
  ReplayRun r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t got;
  while ((got = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, got);
  int st = pclose(p);
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  r.err = ReadFile(errf);
  return r;
}

std::vector<std::string> Port(const Stack& s) { return {"-p", std::to_string(s.redis_port())}; }

std::vector<std::string> Args(const Stack& s, std::vector<std::string> more) {
  auto a = Port(s);
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

struct Dead {
  std::string raw, job, id, reason, error_class, dead_at;
};

// runway:dead, oldest first.
std::vector<Dead> DeadList(Redis& r, const std::string& key = "runway:dead") {
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

std::vector<ResultEvent> ResultsFor(Redis& r, const std::string& id) {
  std::vector<ResultEvent> out;
  for (auto& x : ReadResults(r))
    if (x.id == id) out.push_back(x);
  return out;
}

// refund id -> number of refund events.
std::map<std::string, int> RefundCounts(Redis& r) {
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

// seed -> tasks the simulator created with that seed.
std::map<int64_t, int64_t> Creations(Stack& s) {
  std::map<int64_t, int64_t> out;
  simdjson::dom::parser p;
  simdjson::dom::element e;
  simdjson::dom::object seeds;
  std::string body = s.SimGet("/_sim/stats");
  if (p.parse(body).get(e) || e["creations_by_seed"].get_object().get(seeds)) {
    ADD_FAILURE() << "bad /_sim/stats: " << body.substr(0, 200);
    return out;
  }
  for (auto kv : seeds) {
    int64_t n = 0;
    if (!kv.value.get_int64().get(n)) out[std::stoll(std::string(kv.key))] = n;
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

Summary ParseSummary(const std::string& text) {
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

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& x : v) out += (out.empty() ? "" : ", ") + x;
  return out;
}

// The three failing jobs every daemon test starts with.
const char* kBadJob = R"({"v":1,"id":"rp_bad","endpoint":"image_to_video","charged":7,"user":"u_bad"})";

void StartWithThreeDeadJobs(Stack& s) {
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

std::vector<std::string> DeadIds(Redis& r, const std::string& key = "runway:dead") {
  std::vector<std::string> ids;
  for (const auto& d : DeadList(r, key)) ids.push_back(d.id);
  return ids;
}

// A dead entry as the daemon writes it, for the script-only tests.
std::string DeadEntry(const std::string& id, const std::string& cls, const std::string& reason, int64_t charged,
                      const std::string& dead_at) {
  std::string job = R"({"v":1,"id":")" + id + R"(","endpoint":"text_to_video","body":{"model":"gen4.5"},"charged":)" +
                    std::to_string(charged) + "}";
  std::string escaped;
  for (char c : job) escaped += c == '"' ? std::string("\\\"") : std::string(1, c);
  return R"({"v":1,"job":")" + escaped + R"(","id":")" + id + R"(","reason":")" + reason + R"(","error_class":")" +
         cls + R"(","attempts":1,"taken_at":null,"dead_at":")" + dead_at + R"("})";
}

std::string JobOf(const std::string& id, int64_t charged) {
  return R"({"v":1,"id":")" + id + R"(","endpoint":"text_to_video","body":{"model":"gen4.5"},"charged":)" +
         std::to_string(charged) + "}";
}

}  // namespace

TEST(Replay, DryRunReportsAndChangesNothing) {
  Stack s("replay-dry");
  ASSERT_NO_FATAL_FAILURE(StartWithThreeDeadJobs(s));
  auto& r = s.redis();
  auto before = r.List("runway:dead");
  std::vector<std::string> order = DeadIds(r);  // oldest first

  ReplayRun all = Replay(s, Args(s, {"--dry-run"}));
  ASSERT_EQ(all.rc, 0) << all.out << all.err;
  EXPECT_EQ(all.out, "dry run: would move 3 of 3 dead jobs: " + Join(order) + "\n");

  ReplayRun js = Replay(s, Args(s, {"--dry-run", "--json"}));
  ASSERT_EQ(js.rc, 0) << js.err;
  Summary sum = ParseSummary(js.out);
  EXPECT_TRUE(sum.dry_run);
  EXPECT_EQ(sum.dead, 3);
  EXPECT_EQ(sum.matched, 3);
  EXPECT_EQ(sum.moved, 3);
  EXPECT_EQ(sum.undecodable, 0);
  EXPECT_EQ(sum.ids, order);

  ReplayRun two = Replay(s, Args(s, {"--dry-run", "--json", "--class", "invalid_input", "--class", "moderation,cancelled"}));
  ASSERT_EQ(two.rc, 0) << two.err;
  sum = ParseSummary(two.out);
  EXPECT_EQ(sum.moved, 2);
  EXPECT_EQ(std::set<std::string>(sum.ids.begin(), sum.ids.end()), (std::set<std::string>{"rp_asset", "rp_mod"}));

  // The reason is matched as plain text, whatever the case.
  std::string mod_reason;
  for (const auto& d : DeadList(r))
    if (d.id == "rp_mod") mod_reason = d.reason;
  ASSERT_FALSE(mod_reason.empty());
  std::string upper;
  for (char c : mod_reason) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  ReplayRun reason = Replay(s, Args(s, {"--dry-run", "--reason", upper}));
  ASSERT_EQ(reason.rc, 0) << reason.err;
  EXPECT_EQ(reason.out, "dry run: would move 1 of 3 dead jobs: rp_mod\n") << "reason: " << mod_reason;
  ReplayRun none = Replay(s, Args(s, {"--dry-run", "--reason", "(.*"}));  // not a pattern: no match, no error
  ASSERT_EQ(none.rc, 0) << none.err;
  EXPECT_EQ(none.out, "dry run: would move 0 of 3 dead jobs\n");

  // Age: all three died seconds ago.
  ReplayRun old = Replay(s, Args(s, {"--dry-run", "--older-than", "1h"}));
  EXPECT_EQ(old.out, "dry run: would move 0 of 3 dead jobs\n") << old.err;
  ReplayRun recent = Replay(s, Args(s, {"--dry-run", "--newer-than", "1h", "--json"}));
  EXPECT_EQ(ParseSummary(recent.out).moved, 3) << recent.err;

  EXPECT_EQ(r.List("runway:dead"), before);
  EXPECT_EQ(r.Int({"LLEN", "runway:jobs"}), 0);
  EXPECT_EQ(r.Int({"EXISTS", "runway:done:rp_asset", "runway:done:rp_mod"}), 2);
  EXPECT_EQ(r.Int({"EXISTS", "runway:replayed:rp_asset", "runway:replayed:rp_mod", "runway:replayed:rp_bad"}), 0);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(r.Int({"LLEN", "runway:results"}), 3);
}

TEST(Replay, OneClassGoesBackRunsAgainAndIsNotRefundedTwice) {
  Stack s("replay-class");
  ASSERT_NO_FATAL_FAILURE(StartWithThreeDeadJobs(s));
  auto& r = s.redis();
  std::map<std::string, std::string> before;
  for (const auto& d : DeadList(r)) before[d.id] = d.raw;
  auto first = ResultsFor(r, "rp_asset");
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].refund, 26);
  EXPECT_FALSE(first[0].replayed);

  ReplayRun run = Replay(s, Args(s, {"--class", "invalid_input"}));
  ASSERT_EQ(run.rc, 0) << run.err;
  EXPECT_EQ(run.out, "moved 1 of 3 dead jobs to runway:jobs: rp_asset\n");

  // The same body fails the same way again: a second result, a new dead entry.
  ASSERT_TRUE(WaitFor([&] { return r.Int({"LLEN", "runway:results"}) == 4 && r.Int({"LLEN", "runway:dead"}) == 3; },
                      10s))
      << s.Logs();
  std::this_thread::sleep_for(300ms);  // nothing more may arrive
  EXPECT_EQ(r.Int({"LLEN", "runway:results"}), 4);

  auto again = ResultsFor(r, "rp_asset");
  ASSERT_EQ(again.size(), 2u);
  const ResultEvent& second = again[1];
  EXPECT_EQ(second.status, "failed");
  EXPECT_EQ(second.error_class, "invalid_input");
  EXPECT_TRUE(second.replayed);
  EXPECT_TRUE(second.duplicate_of.empty());
  EXPECT_EQ(second.refund, -1) << "the refund was emitted the first time: the replayed result offers none";
  // One run after the other, never both at once.
  EXPECT_GE(second.taken_at, first[0].finished_at);
  EXPECT_EQ(RefundCounts(r), (std::map<std::string, int>{{"rp_asset", 1}, {"rp_mod", 1}, {"rp_bad", 1}}));
  auto made = Creations(s);
  EXPECT_EQ(made[101], 2) << "one task per run";
  EXPECT_EQ(made[102], 1);
  for (const auto& x : ReadResults(r)) EXPECT_TRUE(x.duplicate_of.empty()) << x.id;

  // The dead list: the other two untouched, rp_asset dead again (newest).
  auto dead = DeadList(r);
  ASSERT_EQ(dead.size(), 3u);
  EXPECT_EQ(dead.back().id, "rp_asset");
  EXPECT_NE(dead.back().raw, before["rp_asset"]);
  EXPECT_EQ(dead.back().job, MakeJob("rp_asset", "image_to_video", "gen4_turbo", 5, 26, 101, "sim:fail=ASSET.INVALID"));
  for (size_t i = 0; i + 1 < dead.size(); ++i) EXPECT_EQ(dead[i].raw, before[dead[i].id]);
  // The daemon consumed the replay marker and wrote its dedup marker again.
  EXPECT_EQ(r.Int({"EXISTS", "runway:replayed:rp_asset"}), 0);
  EXPECT_EQ(r.Int({"EXISTS", "runway:done:rp_asset"}), 1);
  EXPECT_EQ(r.Int({"EXISTS", "runway:refunded:rp_asset"}), 1);
  EXPECT_EQ(r.Int({"LLEN", "runway:processing:d1"}), 0);
  EXPECT_EQ(r.Int({"SCARD", "runway:inflight:d1"}), 0);

  // The malformed job too: it fails again, and its refund is still not repeated.
  ReplayRun bad = Replay(s, Args(s, {"--class", "invalid_job"}));
  ASSERT_EQ(bad.rc, 0) << bad.err;
  EXPECT_EQ(bad.out, "moved 1 of 3 dead jobs to runway:jobs: rp_bad\n");
  ASSERT_TRUE(WaitFor([&] { return r.Int({"LLEN", "runway:results"}) == 5 && r.Int({"LLEN", "runway:dead"}) == 3; },
                      10s))
      << s.Logs();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(RefundCounts(r), (std::map<std::string, int>{{"rp_asset", 1}, {"rp_mod", 1}, {"rp_bad", 1}}));
  auto bad_results = ResultsFor(r, "rp_bad");
  ASSERT_EQ(bad_results.size(), 2u);
  EXPECT_EQ(bad_results[1].refund, -1) << "no second refund event, so the result promises none";
  EXPECT_FALSE(bad_results[0].replayed);
  EXPECT_TRUE(bad_results[1].replayed) << "never admitted, yet its finish read the replay marker";
  EXPECT_EQ(r.Int({"EXISTS", "runway:replayed:rp_bad"}), 0) << "its finish consumed the replay marker";
  EXPECT_EQ(DeadList(r).back().job, kBadJob);
}

// A replayed job whose daemon restarts while it runs resumes from its Redis record: the
// record keeps "replayed" (admission moved the marker there), and the finish script, not
// the daemon's memory, decides whether the result carries a refund.
TEST(Replay, ReplayedJobResumedAfterARestartKeepsItsFlagAndIsNotRefundedTwice) {
  Stack s("replay-resume");
  s.StartRedis();
  s.StartSim();
  auto& r = s.redis();
  const std::string job = MakeJob("rr1", "image_to_video", "gen4_turbo", 5, 26, 131, "sim:fail=ASSET.INVALID");
  const std::string now = std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                              std::chrono::system_clock::now().time_since_epoch()).count());
  // What admission of a replayed job leaves, as a SIGKILL right after it would.
  r.Cmd({"HSET", "runway:job:rr1", "raw", job, "daemon", "d1", "state", "admitted", "taken_at", now, "attempt", "0",
         "replayed", "1"});
  r.Cmd({"SADD", "runway:inflight:d1", "rr1"});
  r.Cmd({"SADD", "runway:daemons", "d1"});
  r.Cmd({"SET", "runway:refunded:rr1", "1", "EX", "600"});  // its first run was refunded
  s.StartDaemon();
  ASSERT_TRUE(s.WaitReady(0)) << s.Logs();
  ASSERT_TRUE(WaitFor([&] { return r.Int({"LLEN", "runway:results"}) >= 1; }, 15s)) << s.Logs();
  std::this_thread::sleep_for(300ms);
  auto res = ResultsFor(r, "rr1");
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].status, "failed");
  EXPECT_TRUE(res[0].replayed);
  EXPECT_EQ(res[0].refund, -1);
  EXPECT_EQ(r.Int({"LLEN", "runway:refunds"}), 0);
}

TEST(Replay, IdPatternAndLimitTakeTheOldestMatches) {
  Stack s("replay-limit");
  s.StartRedis();
  s.StartSim();
  s.StartDaemon();
  ASSERT_TRUE(s.WaitReady(0)) << s.Logs();
  auto& r = s.redis();
  for (int i = 1; i <= 4; ++i)
    r.Push("runway:jobs", MakeJob("batch_" + std::to_string(i), "image_to_video", "gen4_turbo", 5, 26, 200 + i,
                                  "sim:fail=ASSET.INVALID"));
  r.Push("runway:jobs", MakeJob("other_1", "image_to_video", "gen4_turbo", 5, 26, 209, "sim:fail=ASSET.INVALID"));
  ASSERT_TRUE(WaitFor([&] { return r.Int({"LLEN", "runway:dead"}) == 5; }, 10s)) << s.Logs();
  std::vector<std::string> batch;  // the batch ids in dead order, oldest first
  for (const auto& id : DeadIds(r))
    if (id.rfind("batch_", 0) == 0) batch.push_back(id);
  ASSERT_EQ(batch.size(), 4u);

  ReplayRun dry = Replay(s, Args(s, {"--id", "batch_*", "--limit", "2", "--dry-run"}));
  ASSERT_EQ(dry.rc, 0) << dry.err;
  EXPECT_EQ(dry.out, "dry run: would move 2 of 5 dead jobs: " + batch[0] + ", " + batch[1] +
                         "\nmatched 4; not moved: 2 over --limit\n");
  ReplayRun glob = Replay(s, Args(s, {"--id", "batch_[2-3]", "--id", "?ther_1", "--dry-run", "--json"}));
  Summary g = ParseSummary(glob.out);
  EXPECT_EQ(std::set<std::string>(g.ids.begin(), g.ids.end()),
            (std::set<std::string>{"batch_2", "batch_3", "other_1"}));
  ReplayRun nomatch = Replay(s, Args(s, {"--id", "BATCH_*", "--dry-run"}));  // case-sensitive, like Redis
  EXPECT_EQ(nomatch.out, "dry run: would move 0 of 5 dead jobs\n");

  ReplayRun run = Replay(s, Args(s, {"--id", "batch_*", "--limit", "2", "--json"}));
  ASSERT_EQ(run.rc, 0) << run.err;
  Summary sum = ParseSummary(run.out);
  EXPECT_FALSE(sum.dry_run);
  EXPECT_EQ(sum.matched, 4);
  EXPECT_EQ(sum.moved, 2);
  EXPECT_EQ(sum.not_moved["limit"], 2);
  EXPECT_EQ(sum.ids, (std::vector<std::string>{batch[0], batch[1]}));

  ASSERT_TRUE(WaitFor([&] { return r.Int({"LLEN", "runway:results"}) == 7 && r.Int({"LLEN", "runway:dead"}) == 5; },
                      10s))
      << s.Logs();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(r.Int({"LLEN", "runway:results"}), 7);
  auto made = Creations(s);
  for (int i = 1; i <= 4; ++i) {
    std::string id = "batch_" + std::to_string(i);
    bool moved = id == batch[0] || id == batch[1];
    auto res = ResultsFor(r, id);
    ASSERT_EQ(res.size(), moved ? 2u : 1u) << id;
    EXPECT_EQ(res.back().replayed, moved) << id;
    EXPECT_EQ(made[200 + i], moved ? 2 : 1) << id;
  }
  EXPECT_EQ(made[209], 1);
  auto refunds = RefundCounts(r);
  EXPECT_EQ(refunds.size(), 5u);
  for (const auto& [id, n] : refunds) EXPECT_EQ(n, 1) << id;
  // The two that ran again are now the newest dead entries.
  auto ids = DeadIds(r);
  EXPECT_EQ(std::set<std::string>(ids.end() - 2, ids.end()), (std::set<std::string>{batch[0], batch[1]}));
}

TEST(Replay, ScriptAloneFiltersChecksAndRemovesExactly) {
  Stack s("replay-script");
  s.StartRedis();
  auto& r = s.redis();
  const std::string now = "2099-01-01T00:00:00.000Z";  // "dead in the future": age < 0, newer than anything
  // Oldest first (LPUSH): the dead list the script will see.
  std::vector<std::string> entries = {
      DeadEntry("old_free", "upstream_unavailable", "Runway refused the create: 503", 0, "2020-01-01T00:00:00.000Z"),
      "not json at all",
      DeadEntry("old_charged", "upstream_unavailable", "Runway refused the create: 503", 26,
                "2020-01-01T02:00:00+02:00"),
      DeadEntry("won_since", "upstream_failure", "boom", 0, now),
      DeadEntry("running", "upstream_failure", "boom", 0, now),
      DeadEntry("twice", "upstream_failure", "first", 0, now),
      R"({"v":1,"job":"{}","id":null,"reason":"job: id: required","error_class":"invalid_job","attempts":0,"taken_at":null,"dead_at":")" +
          now + R"("})",
      DeadEntry("refunded", "upstream_failure", "boom", 26, now),
      DeadEntry("twice", "upstream_failure", "second", 0, now),
      "[1,2,3]",
      DeadEntry("keep_me", "moderation", "flagged", 0, now),
  };
  for (const auto& e : entries) r.Push("runway:dead", e);
  r.Cmd({"SET", "runway:done:won_since", "succeeded", "EX", "3600"});
  r.Cmd({"SET", "runway:done:twice", "failed:upstream_failure", "EX", "3600"});
  r.Cmd({"HSET", "runway:job:running", "daemon", "d9", "state", "task"});
  r.Cmd({"SET", "runway:refunded:refunded", "1", "EX", "60"});

  ReplayRun dry = Replay(s, Args(s, {"--class", "upstream_unavailable,upstream_failure,invalid_job", "--dry-run", "--json"}));
  ASSERT_EQ(dry.rc, 0) << dry.err;
  Summary d = ParseSummary(dry.out);
  EXPECT_EQ(d.dead, 11);
  EXPECT_EQ(d.undecodable, 2);
  EXPECT_EQ(d.matched, 8);
  EXPECT_EQ(d.ids, (std::vector<std::string>{"old_free", "twice", "", "refunded"}));
  EXPECT_EQ(d.not_moved, (std::map<std::string, int64_t>{
                             {"limit", 0}, {"duplicate_id", 1}, {"in_flight", 1}, {"queued", 0},
                             {"succeeded", 1}, {"no_refund_marker", 1}}));
  EXPECT_EQ(d.not_moved_ids, (std::vector<std::pair<std::string, std::string>>{
                                 {"old_charged", "no_refund_marker"},
                                 {"won_since", "succeeded"},
                                 {"running", "in_flight"},
                                 {"twice", "duplicate_id"}}));
  ReplayRun text = Replay(s, Args(s, {"--class", "upstream_unavailable,upstream_failure,invalid_job", "--dry-run"}));
  EXPECT_NE(text.out.find("dry run: would move 4 of 11 dead jobs: old_free, twice, (no id), refunded\n"),
            std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("2 dead entries could not be decoded"), std::string::npos) << text.out;

  // Age, with an offset time: both 2020 entries are old, nothing else is.
  ReplayRun old = Replay(s, Args(s, {"--older-than", "7d", "--dry-run", "--force", "--json"}));
  EXPECT_EQ(ParseSummary(old.out).ids, (std::vector<std::string>{"old_free", "old_charged"}));
  ReplayRun young = Replay(s, Args(s, {"--newer-than", "1d", "--id", "old_*", "--dry-run"}));
  EXPECT_EQ(young.out,
            "dry run: would move 0 of 11 dead jobs\n2 dead entries could not be decoded and stayed where they were\n");

  // For real, with --force: everything matched moves but the id in flight and the second "twice".
  ReplayRun run = Replay(s, Args(s, {"--class", "upstream_unavailable,upstream_failure,invalid_job", "--force", "--json"}));
  ASSERT_EQ(run.rc, 0) << run.err;
  Summary m = ParseSummary(run.out);
  EXPECT_EQ(m.ids, (std::vector<std::string>{"old_free", "old_charged", "won_since", "twice", "", "refunded"}));
  // Exactly those entries left the dead list; the rest kept their order.
  EXPECT_EQ(r.List("runway:dead"), (std::vector<std::string>{entries[1], entries[4], entries[8], entries[9],
                                                             entries[10]}));
  // Their jobs are queued unchanged, oldest at the right (taken first).
  EXPECT_EQ(r.List("runway:jobs"),
            (std::vector<std::string>{JobOf("old_free", 0), JobOf("old_charged", 26), JobOf("won_since", 0),
                                      JobOf("twice", 0), "{}", JobOf("refunded", 26)}));
  for (const char* id : {"old_free", "old_charged", "won_since", "twice", "refunded"}) {
    EXPECT_EQ(r.Int({"EXISTS", std::string("runway:done:") + id}), 0) << id;
    EXPECT_EQ(r.Int({"EXISTS", std::string("runway:replayed:") + id}), 1) << id;
    EXPECT_GT(r.Int({"TTL", std::string("runway:replayed:") + id}), 604000) << id;
  }
  EXPECT_EQ(r.Int({"EXISTS", "runway:replayed:running"}), 0);
  EXPECT_EQ(r.Int({"EXISTS", "runway:job:running"}), 1);
  // A refund marker is never created, and one that exists outlives the replay marker.
  EXPECT_EQ(r.Int({"EXISTS", "runway:refunded:old_charged"}), 0);
  EXPECT_GT(r.Int({"TTL", "runway:refunded:refunded"}), 604000);

  // A second run: "twice" is still queued by the first (no daemon took it), "running" still runs.
  ReplayRun again = Replay(s, Args(s, {"--class", "upstream_unavailable,upstream_failure,invalid_job"}));
  EXPECT_EQ(again.out,
            "moved 0 of 5 dead jobs to runway:jobs\nmatched 2; not moved: 1 in flight now (runway:job:<id> exists); "
            "1 put back by an earlier replay and not taken yet (runway:replayed:<id> exists; --force to move "
            "anyway)\n  not moved: running (in_flight)\n  not moved: twice (queued)\n2 dead entries could not be "
            "decoded and stayed where they were\n");
  EXPECT_EQ(r.Int({"LLEN", "runway:jobs"}), 6);
}

TEST(Replay, BracedPrefixAndManyEntries) {
  Stack s("replay-many");
  s.StartRedis();
  auto& r = s.redis();
  // 3000 entries under a Cluster-style prefix; every third one matches.
  std::vector<std::string> all;
  for (int i = 0; i < 3000; ++i) {
    std::string e = DeadEntry("m" + std::to_string(i), i % 3 == 0 ? "upstream_failure" : "moderation", "x", 0,
                              "2026-01-01T00:00:00.000Z");
    all.push_back(e);
  }
  for (size_t i = 0; i < all.size(); i += 500) {
    std::vector<std::string> cmd = {"LPUSH", "{rw}:dead"};
    for (size_t j = i; j < i + 500; ++j) cmd.push_back(all[j]);
    r.Cmd(cmd);
  }
  ReplayRun wrong = Replay(s, Args(s, {"--dry-run"}));  // default prefix: nothing there
  EXPECT_EQ(wrong.out, "dry run: would move 0 of 0 dead jobs\n");
  ReplayRun run = Replay(s, Args(s, {"--prefix", "{rw}", "--class", "upstream_failure", "--json"}));
  ASSERT_EQ(run.rc, 0) << run.err;
  Summary m = ParseSummary(run.out);
  EXPECT_EQ(m.moved, 1000);
  EXPECT_EQ(m.ids.size(), 50u);
  EXPECT_TRUE(m.ids_truncated);
  EXPECT_EQ(m.ids.front(), "m0");
  std::vector<std::string> kept;
  for (int i = 0; i < 3000; ++i)
    if (i % 3 != 0) kept.push_back(all[i]);
  EXPECT_EQ(r.List("{rw}:dead"), kept);
  EXPECT_EQ(r.Int({"LLEN", "{rw}:jobs"}), 1000);
  EXPECT_EQ(r.Int({"EXISTS", "{rw}:replayed:m2997", "{rw}:replayed:m0"}), 2);
  ReplayRun text = Replay(s, Args(s, {"--prefix", "{rw}", "--dry-run"}));
  EXPECT_NE(text.out.find("dry run: would move 2000 of 2000 dead jobs: m1, m2, m4, "), std::string::npos);
  EXPECT_NE(text.out.find(", ... (1950 more)\n"), std::string::npos) << text.out;
}

TEST(Replay, UsageAndConnectionErrors) {
  Stack s("replay-errors");
  s.StartRedis();
  ReplayRun help = Replay(s, {"--help"});
  EXPECT_EQ(help.rc, 0);
  EXPECT_EQ(help.out.rfind("usage: scripts/replay", 0), 0u) << help.out;
  for (const auto& bad : std::vector<std::vector<std::string>>{
           {"--limit", "0"},
           {"--limit", "ten"},
           {"--limit"},
           {"--older-than", "5x"},
           {"--newer-than", "-1h"},
           {"--class", "nonsense"},
           {"--class", ","},
           {"--id", "gen_[12"},
           {"--id", "gen\\"},
           {"--reason", ""},
           {"--frobnicate"},
           {"-a", "secret"},
           {"--redis", "http://localhost"},
           {"--redis", "redis://h:70000"},
           {"--prefix", "a b"},
       }) {
    std::vector<std::string> args = bad[0] == "--redis" ? bad : Args(s, bad);
    ReplayRun x = Replay(s, args);
    EXPECT_EQ(x.rc, 2) << Join(bad) << ": " << x.out << x.err;
    EXPECT_EQ(x.out, "") << Join(bad);
    EXPECT_NE(x.err.find("replay: "), std::string::npos) << Join(bad);
  }
  ReplayRun both = Replay(s, {"--redis", "redis://127.0.0.1:1", "-p", "2"});
  EXPECT_EQ(both.rc, 2) << both.err;
  int closed = FreePort();
  ReplayRun down = Replay(s, {"-p", std::to_string(closed), "--dry-run"});
  EXPECT_EQ(down.rc, 1) << down.out << down.err;
  EXPECT_NE(down.err.find("Could not connect"), std::string::npos) << down.err;
  // A list of another type under the dead key is a Redis error, not a crash.
  s.redis().Cmd({"SET", "runway:dead", "oops"});
  ReplayRun wrongtype = Replay(s, Args(s, {"--dry-run"}));
  EXPECT_EQ(wrongtype.rc, 1) << wrongtype.out;
  EXPECT_NE(wrongtype.err.find("WRONGTYPE"), std::string::npos) << wrongtype.err;
}

TEST(Replay, PasswordTravelsInTheEnvironmentOnly) {
  Stack s("replay-auth");
  s.StartRedis("--requirepass s3cr3t-pw");
  auto& r = s.redis();
  r.Cmd({"AUTH", "s3cr3t-pw"});
  r.Cmd({"ACL", "SETUSER", "ops", "on", ">ops-pw", "~*", "+@all"});
  r.Push("runway:dead", DeadEntry("a1", "upstream_failure", "boom", 0, "2026-01-01T00:00:00.000Z"));
  // A redis-cli in front of the real one that records its argv and whether it got REDISCLI_AUTH.
  std::string bin = s.dir() + "/bin";
  std::system(("mkdir -p " + Quote(bin)).c_str());
  std::string real = "/usr/bin/redis-cli";
  WriteFile(bin + "/redis-cli", "#!/bin/sh\nprintf '%s\\n' \"$@\" >> " + Quote(s.dir() + "/argv.log") +
                                    "\necho \"auth=${REDISCLI_AUTH:-none}\" >> " + Quote(s.dir() + "/env.log") +
                                    "\nexec " + real + " \"$@\"\n");
  std::system(("chmod +x " + Quote(bin + "/redis-cli")).c_str());
  std::string env = "PATH=" + Quote(bin) + ":\"$PATH\" ";
  std::string port = std::to_string(s.redis_port());

  ReplayRun noauth = Replay(s, {"-p", port, "--dry-run"}, "env -u REDISCLI_AUTH " + env);
  EXPECT_EQ(noauth.rc, 1);
  EXPECT_NE(noauth.err.find("wants a password"), std::string::npos) << noauth.err;

  ReplayRun url = Replay(s, {"--redis", "redis://:s3cr3t-pw@127.0.0.1:" + port + "/0", "--dry-run"}, env);
  EXPECT_EQ(url.rc, 0) << url.err;
  EXPECT_EQ(url.out, "dry run: would move 1 of 1 dead jobs: a1\n");
  ReplayRun acl = Replay(s, {"--dry-run"}, env + "RUNWAYD_REDIS_URL=" + Quote("redis://ops:ops-pw@127.0.0.1:" + port) + " ");
  EXPECT_EQ(acl.rc, 0) << acl.err;
  ReplayRun envpw = Replay(s, {"-p", port, "--dry-run"}, env + "REDISCLI_AUTH=s3cr3t-pw ");
  EXPECT_EQ(envpw.rc, 0) << envpw.err;
  ReplayRun wrong = Replay(s, {"--redis", "redis://ops:nope@127.0.0.1:" + port, "--dry-run"}, env);
  EXPECT_EQ(wrong.rc, 1);
  EXPECT_NE(wrong.err.find("WRONGPASS"), std::string::npos) << wrong.err;

  std::string argv = ReadFile(s.dir() + "/argv.log");
  EXPECT_NE(argv.find("EVAL"), std::string::npos);
  EXPECT_EQ(argv.find("s3cr3t-pw"), std::string::npos);
  EXPECT_EQ(argv.find("ops-pw"), std::string::npos);
  EXPECT_NE(argv.find("ops"), std::string::npos);  // the user name is no secret
  EXPECT_EQ(ReadFile(s.dir() + "/env.log"), "auth=none\nauth=s3cr3t-pw\nauth=ops-pw\nauth=s3cr3t-pw\nauth=nope\n");
}
