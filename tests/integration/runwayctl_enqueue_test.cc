// tests/integration/runwayctl_enqueue_test.cc — `runwayctl enqueue` against a real
// redis-server (and a daemon where its answer matters): it validates with the daemon's
// own limits and configuration, reads no more input than they allow, builds from flags
// exactly the job asked for, pushes where the daemon reads, and leaves alone a cancel
// that is not its own to drop.
#include <gtest/gtest.h>

#include "harness.h"

using namespace harness;

namespace {

// A valid image_to_video job of at least `bytes` bytes: the padding goes into meta,
// which the daemon only echoes.
std::string JobOfSize(const std::string& id, int64_t seed, size_t bytes) {
  std::string job = MakeJob(id, "image_to_video", "gen4_turbo", 5, 26, seed);
  const std::string meta = "\"meta\":{\"n\":" + std::to_string(seed);
  size_t at = job.find(meta) + meta.size();
  size_t pad = bytes > job.size() ? bytes - job.size() : 0;
  return job.insert(at, ",\"pad\":\"" + std::string(pad, 'x') + "\"");
}

}  // namespace

// enqueue validated every job against the default jobs.max_bytes (262144): a daemon
// configured higher takes a job enqueue refused; one configured lower dead-letters (and
// refunds) a job enqueue pushed. --config reads the daemon's file, --max-bytes wins.
TEST(RunwayCtlInput, EnqueueValidatesWithTheDaemonsMaxBytes) {
  Stack s("ctl-input-maxbytes");
  s.StartRedis();
  s.StartSim();
  DaemonOptions d;
  d.extra_toml = "[jobs]\nmax_bytes = 300000\n";
  s.StartDaemon(d);
  ASSERT_TRUE(s.WaitReady(0)) << s.Logs();
  auto& redis = s.redis();
  const std::string cfg = s.dir() + "/d1.toml";  // the file the daemon runs with
  const std::string big = JobOfSize("mb_big", 401, 280000);

  ShellRun r = RunCtl(s, {"enqueue", "-"}, big);
  EXPECT_EQ(r.rc, 2) << r;
  EXPECT_NE(r.err.find("over the limit of 262144 (the default jobs.max_bytes"), std::string::npos) << r;
  r = RunCtl(s, {"enqueue", "--config", cfg, "-"}, big);
  ASSERT_EQ(r.rc, 0) << r;
  ASSERT_TRUE(WaitFor([&] { return redis.Int({"LLEN", "runway:results"}) == 1; }, std::chrono::seconds(10)))
      << s.Logs();
  EXPECT_NE(redis.List("runway:results")[0].find("\"status\":\"succeeded\""), std::string::npos)
      << "the daemon took the job enqueue let through";

  // Lower than the default, from a file or the flag (which wins over the file).
  const std::string mid = JobOfSize("mb_mid", 402, 5000);
  WriteFile(s.dir() + "/low.toml", "[jobs]\nmax_bytes = 4096\n[upstream]\nextra_endpoints = [\"new_ep\"]\n");
  for (const auto& args : std::vector<std::vector<std::string>>{{"--config", s.dir() + "/low.toml"},
                                                                {"--max-bytes", "4096"},
                                                                {"--config", cfg, "--max-bytes", "4096"}}) {
    std::vector<std::string> a = {"enqueue"};
    a.insert(a.end(), args.begin(), args.end());
    a.push_back("-");
    r = RunCtl(s, a, mid);
    EXPECT_EQ(r.rc, 2) << r;
    EXPECT_NE(r.err.find("over the limit of 4096"), std::string::npos) << r;
  }
  EXPECT_EQ(RunCtl(s, {"enqueue", "--max-bytes", "8192", "--config", s.dir() + "/low.toml", "--dry-run", "-"}, mid).rc, 0);
  EXPECT_EQ(redis.Int({"LLEN", "runway:jobs"}), 0);
  // The file's extra endpoints count as --extra-endpoint's do.
  std::string odd = MakeJob("mb_ep", "new_ep", "gen4_turbo", 5, 0, 403);
  EXPECT_EQ(RunCtl(s, {"enqueue", "--dry-run", "-"}, odd).rc, 2);
  EXPECT_EQ(RunCtl(s, {"enqueue", "--config", s.dir() + "/low.toml", "--dry-run", "-"}, odd).rc, 0);

  // A file the daemon would refuse is refused, and no value of it is echoed (the same
  // file holds redis.url, which may carry a password).
  WriteFile(s.dir() + "/bad.toml", "[redis]\nurl = \"redis://:pw-s3cret@h:6379\" oops\n");
  WriteFile(s.dir() + "/bool.toml", "[jobs]\nmax_bytes = true\n");
  WriteFile(s.dir() + "/tiny.toml", "[jobs]\nmax_bytes = 10\n");
  for (const char* f : {"/bad.toml", "/bool.toml", "/tiny.toml", "/missing.toml"}) {
    r = RunCtl(s, {"enqueue", "--config", s.dir() + f, "--dry-run", "-"}, mid);
    EXPECT_EQ(r.rc, 2) << f << r;
    EXPECT_EQ(r.err.find("pw-s3cret"), std::string::npos) << r;
  }
  EXPECT_EQ(RunCtl(s, {"enqueue", "--max-bytes", "63", "--dry-run", "-"}, mid).rc, 2);
}

