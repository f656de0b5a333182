// tests/integration/redis_conn_test.cc — RedisConn's own wire form (queue/redis.cc)
// against a real redis-server.
//
// RedisConn writes RESP itself instead of letting hiredis format commands, so the
// length prefixes and CRLFs are the daemon's own code. Every other test reaches it
// only through the daemon's ordinary arguments; these send the awkward ones (empty,
// bytes that look like RESP, NUL, an argument larger than the buffer RedisConn keeps
// between commands) and read them back unchanged, through Command, EVALSHA and the
// EVAL resend after NOSCRIPT (which reuses the encoded tail of the first command).
#include <gtest/gtest.h>
#include <uv.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "harness.h"
#include "queue/redis.h"

namespace runwayd {
namespace {

using namespace std::chrono_literals;

// The replies one test expects, filled in by callbacks that own a share of it (a
// callback must not write into a test frame that a failed wait has left).
struct Seen {
  int calls = 0;
  std::vector<std::vector<std::string>> replies;  // each reply: a string, or an array of strings
};

std::vector<std::string> Flatten(const redisReply* r) {
  std::vector<std::string> out;
  if (r == nullptr) return {"<no reply>"};
  if (r->type == REDIS_REPLY_ARRAY) {
    for (size_t i = 0; i < r->elements; ++i) out.emplace_back(r->element[i]->str, r->element[i]->len);
  } else if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR) {
    out.emplace_back((r->type == REDIS_REPLY_ERROR ? "ERR:" : "") + std::string(r->str, r->len));
  } else if (r->type == REDIS_REPLY_INTEGER) {
    out.push_back(std::to_string(r->integer));
  } else {
    out.push_back("<type " + std::to_string(r->type) + ">");
  }
  return out;
}

class RedisConnWire : public ::testing::Test {
 protected:
  void SetUp() override {
    stack_ = std::make_unique<harness::Stack>("redis-conn");
    stack_->StartRedis();
    uv_loop_init(&loop_);
    RedisConn::Options o;
    o.endpoint.port = stack_->redis_port();
    o.client_name = "redis-conn-test";
    conn_ = std::make_unique<RedisConn>(&loop_, o);
    conn_->Start();
  }

  void TearDown() override {
    bool closed = false;
    conn_->Close([&closed] { closed = true; });
    RunUntil([&] { return closed; }, 5s);
    conn_.reset();
    // Every handle is closed: the loop must end and close cleanly.
    EXPECT_EQ(uv_run(&loop_, UV_RUN_DEFAULT), 0);
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }

  template <typename Pred>
  bool RunUntil(Pred done, std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < end) uv_run(&loop_, UV_RUN_NOWAIT);
    return done();
  }

  RedisConn::Callback Record(const std::shared_ptr<Seen>& seen) {
    return [seen](redisReply* r) {
      ++seen->calls;
      seen->replies.push_back(Flatten(r));
    };
  }

  std::unique_ptr<harness::Stack> stack_;
  uv_loop_t loop_{};
  std::unique_ptr<RedisConn> conn_;
};

// Arguments whose bytes would break a miscounted length or a missing CRLF.
std::vector<std::string> Awkward() {
  return {"",
          "x",
          "\r\n",
          "$3\r\nfoo\r\n*1\r\n",
          std::string("a\0b\0", 4),
          "caf\xC3\xA9 \xE2\x82\xAC",
          std::string(70000, 'z') + "end",  // over the 64 KiB RedisConn keeps between commands
          std::string(9, '9')};
}

TEST_F(RedisConnWire, CommandArgumentsArriveByteForByte) {
  auto seen = std::make_shared<Seen>();
  const std::vector<std::string> values = Awkward();
  for (size_t i = 0; i < values.size(); ++i) {
    const std::string key = "wire:" + std::to_string(i);
    conn_->Command({"SET", key, values[i]}, Record(seen));
    conn_->Command({"GET", key}, Record(seen));
  }
  ASSERT_TRUE(RunUntil([&] { return seen->calls == static_cast<int>(2 * values.size()); }, 10s))
      << "replies: " << seen->calls;
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(seen->replies[2 * i], std::vector<std::string>{"OK"}) << "SET of value " << i;
    EXPECT_EQ(seen->replies[2 * i + 1], std::vector<std::string>{values[i]}) << "GET of value " << i;
  }
  // And as the server counted them: the long value's length, exactly.
  EXPECT_EQ(stack_->redis().Int({"STRLEN", "wire:6"}), 70003);
}

// The script echoes its keys then its arguments, so the reply is the command's tail.
const std::string kEcho =
    "local out = {} for _, k in ipairs(KEYS) do out[#out + 1] = k end "
    "for _, a in ipairs(ARGV) do out[#out + 1] = a end return out";

TEST_F(RedisConnWire, EvalAndTheNoscriptResendCarryTheSameArguments) {
  // The sha of kEcho, then an empty script cache: the EVALSHA below gets NOSCRIPT and
  // RedisConn resends it as EVAL from the tail it kept.
  auto sha_reply = stack_->redis().Cmd({"SCRIPT", "LOAD", kEcho});
  ASSERT_NE(sha_reply, nullptr);
  const std::string sha(sha_reply->str, sha_reply->len);
  const std::vector<std::string> values = Awkward();
  const std::vector<std::string_view> keys = {"k:one", values[3]};
  std::vector<std::string_view> args(values.begin(), values.end());
  std::vector<std::string> expect = {"k:one", values[3]};
  expect.insert(expect.end(), values.begin(), values.end());

  auto seen = std::make_shared<Seen>();
  conn_->Eval(kEcho, sha, keys, args, Record(seen));   // cached: EVALSHA answers
  ASSERT_TRUE(RunUntil([&] { return seen->calls == 1; }, 10s));
  stack_->redis().Cmd({"SCRIPT", "FLUSH"});
  conn_->Eval(kEcho, sha, keys, args, Record(seen));   // NOSCRIPT, then EVAL
  conn_->Eval(kEcho, "", keys, args, Record(seen));    // EVAL from the start
  ASSERT_TRUE(RunUntil([&] { return seen->calls == 3; }, 10s)) << "replies: " << seen->calls;
  EXPECT_EQ(seen->replies[0], expect) << "EVALSHA";
  EXPECT_EQ(seen->replies[1], expect) << "EVAL resent after NOSCRIPT";
  EXPECT_EQ(seen->replies[2], expect) << "EVAL";
}

}  // namespace
}  // namespace runwayd
