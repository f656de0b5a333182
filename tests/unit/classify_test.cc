// tests/unit/classify_test.cc — runway/classify.h, row by row.
#include "runway/classify.h"

#include <curl/curl.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace runwayd::runway {
namespace {

constexpr std::string_view kCreated = R"({"id":"9a6fc5d5-0000-0000-0000-000000000001","estimatedCost":{"credits":25}})";
constexpr std::string_view kTask = R"({"id":"t","status":"RUNNING","progress":0.3})";
constexpr std::string_view kOrg = R"({"creditBalance":100,"tier":{"models":{}},"usage":{"models":{}}})";
constexpr std::string_view kNoCredits = R"({"error":"You do not have enough credits to run this task."})";
constexpr std::string_view kDaily = R"({"error":"Your daily task limit has been reached."})";
constexpr std::string_view kValidation =
    R"({"error":"Validation of body failed","issues":[{"code":"custom","path":["promptImage"],"message":"Only HTTPS URLs are allowed."}]})";

Classification Http(Phase phase, long status, std::string_view body = "") {
  Answer a;
  a.phase = phase;
  a.transport = Transport::kAnswered;
  a.http_status = status;
  a.body = body;
  return ClassifyExchange(a);
}

Classification Net(Phase phase, Transport t) {
  Answer a;
  a.phase = phase;
  a.transport = t;
  return ClassifyExchange(a);
}

void ExpectOneLine(const Classification& c) {
  EXPECT_EQ(c.message.find('\n'), std::string::npos) << c.message;
  EXPECT_LE(c.message.size(), 300u) << c.message;
}

TEST(VerdictName, Distinct) {
  EXPECT_STREQ(VerdictName(Verdict::kSuccess), "success");
  EXPECT_STREQ(VerdictName(Verdict::kRetrySame), "retry_same");
  EXPECT_STREQ(VerdictName(Verdict::kRetryNewTask), "retry_new_task");
  EXPECT_STREQ(VerdictName(Verdict::kFailJob), "fail_job");
  EXPECT_STREQ(VerdictName(Verdict::kAccountProblem), "account_problem");
  EXPECT_STREQ(VerdictName(Verdict::kOutcomeUnknown), "outcome_unknown");
  EXPECT_STREQ(VerdictName(Verdict::kTaskGone), "task_gone");
}

// -------------------------------------------------------------------- create

TEST(ClassifyCreate, ReadableOkIsSuccess) {
  Classification c = Http(Phase::kCreate, 200, kCreated);
  EXPECT_EQ(c.verdict, Verdict::kSuccess);
  EXPECT_EQ(c.account, AccountIssue::kNone);
}

TEST(ClassifyCreate, UnreadableOkOrOther2xx3xxIsOutcomeUnknown) {
  for (std::string_view body : {std::string_view(""), std::string_view("{\"id\":"), std::string_view("<html>"),
                                std::string_view("{}")}) {
    Classification c = Http(Phase::kCreate, 200, body);
    EXPECT_EQ(c.verdict, Verdict::kOutcomeUnknown) << body;
    EXPECT_EQ(c.error_class, ErrorClass::kOutcomeUnknown);
    EXPECT_EQ(c.code, "http_200");
  }
  for (long s : {203L, 204L, 206L, 301L, 302L, 304L}) {
    Classification c = Http(Phase::kCreate, s, kCreated);
    EXPECT_EQ(c.verdict, Verdict::kOutcomeUnknown) << s;
    EXPECT_EQ(c.code, "http_" + std::to_string(s));
  }
}

// A 201 or 202 with a readable create answer names a created task: it is polled (an
// "unknown" outcome would refund a task that runs and is charged). Unreadable, unknown.
TEST(ClassifyCreate, A201Or202WithATaskIdIsACreatedTask) {
  for (long s : {201L, 202L}) {
    EXPECT_EQ(Http(Phase::kCreate, s, kCreated).verdict, Verdict::kSuccess) << s;
    Classification c = Http(Phase::kCreate, s, "{}");
    EXPECT_EQ(c.verdict, Verdict::kOutcomeUnknown) << s;
    EXPECT_EQ(c.code, "http_" + std::to_string(s));
    EXPECT_NE(c.message.find("HTTP " + std::to_string(s) + " on create"), std::string::npos) << c.message;
  }
}

TEST(ClassifyCreate, InsufficientCreditsIsTheAccountsProblem) {
  Classification c = Http(Phase::kCreate, 400, kNoCredits);
  EXPECT_EQ(c.verdict, Verdict::kAccountProblem);
  EXPECT_EQ(c.account, AccountIssue::kInsufficientCredits);
  EXPECT_EQ(c.error_class, ErrorClass::kUpstreamInsufficientCredits);
  EXPECT_EQ(c.code, "http_400");
  EXPECT_NE(c.message.find("enough credits"), std::string::npos) << c.message;
  // Matched without regard to case.
  EXPECT_EQ(Http(Phase::kCreate, 400, R"({"error":"Not ENOUGH CREDITS"})").account,
            AccountIssue::kInsufficientCredits);
}

TEST(ClassifyCreate, OtherBadRequestsFailTheJobWithTheSummary) {
  for (long s : {400L, 422L}) {
    Classification c = Http(Phase::kCreate, s, kValidation);
    EXPECT_EQ(c.verdict, Verdict::kFailJob) << s;
    EXPECT_EQ(c.error_class, ErrorClass::kInvalidInput);
    EXPECT_EQ(c.account, AccountIssue::kNone);
    EXPECT_EQ(c.code, "http_" + std::to_string(s));
    EXPECT_NE(c.message.find("promptImage: Only HTTPS URLs are allowed."), std::string::npos) << c.message;
    ExpectOneLine(c);
  }
}

TEST(ClassifyCreate, UnauthorizedAndForbiddenMakeTheAccountUnusable) {
  for (long s : {401L, 403L}) {
    Classification c = Http(Phase::kCreate, s, R"({"error":"Invalid API key"})");
    EXPECT_EQ(c.verdict, Verdict::kAccountProblem) << s;
    EXPECT_EQ(c.account, AccountIssue::kUnauthorized);
    EXPECT_EQ(c.error_class, ErrorClass::kAccountUnusable);
  }
}

// A 403 that is not Runway's error JSON is a firewall's or a CDN's page, not a verdict
// on the key: retried (nothing was created), the account left usable. A 401 of any
// body is the key's.
TEST(ClassifyForbidden, OnlyRunwaysOwn403DisablesTheAccount) {
  const char* page = "<html><head><title>Access denied</title></head><body>Error 1020</body></html>";
  for (Phase p : {Phase::kCreate, Phase::kPoll, Phase::kCancel, Phase::kOrganization}) {
    for (const char* body : {page, ""}) {
      Classification c = Http(p, 403, body);
      EXPECT_EQ(c.verdict, Verdict::kRetrySame) << static_cast<int>(p) << " " << body;
      EXPECT_EQ(c.account, AccountIssue::kNone);
      EXPECT_EQ(c.code, "http_403");
      EXPECT_EQ(Http(p, 401, body).account, AccountIssue::kUnauthorized) << static_cast<int>(p);
    }
    EXPECT_EQ(Http(p, 403, R"({"error":"Forbidden"})").account, AccountIssue::kUnauthorized);
  }
}

TEST(ClassifyCreate, NotFoundIsAnEndpointProblem) {
  Classification c = Http(Phase::kCreate, 404, R"({"error":"Not found"})");
  EXPECT_EQ(c.verdict, Verdict::kFailJob);
  EXPECT_EQ(c.error_class, ErrorClass::kInvalidInput);
  EXPECT_NE(c.message.find("endpoint not found"), std::string::npos) << c.message;
}

TEST(ClassifyCreate, CertainRefusalsAreRetried) {
  for (long s : {408L, 409L, 502L, 503L}) {
    Classification c = Http(Phase::kCreate, s, "");
    EXPECT_EQ(c.verdict, Verdict::kRetrySame) << s;
    EXPECT_FALSE(c.slow_account) << s;
    EXPECT_EQ(c.code, "http_" + std::to_string(s));
  }
  EXPECT_EQ(Http(Phase::kCreate, 502, "<html>Bad Gateway</html>").error_class, ErrorClass::kUpstreamUnavailable);
  EXPECT_EQ(Http(Phase::kCreate, 503, "").error_class, ErrorClass::kUpstreamUnavailable);
}

TEST(ClassifyCreate, RateLimitSlowsTheAccountDailyLimitStopsIt) {
  Classification r = Http(Phase::kCreate, 429, R"({"error":"Too many requests"})");
  EXPECT_EQ(r.verdict, Verdict::kRetrySame);
  EXPECT_TRUE(r.slow_account);
  EXPECT_EQ(r.account, AccountIssue::kNone);

  Classification d = Http(Phase::kCreate, 429, kDaily);
  EXPECT_EQ(d.verdict, Verdict::kAccountProblem);
  EXPECT_EQ(d.account, AccountIssue::kDailyLimit);
  EXPECT_EQ(d.error_class, ErrorClass::kUpstreamUnavailable);
  EXPECT_EQ(d.code, "http_429");
  // "daily task limit" is only an account problem on a 429.
  EXPECT_EQ(Http(Phase::kCreate, 400, kDaily).verdict, Verdict::kFailJob);
}

TEST(ClassifyCreate, ServerErrorsThatMayHaveCreatedAreOutcomeUnknown) {
  for (long s : {500L, 501L, 504L, 505L, 520L, 599L}) {
    Classification c = Http(Phase::kCreate, s, R"({"error":"Internal"})");
    EXPECT_EQ(c.verdict, Verdict::kOutcomeUnknown) << s;
    EXPECT_EQ(c.error_class, ErrorClass::kOutcomeUnknown) << s;
    EXPECT_EQ(c.code, "http_" + std::to_string(s));
  }
}

TEST(ClassifyCreate, OtherClientErrorsFailTheJob) {
  for (long s : {402L, 405L, 413L, 415L}) {
    Classification c = Http(Phase::kCreate, s, "");
    EXPECT_EQ(c.verdict, Verdict::kFailJob) << s;
    EXPECT_EQ(c.error_class, ErrorClass::kInvalidInput) << s;
  }
}

TEST(ClassifyCreate, NonsenseStatusesAreOutcomeUnknown) {
  for (long s : {0L, 99L, 100L, 600L, 999L}) {
    EXPECT_EQ(Http(Phase::kCreate, s, kCreated).verdict, Verdict::kOutcomeUnknown) << s;
  }
}

TEST(ClassifyCreate, TransportFailures) {
  Classification n = Net(Phase::kCreate, Transport::kNotSent);
  EXPECT_EQ(n.verdict, Verdict::kRetrySame);
  EXPECT_EQ(n.code, "not_sent");
  Classification s = Net(Phase::kCreate, Transport::kSentNoAnswer);
  EXPECT_EQ(s.verdict, Verdict::kOutcomeUnknown);
  EXPECT_EQ(s.error_class, ErrorClass::kOutcomeUnknown);
  EXPECT_EQ(s.code, "no_answer");
  Classification t = Net(Phase::kCreate, Transport::kTimeout);
  EXPECT_EQ(t.verdict, Verdict::kOutcomeUnknown);
  EXPECT_EQ(t.code, "timeout");
  for (const Classification& c : {n, s, t}) {
    EXPECT_FALSE(c.message.empty());
    ExpectOneLine(c);
  }
}

// A create is retried only if it was certainly refused: go through every status.
TEST(ClassifyCreate, RetrySameOnlyForCertainRefusals) {
  for (long s = 100; s < 600; ++s) {
    const Classification c = Http(Phase::kCreate, s, "");
    if (c.verdict == Verdict::kRetrySame) {
      EXPECT_TRUE(s == 403 || s == 408 || s == 409 || s == 429 || s == 502 || s == 503) << s;
    }
    if ((s >= 500 && s != 502 && s != 503) || s < 400) {
      EXPECT_EQ(c.verdict, Verdict::kOutcomeUnknown) << s;
    }
  }
}

// ---------------------------------------------------------------------- poll

TEST(ClassifyPoll, Rows) {
  EXPECT_EQ(Http(Phase::kPoll, 200, kTask).verdict, Verdict::kSuccess);
  Classification bad = Http(Phase::kPoll, 200, R"({"id":"t","status":)");
  EXPECT_EQ(bad.verdict, Verdict::kRetrySame);
  EXPECT_EQ(bad.code, "http_200");
  for (long s : {401L, 403L}) {
    Classification c = Http(Phase::kPoll, s, R"({"error":"Unauthorized"})");
    EXPECT_EQ(c.verdict, Verdict::kAccountProblem);
    EXPECT_EQ(c.account, AccountIssue::kUnauthorized);
  }
  Classification gone = Http(Phase::kPoll, 404, R"({"error":"Could not find Task"})");
  EXPECT_EQ(gone.verdict, Verdict::kTaskGone);
  EXPECT_EQ(gone.code, "http_404");
  Classification rl = Http(Phase::kPoll, 429, "");
  EXPECT_EQ(rl.verdict, Verdict::kRetrySame);
  EXPECT_TRUE(rl.slow_account);
  for (long s : {400L, 408L, 409L, 422L, 500L, 502L, 503L, 504L, 201L}) {
    Classification c = Http(Phase::kPoll, s, "");
    EXPECT_EQ(c.verdict, Verdict::kRetrySame) << s;
    EXPECT_FALSE(c.slow_account) << s;
  }
  for (Transport t : {Transport::kNotSent, Transport::kSentNoAnswer, Transport::kTimeout}) {
    EXPECT_EQ(Net(Phase::kPoll, t).verdict, Verdict::kRetrySame);
  }
  EXPECT_EQ(Net(Phase::kPoll, Transport::kTimeout).code, "timeout");
}

// A 200 about another task than the one asked about (a proxy or cache mixing answers
// up) is not this task's state: retried, never used (its output is someone else's).
TEST(ClassifyPoll, AnAnswerAboutAnotherTaskIsNotUsed) {
  Answer a;
  a.phase = Phase::kPoll;
  a.http_status = 200;
  a.body = R"({"id":"other","status":"SUCCEEDED","output":["https://x.test/o.mp4"],"cost":{"credits":25}})";
  a.task_id = "mine";
  Classification c = ClassifyExchange(a);
  EXPECT_EQ(c.verdict, Verdict::kRetrySame);
  EXPECT_EQ(c.code, "http_200");
  EXPECT_NE(c.message.find("another task (other)"), std::string::npos) << c.message;
  a.task_id = "other";
  EXPECT_EQ(ClassifyExchange(a).verdict, Verdict::kSuccess);
  a.task_id = {};  // not checked
  EXPECT_EQ(ClassifyExchange(a).verdict, Verdict::kSuccess);
}

// -------------------------------------------------------------------- cancel

TEST(ClassifyCancel, Rows) {
  EXPECT_EQ(Http(Phase::kCancel, 204, "").verdict, Verdict::kSuccess);
  EXPECT_EQ(Http(Phase::kCancel, 200, "").verdict, Verdict::kSuccess);
  EXPECT_EQ(Http(Phase::kCancel, 404, R"({"error":"Could not find Task"})").verdict, Verdict::kTaskGone);
  EXPECT_EQ(Http(Phase::kCancel, 401, "").verdict, Verdict::kAccountProblem);
  EXPECT_EQ(Http(Phase::kCancel, 403, R"({"error":"Forbidden"})").account, AccountIssue::kUnauthorized);
  for (long s : {400L, 429L, 500L, 502L, 504L}) EXPECT_EQ(Http(Phase::kCancel, s, "").verdict, Verdict::kRetrySame);
  EXPECT_EQ(Net(Phase::kCancel, Transport::kSentNoAnswer).verdict, Verdict::kRetrySame);
}

// -------------------------------------------------------------- organization

TEST(ClassifyOrganization, Rows) {
  EXPECT_EQ(Http(Phase::kOrganization, 200, kOrg).verdict, Verdict::kSuccess);
  EXPECT_EQ(Http(Phase::kOrganization, 200, R"({"tier":{}})").verdict, Verdict::kRetrySame);
  EXPECT_EQ(Http(Phase::kOrganization, 401, "").account, AccountIssue::kUnauthorized);
  EXPECT_EQ(Http(Phase::kOrganization, 403, R"({"error":"Forbidden"})").verdict, Verdict::kAccountProblem);
  for (long s : {404L, 429L, 500L, 503L}) EXPECT_EQ(Http(Phase::kOrganization, s, "").verdict, Verdict::kRetrySame);
  EXPECT_EQ(Net(Phase::kOrganization, Transport::kTimeout).verdict, Verdict::kRetrySame);
}

TEST(ClassifyExchange, MessagesStayShortOnHugeBodies) {
  const std::string body = R"({"error":")" + std::string(100000, 'e') + "\"}";
  Classification c = Http(Phase::kCreate, 400, body);
  ExpectOneLine(c);
  EXPECT_GT(c.message.size(), 200u);
  const std::string garbage(100000, '\x01');
  ExpectOneLine(Http(Phase::kCreate, 502, garbage));
}

