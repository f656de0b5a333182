// HttpEngine (runway/http.h, runway/http_sockets.cc) against a real HTTP server over
// real sockets: runway-sim's server, in process, closing idle keep-alive connections
// after one second. What it shows:
// - a kept-alive connection's uv_poll_t outlives the transfer that opened it (idle
//   connections stay watched, so the next request on them costs no epoll_ctl);
// - when the server closes an idle connection, the engine stops watching it (epoll is
//   level-triggered: a watched EOF would wake the loop forever);
// - requests after that are answered (curl drops the dead connections and reconnects);
// - Close() leaves nothing behind: the loop closes clean.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ledger/pricing.h"
#include "runway/http.h"
#include "sim/api.h"
#include "sim/config.h"
#include "sim/server.h"

namespace runwayd::runway {
namespace {

// A listening socket on 127.0.0.1 that nobody serves: connections complete in its
// backlog and nothing is ever answered. Returns its fd (the caller closes it), -1 on
// failure; *base is "http://127.0.0.1:PORT".
int SilentListener(int backlog, std::string* base) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 || listen(fd, backlog) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return -1;
  }
  *base = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  return fd;
}

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// uv_poll_t handles the loop is watching now.
int ActivePolls(uv_loop_t* loop) {
  int n = 0;
  uv_walk(loop, [](uv_handle_t* h, void* arg) {
    if (h->type == UV_POLL && uv_is_active(h) && !uv_is_closing(h)) ++*static_cast<int*>(arg);
  }, &n);
  return n;
}

// Runs the loop until `done` holds (checked every 5 ms) or `limit` passes.
bool RunUntil(uv_loop_t* loop, const std::function<bool()>& done, std::chrono::milliseconds limit) {
  struct Ctx {
    const std::function<bool()>* done;
    int64_t left_ms;
    bool ok = false;
  } ctx{&done, limit.count()};
  uv_timer_t check;
  uv_timer_init(loop, &check);
  check.data = &ctx;
  uv_timer_start(&check, [](uv_timer_t* t) {
    auto* c = static_cast<Ctx*>(t->data);
    c->left_ms -= 5;
    if ((*c->done)()) c->ok = true;
    if (c->ok || c->left_ms <= 0) uv_stop(t->loop);
  }, 5, 5);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_close(reinterpret_cast<uv_handle_t*>(&check), nullptr);
  uv_run(loop, UV_RUN_NOWAIT);  // the close callback
  return ctx.ok;
}

class HttpEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(sim::ParseConfig("", "test.toml", &config_, &error)) << error;
    api_ = std::make_unique<sim::Api>(config_, ledger::PriceTable::Defaults(), &NowUs);
    server_ = std::make_unique<sim::Server>(api_.get());
    sim::ServerOptions so;
    so.connection_timeout_s = 1;  // the server closes idle connections after 1 s
    ASSERT_TRUE(server_->Start(so, &error)) << error;
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    HttpOptions ho;
    ho.max_host_connections = 2;
    http_ = std::make_unique<HttpEngine>(&loop_, ho);
  }

  void TearDown() override {
    if (http_) {
      bool closed = false;
      http_->Close([&] { closed = true; });
      EXPECT_TRUE(RunUntil(&loop_, [&] { return closed; }, std::chrono::seconds(5)));
      uv_run(&loop_, UV_RUN_DEFAULT);  // whatever is still closing
      http_.reset();
    }
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a handle outlived the engine";
    server_.reset();
  }

  // Sends `n` GETs and runs the loop until all are answered; returns how many were.
  // The counts are shared with the callbacks: if the wait gives up, the callbacks
  // still to come (TearDown's Close runs them) must not write into a dead frame.
  int SendAndWait(int n) {
    struct Counts {
      int answered = 0, done = 0, failed = 0;
      std::string first_failure;
    };
    auto c = std::make_shared<Counts>();
    std::string url = "http://127.0.0.1:" + std::to_string(server_->port()) + "/v1/organization";
    for (int i = 0; i < n; ++i) {
      HttpRequest req;
      req.url = url;
      http_->Send(std::move(req), [c](HttpResult&& r) {
        ++c->done;
        // No key: the simulator answers 401, which is an answer all the same.
        if (r.transport == Transport::kAnswered && r.status == 401) {
          ++c->answered;
        } else if (++c->failed == 1) {
          c->first_failure = "transport " + std::to_string(static_cast<int>(r.transport)) + " status " +
                             std::to_string(r.status) + " " + r.curl_error;
        }
      });
    }
    EXPECT_TRUE(RunUntil(&loop_, [&] { return c->done == n; }, std::chrono::seconds(20)))
        << c->done << " of " << n << " done";
    EXPECT_EQ(c->failed, 0) << "first: " << c->first_failure;
    return c->answered;
  }

  // Sends one request and waits for its answer (shared state, as in SendAndWait).
  HttpResult SendOne(const std::string& url) {
    struct State {
      HttpResult r;
      bool done = false;
    };
    auto st = std::make_shared<State>();
    HttpRequest req;
    req.url = url;
    http_->Send(std::move(req), [st](HttpResult&& r) { st->r = std::move(r), st->done = true; });
    EXPECT_TRUE(RunUntil(&loop_, [&] { return st->done; }, std::chrono::seconds(10))) << url;
    return st->r;
  }

  // Closes the engine and starts another with `ho`.
  void Reopen(const HttpOptions& ho) {
    auto closed = std::make_shared<bool>(false);
    http_->Close([closed] { *closed = true; });
    EXPECT_TRUE(RunUntil(&loop_, [&] { return *closed; }, std::chrono::seconds(5)));
    http_ = std::make_unique<HttpEngine>(&loop_, ho);
  }

  // A port that was free a moment ago and is closed now.
  int ClosedPort() {
    sim::Server probe(api_.get());
    std::string error;
    EXPECT_TRUE(probe.Start(sim::ServerOptions{}, &error)) << error;
    return probe.port();
  }

  sim::SimConfig config_;
  std::unique_ptr<sim::Api> api_;
  std::unique_ptr<sim::Server> server_;
  uv_loop_t loop_{};
  std::unique_ptr<HttpEngine> http_;
};

TEST_F(HttpEngineTest, IdleConnectionsStayWatchedUntilTheServerClosesThem) {
  ASSERT_EQ(SendAndWait(40), 40);
  // Every request is over; the kept-alive connections are still watched (at most two).
  int idle_watched = ActivePolls(&loop_);
  EXPECT_GE(idle_watched, 1);
  EXPECT_LE(idle_watched, 2);

  // The server closes them after 1 s of idleness: the engine stops watching them.
  EXPECT_TRUE(RunUntil(&loop_, [&] { return ActivePolls(&loop_) == 0; }, std::chrono::seconds(5)))
      << ActivePolls(&loop_) << " closed connection(s) still watched";

  // And it stays so: a few more turns of the loop do not start watching them again.
  for (int i = 0; i < 10; ++i) uv_run(&loop_, UV_RUN_NOWAIT);
  EXPECT_EQ(ActivePolls(&loop_), 0);

  // New requests find the cached connections dead and open new ones.
  EXPECT_EQ(SendAndWait(40), 40);
  EXPECT_GE(ActivePolls(&loop_), 1);
}

// The proxy options reach curl: a proxy on a closed port fails every request, unless
// the host is excluded.
TEST_F(HttpEngineTest, ProxyAndItsExclusionsAreApplied) {
  const int closed_port = ClosedPort();
  auto one = [&](const std::string& no_proxy) {
    HttpOptions ho;
    ho.proxy = "http://127.0.0.1:" + std::to_string(closed_port);
    ho.no_proxy = no_proxy;
    Reopen(ho);
    return SendOne("http://127.0.0.1:" + std::to_string(server_->port()) + "/v1/organization");
  };
  HttpResult via_proxy = one("");
  EXPECT_EQ(via_proxy.transport, Transport::kNotSent) << via_proxy.status;
  HttpResult direct = one("127.0.0.1");
  EXPECT_EQ(direct.transport, Transport::kAnswered) << direct.curl_error;
  EXPECT_EQ(direct.status, 401);
}

