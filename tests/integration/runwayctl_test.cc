// tests/integration/runwayctl_test.cc — bin/runwayctl against real processes: a
// redis-server, runway-sim and runwayd (tests/integration/harness.h). Covers every
// command (status, accounts, job, enqueue, cancel, replay), --json, the exit codes
// (0 ok, 1 Redis error or refused action, 2 usage, 3 not found) and that a password
// never appears in anything runwayctl prints; and that it follows a Redis Cluster MOVED.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <cstdio>
#include <regex>

#include "harness.h"

using namespace harness;
using namespace std::chrono_literals;

namespace {

using Ctl = ShellRun;

std::string Quote(const std::string& s) { return ShellQuote(s); }

// Runs a shell command line; `input` becomes its stdin.
Ctl Shell(const Stack& s, const std::string& cmdline, const std::string& input = "") {
  return RunShell(cmdline, s.dir(), input);
}

// Runs bin/runwayctl with `args`; `env` prefixes the command ("NAME=value ").
Ctl Runwayctl(const Stack& s, const std::vector<std::string>& args, const std::string& input = "",
              const std::string& env = "") {
  std::string cmd = env + Quote(Bin("runwayctl"));
  for (const auto& a : args) cmd += " " + Quote(a);
  return Shell(s, cmd, input);
}

std::string Url(const Stack& s) { return "redis://127.0.0.1:" + std::to_string(s.redis_port()); }

// runwayctl --redis <the stack's redis> args...
Ctl C(const Stack& s, std::vector<std::string> args, const std::string& input = "") {
  args.insert(args.begin(), {"--redis", Url(s)});
  return Runwayctl(s, args, input);
}

// A parsed --json answer; the parser keeps the document alive.
struct Json {
  simdjson::dom::parser p;
  simdjson::dom::element root;
  explicit Json(const std::string& text) {
    if (p.parse(text).get(root)) ADD_FAILURE() << "not JSON: " << text;
  }
  std::string Str(std::string_view path) {
    std::string_view v;
    return root.at_pointer(path).get_string().get(v) ? std::string() : std::string(v);
  }
  int64_t Int(std::string_view path) {
    int64_t v = -1;
    return root.at_pointer(path).get_int64().get(v) ? -1 : v;
  }
  bool Bool(std::string_view path) {
    bool v = false;
    return root.at_pointer(path).get_bool().get(v) ? false : v;
  }
};

// The kinds of a `job --json` history.
std::vector<std::string> Kinds(Json& j) {
  std::vector<std::string> out;
  simdjson::dom::array h;
  if (j.root["history"].get_array().get(h)) return out;
  for (auto e : h) out.emplace_back(e["kind"].get_string().value_unsafe());
  return out;
}

bool Has(const std::vector<std::string>& v, const std::string& x) { return std::find(v.begin(), v.end(), x) != v.end(); }

// Polls `job ID --json` until its "where" is `where`.
bool WaitWhere(const Stack& s, const std::string& id, const std::string& where, std::chrono::milliseconds t) {
  return WaitFor([&] {
    Ctl r = C(s, {"job", id, "--json"});
    return r.rc == 0 && Json(r.out).Str("/where") == where;
  }, t);
}

std::string DeadEntry(const std::string& id, const std::string& cls) {
  std::string job = R"({\"v\":1,\"id\":\")" + id + R"(\",\"endpoint\":\"text_to_video\",\"body\":{\"model\":\"gen4.5\"}})";
  return R"({"v":1,"job":")" + job + R"(","id":")" + id + R"(","reason":"broken on purpose","error_class":")" + cls +
         R"(","attempts":1,"taken_at":null,"dead_at":"2026-01-02T03:04:05.678Z"})";
}

}  // namespace