// --------------------------------------------------------------- task failure

TEST(ClassifyTaskFailure, Rows) {
  struct Row {
    const char* code;
    Verdict verdict;
    ErrorClass error_class;
  };
  const Row rows[] = {
      {"", Verdict::kRetryNewTask, ErrorClass::kUpstreamFailure},
      {"INTERNAL", Verdict::kRetryNewTask, ErrorClass::kUpstreamFailure},
      {"INPUT_PREPROCESSING.INTERNAL", Verdict::kRetryNewTask, ErrorClass::kUpstreamFailure},
      {"THIRD_PARTY.UNAVAILABLE", Verdict::kRetryNewTask, ErrorClass::kUpstreamUnavailable},
      {"SAFETY.INPUT.TEXT", Verdict::kFailJob, ErrorClass::kModeration},
      {"SAFETY.INPUT.IMAGE", Verdict::kFailJob, ErrorClass::kModeration},
      {"SAFETY.OUTPUT.VIDEO", Verdict::kFailJob, ErrorClass::kModeration},
      {"INPUT_PREPROCESSING.SAFETY.TEXT", Verdict::kFailJob, ErrorClass::kModeration},
      {"ASSET.INVALID", Verdict::kFailJob, ErrorClass::kInvalidInput},
      {"INTERNAL.BAD_OUTPUT.CODE01", Verdict::kFailJob, ErrorClass::kUpstreamFailure},
      {"SOMETHING.NEW", Verdict::kFailJob, ErrorClass::kUpstreamFailure},
      {"SAFETYNET", Verdict::kFailJob, ErrorClass::kUpstreamFailure},  // not "SAFETY."
  };
  for (const Row& r : rows) {
    Classification c = ClassifyTaskFailure(false, false, r.code, "An error occurred");
    EXPECT_EQ(c.verdict, r.verdict) << r.code;
    EXPECT_EQ(c.error_class, r.error_class) << r.code;
    EXPECT_EQ(c.code, r.code);  // empty stays empty: the result says null
    EXPECT_EQ(c.message, "An error occurred");
  }
}

