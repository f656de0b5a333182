// tests/unit/answer_test.cc — runway/answer.h on real-shaped and hostile bodies.
#include "runway/answer.h"

#include <gtest/gtest.h>

#include <string>

namespace runwayd::runway {
namespace {

// ------------------------------------------------------------------ statuses

TEST(TaskStatusName, UppercaseRunwayNames) {
  EXPECT_STREQ(TaskStatusName(TaskStatus::kPending), "PENDING");
  EXPECT_STREQ(TaskStatusName(TaskStatus::kThrottled), "THROTTLED");
  EXPECT_STREQ(TaskStatusName(TaskStatus::kRunning), "RUNNING");
  EXPECT_STREQ(TaskStatusName(TaskStatus::kSucceeded), "SUCCEEDED");
  EXPECT_STREQ(TaskStatusName(TaskStatus::kFailed), "FAILED");
  EXPECT_STREQ(TaskStatusName(TaskStatus::kCancelled), "CANCELLED");
  EXPECT_STREQ(TaskStatusName(TaskStatus::kUnknown), "UNKNOWN");
}

TEST(TaskStatusName, RoundTripsThroughTheParser) {
  for (TaskStatus s : {TaskStatus::kPending, TaskStatus::kThrottled, TaskStatus::kRunning, TaskStatus::kFailed,
                       TaskStatus::kCancelled}) {
    const std::string body = std::string(R"({"id":"t","status":")") + TaskStatusName(s) + "\"}";
    TaskAnswer a = ParseTaskAnswer(body);
    ASSERT_TRUE(a.ok) << body << ": " << a.error;
    EXPECT_EQ(a.status, s) << body;
  }
}

// -------------------------------------------------------------------- create

TEST(CreateAnswer, IdAndEstimatedCost) {
  CreateAnswer a = ParseCreateAnswer(R"({"id":"9a6fc5d5-1111-2222-3333-444455556666","estimatedCost":{"credits":25}})");
  ASSERT_TRUE(a.ok) << a.error;
  EXPECT_EQ(a.id, "9a6fc5d5-1111-2222-3333-444455556666");
  EXPECT_EQ(a.estimated_credits, 25);
}

TEST(CreateAnswer, EstimatedCostIsOptional) {
  CreateAnswer a = ParseCreateAnswer(R"({"id":"abc"})");
  ASSERT_TRUE(a.ok);
  EXPECT_EQ(a.estimated_credits, std::nullopt);
  // A malformed optional cost does not hide the id (the task exists either way).
  for (const char* body : {R"({"id":"abc","estimatedCost":null})", R"({"id":"abc","estimatedCost":25})",
                           R"({"id":"abc","estimatedCost":{"credits":"25"}})",
                           R"({"id":"abc","estimatedCost":{"credits":-3}})",
                           R"({"id":"abc","estimatedCost":{"credits":1e300}})",
                           R"({"id":"abc","estimatedCost":{"credits":18446744073709551615}})",
                           R"({"id":"abc","estimatedCost":{}})"}) {
    CreateAnswer b = ParseCreateAnswer(body);
    ASSERT_TRUE(b.ok) << body;
    EXPECT_EQ(b.id, "abc");
    EXPECT_EQ(b.estimated_credits, std::nullopt) << body;
  }
}

TEST(CreateAnswer, FractionalCreditsRoundUp) {
  EXPECT_EQ(ParseCreateAnswer(R"({"id":"a","estimatedCost":{"credits":12.5}})").estimated_credits, 13);
  EXPECT_EQ(ParseCreateAnswer(R"({"id":"a","estimatedCost":{"credits":12.01}})").estimated_credits, 13);
  EXPECT_EQ(ParseCreateAnswer(R"({"id":"a","estimatedCost":{"credits":12.0}})").estimated_credits, 12);
  EXPECT_EQ(ParseCreateAnswer(R"({"id":"a","estimatedCost":{"credits":0}})").estimated_credits, 0);
}

TEST(CreateAnswer, RefusesBodiesWithoutAnId) {
  for (const char* body : {"", "{}", R"({"id":""})", R"({"id":42})", R"({"id":null})", "[]", R"("id")", "null",
                           R"({"id":"abc")", R"({"id":"abc"} trailing)", "<html>502 Bad Gateway</html>"}) {
    CreateAnswer a = ParseCreateAnswer(body);
    EXPECT_FALSE(a.ok) << body;
    EXPECT_FALSE(a.error.empty()) << body;
    EXPECT_TRUE(a.id.empty()) << body;
  }
}

// The id goes into /v1/tasks/<id>, Redis and log lines: only a plain id is a task id.
// Before the fix "../organization" made every poll read the organization, "a?b" or
// "a#b" polled task "a", and an escaped newline forged a daemon log line.
TEST(CreateAnswer, RefusesIdsThatAreNotPlainTaskIds) {
  for (const char* body : {R"({"id":"a/b"})", R"({"id":"../organization"})", R"({"id":".."})",
                           R"({"id":"a?b=1"})", R"({"id":"a#b"})", R"({"id":"a b"})", R"({"id":"a\nINFO forged"})",
                           R"({"id":"a%2Fb"})", R"({"id":"caf\u00e9"})", R"({"id":"a\u0000"})"}) {
    CreateAnswer a = ParseCreateAnswer(body);
    EXPECT_FALSE(a.ok) << body;
    EXPECT_FALSE(a.error.empty()) << body;
    EXPECT_TRUE(a.id.empty()) << body;
    EXPECT_FALSE(ParseTaskAnswer(std::string(body).insert(1, R"("status":"PENDING",)")).ok) << body;
  }
  const std::string long_id(129, 'a');
  EXPECT_FALSE(ParseCreateAnswer(R"({"id":")" + long_id + "\"}").ok);
  EXPECT_TRUE(ParseCreateAnswer(R"({"id":")" + long_id.substr(1) + "\"}").ok);
  EXPECT_TRUE(ParseCreateAnswer(R"({"id":"Task_9a6fc5d5-1111"})").ok);
}