// A cancel for an id no daemon holds (one that crossed its job's end, or a typo'd id)
// waits a day as runway:cancelreq:<id>. An operator who then enqueues a job with that id
// (a corrected one, as docs/replay.md suggests) saw it end "cancelled" unrun.
TEST(RunwayCtlInput, EnqueueIsNotCancelledByAnOlderCancelWaitingForItsId) {
  Stack s("ctl-input-cancelreq");
  s.StartRedis();
  s.StartSim();
  s.StartDaemon();
  ASSERT_TRUE(s.WaitReady(0)) << s.Logs();
  auto& redis = s.redis();
  ShellRun r = RunCtl(s, {"cancel", "--force", "late_1"});  // an id not known yet
  ASSERT_EQ(r.rc, 0) << r;
  ASSERT_TRUE(WaitFor([&] { return redis.Int({"EXISTS", "runway:cancelreq:late_1"}) == 1; },
                      std::chrono::seconds(10)))
      << s.Logs();
  // --dry-run changes nothing.
  const std::string job = MakeJob("late_1", "image_to_video", "gen4_turbo", 5, 26, 411);
  ASSERT_EQ(RunCtl(s, {"enqueue", "--dry-run", "-"}, job).rc, 0);
  EXPECT_EQ(redis.Int({"EXISTS", "runway:cancelreq:late_1"}), 1);

  r = RunCtl(s, {"enqueue", "-"}, job);
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find("dropped an earlier cancel"), std::string::npos) << r;
  ASSERT_TRUE(WaitFor([&] { return redis.Int({"LLEN", "runway:results"}) == 1; }, std::chrono::seconds(10)))
      << s.Logs();
  EXPECT_NE(redis.List("runway:results")[0].find("\"status\":\"succeeded\""), std::string::npos)
      << redis.List("runway:results")[0];
  EXPECT_EQ(redis.Int({"EXISTS", "runway:cancelreq:late_1"}), 0);
  EXPECT_EQ(redis.Int({"LLEN", "runway:refunds"}), 0);
}

// A "job file" that is not one (a video, /dev/zero, a pipe that never ends) was read whole
// into memory before the size check: runwayctl grew until it ran out of memory (here
// under a 512 MB limit: std::bad_alloc, exit 1) or never ended. It reads no more than the
// limit allows and refuses the rest as the daemon would, exit 2.
// (ASan reserves terabytes of address space for its shadow, so an ASan build cannot run
// under `ulimit -v`: there the cap is ASan's own RSS limit, which kills the process.)
TEST(RunwayCtlInput, EnqueueStopsReadingAnEndlessInputAtTheLimit) {
  Stack s("ctl-input-endless");
  const std::string ctl = ShellQuote(Bin("runwayctl"));
  const std::string cap = kAsan ? "export ASAN_OPTIONS=\"${ASAN_OPTIONS:-}:hard_rss_limit_mb=512\"; "
                                : "ulimit -v 524288; ";
  for (const std::string& cmd : {ctl + " enqueue --dry-run /dev/zero", ctl + " enqueue --dry-run - < /dev/zero",
                                 "yes '{}' | " + ctl + " enqueue --dry-run --max-bytes 4096 -"}) {
    ShellRun r = RunShell(cap + "timeout 60 sh -c " + ShellQuote(cmd), s.dir());
    EXPECT_EQ(r.rc, 2) << cmd << r;
    EXPECT_NE(r.err.find("over the limit of "), std::string::npos) << cmd << r;
  }
}

