// tests/integration/redis_conn_faults_test.cc — RedisConn (queue/redis.cc,
// queue/uv_adapter.cc) when the server goes away with commands in flight.
//
// The promise under test (queue/redis.h): every callback runs exactly once — with the
// reply, or with nullptr when the command could not be sent or the connection died
// first — and Close() leaves nothing on the loop (uv_loop_close returns 0). The server
// is a real redis-server, killed, paused or restarted by the test.
#include <gtest/gtest.h>
#include <signal.h>
#include <uv.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "harness.h"
#include "queue/redis.h"

namespace runwayd {
namespace {

using namespace std::chrono_literals;

// How often each command's callback ran, and with what (shared with the callbacks: a
// failed wait must not leave them writing into a dead test frame).
struct Calls {
  std::vector<int> runs;     // per command
  std::vector<bool> null;    // the last run had no reply
  int total = 0;
};

class RedisConnFaults : public ::testing::Test {
 protected:
  void SetUp() override {
    stack_ = std::make_unique<harness::Stack>("redis-conn-faults");
    stack_->StartRedis();
    ASSERT_EQ(uv_loop_init(&loop_), 0);
  }

  void TearDown() override {
    if (conn_) Close();
    EXPECT_EQ(uv_run(&loop_, UV_RUN_DEFAULT), 0);
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a handle outlived the connection";
  }

  void Open(int64_t stall_ms = 10000) {
    RedisConn::Options o;
    o.endpoint.port = stack_->redis_port();
    o.stall_ms = stall_ms;
    o.backoff_min_ms = 20;
    o.backoff_max_ms = 200;
    conn_ = std::make_unique<RedisConn>(&loop_, o);
    conn_->Start();
    ASSERT_TRUE(RunUntil([&] { return conn_->connected(); }, 5s));
  }

  void Close() {
    auto closed = std::make_shared<bool>(false);
    conn_->Close([closed] { *closed = true; });
    EXPECT_TRUE(RunUntil([&] { return *closed; }, 5s)) << "Close() never finished";
    conn_.reset();
  }

  template <typename Pred>
  bool RunUntil(Pred done, std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < end) uv_run(&loop_, UV_RUN_NOWAIT);
    return done();
  }

  // `n` commands queued behind a BLPOP that holds the connection for 5 s: all of them
  // are on the wire (or in hiredis) and unanswered when the test breaks the server.
  std::shared_ptr<Calls> SendHeldCommands(int n) {
    auto c = std::make_shared<Calls>();
    c->runs.assign(n + 1, 0);
    c->null.assign(n + 1, false);
    auto record = [c](int i) {
      return [c, i](redisReply* r) {
        ++c->runs[i];
        c->null[i] = r == nullptr;
        ++c->total;
      };
    };
    conn_->Command({"BLPOP", "never:pushed", "5"}, record(0));
    for (int i = 1; i <= n; ++i) conn_->Command({"SET", "k:" + std::to_string(i), std::string(100, 'v')}, record(i));
    for (int i = 0; i < 20; ++i) uv_run(&loop_, UV_RUN_NOWAIT);  // written, not answered
    return c;
  }

  void ExpectEachRanOnceWithoutReply(const Calls& c) {
    for (size_t i = 0; i < c.runs.size(); ++i) {
      EXPECT_EQ(c.runs[i], 1) << "command " << i;
      EXPECT_TRUE(c.null[i]) << "command " << i << " got a reply from a dead server";
    }
    EXPECT_EQ(conn_ ? conn_->pending() : 0u, 0u);
  }

  // Pauses or resumes redis-server (its pid from INFO, asked before it is paused).
  void SignalRedis(int sig) {
    if (redis_pid_ == 0) {
      auto info = stack_->redis().Cmd({"INFO", "server"});
      ASSERT_NE(info, nullptr);
      const std::string text(info->str, info->len);
      redis_pid_ = std::atoi(text.c_str() + text.find("process_id:") + 11);
      ASSERT_GT(redis_pid_, 0);
    }
    kill(redis_pid_, sig);
  }

  std::unique_ptr<harness::Stack> stack_;
  pid_t redis_pid_ = 0;
  uv_loop_t loop_{};
  std::unique_ptr<RedisConn> conn_;
};

// SIGKILL: the socket ends; every callback runs once with nullptr, the connection comes
// back when the server does, and a command after that is answered.
TEST_F(RedisConnFaults, AKilledServerFailsEveryCommandInFlightOnceAndTheConnectionComesBack) {
  Open();
  auto c = SendHeldCommands(2000);
  ASSERT_EQ(c->total, 0);
  stack_->StopRedis(SIGKILL);
  ASSERT_TRUE(RunUntil([&] { return c->total >= 2001; }, 5s)) << c->total << " of 2001 callbacks ran";
  for (int i = 0; i < 20; ++i) uv_run(&loop_, UV_RUN_NOWAIT);  // and no second run
  ExpectEachRanOnceWithoutReply(*c);
  EXPECT_FALSE(conn_->connected());

  stack_->StartRedis();
  ASSERT_TRUE(RunUntil([&] { return conn_->connected(); }, 5s)) << "no reconnect";
  auto answered = std::make_shared<int>(0);
  conn_->Command({"PING"}, [answered](redisReply* r) { *answered += r != nullptr ? 1 : 100; });
  ASSERT_TRUE(RunUntil([&] { return *answered != 0; }, 5s));
  EXPECT_EQ(*answered, 1);
}

// SIGSTOP: the server is silent but the socket stays open. The stall watchdog drops the
// connection; every callback runs once with nullptr.
TEST_F(RedisConnFaults, ASilentServerFailsEveryCommandInFlightOnce) {
  Open(/*stall_ms=*/300);
  auto c = SendHeldCommands(500);
  SignalRedis(SIGSTOP);
  const bool ran = RunUntil([&] { return c->total >= 501; }, 5s);
  SignalRedis(SIGCONT);
  ASSERT_TRUE(ran) << c->total << " of 501 callbacks ran";
  for (int i = 0; i < 20; ++i) uv_run(&loop_, UV_RUN_NOWAIT);
  ExpectEachRanOnceWithoutReply(*c);
}

// Close() with commands in flight to a silent server, and a callback that sends another
// command from inside its own failure (the engine's completion handlers do): each runs
// once, Close finishes, and the loop closes clean (TearDown).
TEST_F(RedisConnFaults, CloseWithCommandsInFlightRunsEachCallbackOnce) {
  Open();
  auto c = SendHeldCommands(300);
  auto again = std::make_shared<int>(0);
  conn_->Command({"GET", "x"}, [this, again](redisReply*) {
    conn_->Command({"GET", "y"}, [again](redisReply* r) { *again += r == nullptr ? 1 : 100; });
  });
  SignalRedis(SIGSTOP);
  Close();
  SignalRedis(SIGCONT);
  EXPECT_EQ(*again, 1);
  ExpectEachRanOnceWithoutReply(*c);
}

}  // namespace
}  // namespace runwayd