// No task costs a billion credits: a larger figure is garbage, and from 1e17 up the
// ledger's Lua could not pass it to HINCRBY (kCreated failed on every try and the job
// never ended). It is "unknown", like a negative one.
TEST(CreateAnswer, ImplausiblyLargeCreditsAreUnknown) {
  for (const char* credits : {"1000000001", "100000000000000000", "9000000000000000000", "1e17", "5e9"}) {
    const std::string body = std::string(R"({"id":"a","estimatedCost":{"credits":)") + credits + "}}";
    CreateAnswer a = ParseCreateAnswer(body);
    ASSERT_TRUE(a.ok) << body;
    EXPECT_EQ(a.estimated_credits, std::nullopt) << body;
    TaskAnswer t = ParseTaskAnswer(std::string(R"({"id":"a","status":"FAILED","cost":{"credits":)") + credits + "}}");
    ASSERT_TRUE(t.ok) << credits;
    EXPECT_EQ(t.cost_credits, std::nullopt) << credits;
  }
  EXPECT_EQ(ParseCreateAnswer(R"({"id":"a","estimatedCost":{"credits":1000000000}})").estimated_credits, 1000000000);
}

// ---------------------------------------------------------------------- task

TEST(TaskAnswer, Pending) {
  TaskAnswer a = ParseTaskAnswer(
      R"({"id":"t1","createdAt":"2026-01-01T00:00:00.000Z","status":"PENDING","estimatedCost":{"credits":50}})");
  ASSERT_TRUE(a.ok) << a.error;
  EXPECT_EQ(a.id, "t1");
  EXPECT_EQ(a.status, TaskStatus::kPending);
  EXPECT_FALSE(IsTerminal(a.status));
  EXPECT_EQ(a.estimated_credits, 50);
  EXPECT_EQ(a.cost_credits, std::nullopt);
  EXPECT_EQ(a.progress, std::nullopt);
}

