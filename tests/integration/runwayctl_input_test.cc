// tests/integration/runwayctl_input_test.cc — runwayctl facing what producers wrote,
// against a real redis-server: text from a job never reaches the terminal raw.
#include <gtest/gtest.h>

#include "harness.h"

using namespace harness;

namespace {

ShellRun Ctl(const Stack& s, const std::vector<std::string>& args, const std::string& input = "") {
  std::string cmd = ShellQuote(Bin("runwayctl")) + " --redis " +
                    ShellQuote("redis://127.0.0.1:" + std::to_string(s.redis_port()));
  for (const auto& a : args) cmd += " " + ShellQuote(a);
  return RunShell(cmd, s.dir(), input);
}

bool HasControl(const std::string& s) {
  for (unsigned char c : s)
    if ((c < 0x20 && c != '\n') || c == 0x7f) return true;
  return false;
}

}  // namespace

// A refund event echoes the producer's `user` (any string): an escape sequence in it
// would set the terminal's title and clear the screen of whoever runs `runwayctl job`.
TEST(RunwayCtlInput, RefundUserAndReasonAreNotPrintedRaw) {
  Stack s("ctl-input-esc");
  s.StartRedis();
  s.redis().Push("runway:refunds",
                 "{\"v\":1,\"refund_id\":\"jobEsc\",\"id\":\"jobEsc\",\"user\":\"u\\u001b]0;owned\\u0007\\u001b[2J\","
                 "\"credits\":5,\"reason\":\"invalid_job\\u001b[31m\",\"meta\":null}");
  ShellRun r = Ctl(s, {"job", "jobEsc"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find("refund of 5 credits to u\\x1B]0;owned\\x07\\x1B[2J (invalid_job\\x1B[31m)"),
            std::string::npos)
      << r;
  EXPECT_FALSE(HasControl(r.out)) << r;
}
