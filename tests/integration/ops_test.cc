// tests/integration/ops_test.cc — what operators rely on: the systemd notify
// sequence, SIGHUP reload (good and bad), the metrics endpoint, and secrets that
// never leak into logs, events, results, metrics or errors.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "harness.h"
#include "outcomes.h"

using namespace harness;
using namespace std::chrono_literals;

namespace {

// A NOTIFY_SOCKET of our own: collects every datagram the daemon sends.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    if (bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) ADD_FAILURE() << "bind " << path;
  }
  ~NotifySocket() {
    close(fd_);
    unlink(path_.c_str());
  }
  // Everything received so far, one message per entry.
  const std::vector<std::string>& Drain() {
    char buf[4096];
    for (ssize_t n; (n = recv(fd_, buf, sizeof buf, 0)) > 0;) msgs_.emplace_back(buf, static_cast<size_t>(n));
    return msgs_;
  }
  bool Saw(const std::string& needle) {
    for (const auto& m : Drain())
      if (m.find(needle) != std::string::npos) return true;
    return false;
  }
  // Index of the first message containing `needle` after index `from`, or -1.
  int Find(const std::string& needle, int from = -1) {
    const auto& v = Drain();
    for (int i = from + 1; i < static_cast<int>(v.size()); ++i)
      if (v[i].find(needle) != std::string::npos) return i;
    return -1;
  }

 private:
  std::string path_;
  int fd_;
  std::vector<std::string> msgs_;
};

}  // namespace