TEST(TaskAnswer, RunningWithProgress) {
  TaskAnswer a = ParseTaskAnswer(R"({"id":"t1","status":"RUNNING","progress":0.42,"estimatedCost":{"credits":50}})");
  ASSERT_TRUE(a.ok);
  EXPECT_EQ(a.status, TaskStatus::kRunning);
  ASSERT_TRUE(a.progress.has_value());
  EXPECT_DOUBLE_EQ(*a.progress, 0.42);
  // Integer progress and out-of-range progress are clamped to 0..1.
  EXPECT_DOUBLE_EQ(*ParseTaskAnswer(R"({"id":"t","status":"RUNNING","progress":1})").progress, 1.0);
  EXPECT_DOUBLE_EQ(*ParseTaskAnswer(R"({"id":"t","status":"RUNNING","progress":1.7})").progress, 1.0);
  EXPECT_DOUBLE_EQ(*ParseTaskAnswer(R"({"id":"t","status":"RUNNING","progress":-0.2})").progress, 0.0);
  EXPECT_EQ(ParseTaskAnswer(R"({"id":"t","status":"RUNNING","progress":"half"})").progress, std::nullopt);
  EXPECT_EQ(ParseTaskAnswer(R"({"id":"t","status":"RUNNING","progress":null})").progress, std::nullopt);
}

TEST(TaskAnswer, SucceededWithOutputsAndCost) {
  TaskAnswer a = ParseTaskAnswer(
      R"({"id":"t1","status":"SUCCEEDED","output":["https://dnznrvs05pmza.cloudfront.net/a.mp4?_jwt=x","https://b/2.mp4"],)"
      R"("cost":{"credits":25}})");
  ASSERT_TRUE(a.ok) << a.error;
  EXPECT_EQ(a.status, TaskStatus::kSucceeded);
  EXPECT_TRUE(IsTerminal(a.status));
  ASSERT_EQ(a.output.size(), 2u);
  EXPECT_EQ(a.output[0], "https://dnznrvs05pmza.cloudfront.net/a.mp4?_jwt=x");
  EXPECT_EQ(a.output[1], "https://b/2.mp4");
  EXPECT_EQ(a.cost_credits, 25);
}