// A pooled handle keeps a parsed URL and replaces only the path for the next request
// to the same base (runway/http.cc, SetUrl). One request at a time, so every request
// reuses the same handle: each must still go where its own URL says, through every
// switch between the fast path, curl's own parser and another base. Without a key the
// simulator tells the paths apart: /v1/... is 401, /_sim/stats 200, anything else 404.
TEST_F(HttpEngineTest, ReusedHandlesSendEachRequestToItsOwnUrl) {
  const int closed_port = ClosedPort();
  const std::string live = "http://127.0.0.1:" + std::to_string(server_->port());
  const std::string dead = "http://127.0.0.1:" + std::to_string(closed_port);
  struct Step {
    std::string url;
    long status;  // 0: not sent
  };
  const std::vector<Step> steps = {
      {live + "/v1/organization", 401},
      {live + "/_sim/stats", 200},               // same base: only the path changes
      {live + "/elsewhere", 404},
      {live + "/_sim/stats?x=1", 200},           // a query: curl's parser
      {live + "/_sim/x/../stats", 200},          // a dot segment: curl's parser removes it
      {live + "/v1/organization", 401},          // back to the parsed URL
      {dead + "/_sim/stats", 0},                 // another base
      {live + "/_sim/stats", 200},
      {live + "/elsewhere", 404},
  };
  for (const Step& step : steps) {
    const HttpResult got = SendOne(step.url);
    if (step.status == 0) {
      EXPECT_EQ(got.transport, Transport::kNotSent) << step.url << " answered " << got.status;
    } else {
      EXPECT_EQ(got.transport, Transport::kAnswered) << step.url << ": " << got.curl_error;
      EXPECT_EQ(got.status, step.status) << step.url;
    }
  }
}