TEST(ClassifyTaskFailure, SafetyIsNeverRetried) {
  for (const char* code : {"SAFETY.INPUT.TEXT", "SAFETY.OUTPUT.IMAGE", "INPUT_PREPROCESSING.SAFETY.TEXT",
                           "SAFETY.INPUT.VIDEO.X"}) {
    const Verdict v = ClassifyTaskFailure(false, false, code, "").verdict;
    EXPECT_NE(v, Verdict::kRetryNewTask) << code;
    EXPECT_NE(v, Verdict::kRetrySame) << code;
  }
}

TEST(ClassifyTaskFailure, SucceededAndCancelled) {
  EXPECT_EQ(ClassifyTaskFailure(true, false, "", "").verdict, Verdict::kSuccess);
  Classification c = ClassifyTaskFailure(false, true, "", "");
  EXPECT_EQ(c.verdict, Verdict::kFailJob);
  EXPECT_EQ(c.error_class, ErrorClass::kCancelled);
  EXPECT_FALSE(c.message.empty());
}

TEST(ClassifyTaskFailure, MessageIsOneLineWithAFallback) {
  Classification c = ClassifyTaskFailure(false, false, "INTERNAL", "line one\nline two");
  EXPECT_EQ(c.message, "line one line two");
  Classification e = ClassifyTaskFailure(false, false, "", "");
  EXPECT_NE(e.message.find("INTERNAL"), std::string::npos) << e.message;
  ExpectOneLine(ClassifyTaskFailure(false, false, "INTERNAL", std::string(5000, 'x')));
}