TEST(Ops, NotifySequenceReloadAndMetrics) {
  Stack s("ops");
  s.StartRedis();
  s.StartSim();
  NotifySocket ns(s.dir() + "/notify.sock");
  DaemonOptions o;
  o.env["NOTIFY_SOCKET"] = s.dir() + "/notify.sock";
  o.env["WATCHDOG_USEC"] = "2000000";
  s.StartDaemon(o);
  ASSERT_TRUE(s.WaitReady(0)) << s.Logs();
  ASSERT_TRUE(WaitFor([&] { return ns.Saw("READY=1"); }, 5s));
  for (int i = 0; i < 5; ++i)
    s.redis().Push("runway:jobs", MakeJob("m" + std::to_string(i), "image_to_video", "gen4_turbo", 5, 26, 100 + i));
  ASSERT_TRUE(WaitFor([&] { return s.redis().Int({"LLEN", "runway:results"}) >= 5; }, 30s)) << s.Logs();
  ASSERT_TRUE(WaitFor([&] { return ns.Saw("WATCHDOG=1") && ns.Saw("STATUS=queue"); }, 10s));

  std::string metrics = s.MetricsGet(0, "/metrics");
  EXPECT_NE(metrics.find("runwayd_jobs_finished_total{class=\"none\",outcome=\"succeeded\"} 5"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("runwayd_jobs_taken_total 5"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("runwayd_upstream_requests_total"), std::string::npos);
  EXPECT_EQ(s.MetricsGet(0, "/healthz").substr(0, 2), "ok");
  EXPECT_NE(s.MetricsGet(0, "/readyz").find("ok"), std::string::npos);

  // A bad configuration is refused and the daemon keeps working.
  std::string cfg = s.dir() + "/d1.toml";
  std::string good = ReadFile(cfg);
  WriteFile(cfg, good + "\n[jobs]\nmax_attempts = \"three\"\n");
  int ready_before = ns.Find("READY=1");
  s.daemon(0).Signal(SIGHUP);
  ASSERT_TRUE(WaitLog(s.daemon(0).log_path(), "reload refused", 5s)) << s.Logs();
  int reloading = ns.Find("RELOADING=1");
  ASSERT_GE(reloading, 0);
  EXPECT_GT(ns.Find("READY=1", reloading), ready_before);
  // A good one is applied, jobs.max_bytes included (the parser's rules are rebuilt); a
  // setting that needs a restart is named in the log rather than silently ignored.
  std::string next = good;
  const std::string grace = "shutdown_grace_ms = 2000";
  ASSERT_NE(next.find(grace), std::string::npos) << next;
  next.replace(next.find(grace), grace.size(), "shutdown_grace_ms = 1500");
  WriteFile(cfg, next + "\n[jobs]\nmax_attempts = 2\nmax_bytes = 2000\n");
  s.daemon(0).Signal(SIGHUP);
  ASSERT_TRUE(WaitLog(s.daemon(0).log_path(), "reloaded the configuration", 5s));
  EXPECT_EQ(CountInLog(s.daemon(0).log_path(), "reload: daemon.shutdown_grace_ms changed but change only at a restart"),
            1u) << s.Logs();
  s.redis().Push("runway:jobs", MakeJob("after-reload", "image_to_video", "gen4_turbo", 5, 26, 200));
  s.redis().Push("runway:jobs", MakeJob("too-big", "image_to_video", "gen4_turbo", 5, 26, 201, std::string(2000, 'x')));
  ASSERT_TRUE(WaitFor([&] { return s.redis().Int({"LLEN", "runway:results"}) >= 6; }, 30s)) << s.Logs();
  ASSERT_TRUE(WaitFor([&] { return s.redis().Int({"LLEN", "runway:dead"}) >= 1; }, 10s)) << s.Logs();
  auto dead = s.redis().List("runway:dead");  // over the size limit: nothing is read, not even the id
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_NE(dead[0].find("over the limit of 2000"), std::string::npos) << dead[0];
  ASSERT_EQ(ResultsFor(s.redis(), "after-reload").size(), 1u);
  EXPECT_EQ(ResultsFor(s.redis(), "after-reload")[0].status, "succeeded");

  s.daemon(0).Signal(SIGTERM);
  EXPECT_EQ(s.daemon(0).Wait(5s), 0);
  EXPECT_GE(ns.Find("STOPPING=1"), 0);
}

TEST(Ops, SecretsNeverAppearInLogsEventsResultsOrMetrics) {
  Stack s("secrets");
  const std::string password = "redis-pass-Zq81xT";
  s.SetRedisPassword(password);
  s.StartRedis();
  SimOptions so;
  so.balance = 100;  // some jobs fail for credit
  s.StartSim(so);
  DaemonOptions o;
  o.extra_toml = "[ledger]\ncredit_wait_s = 1\n[[account]]\nname = \"revoked\"\nkey_env = \"RUNWAY_REVOKED_KEY\"\n";
  const std::string revoked = std::string("key_") + std::string(128, 'f');
  o.env["RUNWAY_REVOKED_KEY"] = revoked;  // unknown to the simulator: 401
  o.log_format = "json";
  s.StartDaemon(o);
  ASSERT_TRUE(s.WaitReady(0)) << s.Logs();
  for (int i = 0; i < 12; ++i)
    s.redis().Push("runway:jobs", MakeJob("s" + std::to_string(i), "image_to_video", "gen4_turbo", 5, 26, 300 + i,
                                          i % 4 == 0 ? "x sim:fail=INTERNAL" : "a calm sea"));
  s.redis().Push("runway:jobs", R"({"v":1,"id":"bad","endpoint":"nope","body":{"model":"x"}})");
  ASSERT_TRUE(WaitFor([&] { return s.redis().Int({"LLEN", "runway:results"}) >= 13; }, 40s)) << s.Logs();
  std::string everything = ReadFile(s.daemon(0).log_path());
  for (const char* list : {"runway:results", "runway:refunds", "runway:events", "runway:dead"})
    for (const auto& e : s.redis().List(list)) everything += e + "\n";
  everything += s.MetricsGet(0, "/metrics");
  everything += s.MetricsGet(0, "/readyz");
  // The 401 really happened, so the redaction is tested, not assumed.
  EXPECT_NE(everything.find("account_disabled"), std::string::npos) << everything.substr(0, 3000);
  for (const std::string& secret : {std::string(kTestKey), revoked, password,
                                    std::string(kTestKey).substr(4, 40), revoked.substr(4, 40)}) {
    EXPECT_EQ(everything.find(secret), std::string::npos) << "secret leaked: " << secret.substr(0, 8) << "...";
  }
  s.daemon(0).Signal(SIGTERM);
  EXPECT_EQ(s.daemon(0).Wait(5s), 0);
}

TEST(Ops, BadConfigurationExitsWithCodeTwo) {
  Stack s("badcfg");
  std::string cfg = s.dir() + "/bad.toml";
  WriteFile(cfg, "[redis]\nurl = \"redis://127.0.0.1:1\"\n[upstream]\nbase_url = \"http://10.0.0.1\"\n"
                 "[[account]]\nname = \"a\"\nkey_env = \"RUNWAY_TEST_KEY\"\n");
  Process p({Bin("runwayd"), "--config", cfg}, {{"RUNWAY_TEST_KEY", kTestKey}}, s.dir() + "/bad.log");
  EXPECT_EQ(p.Wait(5s), 2);
  std::string log = ReadFile(s.dir() + "/bad.log");
  EXPECT_NE(log.find("127.0.0.0/8"), std::string::npos) << log;
  WriteFile(cfg, "[[account]]\nname = \"a\"\nkey_env = \"RUNWAY_MISSING_KEY\"\n");
  Process q({Bin("runwayd"), "--config", cfg}, {}, s.dir() + "/bad2.log");
  EXPECT_EQ(q.Wait(5s), 2);
  EXPECT_NE(ReadFile(s.dir() + "/bad2.log").find("RUNWAY_MISSING_KEY is not set"), std::string::npos);
}

// Redis (or a proxy) resetting a connection while a write is queued must not kill the
// daemon with SIGPIPE: hiredis writes with write(2). Checked on the running process.
TEST(Ops, SigpipeIsIgnored) {
  Stack s("sigpipe");
  s.StartRedis();
  s.StartSim();
  size_t i = s.StartDaemon();
  ASSERT_TRUE(s.WaitReady(i)) << s.Logs();
  std::ifstream status("/proc/" + std::to_string(s.daemon(i).pid()) + "/status");
  std::string line, ignored;
  while (std::getline(status, line))
    if (line.rfind("SigIgn:", 0) == 0) ignored = line.substr(7);
  ASSERT_FALSE(ignored.empty());
  const unsigned long long mask = std::stoull(ignored, nullptr, 16);
  EXPECT_TRUE(mask & (1ULL << (SIGPIPE - 1))) << "SigIgn:" << ignored;
}

// The gauges and counters that only move on particular events: a price table that
// disagrees with Runway (counted per task, logged once per model), the detection delay
// of every finished task, and the retry set's depth.
TEST(Ops, PriceMismatchDetectionDelayAndRetryDepthMetrics) {
  Stack s("ops-metrics");
  s.StartRedis();
  s.StartSim();
  DaemonOptions o;
  // Runway (the simulator) charges gen4_turbo 5/s; this table says 6/s.
  o.extra_toml = "[prices.gen4_turbo]\nper_second = 6\n";
  s.StartDaemon(o);
  ASSERT_TRUE(s.WaitReady(0)) << s.Logs();
  for (int i = 0; i < 3; ++i)
    s.redis().Push("runway:jobs", MakeJob("pm" + std::to_string(i), "image_to_video", "gen4_turbo", 5, 26, 150 + i));
  ASSERT_TRUE(WaitFor([&] { return s.redis().Int({"LLEN", "runway:results"}) >= 3; }, 30s)) << s.Logs();
  s.redis().Cmd({"ZADD", "runway:retry", "99999999999999", "not-due"});  // depth 1, never due
  std::string metrics;
  ASSERT_TRUE(WaitFor([&] {
    metrics = s.MetricsGet(0, "/metrics");
    return metrics.find("runwayd_retry_depth 1") != std::string::npos;
  }, 10s)) << metrics;
  EXPECT_NE(metrics.find("runwayd_price_mismatch_total{model=\"gen4_turbo\"} 3"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("runwayd_detection_delay_seconds_count 3"), std::string::npos) << metrics;
  std::string log = ReadFile(s.daemon(0).log_path());
  size_t n = 0;
  for (size_t p = log.find("price table out of date"); p != std::string::npos; p = log.find("price table out of date", p + 1)) ++n;
  EXPECT_EQ(n, 1u) << "logged once per model";
}

// Rotating a key with SIGHUP while a request made with the old one is on the wire:
// the old key's 401, answered after the reload, must not disable the account, whose
// key is now the new one (it would stay disabled, unread, until another reload).
TEST(Ops, AReloadedKeyIsNotDisabledByTheOldKeysLateRefusal) {
  Stack s("ops-rotate");
  s.StartRedis();
  SimOptions so;
  const std::string good = std::string("key_rot_new_") + std::string(60, 'a');
  // Every /v1 answer, balance readings included, is held 3 s: the first reading of
  // "rot" (with the old key) is still on the wire when the reload lands.
  so.extra_toml = "[[account]]\nname = \"rot\"\nkey = \"" + good +
                  "\"\nbalance = 1000000\n[chaos]\nslow_rate = 1.0\nslow_ms = 3000\norganization = true\n";
  s.StartSim(so);
  const std::string key_file = s.dir() + "/rot.key";
  WriteFile(key_file, std::string("key_rot_old_") + std::string(60, 'b') + "\n");  // unknown to Runway: 401
  DaemonOptions o;
  o.extra_toml = "[[account]]\nname = \"rot\"\nkey_file = \"" + key_file + "\"\n";
  s.StartDaemon(o);
  ASSERT_TRUE(s.WaitReady(0)) << s.Logs();
  WriteFile(key_file, good + "\n");
  s.daemon(0).Signal(SIGHUP);
  ASSERT_TRUE(WaitLog(s.daemon(0).log_path(), "reloaded the configuration", 5s)) << s.Logs();
  // The old key's reading still comes back 401, 3 s after it was sent; then a reading
  // with the new key fills the balance in.
  s.SimPost("/_sim/chaos", "{}");
  ASSERT_TRUE(WaitFor([&] { return s.redis().Int({"HEXISTS", "runway:account:rot", "balance"}) == 1; }, 15s))
      << s.Logs();
  EXPECT_EQ(CountInLog(s.daemon(0).log_path(), "account rot disabled"), 0u) << s.Logs();
  s.redis().Push("runway:jobs",
                 MakeJob("pinned", "image_to_video", "gen4_turbo", 5, 26, 400, "a calm sea", ",\"account\":\"rot\""));
  ASSERT_TRUE(WaitFor([&] { return s.redis().Int({"LLEN", "runway:results"}) >= 1; }, 20s)) << s.Logs();
  auto r = ResultsFor(s.redis(), "pinned");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].status, "succeeded") << r[0].error_class << " " << r[0].error_message;
  EXPECT_EQ(r[0].account, "rot");
  s.daemon(0).Signal(SIGTERM);
  EXPECT_EQ(s.daemon(0).Wait(5s), 0);
}

// SIGHUP outside the running state: before recovery (Redis unreachable) a READY=1
// would tell systemd the start is done, and after STOPPING=1 it would say the daemon
// is running again. The reload is applied before recovery but not announced, and
// refused while stopping.
TEST(Ops, AReloadOutsideTheRunningStateSaysNothingToSystemd) {
  Stack s("ops-early-hup");
  s.StartRedis();
  SimOptions so;
  so.extra_toml = "[chaos]\nslow_rate = 1.0\nslow_ms = 4000\n";  // creates stay on the wire
  s.StartSim(so);
  s.StopRedis(SIGKILL);
  NotifySocket ns(s.dir() + "/notify.sock");
  DaemonOptions o;
  o.env["NOTIFY_SOCKET"] = s.dir() + "/notify.sock";
  s.StartDaemon(o);
  ASSERT_TRUE(WaitLog(s.daemon(0).log_path(), "cannot connect", 5s) ||
              WaitLog(s.daemon(0).log_path(), "connection lost", 5s)) << s.Logs();
  s.daemon(0).Signal(SIGHUP);
  ASSERT_TRUE(WaitLog(s.daemon(0).log_path(), "reloaded the configuration", 5s)) << s.Logs();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(ns.Find("READY=1"), -1) << "READY=1 before recovery";
  EXPECT_EQ(ns.Find("RELOADING=1"), -1);

  // Redis comes back on the same port: recovery, then the one READY=1.
  s.StartRedis();
  ASSERT_TRUE(s.WaitReady(0, 15s)) << s.Logs();
  ASSERT_TRUE(WaitFor([&] { return ns.Find("READY=1") >= 0; }, 5s));
  s.redis().Push("runway:jobs", MakeJob("held", "image_to_video", "gen4_turbo", 5, 26, 500));
  ASSERT_TRUE(WaitFor([&] { return s.redis().Int({"EXISTS", "runway:job:held"}) == 1; }, 5s)) << s.Logs();
  std::this_thread::sleep_for(500ms);  // the create is on the wire (held 4 s)
  s.daemon(0).Signal(SIGTERM);
  ASSERT_TRUE(WaitFor([&] { return ns.Find("STOPPING=1") >= 0; }, 5s));
  const int stopping = ns.Find("STOPPING=1");
  s.daemon(0).Signal(SIGHUP);
  EXPECT_EQ(s.daemon(0).Wait(10s), 0);
  EXPECT_EQ(ns.Find("READY=1", stopping), -1) << "READY=1 after STOPPING=1";
  EXPECT_EQ(CountInLog(s.daemon(0).log_path(), "reload refused: stopping"), 1u) << s.Logs();
}

// A stopping daemon takes no more jobs: /readyz and runwayd_ready say so at once,
// for the whole grace period, not only once the endpoint is gone.
TEST(Ops, AStoppingDaemonIsNotReady) {
  Stack s("ops-stop-ready");
  s.StartRedis();
  SimOptions so;
  so.extra_toml = "[chaos]\nslow_rate = 1.0\nslow_ms = 4000\n";  // the create stays on the wire
  s.StartSim(so);
  s.StartDaemon();
  ASSERT_TRUE(s.WaitReady(0)) << s.Logs();
  ASSERT_TRUE(WaitFor([&] { return s.MetricsGet(0, "/readyz").find("ok") != std::string::npos; }, 5s)) << s.Logs();
  s.redis().Push("runway:jobs", MakeJob("held", "image_to_video", "gen4_turbo", 5, 26, 600));
  ASSERT_TRUE(WaitFor([&] { return s.redis().Int({"EXISTS", "runway:job:held"}) == 1; }, 5s)) << s.Logs();
  std::this_thread::sleep_for(500ms);
  s.daemon(0).Signal(SIGTERM);
  ASSERT_TRUE(WaitLog(s.daemon(0).log_path(), "stopping:", 5s)) << s.Logs();
  EXPECT_EQ(s.MetricsGet(0, "/readyz"), "not ready: stopping\n");
  EXPECT_NE(s.MetricsGet(0, "/metrics").find("\nrunwayd_ready 0\n"), std::string::npos);
  EXPECT_EQ(s.daemon(0).Wait(10s), 0);
}

// A metrics address that cannot be bound is a configuration error (exit 2): the daemon
// stops before it starts anything. It went on starting instead: Redis connections,
// recovery reads and timers started on handles already closed by the stop.
TEST(Ops, AMetricsAddressInUseStopsTheDaemonBeforeAnythingStarts) {
  Stack s("ops-metrics-in-use");
  s.StartRedis();
  const std::string cfg = s.dir() + "/in-use.toml";
  WriteFile(cfg, "[redis]\nurl = \"redis://127.0.0.1:" + std::to_string(s.redis_port()) +
                     "\"\n[upstream]\nbase_url = \"http://127.0.0.1:9\"\n"
                     "[[account]]\nname = \"a\"\nkey_env = \"RUNWAY_TEST_KEY\"\n");
  const std::string taken = "127.0.0.1:" + std::to_string(s.redis_port());  // Redis listens there
  Process p({Bin("runwayd"), "--config", cfg, "--metrics", taken}, {{"RUNWAY_TEST_KEY", kTestKey}},
            s.dir() + "/in-use.log");
  EXPECT_EQ(p.Wait(10s), 2);
  const std::string log = ReadFile(s.dir() + "/in-use.log");
  EXPECT_NE(log.find("cannot listen on " + taken), std::string::npos) << log;
  EXPECT_EQ(log.find("starting:"), std::string::npos) << log;
  EXPECT_EQ(log.find("connected"), std::string::npos) << log;
  EXPECT_EQ(log.find("did not close cleanly"), std::string::npos) << log;
}

// The metrics endpoint's thread against the loop's reloads and stop (requests run on
// libmicrohttpd's thread, reloads and the stop on the loop's): scrapers hammer
// /metrics, /readyz and /healthz while jobs run and SIGHUPs re-read the configuration
// (the logger is rebuilt, gauges change), then SIGTERM stops the daemon mid-scrape.
// Every scrape before the stop is answered, the daemon exits 0 (its loop closed with no
// handle left), and its log holds no sanitizer report: in a -fsanitize=thread build
// (docs/reliability.md, "Sanitizers") this is the data-race check of what they share.
TEST(Ops, ScrapesDuringReloadsAndAStopAreAnsweredAndTheDaemonExitsClean) {
  Stack s("ops-scrape");
  s.StartRedis();
  s.StartSim();
  s.StartDaemon();
  ASSERT_TRUE(s.WaitReady(0)) << s.Logs();
  const std::string base = "http://127.0.0.1:" + std::to_string(s.MetricsPort(0));
  s.MetricsGet(0, "/healthz");  // curl's global setup, once, before the threads
  for (int i = 0; i < 40; ++i)
    s.redis().Push("runway:jobs", MakeJob("s" + std::to_string(i), "image_to_video", "gen4_turbo", 5, 26, 300 + i));

  std::atomic<bool> stop_sent{false}, done{false};
  std::atomic<int> answered{0}, failed_before_stop{0};
  std::vector<std::thread> scrapers;
  for (const char* path : {"/metrics", "/readyz", "/healthz"}) {
    scrapers.emplace_back([&, path] {
      while (!done.load()) {
        std::string body;
        // Read after the failure: one whose fetch began before the stop but ended after
        // it is the stop's, not a failure before it.
        if (Fetch(base + path, &body)) ++answered;
        else if (!stop_sent.load()) ++failed_before_stop;
      }
    });
  }
  // Reloads while jobs run and scrapes are served; the file is unchanged, so each is applied.
  for (int i = 0; i < 30; ++i) {
    s.daemon(0).Signal(SIGHUP);
    std::this_thread::sleep_for(30ms);
  }
  EXPECT_TRUE(WaitFor([&] { return CountInLog(s.daemon(0).log_path(), "reloaded the configuration") >= 10; }, 10s))
      << s.Logs();
  stop_sent = true;
  s.daemon(0).Signal(SIGTERM);
  const int rc = s.daemon(0).Wait(15s);
  done = true;
  for (auto& t : scrapers) t.join();
  EXPECT_EQ(rc, 0) << s.Logs();
  EXPECT_GT(answered.load(), 30);
  EXPECT_EQ(failed_before_stop.load(), 0);
  const std::string log = ReadFile(s.daemon(0).log_path());
  EXPECT_EQ(log.find("Sanitizer"), std::string::npos) << log;
  EXPECT_EQ(log.find("did not close cleanly"), std::string::npos) << log;
}
