// tests/integration/replay_script_test.cc — scripts/replay alone, against hand-made
// dead entries in a real redis-server: filters, safety checks, atomic removal, braced
// key prefixes, its usage and connection errors, and its handling of passwords.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "replay_env.h"

using namespace harness;
using namespace replay_env;
using namespace std::chrono_literals;

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

// `runwayctl replay` runs the same script (embedded at build time): a cancel waiting for
// an id it moves, routed or still in P:cancel, is dropped there too, only for the entries
// moved, and --dry-run keeps it.
TEST(Replay, RunwayctlReplayDropsTheCancelWaitingForAnIdItMoves) {
  Stack s("replay-ctl-cancelreq");
  s.StartRedis();
  auto& r = s.redis();
  r.Push("runway:dead", DeadEntry("cr_moved", "upstream_failure", "boom", 0, "2026-01-01T00:00:00.000Z"));
  r.Push("runway:dead", DeadEntry("cr_kept", "moderation", "flagged", 0, "2026-01-01T00:00:00.000Z"));
  r.Cmd({"SET", "runway:cancelreq:cr_moved", "1", "EX", "86400"});
  r.Cmd({"SET", "runway:cancelreq:cr_kept", "1", "EX", "86400"});
  r.Cmd({"LPUSH", "runway:cancel", "cr_kept", "cr_moved"});  // not routed yet
  auto ctl = [&](const std::string& args) {
    return RunShell(Quote(Bin("runwayctl")) + " --redis redis://127.0.0.1:" + std::to_string(s.redis_port()) +
                        " replay " + args,
                    s.dir());
  };
  ShellRun dry = ctl("--class upstream_failure --dry-run");
  ASSERT_EQ(dry.rc, 0) << dry;
  EXPECT_EQ(r.Int({"EXISTS", "runway:cancelreq:cr_moved", "runway:cancelreq:cr_kept"}), 2);
  ShellRun run = ctl("--class upstream_failure");
  ASSERT_EQ(run.rc, 0) << run;
  EXPECT_EQ(run.out, "moved 1 of 2 dead jobs to runway:jobs: cr_moved\n");
  EXPECT_EQ(r.Int({"EXISTS", "runway:cancelreq:cr_moved"}), 0);
  EXPECT_EQ(r.Int({"EXISTS", "runway:cancelreq:cr_kept"}), 1) << "an entry not moved keeps its cancel";
  EXPECT_EQ(r.List("runway:cancel"), std::vector<std::string>{"cr_kept"});
}

// `runwayctl replay` whose EVAL outlives --timeout: the script runs on in Redis and moves
// the entries, while runwayctl said only "no answer within the timeout" — a failure an
// operator would take for "nothing moved" and run again. It must say the replay may
// have run.
TEST(Replay, RunwayctlReplayWithoutAnAnswerSaysItMayHaveRun) {
  Stack s("replay-ctl-timeout");
  s.StartRedis();
  auto& r = s.redis();
  for (int i = 0; i < 30000; i += 1000) {
    std::vector<std::string> cmd = {"LPUSH", "runway:dead"};
    for (int j = i; j < i + 1000; ++j)
      cmd.push_back(DeadEntry("t" + std::to_string(j), "upstream_failure", "boom", 0, "2026-01-01T00:00:00.000Z"));
    r.Cmd(cmd);
  }
  ShellRun run = RunShell(Quote(Bin("runwayctl")) + " --timeout 0.01 --redis redis://127.0.0.1:" +
                              std::to_string(s.redis_port()) + " replay",
                          s.dir());
  EXPECT_EQ(run.rc, 1) << run;
  EXPECT_NE(run.err.find("no answer within the timeout"), std::string::npos) << run;
  EXPECT_NE(run.err.find("the replay may still have run"), std::string::npos) << run;
  // It did: everything moved.
  EXPECT_TRUE(WaitFor([&] { return r.Int({"LLEN", "runway:jobs"}) == 30000; }, 30s));
  EXPECT_EQ(r.Int({"LLEN", "runway:dead"}), 0);
}