// Flags that built a job other than the one asked for: --meta that is not JSON went out
// as a string (a typo in an object reached the platform as text, echoed in every
// result), and --duration nan|inf left rapidjson a document it could not write, which
// was refused as "not valid JSON" after an undefined float-to-integer cast.
TEST(RunwayCtlInput, EnqueueRefusesFlagsThatAreNotTheJobAskedFor) {
  Stack s("ctl-input-flags");
  const std::vector<std::string> base = {"enqueue", "--dry-run", "--endpoint", "text_to_video", "--model",
                                         "gen4.5", "--prompt", "hi"};
  auto with = [&](std::vector<std::string> more) {
    std::vector<std::string> a = base;
    a.insert(a.end(), more.begin(), more.end());
    std::string cmd = ShellQuote(Bin("runwayctl"));
    for (const auto& x : a) cmd += " " + ShellQuote(x);
    return RunShell(cmd, s.dir());
  };
  ShellRun r = with({"--meta", R"({"batch":7)"});
  EXPECT_EQ(r.rc, 2) << r;
  EXPECT_NE(r.err.find("--meta is not valid JSON"), std::string::npos) << r;
  for (const char* d : {"nan", "inf", "-inf"}) {
    r = with({"--duration", d});
    EXPECT_EQ(r.rc, 2) << d << r;
    EXPECT_NE(r.err.find("--duration must be a finite number"), std::string::npos) << d << r;
  }
  // What is JSON still goes in as it is: an object, a quoted string, a number.
  r = with({"--meta", R"({"batch":7})", "--duration", "5"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find(R"("duration":5})"), std::string::npos) << r;
  EXPECT_NE(r.out.find(R"("meta":{"batch":7})"), std::string::npos) << r;
  r = with({"--meta", R"("b7")", "--duration", "5.5"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find(R"("duration":5.5})"), std::string::npos) << r;
  EXPECT_NE(r.out.find(R"("meta":"b7")"), std::string::npos) << r;
}

// With a deployment's prefix forgotten (`{rw}` in the daemons' redis.prefix, none given
// here), enqueue pushed onto runway:jobs, which no daemon reads, and said "enqueued":
// the job waited for ever with exit 0. It warns when no daemon has registered there.
TEST(RunwayCtlInput, EnqueueWarnsWhenNoDaemonServesThePrefix) {
  Stack s("ctl-input-prefix");
  s.StartRedis();
  auto& redis = s.redis();
  redis.Cmd({"SADD", "{rw}:daemons", "d1"});
  ShellRun r = RunCtl(s, {"enqueue", "-"}, MakeJob("pf_1", "image_to_video", "gen4_turbo", 5, 26, 421));
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.err.find("warning: no runwayd has registered under prefix runway"), std::string::npos) << r;
  EXPECT_EQ(redis.Int({"LLEN", "runway:jobs"}), 1);
  r = RunCtl(s, {"--prefix", "{rw}", "enqueue", "-"}, MakeJob("pf_2", "image_to_video", "gen4_turbo", 5, 26, 422));
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_EQ(r.err, "") << r;
}

// enqueue --config read the daemon's limits but pushed under --prefix's default: a job
// for a daemon configured with redis.prefix = "prod" waited on runway:jobs, which no
// daemon reads. And a job pinned to an account the daemon lacks was pushed, to be ended
// at once (account_unusable) and refunded.
TEST(RunwayCtlInput, EnqueueConfigGivesThePrefixAndTheAccounts) {
  Stack s("ctl-input-cfgprefix");
  s.StartRedis();
  auto& redis = s.redis();
  const std::string cfg = s.dir() + "/prod.toml", bare = s.dir() + "/bare.toml";
  WriteFile(cfg, "[redis]\nurl = \"redis://:pw-s3cret@127.0.0.1:1\"\nprefix = \"prod\"\n"
                 "[[account]]\nname = \"main\"\nkey_env = \"K1\"\n[[account]]\nname = \"backup\"\nkey_env = \"K2\"\n");
  WriteFile(bare, "[jobs]\nmax_bytes = 8192\n");
  auto job = [](const std::string& id, const std::string& account) {
    std::vector<std::string> a = {"enqueue", "--id", id, "--endpoint", "image_to_video", "--model", "gen4_turbo",
                                  "--prompt", "p", "--image", "https://example.com/a.png", "--ratio", "1280:720"};
    if (!account.empty()) a.insert(a.end(), {"--account", account});
    return a;
  };
  auto with = [](std::vector<std::string> a, std::initializer_list<std::string> more) {
    a.insert(a.begin() + 1, more);
    return a;
  };

  ShellRun r = RunCtl(s, with(job("cp_1", "backup"), {"--config", cfg}));
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_EQ(redis.Int({"LLEN", "prod:jobs"}), 1);
  EXPECT_EQ(redis.Int({"LLEN", "runway:jobs"}), 0);
  // --prefix given wins over the file's.
  std::vector<std::string> a = with(job("cp_2", ""), {"--config", cfg});
  a.insert(a.begin(), {"--prefix", "other"});
  r = RunCtl(s, a);
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_EQ(redis.Int({"LLEN", "other:jobs"}), 1);
  EXPECT_EQ(redis.Int({"LLEN", "prod:jobs"}), 1);

  // An account the file does not name: refused, nothing pushed; --force pushes it.
  r = RunCtl(s, with(job("cp_3", "mian"), {"--config", cfg}));
  EXPECT_EQ(r.rc, 2) << r;
  EXPECT_NE(r.err.find("account \"mian\" is not in"), std::string::npos) << r;
  EXPECT_NE(r.err.find("its accounts: main, backup"), std::string::npos) << r;
  EXPECT_EQ(r.err.find("pw-s3cret"), std::string::npos) << r;
  EXPECT_EQ(redis.Int({"LLEN", "prod:jobs"}), 1);
  r = RunCtl(s, with(job("cp_3", "mian"), {"--config", cfg, "--force"}));
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_EQ(redis.Int({"LLEN", "prod:jobs"}), 2);
  // No [[account]]: the daemon's one account is "default". No redis.prefix: runway.
  EXPECT_EQ(RunCtl(s, with(job("cp_4", "main"), {"--config", bare})).rc, 2);
  r = RunCtl(s, with(job("cp_5", "default"), {"--config", bare}));
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_EQ(redis.Int({"LLEN", "runway:jobs"}), 1);
  // Without --config the account is not checked (the daemon's set is not known).
  EXPECT_EQ(RunCtl(s, job("cp_6", "anything")).rc, 0);

  WriteFile(s.dir() + "/badprefix.toml", "[redis]\nprefix = \"a b\"\n");
  WriteFile(s.dir() + "/noname.toml", "[[account]]\nkey_env = \"K1\"\n");
  for (const char* f : {"/badprefix.toml", "/noname.toml"}) {
    r = RunCtl(s, with(job("cp_7", ""), {"--config", s.dir() + f}));
    EXPECT_EQ(r.rc, 2) << f << r;
  }
  EXPECT_EQ(redis.Int({"LLEN", "runway:jobs"}), 2);
}

// enqueue dropped every cancel waiting for its id. When a job with that id is still
// queued (the one the operator cancelled: "a daemon cancels it when it takes it"), the
// cancel was that job's: dropped, the cancelled job ran (and the copy ended as its
// duplicate). And a cancel not routed yet (in P:cancel, up to a second) was not dropped
// at all: it ended the new job "cancelled", unrun.
TEST(RunwayCtlInput, EnqueueKeepsTheCancelOfAQueuedJobAndDropsOneInTransit) {
  Stack s("ctl-input-cancelq");
  s.StartRedis();
  auto& redis = s.redis();
  redis.Cmd({"SADD", "runway:daemons", "d7"});
  const std::string queued = MakeJob("cq_1", "image_to_video", "gen4_turbo", 5, 26, 441);
  redis.Push("runway:jobs", queued);
  ShellRun r = RunCtl(s, {"cancel", "cq_1"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_EQ(redis.Int({"LLEN", "runway:cancel"}), 1);  // no daemon routes it here

  const std::string copy = MakeJob("cq_1", "image_to_video", "gen4_turbo", 5, 26, 442);
  r = RunCtl(s, {"enqueue", "-"}, copy);
  EXPECT_EQ(r.rc, 1) << r;
  EXPECT_NE(r.err.find("with a cancel waiting for it"), std::string::npos) << r;
  EXPECT_EQ(redis.Int({"LLEN", "runway:jobs"}), 1);
  EXPECT_EQ(redis.Int({"LLEN", "runway:cancel"}), 1);
  // Routed (as kRouteCancel leaves it) and the job taken: the same.
  redis.Cmd({"DEL", "runway:cancel"});
  redis.Cmd({"SET", "runway:cancelreq:cq_1", "1"});
  redis.Cmd({"LMOVE", "runway:jobs", "runway:processing:d7", "RIGHT", "LEFT"});
  EXPECT_EQ(RunCtl(s, {"enqueue", "-"}, copy).rc, 1);
  r = RunCtl(s, {"--json", "enqueue", "--force", "-"}, copy);
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find("\"cancel_kept\":true"), std::string::npos) << r;
  EXPECT_EQ(redis.Int({"EXISTS", "runway:cancelreq:cq_1"}), 1);

  // No job with the id anywhere: a cancel still in P:cancel goes with the push, and only it.
  redis.Cmd({"LPUSH", "runway:cancel", "cq_other", "cq_2", "cq_other2"});
  r = RunCtl(s, {"--json", "enqueue", "-"}, MakeJob("cq_2", "image_to_video", "gen4_turbo", 5, 26, 443));
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find("\"cancel_dropped\":true"), std::string::npos) << r;
  EXPECT_EQ(redis.List("runway:cancel"), (std::vector<std::string>{"cq_other", "cq_other2"}));
}