TEST(RunwayCtl, UsageErrorsExitTwo) {
  Stack s("ctl-usage");  // no server: every one of these fails before connecting
  Ctl r = Runwayctl(s, {});
  EXPECT_EQ(r.rc, 2) << r;
  EXPECT_NE(r.err.find("subcommand is required"), std::string::npos) << r;
  r = Runwayctl(s, {"--help"});
  EXPECT_EQ(r.rc, 0) << r;
  for (const char* cmd : {"status", "accounts", "job", "enqueue", "cancel", "replay"})
    EXPECT_NE(r.out.find(cmd), std::string::npos) << cmd << "\n" << r;
  EXPECT_EQ(Runwayctl(s, {"status", "--bogus"}).rc, 2);
  EXPECT_EQ(Runwayctl(s, {"job"}).rc, 2);
  EXPECT_EQ(Runwayctl(s, {"replay", "--limit", "0"}).rc, 2);
  r = Runwayctl(s, {"--redis", "http://127.0.0.1:1", "status"});
  EXPECT_EQ(r.rc, 2) << r;
  EXPECT_NE(r.err.find("redis url"), std::string::npos) << r;
  EXPECT_EQ(Runwayctl(s, {"--prefix", "", "status"}).rc, 2);

  r = Runwayctl(s, {"enqueue", "--endpoint", "text_to_video"});
  EXPECT_EQ(r.rc, 2) << r;
  EXPECT_NE(r.err.find("--model is required"), std::string::npos) << r;
  r = Runwayctl(s, {"enqueue", "-", "--id", "x"});
  EXPECT_EQ(r.rc, 2) << r;
  EXPECT_NE(r.err.find("not both"), std::string::npos) << r;
  r = Runwayctl(s, {"enqueue", "--file", s.dir() + "/missing.json"});
  EXPECT_EQ(r.rc, 2) << r;
  EXPECT_NE(r.err.find("missing.json"), std::string::npos) << r;

  // The daemon's own parser, with its own messages.
  r = Runwayctl(s, {"enqueue", "-"}, R"({"v":1,"id":"a","endpoint":"text_to_video","body":{"model":"gen4.5"},"chraged":3})");
  EXPECT_EQ(r.rc, 2) << r;
  EXPECT_NE(r.err.find("invalid job: unknown field \"chraged\""), std::string::npos) << r;
  r = Runwayctl(s, {"enqueue", "--id", "a", "--endpoint", "image-to-video", "--model", "gen4_turbo"});
  EXPECT_EQ(r.rc, 2) << r;
  EXPECT_NE(r.err.find("endpoint: \"image-to-video\" is not an allowed endpoint"), std::string::npos) << r;
  r = Runwayctl(s, {"--prefix", "rw", "enqueue", "--id", "a", "--endpoint", "text_to_video", "--model", "gen4.5",
                    "--reply-to", "runway:results:x"});
  EXPECT_EQ(r.rc, 2) << r;
  EXPECT_NE(r.err.find("reply_to: must be \"rw:results\""), std::string::npos) << r;
  r = Runwayctl(s, {"enqueue", "--id", "a", "--endpoint", "text_to_video", "--model", "gen4.5", "--charged", "-1"});
  EXPECT_EQ(r.rc, 2) << r;

  // --dry-run validates and prints without Redis; --extra-endpoint mirrors upstream.extra_endpoints.
  r = Runwayctl(s, {"enqueue", "--dry-run", "--json", "--id", "dry", "--endpoint", "my_endpoint", "--extra-endpoint",
                    "my_endpoint", "--model", "m1", "--prompt", "say \"hi\"\n", "--duration", "2.5", "--charged", "7",
                    "--meta", R"({"k":[1,2]})", "--fallback-model", "m0"});
  ASSERT_EQ(r.rc, 0) << r;
  Json j(r.out);
  EXPECT_EQ(j.Str("/job/body/promptText"), "say \"hi\"\n");
  EXPECT_EQ(j.Str("/job/fallback_models/0"), "m0");
  EXPECT_EQ(j.Int("/job/meta/k/1"), 2);
  EXPECT_EQ(j.Int("/job/charged"), 7);
}