TEST(TaskAnswer, SucceededWithoutOutputIsUnreadable) {
  for (const char* body : {R"({"id":"t","status":"SUCCEEDED"})", R"({"id":"t","status":"SUCCEEDED","output":[]})",
                           R"({"id":"t","status":"SUCCEEDED","output":[1,null]})",
                           R"({"id":"t","status":"SUCCEEDED","output":"https://a/b.mp4"})"}) {
    TaskAnswer a = ParseTaskAnswer(body);
    EXPECT_FALSE(a.ok) << body;
    EXPECT_NE(a.error.find("output"), std::string::npos) << a.error;
  }
}

TEST(TaskAnswer, FailedWithCodeNullCodeAndNoCode) {
  TaskAnswer a = ParseTaskAnswer(
      R"({"id":"t","status":"FAILED","failure":"Input rejected","failureCode":"SAFETY.INPUT.TEXT","cost":{"credits":25}})");
  ASSERT_TRUE(a.ok);
  EXPECT_EQ(a.status, TaskStatus::kFailed);
  EXPECT_EQ(a.failure, "Input rejected");
  EXPECT_EQ(a.failure_code, "SAFETY.INPUT.TEXT");
  EXPECT_EQ(a.cost_credits, 25);

  TaskAnswer n = ParseTaskAnswer(R"({"id":"t","status":"FAILED","failure":"oops","failureCode":null})");
  ASSERT_TRUE(n.ok);
  EXPECT_EQ(n.failure_code, "");
  TaskAnswer m = ParseTaskAnswer(R"({"id":"t","status":"FAILED","failure":"oops"})");
  ASSERT_TRUE(m.ok);
  EXPECT_EQ(m.failure_code, "");
  EXPECT_EQ(m.cost_credits, std::nullopt);
}

TEST(TaskAnswer, CancelledAndThrottled) {
  TaskAnswer c = ParseTaskAnswer(R"({"id":"t","status":"CANCELLED","cost":{"credits":0}})");
  ASSERT_TRUE(c.ok);
  EXPECT_EQ(c.status, TaskStatus::kCancelled);
  EXPECT_EQ(c.cost_credits, 0);
  TaskAnswer t = ParseTaskAnswer(R"({"id":"t","status":"THROTTLED","estimatedCost":{"credits":7.2}})");
  ASSERT_TRUE(t.ok);
  EXPECT_EQ(t.status, TaskStatus::kThrottled);
  EXPECT_EQ(t.estimated_credits, 8);
}

TEST(TaskAnswer, UnknownStatusIsReadableButUnknown) {
  TaskAnswer a = ParseTaskAnswer(R"({"id":"t","status":"ARCHIVED"})");
  EXPECT_TRUE(a.ok);
  EXPECT_EQ(a.status, TaskStatus::kUnknown);
  EXPECT_FALSE(IsTerminal(a.status));
  // Names are case-sensitive, as Runway sends them.
  EXPECT_EQ(ParseTaskAnswer(R"({"id":"t","status":"succeeded","output":["u"]})").status, TaskStatus::kUnknown);
}

TEST(TaskAnswer, RefusesBodiesWithoutIdOrStatus) {
  for (const char* body : {"", "{}", R"({"status":"PENDING"})", R"({"id":"t"})", R"({"id":"t","status":3})",
                           R"({"id":"","status":"PENDING"})", "[1,2]", "\xff\xfe{}", R"({"id":"t","status":"PENDI)"}) {
    TaskAnswer a = ParseTaskAnswer(body);
    EXPECT_FALSE(a.ok) << body;
    EXPECT_FALSE(a.error.empty()) << body;
  }
}

TEST(TaskAnswer, UnknownFieldsAreIgnored) {
  TaskAnswer a = ParseTaskAnswer(
      R"({"id":"t","status":"RUNNING","progress":0.5,"new":{"nested":[1,2,{"x":null}]},"createdAt":"x"})");
  EXPECT_TRUE(a.ok);
  EXPECT_EQ(a.status, TaskStatus::kRunning);
}

// --------------------------------------------------------------------- error

TEST(ErrorAnswer, ErrorTextAlone) {
  ErrorAnswer e = ParseErrorAnswer(R"({"error":"You do not have enough credits to run this task."})");
  ASSERT_TRUE(e.ok);
  EXPECT_EQ(e.error, "You do not have enough credits to run this task.");
  EXPECT_EQ(e.summary, "You do not have enough credits to run this task.");
}

TEST(ErrorAnswer, IssuesWithPathsAndMessages) {
  ErrorAnswer e = ParseErrorAnswer(
      R"({"error":"Validation of body failed","issues":[)"
      R"({"code":"custom","path":["promptImage"],"message":"Failed to fetch asset. Received HTTP response code \"404\"."},)"
      R"({"code":"invalid_type","path":["promptImage",0,"uri"],"message":"Only HTTPS URLs are allowed."}],)"
      R"("docUrl":"https://docs.dev.runwayml.com/errors"})");
  ASSERT_TRUE(e.ok);
  EXPECT_EQ(e.error, "Validation of body failed");
  EXPECT_EQ(e.summary,
            "Validation of body failed; promptImage: Failed to fetch asset. Received HTTP response code \"404\".; "
            "promptImage.0.uri: Only HTTPS URLs are allowed.");
}