// --------------------------------------------------------------- retry hints

constexpr int64_t kNow = 1767225600;  // 2026-01-01T00:00:00Z

TEST(RetryHints, ShouldRetry) {
  EXPECT_EQ(ParseRetryHints("true", "", "", kNow).should_retry, true);
  EXPECT_EQ(ParseRetryHints("TRUE", "", "", kNow).should_retry, true);
  EXPECT_EQ(ParseRetryHints(" False ", "", "", kNow).should_retry, false);
  EXPECT_EQ(ParseRetryHints("", "", "", kNow).should_retry, std::nullopt);
  EXPECT_EQ(ParseRetryHints("yes", "", "", kNow).should_retry, std::nullopt);
  EXPECT_EQ(ParseRetryHints("", "", "", kNow).after_ms, std::nullopt);
}

TEST(RetryHints, RetryAfterMsWinsAndIsFloored) {
  EXPECT_EQ(ParseRetryHints("", "1500", "30", kNow).after_ms, 1500);
  EXPECT_EQ(ParseRetryHints("", "250.9", "", kNow).after_ms, 250);
  EXPECT_EQ(ParseRetryHints("", "0", "", kNow).after_ms, 0);
  EXPECT_EQ(ParseRetryHints("", "-20", "", kNow).after_ms, 0);
  EXPECT_EQ(ParseRetryHints("", "99999999999", "", kNow).after_ms, 3600000);  // capped at an hour
  // Unreadable retry-after-ms: fall back to Retry-After.
  EXPECT_EQ(ParseRetryHints("", "soon", "3", kNow).after_ms, 3000);
  EXPECT_EQ(ParseRetryHints("", "1e3", "", kNow).after_ms, std::nullopt);
  EXPECT_EQ(ParseRetryHints("", "0x10", "", kNow).after_ms, std::nullopt);
}

