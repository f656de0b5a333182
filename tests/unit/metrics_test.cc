// Unit tests of the Prometheus registry (daemon/metrics.h) and the operations endpoint
// (daemon/metrics_server.h). The endpoint test listens on 127.0.0.1 only, on a port the
// kernel picks, and fetches with libcurl. The promtool test needs Debian's `prometheus`
// package (RUNWAYD_DEPS_EXTRA=ops scripts/deps) and is skipped without it.
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <thread>

#include "daemon/metrics.h"
#include "daemon/metrics_server.h"

namespace runwayd::metrics {
namespace {

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(MetricsTest, RendersFamiliesSortedWithHelpAndType) {
  Registry r;
  r.GetGauge("zz_depth", "Depth.")->Set(2.5);
  r.GetCounter("aa_total", "Things.\nSecond line \\ here.", {{"kind", "x"}})->Inc(3);
  r.GetCounter("aa_total", "ignored: the first help wins", {{"kind", "w"}})->Inc();
  r.GetHistogram("mm_seconds", "Latency.", {0.5, 1})->Observe(0.7);
  EXPECT_EQ(r.Render(),
            "# HELP aa_total Things.\\nSecond line \\\\ here.\n"
            "# TYPE aa_total counter\n"
            "aa_total{kind=\"w\"} 1\n"
            "aa_total{kind=\"x\"} 3\n"
            "# HELP mm_seconds Latency.\n"
            "# TYPE mm_seconds histogram\n"
            "mm_seconds_bucket{le=\"0.5\"} 0\n"
            "mm_seconds_bucket{le=\"1\"} 1\n"
            "mm_seconds_bucket{le=\"+Inf\"} 1\n"
            "mm_seconds_sum 0.7\n"
            "mm_seconds_count 1\n"
            "# HELP zz_depth Depth.\n"
            "# TYPE zz_depth gauge\n"
            "zz_depth 2.5\n");
  EXPECT_EQ(r.errors(), 0);
}

TEST(MetricsTest, EscapesLabelValuesPerTheTextFormat) {
  EXPECT_EQ(EscapeLabelValue("plain"), "plain");
  EXPECT_EQ(EscapeLabelValue("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  EXPECT_EQ(EscapeLabelValue("tab\tand 'quote' \xc3\xa9"), "tab\tand 'quote' \xc3\xa9");  // nothing else
  EXPECT_EQ(EscapeHelp("a\\b\"c\nd"), "a\\\\b\"c\\nd");  // HELP leaves " alone
  Registry r;
  r.GetCounter("x_total", "X.", {{"model", "we\"ird\\\nname"}})->Inc();
  EXPECT_TRUE(Contains(r.Render(), "x_total{model=\"we\\\"ird\\\\\\nname\"} 1\n")) << r.Render();
}

TEST(MetricsTest, FormatsValuesLikePrometheus) {
  EXPECT_EQ(FormatValue(1), "1");
  EXPECT_EQ(FormatValue(0.005), "0.005");
  EXPECT_EQ(FormatValue(-2.25), "-2.25");
  EXPECT_EQ(FormatValue(1125899906842624.0), "1125899906842624");  // 2^50 credits, exact
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
}

TEST(MetricsTest, HistogramBucketsAreCumulativeAndInclusive) {
  Registry r;
  Histogram* h = r.GetHistogram("h_seconds", "H.", {1, 2, 5}, {{"endpoint", "tasks"}});
  for (double v : {0.0, 1.0, 1.5, 2.0, 4.0, 5.0, 6.0, 100.0}) h->Observe(v);
  h->Observe(std::nan(""));  // ignored
  EXPECT_EQ(h->Cumulative(), (std::vector<uint64_t>{2, 4, 6, 8}));
  EXPECT_DOUBLE_EQ(h->Sum(), 119.5);
  const std::string text = r.Render();
  EXPECT_TRUE(Contains(text, "h_seconds_bucket{endpoint=\"tasks\",le=\"1\"} 2\n")) << text;
  EXPECT_TRUE(Contains(text, "h_seconds_bucket{endpoint=\"tasks\",le=\"2\"} 4\n"));
  EXPECT_TRUE(Contains(text, "h_seconds_bucket{endpoint=\"tasks\",le=\"5\"} 6\n"));
  EXPECT_TRUE(Contains(text, "h_seconds_bucket{endpoint=\"tasks\",le=\"+Inf\"} 8\n"));
  EXPECT_TRUE(Contains(text, "h_seconds_sum{endpoint=\"tasks\"} 119.5\n"));
  EXPECT_TRUE(Contains(text, "h_seconds_count{endpoint=\"tasks\"} 8\n"));
  EXPECT_EQ(ExponentialBuckets(1, 2, 4), (std::vector<double>{1, 2, 4, 8}));
  EXPECT_TRUE(ExponentialBuckets(0, 2, 4).empty());
}

TEST(MetricsTest, SameNameAndLabelsGiveTheSameSeries) {
  Registry r;
  Counter* a = r.GetCounter("c_total", "C.", {{"a", "1"}, {"b", "2"}});
  EXPECT_EQ(a, r.GetCounter("c_total", "C.", {{"b", "2"}, {"a", "1"}}));  // order does not matter
  EXPECT_NE(a, r.GetCounter("c_total", "C.", {{"a", "1"}, {"b", "3"}}));
  a->Inc(2);
  a->Inc(-5);  // counters never go down
  EXPECT_EQ(a->Value(), 2);
  Gauge* g = r.GetGauge("g", "G.");
  g->Set(10);
  g->Add(-2.5);
  EXPECT_DOUBLE_EQ(r.GetGauge("g", "G.")->Value(), 7.5);
}

TEST(MetricsTest, MisuseGivesAWorkingSeriesThatIsNotExported) {
  Registry r;
  r.GetCounter("ok_total", "Ok.", {{"a", "1"}})->Inc();
  const std::string before = r.Render();
  std::vector<Counter*> bad = {
      r.GetCounter("bad-name", "x"),
      r.GetCounter("ok_total", "Ok.", {{"b", "1"}}),             // other label names
      r.GetCounter("ok_total", "Ok.", {{"a", "1"}, {"a", "2"}}),  // repeated label
      r.GetCounter("x_total", "x", {{"__reserved", "1"}}),
      r.GetCounter("y_total", "x", {{"1abc", "1"}}),
  };
  for (Counter* c : bad) {
    ASSERT_NE(c, nullptr);
    c->Inc();
  }
  EXPECT_NE(r.GetGauge("ok_total", "as a gauge"), nullptr);
  EXPECT_NE(r.GetHistogram("h", "H.", {1, 2}, {{"le", "1"}}), nullptr);
  EXPECT_NE(r.GetHistogram("h2", "H.", {2, 1}), nullptr);
  r.GetHistogram("h3", "H.", {1, 2})->Observe(1);
  EXPECT_NE(r.GetHistogram("h3", "H.", {1, 3}), nullptr);  // other bounds
  EXPECT_EQ(r.errors(), 9);
  const std::string after = r.Render();
  EXPECT_TRUE(Contains(after, before)) << after;
  EXPECT_FALSE(Contains(after, "bad-name"));
  EXPECT_FALSE(Contains(after, "x_total"));
  EXPECT_FALSE(Contains(after, "h_bucket"));
  EXPECT_FALSE(Contains(after, "h2_bucket"));
  EXPECT_TRUE(Contains(after, "h3_bucket{le=\"2\"} 1\n"));
  EXPECT_TRUE(ValidMetricName("runwayd:rate_5m"));
  EXPECT_FALSE(ValidLabelName("a:b"));
}

TEST(MetricsTest, ConcurrentUpdatesWhileRendering) {
  Registry r;
  Counter* c = r.GetCounter("c_total", "C.");
  Gauge* g = r.GetGauge("g", "G.");
  Histogram* h = r.GetHistogram("h", "H.", DaemonMetrics::PollBuckets());
  constexpr int kN = 200000;
  std::atomic<bool> done{false}, rendering{false};
  auto work = [&](int id) {
    while (!rendering.load()) std::this_thread::yield();  // overlap the renders, even on a busy machine
    for (int i = 0; i < kN; ++i) {
      c->Inc();
      g->Add(1);
      h->Observe(i % 60);
      if (i % 5000 == 0) r.GetCounter("new_total", "New.", {{"t", std::to_string(id)}, {"i", std::to_string(i)}});
    }
  };
  std::thread renderer([&] {
    size_t renders = 0;
    do {
      renders += r.Render().empty() ? 0 : 1;
      rendering = true;
    } while (!done.load());
    EXPECT_GT(renders, 0u);
  });
  std::thread t1(work, 1), t2(work, 2);
  t1.join();
  t2.join();
  done = true;
  renderer.join();
  EXPECT_EQ(c->Value(), 2 * kN);
  EXPECT_DOUBLE_EQ(g->Value(), 2.0 * kN);
  EXPECT_EQ(h->Cumulative().back(), uint64_t{2} * kN);
  EXPECT_TRUE(Contains(r.Render(), "c_total 400000\n"));
}

TEST(MetricsTest, ParsesListenAddresses) {
  MetricsServerOptions o;
  std::string error;
  ASSERT_TRUE(ParseListenAddress("127.0.0.1:9464", &o, &error)) << error;
  EXPECT_EQ(o.address, "127.0.0.1");
  EXPECT_EQ(o.port, 9464);
  ASSERT_TRUE(ParseListenAddress("[::1]:0", &o, &error)) << error;
  EXPECT_EQ(o.address, "::1");
  EXPECT_EQ(o.port, 0);
  for (const char* bad : {"localhost:9464", "127.0.0.1", "127.0.0.1:70000", "[::1]", "1.2.3.4:-1", ":80"})
    EXPECT_FALSE(ParseListenAddress(bad, &o, &error)) << bad;
}

// GET http://127.0.0.1:<port><path>: {status, body, content type}.
struct Fetched {
  long status = 0;
  std::string body, type;
};
Fetched Fetch(uint16_t port, const std::string& path, const char* method = "GET") {
  Fetched f;
  CURL* c = curl_easy_init();
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + path;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &f.body);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, +[](char* p, size_t s, size_t n, void* u) {
    static_cast<std::string*>(u)->append(p, s * n);
    return s * n;
  });
  if (curl_easy_perform(c) == CURLE_OK) {
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &f.status);
    const char* type = nullptr;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &type);
    if (type) f.type = type;
  }
  curl_easy_cleanup(c);
  return f;
}