TEST(ErrorAnswer, UnrecognizedKeysAreListed) {
  ErrorAnswer e = ParseErrorAnswer(
      R"({"error":"Validation of body failed","issues":[{"code":"unrecognized_keys","keys":["promt","sed"],"path":[],)"
      R"("message":"Unrecognized key(s) in object: 'promt', 'sed'"}]})");
  ASSERT_TRUE(e.ok);
  EXPECT_NE(e.summary.find("promt, sed"), std::string::npos) << e.summary;
  EXPECT_EQ(e.summary.find("; : "), std::string::npos) << "an empty path prints nothing: " << e.summary;
  // Keys with no message at all still show up.
  ErrorAnswer k = ParseErrorAnswer(R"({"error":"bad","issues":[{"code":"unrecognized_keys","keys":["zz"]}]})");
  EXPECT_EQ(k.summary, "bad; keys: zz");
}

TEST(ErrorAnswer, SummaryIsOneLineAndBounded) {
  std::string many = R"({"error":"Validation\nof body failed","issues":[)";
  for (int i = 0; i < 100; ++i) {
    if (i) many += ",";
    many += R"({"path":["field)" + std::to_string(i) + R"("],"message":"is wrong in some long way"})";
  }
  many += "]}";
  ErrorAnswer e = ParseErrorAnswer(many);
  ASSERT_TRUE(e.ok);
  EXPECT_LE(e.summary.size(), 300u);
  EXPECT_GE(e.summary.size(), 250u);  // it was cut, not dropped
  EXPECT_EQ(e.summary.find('\n'), std::string::npos);
  EXPECT_EQ(e.summary.substr(e.summary.size() - 3), "...");
  EXPECT_EQ(e.summary.rfind("Validation of body failed; field0: is wrong", 0), 0u) << e.summary;
}

TEST(ErrorAnswer, CutsOnAUtf8Boundary) {
  std::string error(297, 'a');
  error += "\xc3\xa9\xc3\xa9\xc3\xa9";  // "ééé": 303 bytes in all
  ErrorAnswer e = ParseErrorAnswer(R"({"error":")" + error + "\"}");
  ASSERT_TRUE(e.ok);
  ASSERT_LE(e.summary.size(), 300u);
  // No dangling lead byte before the "...".
  const std::string head = e.summary.substr(0, e.summary.size() - 3);
  ASSERT_FALSE(head.empty());
  EXPECT_NE(static_cast<unsigned char>(head.back()), 0xc3);
}

TEST(ErrorAnswer, NonJsonBodyGivesASafeExcerpt) {
  ErrorAnswer e = ParseErrorAnswer("<html>\r\n<body>502 Bad Gateway</body>\r\n</html>");
  EXPECT_FALSE(e.ok);
  EXPECT_EQ(e.summary, "unreadable body: <html> <body>502 Bad Gateway</body> </html>");

  ErrorAnswer empty = ParseErrorAnswer("");
  EXPECT_FALSE(empty.ok);
  EXPECT_EQ(empty.summary.rfind("unreadable body: ", 0), 0u);
}

TEST(ErrorAnswer, ExcerptIsPrintableAsciiAndAtMost120Bytes) {
  std::string body;
  for (int i = 0; i < 1000; ++i) body.push_back(static_cast<char>(i % 256));
  ErrorAnswer e = ParseErrorAnswer(body);
  EXPECT_FALSE(e.ok);
  const std::string prefix = "unreadable body: ";
  ASSERT_EQ(e.summary.rfind(prefix, 0), 0u);
  const std::string excerpt = e.summary.substr(prefix.size());
  EXPECT_LE(excerpt.size(), 120u);
  EXPECT_GE(excerpt.size(), 100u);
  for (char c : excerpt) {
    EXPECT_TRUE(c >= 0x20 && c <= 0x7e) << static_cast<int>(static_cast<unsigned char>(c));
  }
  EXPECT_EQ(excerpt.substr(excerpt.size() - 3), "...");
  // Just over the limit: cut too.
  for (size_t n : {size_t{121}, size_t{150}, size_t{199}}) {
    const std::string got = ParseErrorAnswer(std::string(n, 'z')).summary;
    EXPECT_EQ(got.size(), prefix.size() + 120) << n;
    EXPECT_EQ(got.substr(got.size() - 3), "...") << n;
  }
  EXPECT_EQ(ParseErrorAnswer(std::string(120, 'z')).summary, prefix + std::string(120, 'z'));
  // A short body is shown whole, without a cut mark.
  EXPECT_EQ(ParseErrorAnswer("Bad Gateway").summary, "unreadable body: Bad Gateway");
}