TEST(RetryHints, RetryAfterSeconds) {
  EXPECT_EQ(ParseRetryHints("", "", "30", kNow).after_ms, 30000);
  EXPECT_EQ(ParseRetryHints("", "", " 2 ", kNow).after_ms, 2000);
  EXPECT_EQ(ParseRetryHints("", "", "1.5", kNow).after_ms, 1500);
  EXPECT_EQ(ParseRetryHints("", "", "86400", kNow).after_ms, 3600000);
  EXPECT_EQ(ParseRetryHints("", "", "nonsense", kNow).after_ms, std::nullopt);
}

TEST(RetryHints, RetryAfterHttpDate) {
  // Thu, 01 Jan 2026 00:00:42 GMT is 42 s after kNow.
  EXPECT_EQ(ParseRetryHints("", "", "Thu, 01 Jan 2026 00:00:42 GMT", kNow).after_ms, 42000);
  // The obsolete formats curl_getdate also reads.
  EXPECT_EQ(ParseRetryHints("", "", "Thursday, 01-Jan-26 00:01:00 GMT", kNow).after_ms, 60000);
  // In the past: no wait.
  EXPECT_EQ(ParseRetryHints("", "", "Wed, 31 Dec 2025 23:59:00 GMT", kNow).after_ms, 0);
  // Far in the future: capped at an hour.
  EXPECT_EQ(ParseRetryHints("", "", "Fri, 01 Jan 2027 00:00:00 GMT", kNow).after_ms, 3600000);
  // Cross-check against curl itself on another date.
  const char* date = "Sun, 06 Nov 1994 08:49:37 GMT";
  const int64_t t = static_cast<int64_t>(curl_getdate(date, nullptr));
  ASSERT_EQ(t, 784111777);
  EXPECT_EQ(ParseRetryHints("", "", date, t - 7).after_ms, 7000);
}