// Close() with a request on the wire: a server that reads the request and never
// answers. Runway may have acted on a request that went out (a create may have made
// and charged a task), so its callback must say "sent, no answer", never "not sent",
// which the daemon reads as "certainly refused, safe to send again". A request still
// waiting for a connection was not sent (max_host_connections = 1 keeps it waiting).
TEST_F(HttpEngineTest, CloseReportsASentRequestAsSentAndAWaitingOneAsNotSent) {
  HttpOptions ho;
  ho.max_host_connections = 1;
  Reopen(ho);
  std::string base;
  const int lfd = SilentListener(4, &base);
  ASSERT_GE(lfd, 0);
  const std::string url = base + "/v1/image_to_video";
  auto results = std::make_shared<std::vector<HttpResult>>(2);
  auto done = std::make_shared<int>(0);
  for (int i = 0; i < 2; ++i) {
    HttpRequest req;
    req.method = "POST";
    req.url = url;
    req.body = R"({"model":"gen4_turbo"})";
    http_->Send(std::move(req), [results, done, i](HttpResult&& r) { (*results)[i] = std::move(r), ++*done; });
  }
  int conn = -1;
  const bool arrived = RunUntil(&loop_, [&] {
    if (conn < 0) conn = accept(lfd, nullptr, nullptr);
    char c;
    return conn >= 0 && recv(conn, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 1;
  }, std::chrono::seconds(10));
  EXPECT_TRUE(arrived) << "the first request never reached the server";
  auto closed = std::make_shared<bool>(false);
  http_->Close([closed] { *closed = true; });
  EXPECT_TRUE(RunUntil(&loop_, [&] { return *closed; }, std::chrono::seconds(5)));
  http_ = std::make_unique<HttpEngine>(&loop_, HttpOptions{});  // TearDown closes it
  if (conn >= 0) close(conn);
  close(lfd);
  ASSERT_EQ(*done, 2);
  EXPECT_EQ((*results)[0].transport, Transport::kSentNoAnswer) << (*results)[0].curl_error;
  EXPECT_EQ((*results)[0].status, 0);
  EXPECT_EQ((*results)[1].transport, Transport::kNotSent) << (*results)[1].curl_error;
}

// 128 connections busy at once. libmicrohttpd 0.9.75 reads at most 128 epoll events
// per epoll_wait and, when it gets exactly 128, waits again with its full timeout
// before serving them: the simulator stalled until the client gave up (bench/run
// intake with upstream.max_host_connections = 128 finished 128 jobs a minute). The
// simulator now runs MHD's epoll from its own thread without blocking in MHD
// (sim/server.cc). Thousands of requests over 128 connections must all be answered
// (before that, one run in three or so of this test stalled).
TEST_F(HttpEngineTest, ServerKeepsUpWith128BusyConnections) {
  HttpOptions ho;
  ho.max_host_connections = 128;
  Reopen(ho);
  EXPECT_EQ(SendAndWait(20000), 20000);
}

// A Send() after Close() returned and before its `done` (a caller's timer or Redis
// callback reacting to the stop): the request could not start and was left unreported,
// and `done` waited for it for ever (the daemon would hang at exit). It ends "not sent",
// from the loop, and the close finishes.
TEST_F(HttpEngineTest, ASendAfterCloseEndsNotSentAndTheCloseFinishes) {
  auto closed = std::make_shared<bool>(false);
  auto results = std::make_shared<std::vector<HttpResult>>();
  http_->Close([closed] { *closed = true; });
  HttpRequest req;
  req.url = "http://127.0.0.1:" + std::to_string(server_->port()) + "/v1/organization";
  http_->Send(std::move(req), [results](HttpResult&& r) { results->push_back(std::move(r)); });
  EXPECT_TRUE(results->empty()) << "never inside Send()";
  EXPECT_TRUE(RunUntil(&loop_, [&] { return *closed; }, std::chrono::seconds(5)));
  ASSERT_EQ(results->size(), 1u);
  EXPECT_EQ((*results)[0].transport, Transport::kNotSent);
  uv_run(&loop_, UV_RUN_DEFAULT);
  http_.reset();  // closed already: TearDown has nothing to close
}

// Close() called from a completion handler: the requests curl finished in the same
// action keep their own result, not "aborted by the close". Here four requests to a
// server that never answers time out together (the loop is held past their deadline,
// so one timeout action ends all four); over HTTP/2 several answers read at once end
// together the same way, and an answered create reported "sent, no answer" is a paid
// task the daemon would give up on.
TEST_F(HttpEngineTest, CloseFromACompletionHandlerKeepsWhatCurlAlreadyFinished) {
  HttpOptions ho;
  ho.max_host_connections = 4;
  ho.request_timeout_ms = 300;
  Reopen(ho);
  std::string base;
  const int lfd = SilentListener(8, &base);  // connections complete in the backlog; nothing answers
  ASSERT_GE(lfd, 0);
  const std::string url = base + "/v1/organization";
  auto codes = std::make_shared<std::vector<int>>();
  auto closed = std::make_shared<bool>(false);
  for (int i = 0; i < 4; ++i) {
    HttpRequest req;
    req.url = url;
    http_->Send(std::move(req), [this, codes, closed](HttpResult&& r) {
      codes->push_back(r.curl_code);
      if (codes->size() == 1) http_->Close([closed] { *closed = true; });
    });
  }
  uv_timer_t hold;  // holds the loop past every deadline: curl then ends all four at once
  uv_timer_init(&loop_, &hold);
  uv_timer_start(&hold, [](uv_timer_t*) { usleep(500 * 1000); }, 100, 0);
  EXPECT_TRUE(RunUntil(&loop_, [&] { return *closed; }, std::chrono::seconds(5)));
  uv_close(reinterpret_cast<uv_handle_t*>(&hold), nullptr);
  uv_run(&loop_, UV_RUN_NOWAIT);  // its close callback, before `hold` leaves this frame
  http_ = std::make_unique<HttpEngine>(&loop_, HttpOptions{});  // TearDown closes it
  close(lfd);
  ASSERT_EQ(codes->size(), 4u);
  for (size_t i = 0; i < codes->size(); ++i) EXPECT_EQ((*codes)[i], CURLE_OPERATION_TIMEDOUT) << "request " << i;
}

TEST(SplitPlainUrl, TakesOnlyPathsCurlWouldSendAsTheyAre) {
  auto split = [](std::string_view url) {
    std::string_view base, path;
    if (!SplitPlainUrl(url, &base, &path)) return std::string("no");
    return std::string(base) + "|" + std::string(path);
  };
  EXPECT_EQ(split("https://api.dev.runwayml.com/v1/tasks/3f2a-9b_c.d~e"),
            "https://api.dev.runwayml.com|/v1/tasks/3f2a-9b_c.d~e");
  EXPECT_EQ(split("http://127.0.0.1:8080/v1/image_to_video"), "http://127.0.0.1:8080|/v1/image_to_video");
  EXPECT_EQ(split("http://[::1]:8080/"), "http://[::1]:8080|/");
  EXPECT_EQ(split("http://h/a:b@c!$&'()*+,;="), "http://h|/a:b@c!$&'()*+,;=");
  for (const char* bad : {"http://h", "http://h?x", "http:///p", "h/p", "://h/p", "http://u:pw@h/p",
                          "http://h/p?q=1", "http://h/p#f", "http://h/a b", "http://h/%41", "http://h/a/../b",
                          "http://h/./b", "http://h/a\"b", "http://h/\xc3\xa9", "http://h/a\nb"}) {
    EXPECT_EQ(split(bad), "no") << bad;
  }
}

TEST(ProxyFromEnvironment, FollowsCurlsRules) {
  auto run = [](std::string_view scheme, std::map<std::string, std::string> env) {
    std::string proxy = "unset", no_proxy = "unset";
    ProxyFromEnvironment(scheme, [&env](const char* name) -> const char* {
      auto it = env.find(name);
      return it == env.end() ? nullptr : it->second.c_str();
    }, &proxy, &no_proxy);
    return proxy + "|" + no_proxy;
  };
  EXPECT_EQ(run("https", {}), "|");
  EXPECT_EQ(run("https", {{"https_proxy", "http://a:1"}, {"HTTPS_PROXY", "http://b:1"}}), "http://a:1|");
  EXPECT_EQ(run("https", {{"HTTPS_PROXY", "http://b:1"}, {"all_proxy", "http://c:1"}}), "http://b:1|");
  EXPECT_EQ(run("https", {{"all_proxy", "http://c:1"}, {"ALL_PROXY", "http://d:1"}}), "http://c:1|");
  EXPECT_EQ(run("https", {{"ALL_PROXY", "socks5://d:1"}}), "socks5://d:1|");
  EXPECT_EQ(run("https", {{"https_proxy", ""}, {"all_proxy", "http://c:1"}}), "http://c:1|");  // empty = unset
  // HTTP_PROXY is never read (CGI puts a request header there); http_proxy is.
  EXPECT_EQ(run("http", {{"HTTP_PROXY", "http://evil:1"}}), "|");
  EXPECT_EQ(run("http", {{"HTTP_PROXY", "http://evil:1"}, {"ALL_PROXY", "http://d:1"}}), "http://d:1|");
  EXPECT_EQ(run("http", {{"http_proxy", "http://a:1"}}), "http://a:1|");
  EXPECT_EQ(run("HTTPS", {{"https_proxy", "http://a:1"}}), "http://a:1|");
  EXPECT_EQ(run("https", {{"no_proxy", "localhost"}, {"NO_PROXY", "other"}}), "|localhost");
  EXPECT_EQ(run("https", {{"NO_PROXY", "other"}}), "|other");
}

}  // namespace
}  // namespace runwayd::runway