TEST(ErrorAnswer, JsonWithoutAnErrorStringIsNotAnErrorAnswer) {
  for (const char* body : {R"({"message":"nope"})", R"({"error":42})", R"(["error"])", "null"}) {
    ErrorAnswer e = ParseErrorAnswer(body);
    EXPECT_FALSE(e.ok) << body;
    EXPECT_EQ(e.summary.rfind("unreadable body: ", 0), 0u) << e.summary;
    EXPECT_TRUE(e.error.empty());
  }
}

TEST(ErrorAnswer, TruncatedJsonIsAnExcerpt) {
  ErrorAnswer e = ParseErrorAnswer(R"({"error":"Validation of body fa)");
  EXPECT_FALSE(e.ok);
  EXPECT_EQ(e.summary, R"(unreadable body: {"error":"Validation of body fa)");
}

// -------------------------------------------------------------- organization

TEST(OrganizationAnswer, ReferenceExample) {
  OrganizationAnswer o = ParseOrganizationAnswer(
      R"({"creditBalance": 5000, "tier": {"maxMonthlyCreditSpend": 10000, "models": {"gen4_turbo": )"
      R"({"maxConcurrentGenerations": 2, "maxDailyGenerations": 200}}}, "usage": {"models": {"gen4_turbo": )"
      R"({"dailyGenerations": 12}}}})");
  ASSERT_TRUE(o.ok) << o.error;
  EXPECT_EQ(o.credit_balance, 5000);
  EXPECT_EQ(o.max_monthly_spend, 10000);
  ASSERT_EQ(o.limits.count("gen4_turbo"), 1u);
  EXPECT_EQ(o.limits["gen4_turbo"].max_concurrent, 2);
  EXPECT_EQ(o.limits["gen4_turbo"].max_daily, 200);
  EXPECT_EQ(o.daily_generations["gen4_turbo"], 12);
}

TEST(OrganizationAnswer, NullLimitsMeanUnlimited) {
  OrganizationAnswer o = ParseOrganizationAnswer(
      R"({"creditBalance": 12, "tier": {"maxMonthlyCreditSpend": null, "models": {)"
      R"("veo3": {"maxConcurrentGenerations": null, "maxDailyGenerations": 50},)"
      R"("gen4.5": {"maxConcurrentGenerations": 3}}}, "usage": {"models": {}}})");
  ASSERT_TRUE(o.ok) << o.error;
  EXPECT_EQ(o.max_monthly_spend, std::nullopt);
  EXPECT_EQ(o.limits["veo3"].max_concurrent, std::nullopt);
  EXPECT_EQ(o.limits["veo3"].max_daily, 50);
  EXPECT_EQ(o.limits["gen4.5"].max_concurrent, 3);
  EXPECT_EQ(o.limits["gen4.5"].max_daily, std::nullopt);
  EXPECT_TRUE(o.daily_generations.empty());
}

TEST(OrganizationAnswer, BalanceOnlyAndNegativeOrFractionalBalance) {
  OrganizationAnswer o = ParseOrganizationAnswer(R"({"creditBalance": 0})");
  ASSERT_TRUE(o.ok);
  EXPECT_EQ(o.credit_balance, 0);
  EXPECT_TRUE(o.limits.empty());
  EXPECT_EQ(ParseOrganizationAnswer(R"({"creditBalance": -40})").credit_balance, -40);
  EXPECT_EQ(ParseOrganizationAnswer(R"({"creditBalance": 99.9})").credit_balance, 99);  // never over-count
}