// ------------------------------------------------------------------- backoff

TEST(Backoff, DoublesFromBaseUpToCapWithoutJitter) {
  const RetryHints none;
  EXPECT_EQ(BackoffMs(0, 500, 8000, none, 0.0), 500);
  EXPECT_EQ(BackoffMs(1, 500, 8000, none, 0.0), 1000);
  EXPECT_EQ(BackoffMs(2, 500, 8000, none, 0.0), 2000);
  EXPECT_EQ(BackoffMs(4, 500, 8000, none, 0.0), 8000);
  EXPECT_EQ(BackoffMs(5, 500, 8000, none, 0.0), 8000);
  EXPECT_EQ(BackoffMs(1000, 500, 8000, none, 0.0), 8000);  // no overflow
  EXPECT_EQ(BackoffMs(3, 700, 5000, none, 0.0), 5000);     // 5600 capped
  EXPECT_EQ(BackoffMs(-1, 500, 8000, none, 0.0), 500);
}

TEST(Backoff, JitterTakesOffAtMostHalf) {
  const RetryHints none;
  for (int attempt = 0; attempt < 8; ++attempt) {
    const int64_t full = BackoffMs(attempt, 1000, 30000, none, 0.0);
    int64_t lowest = full;
    for (int i = 0; i < 100; ++i) {
      const double r = i / 100.0;
      const int64_t d = BackoffMs(attempt, 1000, 30000, none, r);
      EXPECT_LE(d, full);
      EXPECT_GE(d, full / 2);
      lowest = std::min(lowest, d);
    }
    EXPECT_LT(lowest, full * 6 / 10) << "jitter is used";
  }
  // Out-of-range randoms are clamped.
  EXPECT_EQ(BackoffMs(0, 1000, 8000, none, -3.0), 1000);
  EXPECT_EQ(BackoffMs(0, 1000, 8000, none, 7.0), 500);
}

TEST(Backoff, ServerHintWinsAndIsNotJittered) {
  RetryHints h;
  h.after_ms = 12345;
  EXPECT_EQ(BackoffMs(0, 500, 8000, h, 0.99), 12345);  // longer than the cap: the server knows
  h.after_ms = 100;
  EXPECT_EQ(BackoffMs(5, 500, 8000, h, 0.99), 100);
  h.after_ms = 0;
  EXPECT_EQ(BackoffMs(5, 500, 8000, h, 0.5), 0);
}

}  // namespace
}  // namespace runwayd::runway
