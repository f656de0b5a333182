// tests/integration/runwayctl_input_test.cc — runwayctl facing what producers wrote,
// against a real redis-server: text from a job never reaches the terminal raw, and
// `enqueue` refuses every id the daemon would only answer as a duplicate; and what
// `accounts` shows as the estimate is the one the ledger's scripts decide with.
// (enqueue's input, limits and the daemon's configuration: runwayctl_enqueue_test.cc.)
#include <gtest/gtest.h>
#include <simdjson.h>

#include "harness.h"

using namespace harness;

namespace {

// C0 (but the line feeds), DEL, or a C1 control in UTF-8 (0xC2 0x80..0x9F).
bool HasControl(const std::string& s) {
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if ((c < 0x20 && c != '\n') || c == 0x7f) return true;
    if (c == 0xC2 && i + 1 < s.size() && (static_cast<unsigned char>(s[i + 1]) & 0xE0) == 0x80) return true;
  }
  return false;
}

}  // namespace

// A refund event echoes the producer's `user` (any string): an escape sequence in it
// would set the terminal's title and clear the screen of whoever runs `runwayctl job`
// (ESC sequences, and the one-byte CSI U+009B that some terminals act on too).
TEST(RunwayCtlInput, RefundUserAndReasonAreNotPrintedRaw) {
  Stack s("ctl-input-esc");
  s.StartRedis();
  s.redis().Push("runway:refunds",
                 "{\"v\":1,\"refund_id\":\"jobEsc\",\"id\":\"jobEsc\",\"user\":\"u\\u001b]0;owned\\u0007\\u001b[2J\","
                 "\"credits\":5,\"reason\":\"invalid_job\\u001b[31m\\u009b2J\",\"meta\":null}");
  ShellRun r = RunCtl(s, {"job", "jobEsc"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find("refund of 5 credits to u\\x1B]0;owned\\x07\\x1B[2J (invalid_job\\x1B[31m\\u009B2J)"),
            std::string::npos)
      << r;
  EXPECT_FALSE(HasControl(r.out)) << r;
}

// A job waiting in the retry set has a record without a `daemon` field: a copy pushed
// now would only end as duplicate_job, so enqueue refuses it as it does one in flight.
TEST(RunwayCtlInput, EnqueueRefusesAnIdWaitingForARetry) {
  Stack s("ctl-input-retry");
  s.StartRedis();
  auto& redis = s.redis();
  redis.Cmd({"HSET", "runway:job:waiting", "state", "retry", "attempt", "1", "raw", "{}"});
  redis.Cmd({"ZADD", "runway:retry", "9999999999999", "waiting"});
  const std::string job = MakeJob("waiting", "image_to_video", "gen4_turbo", 5, 26, 1);
  ShellRun r = RunCtl(s, {"enqueue", "-"}, job);
  EXPECT_EQ(r.rc, 1) << r;
  EXPECT_NE(r.err.find("waits for a retry"), std::string::npos) << r;
  EXPECT_NE(r.err.find("duplicate"), std::string::npos) << r;
  EXPECT_EQ(redis.Int({"LLEN", "runway:jobs"}), 0);
  // --force still pushes it, and an unknown id is pushed as before.
  EXPECT_EQ(RunCtl(s, {"enqueue", "--force", "-"}, job).rc, 0);
  EXPECT_EQ(RunCtl(s, {"enqueue", "-"}, MakeJob("fresh", "image_to_video", "gen4_turbo", 5, 26, 2)).rc, 0);
  EXPECT_EQ(redis.Int({"LLEN", "runway:jobs"}), 2);
}

// Returned credits are not in the ledger's estimate until a reading shows them
// (ledger/scripts.h estimate()): an operator shown them would see credit the daemons
// refuse to spend. balance 100, 20 reserved, 20 charged and 10 returned since the
// reading: the ledger's estimate is 60, not 70.
TEST(RunwayCtlInput, AccountsShowsTheLedgersEstimate) {
  Stack s("ctl-input-estimate");
  s.StartRedis();
  s.redis().Cmd({"HSET", "runway:account:main", "balance", "100", "reserved", "20", "charged_total", "30",
                 "charged_base", "10", "returned_total", "15", "returned_base", "5", "estimate", "60"});
  ShellRun r = RunCtl(s, {"accounts", "--json"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find("\"estimate\":60,"), std::string::npos) << r;
  r = RunCtl(s, {"accounts"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find(" 60 "), std::string::npos) << r;
  EXPECT_EQ(r.out.find(" 70 "), std::string::npos) << r;
}

// A replay puts a job back with its dedup marker deleted; before the fix enqueue saw no
// trace of the id and pushed a second copy, which the daemon answered with a second
// result (duplicate_job) for the same id. The replay's marker (P:replayed:<id>, read
// at admission) shows the copy waiting: refused unless --force.
TEST(RunwayCtlInput, EnqueueRefusesAnIdAReplayPutBack) {
  Stack s("ctl-input-replayed");
  s.StartRedis();
  auto& redis = s.redis();
  const std::string job = MakeJob("rp1", "image_to_video", "gen4_turbo", 5, 26, 1);
  redis.Push("runway:jobs", job);  // as replay.lua moves it back
  redis.Cmd({"SET", "runway:replayed:rp1", "1", "EX", "604800"});
  ShellRun r = RunCtl(s, {"enqueue", "-"}, job);
  EXPECT_EQ(r.rc, 1) << r;
  EXPECT_NE(r.err.find("put back by a replay"), std::string::npos) << r;
  EXPECT_EQ(redis.Int({"LLEN", "runway:jobs"}), 1);
  EXPECT_EQ(RunCtl(s, {"enqueue", "--force", "-"}, job).rc, 0);
  EXPECT_EQ(redis.Int({"LLEN", "runway:jobs"}), 2);
}

// Hash fields, record values and ids are any bytes; rapidjson's Writer does not check
// UTF-8, so before the fix `--json` passed invalid bytes through: output that jq and
// every strict parser refuse. Now they become U+FFFD and the output parses.
TEST(RunwayCtlInput, JsonOutputIsValidWhateverBytesRedisHolds) {
  Stack s("ctl-input-utf8");
  s.StartRedis();
  s.redis().Cmd({"HSET", "runway:account:main", "balance", "100", "estimate", "100", "inflight:gen\xff\xfe", "1"});
  const std::string id = "job\xc3";  // a lead byte with nothing after it
  s.redis().Cmd({"HSET", "runway:job:" + id, "state", "task", "model", "gen4\xe2\x82", "task_id", "t\x80"});
  for (const std::vector<std::string>& cmd : std::vector<std::vector<std::string>>{
           {"accounts", "--json"}, {"status", "--json"}, {"job", id, "--json"}}) {
    ShellRun r = RunCtl(s, cmd);
    ASSERT_EQ(r.rc, 0) << r;
    EXPECT_TRUE(simdjson::validate_utf8(r.out.data(), r.out.size())) << cmd[0] << ": " << r;
    simdjson::dom::parser p;
    simdjson::dom::element e;
    EXPECT_EQ(p.parse(r.out).get(e), simdjson::SUCCESS) << cmd[0] << ": " << r;
    EXPECT_NE(r.out.find("\xEF\xBF\xBD"), std::string::npos) << cmd[0] << ": " << r;
  }
}

// body.model is the producer's text, and the daemon echoes it in the result and keeps it
// in the job's record: `runwayctl job` printed it raw to the terminal, as it did the
// result's account and task id and the record's fields. Tables now escape every cell;
// `accounts` and `status`, which escaped their model names already, must stay so.
TEST(RunwayCtlInput, JobPrintsNoModelRaw) {
  Stack s("ctl-input-model");
  s.StartRedis();
  s.StartSim();
  s.StartDaemon();
  ASSERT_TRUE(s.WaitReady(0)) << s.Logs();
  auto& redis = s.redis();
  redis.Push("runway:jobs", R"({"v":1,"id":"jobModel","endpoint":"text_to_video","body":{"model":"gen\u001b]0;owned\u0007\u001b[2J","promptText":"x"},"charged":3})");
  ASSERT_TRUE(WaitFor([&] { return redis.Int({"LLEN", "runway:results"}) == 1; }, std::chrono::seconds(10)))
      << s.Logs();
  ShellRun r = RunCtl(s, {"job", "jobModel"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_FALSE(HasControl(r.out)) << r;
  EXPECT_NE(r.out.find("model gen\\x1B]0;owned\\x07\\x1B[2J"), std::string::npos) << r;
  // With upstream.allow_unknown_models the ledger counts such a model in the account's
  // hash (inflight:<model>, daily:<model>), which `accounts` and `status` list (these two
  // passed before the fix too).
  redis.Cmd({"HSET", "runway:account:main", "inflight:gen\x1b[2J\xc2\x9b" "5m", "1"});
  for (const char* cmd : {"accounts", "status"}) {
    r = RunCtl(s, {cmd});
    ASSERT_EQ(r.rc, 0) << r;
    EXPECT_FALSE(HasControl(r.out)) << r;
    EXPECT_NE(r.out.find("gen\\x1B[2J\\u009B5m"), std::string::npos) << r;
  }
}

// A cancel for an id found nowhere (a typo, most often) was accepted with exit 0 and
// "a daemon cancels it when it takes it from the queue": the real job ran, and was
// charged, while the operator believed it cancelled. It is refused (exit 3) unless
// --force; a job queued or taken, not yet admitted, is still found and cancelled.
TEST(RunwayCtlInput, CancelRefusesAnIdFoundNowhere) {
  Stack s("ctl-input-cancel");
  s.StartRedis();
  auto& redis = s.redis();
  redis.Push("runway:jobs", MakeJob("cx_queued", "image_to_video", "gen4_turbo", 5, 26, 431));
  redis.Cmd({"SADD", "runway:daemons", "d7"});
  redis.Push("runway:processing:d7", MakeJob("cx_taken", "image_to_video", "gen4_turbo", 5, 26, 432));
  redis.Cmd({"HSET", "runway:job:cx_retry", "state", "retry", "attempt", "1", "raw", "{}"});

  ShellRun r = RunCtl(s, {"cancel", "cx_queuedd"});
  EXPECT_EQ(r.rc, 3) << r;
  EXPECT_NE(r.err.find("is the id right?"), std::string::npos) << r;
  EXPECT_EQ(redis.Int({"LLEN", "runway:cancel"}), 0);
  for (const char* id : {"cx_queued", "cx_taken", "cx_retry"}) {
    r = RunCtl(s, {"cancel", id});
    EXPECT_EQ(r.rc, 0) << id << r;
  }
  EXPECT_NE(r.out.find("waits for a retry"), std::string::npos) << r;
  r = RunCtl(s, {"cancel", "--force", "cx_queuedd"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find("not known yet"), std::string::npos) << r;
  EXPECT_EQ(redis.Int({"LLEN", "runway:cancel"}), 4);
}