TEST(OrganizationAnswer, RefusesWhatCouldOverspend) {
  for (const char* body : {"", "{}", R"({"creditBalance":"5000"})", R"({"creditBalance":null})",
                           R"({"creditBalance":5,"tier":{"models":{"gen4_turbo":{"maxConcurrentGenerations":"2"}}}})",
                           R"({"creditBalance":5,"tier":{"models":{"gen4_turbo":3}}})",
                           R"({"creditBalance":5,"tier":{"maxMonthlyCreditSpend":"lots"}})",
                           R"({"creditBalance":5,"tier":[]})", "not json"}) {
    OrganizationAnswer o = ParseOrganizationAnswer(body);
    EXPECT_FALSE(o.ok) << body;
    EXPECT_FALSE(o.error.empty()) << body;
  }
  OrganizationAnswer named = ParseOrganizationAnswer(
      R"({"creditBalance":5,"tier":{"models":{"gen4_turbo":{"maxDailyGenerations":true}}}})");
  EXPECT_NE(named.error.find("tier.models.gen4_turbo.maxDailyGenerations"), std::string::npos) << named.error;
}

// ------------------------------------------------------------------- hostile

TEST(Hostile, NeverCrashesOnTruncationsOfValidBodies) {
  const std::string bodies[] = {
      R"({"id":"t","status":"SUCCEEDED","output":["https://a/b.mp4"],"cost":{"credits":25}})",
      R"({"error":"Validation of body failed","issues":[{"code":"custom","path":["a",1],"message":"m"}]})",
      R"({"creditBalance":5000,"tier":{"models":{"gen4_turbo":{"maxConcurrentGenerations":2}}}})",
  };
  for (const std::string& full : bodies) {
    for (size_t n = 0; n < full.size(); ++n) {
      const std::string cut = full.substr(0, n);  // an exact-size buffer: no slack to read past
      EXPECT_FALSE(ParseTaskAnswer(cut).ok) << cut;
      EXPECT_FALSE(ParseCreateAnswer(cut).ok) << cut;
      EXPECT_FALSE(ParseOrganizationAnswer(cut).ok) << cut;
      EXPECT_FALSE(ParseErrorAnswer(cut).ok) << cut;
    }
  }
}

TEST(Hostile, DeepNestingAndHugeBodies) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_FALSE(ParseTaskAnswer(deep).ok);
  EXPECT_FALSE(ParseErrorAnswer(deep).ok);
  EXPECT_LE(ParseErrorAnswer(deep).summary.size(), 140u);

  std::string big = R"({"id":"t","status":"RUNNING","pad":")" + std::string(4 << 20, 'x') + R"("})";
  EXPECT_TRUE(ParseTaskAnswer(big).ok);
  const std::string huge(20 << 20, ' ');  // over the size limit: refused, not parsed
  EXPECT_FALSE(ParseCreateAnswer(huge).ok);
}

TEST(Hostile, EmbeddedNulAndInvalidUtf8) {
  static const char kNul[] = "{\"id\":\"t\0\",\"status\":\"PENDING\"}";
  const std::string nul(kNul, sizeof kNul - 1);
  ASSERT_EQ(nul.size(), 30u);
  TaskAnswer a = ParseTaskAnswer(nul);
  EXPECT_FALSE(a.ok);  // a raw control character inside a string is not JSON
  EXPECT_FALSE(ParseTaskAnswer("{\"id\":\"\xc3\x28\",\"status\":\"PENDING\"}").ok);
}

TEST(Hostile, ParserIsReusableAfterFailures) {
  EXPECT_FALSE(ParseTaskAnswer("{{{{").ok);
  TaskAnswer a = ParseTaskAnswer(R"({"id":"after","status":"PENDING"})");
  ASSERT_TRUE(a.ok);
  EXPECT_EQ(a.id, "after");
}

}  // namespace
}  // namespace runwayd::runway