TEST(RunwayCtl, RedisErrorsExitOneAndNeverShowThePassword) {
  const std::string pw = "s3cret-Pw-42";
  Stack s("ctl-auth");
  s.SetRedisPassword(pw);
  s.StartRedis();
  std::string port = std::to_string(s.redis_port());
  std::string good = "redis://:" + pw + "@127.0.0.1:" + port;
  auto no_pw = [&](const Ctl& r) { return r.out.find(pw) == std::string::npos && r.err.find(pw) == std::string::npos; };

  Ctl r = Runwayctl(s, {"--redis", "redis://:" + pw + "@127.0.0.1:" + std::to_string(FreePort()), "status"});
  EXPECT_EQ(r.rc, 1) << r;
  EXPECT_NE(r.err.find("cannot connect to redis at redis://127.0.0.1:"), std::string::npos) << r;
  EXPECT_TRUE(no_pw(r)) << r;
  r = Runwayctl(s, {"--redis", "redis://127.0.0.1:" + port, "status"});
  EXPECT_EQ(r.rc, 1) << r;
  EXPECT_NE(r.err.find("wants a password"), std::string::npos) << r;
  r = Runwayctl(s, {"--redis", "redis://:wrong-" + pw + "@127.0.0.1:" + port, "job", "x"});
  EXPECT_EQ(r.rc, 1) << r;
  EXPECT_NE(r.err.find("WRONGPASS"), std::string::npos) << r;
  EXPECT_TRUE(no_pw(r)) << r;

  r = Runwayctl(s, {"--redis", good, "status", "--json"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_TRUE(no_pw(r)) << r;
  EXPECT_EQ(Json(r.out).Str("/redis"), "redis://127.0.0.1:" + port + "/0");
  // The URL from the environment, and a password from REDISCLI_AUTH.
  r = Runwayctl(s, {"status"}, "", "RUNWAYD_REDIS_URL=" + Quote(good) + " ");
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_TRUE(no_pw(r)) << r;
  r = Runwayctl(s, {"status"}, "", "REDIS_URL=redis://127.0.0.1:" + port + " REDISCLI_AUTH=" + pw + " ");
  EXPECT_EQ(r.rc, 0) << r;
  // A key of the wrong type is a Redis error (1), named in the message.
  s.redis().Cmd({"SET", "runway:jobs", "not a list"});
  r = Runwayctl(s, {"--redis", good, "status"});
  EXPECT_EQ(r.rc, 1) << r;
  EXPECT_NE(r.err.find("WRONGTYPE"), std::string::npos) << r;
}

TEST(RunwayCtl, EnqueueFollowStatusAccounts) {
  Stack s("ctl-flow");
  s.StartRedis();
  s.StartSim();
  s.StartDaemon();
  ASSERT_TRUE(s.WaitReady(0)) << s.Logs();

  // From flags, from a file and from stdin.
  Ctl r = C(s, {"enqueue", "--json", "--id", "flag_1", "--endpoint", "image_to_video", "--model", "gen4_turbo",
                "--image", "https://cdn.example.com/a.jpg", "--prompt", "a calm sea", "--ratio", "1280:720",
                "--duration", "5", "--charged", "26", "--user", "u_1", "--meta", R"({"n":1})"});
  ASSERT_EQ(r.rc, 0) << r;
  Json e(r.out);
  EXPECT_EQ(e.Str("/id"), "flag_1");
  EXPECT_EQ(e.Str("/queue"), "runway:jobs");
  WriteFile(s.dir() + "/job.json", MakeJob("file_1", "image_to_video", "gen4_turbo", 5, 26, 11) + "\n");
  r = C(s, {"enqueue", "--file", s.dir() + "/job.json"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find("enqueued file_1 on runway:jobs"), std::string::npos) << r;
  r = C(s, {"enqueue", "-"}, MakeJob("stdin_1", "image_to_video", "gen4_turbo", 5, 26, 12));
  ASSERT_EQ(r.rc, 0) << r;

  for (const char* id : {"flag_1", "file_1", "stdin_1"})
    ASSERT_TRUE(WaitWhere(s, id, "finished", 20s)) << id << s.Logs();
  r = C(s, {"job", "flag_1", "--json"});
  ASSERT_EQ(r.rc, 0) << r;
  Json j(r.out);
  EXPECT_EQ(j.Str("/summary"), "finished: succeeded") << r;
  auto kinds = Kinds(j);
  EXPECT_TRUE(Has(kinds, "done") && Has(kinds, "result")) << r;
  r = C(s, {"job", "flag_1"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find("job flag_1: finished: succeeded"), std::string::npos) << r;
  EXPECT_NE(r.out.find("runway:results #"), std::string::npos) << r;
  EXPECT_NE(r.out.find("output https://"), std::string::npos) << r;

  // A known id is refused (1): the daemon would only answer a duplicate failure.
  r = C(s, {"enqueue", "--file", s.dir() + "/job.json"});
  EXPECT_EQ(r.rc, 1) << r;
  EXPECT_NE(r.err.find("duplicate"), std::string::npos) << r;

  r = C(s, {"status", "--json"});
  ASSERT_EQ(r.rc, 0) << r;
  Json st(r.out);
  EXPECT_EQ(st.Int("/queues/jobs"), 0);
  EXPECT_EQ(st.Int("/queues/results"), 3);
  EXPECT_EQ(st.Int("/in_flight/total"), 0);
  EXPECT_EQ(st.Str("/daemons/0/id"), "d1");
  EXPECT_TRUE(st.Bool("/daemons/0/alive")) << r;
  EXPECT_EQ(st.Str("/accounts/0/name"), "main");
  EXPECT_GT(st.Int("/accounts/0/balance"), 0) << r;
  EXPECT_GT(st.Int("/accounts/0/estimate"), 0) << r;
  EXPECT_EQ(st.Int("/accounts/0/reserved"), 0) << r;
  EXPECT_GE(st.Int("/accounts/0/models/gen4_turbo/daily"), 3) << r;
  r = C(s, {"status"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find("daemons: 1 alive of 1"), std::string::npos) << r;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("\nmain +[0-9]+ +[0-9]+ +0 "))) << r;

  r = C(s, {"accounts", "--json"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_EQ(Json(r.out).Str("/accounts/0/name"), "main");
  r = C(s, {"accounts", "main"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find("gen4_turbo"), std::string::npos) << r;
  r = C(s, {"accounts", "nope"});
  EXPECT_EQ(r.rc, 3) << r;
  EXPECT_NE(r.err.find("no account \"nope\""), std::string::npos) << r;
}

TEST(RunwayCtl, JobWhereaboutsAndCancel) {
  Stack s("ctl-where");
  s.StartRedis();
  s.StartSim();
  auto& redis = s.redis();

  // Queued, before any daemon: the daemon takes from the tail, so q_long is next.
  ASSERT_EQ(C(s, {"enqueue", "-"}, MakeJob("q_long", "image_to_video", "gen4_turbo", 5, 26, 21, "x sim:secs=400")).rc, 0);
  ASSERT_EQ(C(s, {"enqueue", "-"}, MakeJob("q_short", "image_to_video", "gen4_turbo", 5, 26, 22)).rc, 0);
  Ctl r = C(s, {"job", "q_short", "--json"});
  ASSERT_EQ(r.rc, 0) << r;
  Json q(r.out);
  EXPECT_EQ(q.Str("/where"), "queued");
  EXPECT_EQ(q.Int("/history/0/ahead"), 1) << r;
  EXPECT_EQ(q.Str("/history/0/job/id"), "q_short") << r;
  r = C(s, {"job", "q_long"});
  EXPECT_NE(r.out.find("queued, 0 job(s) ahead of it"), std::string::npos) << r;

  // Unknown: exit 3, also with --json (which still prints its answer).
  r = C(s, {"job", "nope"});
  EXPECT_EQ(r.rc, 3) << r;
  EXPECT_NE(r.err.find("no trace of job \"nope\""), std::string::npos) << r;
  r = C(s, {"job", "nope", "--json"});
  EXPECT_EQ(r.rc, 3) << r;
  EXPECT_EQ(Json(r.out).Str("/where"), "unknown");

  // Dead.
  redis.Push("runway:dead", DeadEntry("ghost", "invalid_input"));
  r = C(s, {"job", "ghost", "--json"});
  ASSERT_EQ(r.rc, 0) << r;
  Json d(r.out);
  EXPECT_EQ(d.Str("/where"), "dead");
  EXPECT_EQ(d.Str("/history/0/entry/error_class"), "invalid_input") << r;

  // In flight, then cancelled by an operator.
  s.StartDaemon();
  ASSERT_TRUE(s.WaitReady(0)) << s.Logs();
  ASSERT_TRUE(WaitFor([&] {
    Ctl x = C(s, {"job", "q_long", "--json"});
    Json jj(x.out);
    return jj.Str("/where") == "in_flight" && jj.Str("/history/0/fields/state") == "task";
  }, 15s)) << s.Logs();
  r = C(s, {"job", "q_long"});
  EXPECT_NE(r.out.find("job q_long: in flight on d1, state task, attempt 1, task "), std::string::npos) << r;
  r = C(s, {"status", "--json"});
  Json st(r.out);
  EXPECT_GE(st.Int("/in_flight/total"), 1) << r;
  EXPECT_GE(st.Int("/in_flight/by_state/task"), 1) << r;
  EXPECT_GE(st.Int("/daemons/0/in_flight"), 1) << r;

  r = C(s, {"cancel", "q_long", "--json"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_EQ(Json(r.out).Str("/in_flight_on"), "d1");
  ASSERT_TRUE(WaitWhere(s, "q_long", "finished", 15s)) << s.Logs();
  r = C(s, {"job", "q_long", "--json"});
  EXPECT_EQ(Json(r.out).Str("/summary"), "finished: cancelled:cancelled") << r;
  r = C(s, {"cancel", "q_long"});
  EXPECT_EQ(r.rc, 1) << r;
  EXPECT_NE(r.err.find("already finished"), std::string::npos) << r;
  ASSERT_TRUE(WaitWhere(s, "q_short", "finished", 15s)) << s.Logs();
}

TEST(RunwayCtl, ReplayIsTheScriptsReplay) {
  Stack s("ctl-replay");
  s.StartRedis();
  auto& redis = s.redis();
  for (const char* key : {"runway:dead", "{rw}:dead"}) {
    redis.Push(key, DeadEntry("r_in", "invalid_input"));
    redis.Push(key, DeadEntry("r_mod", "moderation"));
  }
  // The same answer as scripts/replay (but the clock).
  Ctl ours = C(s, {"replay", "--dry-run", "--json", "--class", "invalid_input,moderation"});
  ASSERT_EQ(ours.rc, 0) << ours;
  Ctl theirs = Shell(s, Quote(std::string(RUNWAYD_SOURCE_DIR) + "/scripts/replay") + " -p " +
                            std::to_string(s.redis_port()) + " --dry-run --json --class invalid_input,moderation");
  ASSERT_EQ(theirs.rc, 0) << theirs;
  std::regex now(R"("now":"[^"]*")");
  EXPECT_EQ(std::regex_replace(ours.out, now, ""), std::regex_replace(theirs.out, now, ""));
  EXPECT_EQ(Json(ours.out).Int("/matched"), 2);

  Ctl r = C(s, {"replay", "--class", "invalid_input"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find("moved 1 of 2 dead jobs to runway:jobs: r_in"), std::string::npos) << r;
  EXPECT_EQ(redis.Int({"LLEN", "runway:jobs"}), 1);
  r = C(s, {"job", "r_in", "--json"});
  Json j(r.out);
  EXPECT_EQ(j.Str("/where"), "queued") << r;
  EXPECT_TRUE(Has(Kinds(j), "replayed")) << r;

  // A braced (Cluster) prefix.
  r = C(s, {"--prefix", "{rw}", "replay", "--id", "r_m*"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find("moved 1 of 2 dead jobs to {rw}:jobs: r_mod"), std::string::npos) << r;

  // The script's own usage errors exit 2.
  r = C(s, {"replay", "--class", "bogus"});
  EXPECT_EQ(r.rc, 2) << r;
  EXPECT_NE(r.err.find("unknown error class: bogus"), std::string::npos) << r;
  r = C(s, {"replay", "--older-than", "5x"});
  EXPECT_EQ(r.rc, 2) << r;
}

TEST(RunwayCtl, FollowsARedisClusterRedirect) {
  // Two masters sharing the 16384 slots; runwayctl is pointed at the node that does
  // not hold the prefix's slot and must follow MOVED (a braced prefix keeps every key
  // of the deployment in that one slot).
  Stack s("ctl-cluster");
  // Explicit bus ports: the default (port + 10000) may be taken, or out of range.
  std::vector<int> ports = {FreePort(), FreePort()}, bus = {FreePort(), FreePort()};
  std::vector<std::unique_ptr<Process>> nodes;
  std::vector<std::unique_ptr<Redis>> conn;
  for (size_t i = 0; i < ports.size(); ++i) {
    int p = ports[i];
    std::string ps = std::to_string(p);
    nodes.push_back(std::make_unique<Process>(
        std::vector<std::string>{"/usr/bin/redis-server", "--port", ps, "--bind", "127.0.0.1", "--dir", s.dir(),
                                 "--save", "", "--appendonly", "no", "--cluster-enabled", "yes",
                                 "--cluster-port", std::to_string(bus[i]), "--cluster-config-file",
                                 "nodes-" + ps + ".conf"},
        std::map<std::string, std::string>{}, s.dir() + "/redis-" + ps + ".log"));
    ASSERT_TRUE(WaitFor([&] {
      redisContext* c = redisConnect("127.0.0.1", p);
      bool ok = c && !c->err;
      if (c) redisFree(c);
      return ok;
    }, 10s));
    conn.push_back(std::make_unique<Redis>(p));
  }
  conn[0]->Cmd({"CLUSTER", "ADDSLOTSRANGE", "0", "8191"});
  conn[1]->Cmd({"CLUSTER", "ADDSLOTSRANGE", "8192", "16383"});
  conn[0]->Cmd({"CLUSTER", "MEET", "127.0.0.1", std::to_string(ports[1]), std::to_string(bus[1])});
  ASSERT_TRUE(WaitFor([&] {
    for (auto& c : conn) {
      auto r = c->Cmd({"CLUSTER", "INFO"});
      if (r->type != REDIS_REPLY_STRING) return false;
      if (std::string(r->str, r->len).find("cluster_state:ok") == std::string::npos) return false;
    }
    return true;
  }, 20s)) << ReadFile(s.dir() + "/redis-" + std::to_string(ports[0]) + ".log");
  std::string prefix;
  for (const char* cand : {"{rw}", "{runway}", "{a}", "{b}", "{c}", "{d}", "{e}", "{f}"}) {
    if (conn[0]->Int({"CLUSTER", "KEYSLOT", std::string(cand) + ":jobs"}) >= 8192) {
      prefix = cand;
      break;
    }
  }
  ASSERT_FALSE(prefix.empty());
  conn[1]->Push(prefix + ":dead", DeadEntry("c_dead", "upstream_unavailable"));
  std::vector<std::string> base = {"--redis", "redis://127.0.0.1:" + std::to_string(ports[0]), "--prefix", prefix};
  auto ctl = [&](std::vector<std::string> args, const std::string& in = "") {
    args.insert(args.begin(), base.begin(), base.end());
    return Runwayctl(s, args, in);
  };
  Ctl r = ctl({"enqueue", "-"}, MakeJob("c_job", "image_to_video", "gen4_turbo", 5, 26, 31));
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_EQ(conn[1]->Int({"LLEN", prefix + ":jobs"}), 1);
  r = ctl({"status", "--json"});
  ASSERT_EQ(r.rc, 0) << r;
  Json st(r.out);
  EXPECT_EQ(st.Int("/queues/jobs"), 1) << r;
  EXPECT_EQ(st.Int("/queues/dead"), 1) << r;
  EXPECT_EQ(st.Str("/redis"), "redis://127.0.0.1:" + std::to_string(ports[1]) + "/0") << r;
  r = ctl({"job", "c_job", "--json"});
  EXPECT_EQ(Json(r.out).Str("/where"), "queued") << r;
  r = ctl({"replay", "--json"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_EQ(Json(r.out).Int("/moved"), 1) << r;
  EXPECT_EQ(conn[1]->Int({"LLEN", prefix + ":jobs"}), 2);
}