TEST(MetricsServerTest, ServesMetricsHealthAndReadiness) {
  Registry r;
  DaemonMetrics m(&r);
  m.jobs_taken->Inc(7);
  Health health;
  MetricsServerOptions o;
  o.port = 0;
  MetricsServer server(&r, &health, o);
  std::string error;
  ASSERT_TRUE(server.Start(&error)) << error;
  ASSERT_NE(server.port(), 0);

  Fetched f = Fetch(server.port(), "/healthz");
  EXPECT_EQ(f.status, 503);  // no heartbeat yet
  EXPECT_EQ(f.body, "no event loop heartbeat yet\n");
  health.Beat();
  f = Fetch(server.port(), "/healthz");
  EXPECT_EQ(f.status, 200);
  EXPECT_EQ(f.body, "ok\n");

  f = Fetch(server.port(), "/readyz");
  EXPECT_EQ(f.status, 503);
  EXPECT_EQ(f.body, "not ready: starting\n");
  health.SetNotReady("redis unreachable:\nconnection refused");
  EXPECT_EQ(Fetch(server.port(), "/readyz").body, "not ready: redis unreachable: connection refused\n");
  f = Fetch(server.port(), "/metrics");
  EXPECT_TRUE(Contains(f.body, "runwayd_ready 0\n")) << f.body;
  health.SetReady();
  f = Fetch(server.port(), "/readyz");
  EXPECT_EQ(f.status, 200);
  EXPECT_EQ(f.body, "ok\n");

  f = Fetch(server.port(), "/metrics");
  EXPECT_EQ(f.status, 200);
  EXPECT_EQ(f.type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_TRUE(Contains(f.body, "# TYPE runwayd_jobs_taken_total counter\nrunwayd_jobs_taken_total 7\n")) << f.body;
  EXPECT_TRUE(Contains(f.body, "runwayd_ready 1\n"));
  EXPECT_TRUE(Contains(f.body, "runwayd_heartbeat_age_seconds 0"));

  // A loop that stopped beating: not healthy, not ready, and the gauges say so.
  health.heartbeat_ms = MonotonicMs() - 6000;
  f = Fetch(server.port(), "/healthz");
  EXPECT_EQ(f.status, 503);
  EXPECT_TRUE(Contains(f.body, "event loop stalled: last heartbeat 6.")) << f.body;
  EXPECT_EQ(Fetch(server.port(), "/readyz").status, 503);
  f = Fetch(server.port(), "/metrics");
  EXPECT_TRUE(Contains(f.body, "runwayd_ready 0\n"));
  EXPECT_TRUE(Contains(f.body, "runwayd_heartbeat_age_seconds 6")) << f.body;  // 6 or 6.0xy

  EXPECT_EQ(Fetch(server.port(), "/nope").status, 404);
  EXPECT_EQ(Fetch(server.port(), "/metrics", "POST").status, 405);
  EXPECT_EQ(r.errors(), 0);

  // A second server on the same port fails with a reason, and Stop() is idempotent.
  MetricsServerOptions same = o;
  same.port = server.port();
  MetricsServer clash(&r, &health, same);
  EXPECT_FALSE(clash.Start(&error));
  EXPECT_TRUE(Contains(error, "cannot listen on 127.0.0.1:" + std::to_string(server.port()))) << error;
  server.Stop();
  server.Stop();
  EXPECT_EQ(Fetch(server.port(), "/healthz").status, 0);  // nothing listens any more
}

// Every family runwayd exports, populated, as /metrics renders it.
std::string FullExposition() {
  Registry r;
  DaemonMetrics m(&r);
  Health health;
  MetricsServer server(&r, &health);  // registers runwayd_ready and runwayd_heartbeat_age_seconds
  health.Beat();
  m.jobs_taken->Inc(3);
  m.outcome_unknown->Inc();
  m.redis_reconnects->Inc();
  for (Gauge* g : {m.queue_depth, m.retry_depth, m.wait_depth, m.dead_depth}) g->Set(4);
  m.upstream_latency->Observe(0.2);
  m.polls_per_task->Observe(7);
  m.detection_delay->Observe(1.5);
  m.JobsFinished("succeeded", "none")->Inc();
  m.JobsFinished("failed", "moderation")->Inc();
  m.JobsInFlight("main", "gen4_turbo")->Set(2);
  m.UpstreamRequests("image_to_video", 200)->Inc();
  m.UpstreamRequests("tasks", 0)->Inc();
  for (const char* account : {"main", "we\"ird\\acc\nount"}) {
    m.BalanceEstimate(account)->Set(1000);
    m.ReservedCredits(account)->Set(50);
    m.LastBalance(account)->Set(1050);
    m.BalanceAge(account)->Set(12.5);
    m.LowBalance(account)->Set(500);
    m.BalanceDrift(account)->Set(-5);
  }
  m.Refunds("failed")->Inc();
  m.RefundedCredits("failed")->Inc(25);
  m.PriceMismatch("gen4_turbo")->Inc();
  EXPECT_EQ(r.errors(), 0);
  return server.Handle("GET", "/metrics").body;
}

TEST(MetricsTest, PromtoolAcceptsTheExpositionWithoutLintProblems) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "promtool is not installed (Debian package prometheus: RUNWAYD_DEPS_EXTRA=ops scripts/deps)";
  char dir[] = "/tmp/runwayd-metrics-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string file = std::string(dir) + "/metrics.txt";
  const std::string text = FullExposition();
  std::ofstream(file) << text;
  for (const char* family : {"runwayd_jobs_taken_total", "runwayd_jobs_finished_total", "runwayd_jobs_in_flight",
                             "runwayd_queue_depth", "runwayd_retry_depth", "runwayd_wait_depth", "runwayd_dead_depth",
                             "runwayd_upstream_requests_total", "runwayd_upstream_latency_seconds",
                             "runwayd_polls_per_task", "runwayd_detection_delay_seconds",
                             "runwayd_account_balance_estimate_credits", "runwayd_account_reserved_credits",
                             "runwayd_account_last_balance_credits", "runwayd_account_balance_age_seconds",
                             "runwayd_refunds_total", "runwayd_refunded_credits_total", "runwayd_outcome_unknown_total",
                             "runwayd_redis_reconnects_total", "runwayd_price_mismatch_total",
                             "runwayd_balance_drift_credits", "runwayd_ready", "runwayd_heartbeat_age_seconds"})
    EXPECT_TRUE(Contains(text, std::string("# TYPE ") + family + " ")) << family;
  const std::string cmd = "promtool check metrics < " + file + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  const int status = pclose(p);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
  EXPECT_EQ(out, "") << text;
  unlink(file.c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace runwayd::metrics
