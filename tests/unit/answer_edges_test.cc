// tests/unit/answer_edges_test.cc — runway/answer.h and runway/classify.h on answers
// found by the answers review (docs/reliability.md, items from 71): odd figures and
// texts that must not reach the ledger or a result as they came.
#include <gtest/gtest.h>

#include <string>

#include "runway/answer.h"
#include "runway/classify.h"

namespace runwayd::runway {
namespace {

// A negative cost is "unknown", whatever its size: -0.5 rounded up is -0, which passed
// the "not negative" check as 0. A task settled at 0 gives the ledger back its whole
// charge (the estimate errs high) for an answer that makes no sense.
TEST(AnswerEdges, ANegativeFractionalCostIsUnknownNotZero) {
  for (const char* credits : {"-0.5", "-0.000001", "-1e-300"}) {
    const std::string cost = std::string("{\"credits\":") + credits + "}";
    TaskAnswer t = ParseTaskAnswer(R"({"id":"t","status":"SUCCEEDED","output":["https://x/a.mp4"],"cost":)" + cost +
                                   "}");
    ASSERT_TRUE(t.ok) << t.error;
    EXPECT_EQ(t.cost_credits, std::nullopt) << credits;
    CreateAnswer c = ParseCreateAnswer(R"({"id":"a","estimatedCost":)" + cost + "}");
    ASSERT_TRUE(c.ok) << c.error;
    EXPECT_EQ(c.estimated_credits, std::nullopt) << credits;
  }
  // Zero itself, written as an integer or a double, is a cost of zero.
  EXPECT_EQ(ParseCreateAnswer(R"({"id":"a","estimatedCost":{"credits":0.0}})").estimated_credits, 0);
  EXPECT_EQ(ParseCreateAnswer(R"({"id":"a","estimatedCost":{"credits":0}})").estimated_credits, 0);
}

// Runway's answers go into results, dead letters, events and logs. An answer that
// echoes the request's key (a proxy's error page, a "key ... is disabled" text) put
// the key there too: runway-api.md says a key must never be logged. Any "key_" with
// hex after it is masked, also a key the 300-byte cut left half.
TEST(AnswerEdges, AnEchoedApiKeyNeverReachesAMessage) {
  const std::string key = "key_" + std::string(64, 'a') + std::string(64, '7');
  const std::string bodies[] = {
      R"({"error":"API key )" + key + R"( is disabled"})",
      "<html><body>401 Unauthorized: Bearer " + key + "</body></html>",
      R"({"error":"Validation of body failed","issues":[{"path":["x"],"message":")" + std::string(250, 'x') +
          " " + key + R"("}]})",
  };
  for (const std::string& body : bodies) {
    for (long status : {400L, 401L, 500L, 503L}) {
      for (Phase phase : {Phase::kCreate, Phase::kPoll, Phase::kCancel, Phase::kOrganization}) {
        Answer a;
        a.phase = phase;
        a.http_status = status;
        a.body = body;
        Classification c = ClassifyExchange(a);
        EXPECT_EQ(c.message.find(key.substr(0, 12)), std::string::npos) << status << ": " << c.message;
        EXPECT_EQ(c.message.find("aaaaaaaa"), std::string::npos) << status << ": " << c.message;
      }
    }
  }
  Classification f = ClassifyTaskFailure(false, false, "INTERNAL", "upstream said " + key);
  EXPECT_EQ(f.message.find(key.substr(0, 12)), std::string::npos) << f.message;
  // Words that merely start with "key_" stay as they are.
  Classification k = ClassifyTaskFailure(false, false, "ASSET.INVALID", "key_frame missing");
  EXPECT_EQ(k.message, "key_frame missing");
}

// failureCode absent or null means INTERNAL (retried with a new task); a failureCode
// of another type is not a known code, and an unknown code is never retried: it may
// be a moderation failure in a shape this build does not read, and repeated SAFETY
// failures can get the account suspended. It was read as absent, so retried.
TEST(AnswerEdges, AFailureCodeThatIsNotAStringIsNotRetried) {
  for (const char* code : {"42", "true", R"({"code":"SAFETY.INPUT.TEXT"})", R"(["SAFETY.INPUT.TEXT"])"}) {
    TaskAnswer t = ParseTaskAnswer(std::string(R"({"id":"t","status":"FAILED","failure":"no","failureCode":)") +
                                   code + "}");
    ASSERT_TRUE(t.ok) << t.error;
    Classification c = ClassifyTaskFailure(false, false, t.failure_code, t.failure);
    EXPECT_EQ(c.verdict, Verdict::kFailJob) << code << " read as '" << t.failure_code << "'";
    EXPECT_FALSE(t.failure_code.empty()) << code;
  }
  // Absent and null stay INTERNAL.
  for (const char* body : {R"({"id":"t","status":"FAILED","failureCode":null})", R"({"id":"t","status":"FAILED"})"}) {
    TaskAnswer t = ParseTaskAnswer(body);
    EXPECT_EQ(ClassifyTaskFailure(false, false, t.failure_code, t.failure).verdict, Verdict::kRetryNewTask) << body;
  }
}

}  // namespace
}  // namespace runwayd::runway
