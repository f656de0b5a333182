// tests/unit/events_result_test.cc — the result event runwayd writes, parsed back and
// checked value by value, its exact text, error class names and times. Escaping,
// meta and the other events: events_test.cc.
#include "queue/events.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include "events_test_util.h"

namespace runwayd {
namespace {

using events_test::Doc;
using events_test::Failed;
using events_test::Succeeded;

// --- error classes -------------------------------------------------------------

TEST(EventErrorClass, NamesAreTheContractsAndRoundTrip) {
  const std::vector<std::pair<ErrorClass, std::string>> all = {
      {ErrorClass::kInvalidJob, "invalid_job"},
      {ErrorClass::kInvalidInput, "invalid_input"},
      {ErrorClass::kModeration, "moderation"},
      {ErrorClass::kUpstreamFailure, "upstream_failure"},
      {ErrorClass::kUpstreamInsufficientCredits, "upstream_insufficient_credits"},
      {ErrorClass::kUpstreamUnavailable, "upstream_unavailable"},
      {ErrorClass::kAccountUnusable, "account_unusable"},
      {ErrorClass::kDeadlineExceeded, "deadline_exceeded"},
      {ErrorClass::kOutcomeUnknown, "outcome_unknown"},
      {ErrorClass::kCancelled, "cancelled"},
  };
  for (const auto& [cls, name] : all) {
    EXPECT_EQ(ErrorClassName(cls), name);
    EXPECT_EQ(ErrorClassFromName(name), cls) << name;
    EXPECT_EQ(ErrorClassFromName(ErrorClassName(cls)), cls) << name;
  }
  // The enumerators are consecutive from kInvalidJob to kCancelled: all ten are listed.
  EXPECT_EQ(static_cast<int>(ErrorClass::kCancelled) - static_cast<int>(ErrorClass::kInvalidJob) + 1,
            static_cast<int>(all.size()));
}

TEST(EventErrorClass, UnknownNamesAreRefused) {
  for (const std::string bad : {"", "Moderation", "MODERATION", "moderation ", " cancelled", "canceled",
                                "upstream", "invalid-job", "invalid_job\n"}) {
    EXPECT_FALSE(ErrorClassFromName(bad).has_value()) << bad;
  }
  EXPECT_FALSE(ErrorClassFromName(std::string_view("moderation\0", 11)).has_value());
}

// --- time ------------------------------------------------------------------------

TEST(EventTime, FormatTimeMsIsRfc3339UtcWithMilliseconds) {
  EXPECT_EQ(FormatTimeMs(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatTimeMs(1), "1970-01-01T00:00:00.001Z");
  EXPECT_EQ(FormatTimeMs(1795819200123), "2026-11-27T22:40:00.123Z");
  EXPECT_EQ(FormatTimeMs(1709164800005), "2024-02-29T00:00:00.005Z");  // leap day
  EXPECT_EQ(FormatTimeMs(1735689599999), "2024-12-31T23:59:59.999Z");
  EXPECT_EQ(FormatTimeMs(1735689600000), "2025-01-01T00:00:00.000Z");
  // Out of range: clamped to four-digit years from 1970.
  EXPECT_EQ(FormatTimeMs(-1), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatTimeMs(INT64_MAX), "9999-12-31T23:59:59.999Z");
  EXPECT_EQ(FormatTimeMs(INT64_MIN), "1970-01-01T00:00:00.000Z");
}

// The same text as the C library's calendar, over the whole range.
TEST(EventTime, FormatTimeMsAgreesWithGmtime) {
  uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (int i = 0; i < 20000; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;  // xorshift: fixed sequence, no seed to vary
    const int64_t ms = static_cast<int64_t>(x % 253402300800000ULL);
    const time_t secs = static_cast<time_t>(ms / 1000);
    struct tm tm {};
    gmtime_r(&secs, &tm);
    char want[64];
    std::snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
    ASSERT_EQ(FormatTimeMs(ms), want) << ms;
  }
}

// --- result ---------------------------------------------------------------------------

TEST(EventResult, SucceededHasOutputAndNoErrorOrRefund) {
  const std::string json = EncodeResult(Succeeded());
  Doc d(json);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d.Keys(), (std::vector<std::string>{"v", "id", "status", "task_id", "account", "endpoint", "model",
                                                "output", "cost", "attempts", "timings", "user", "meta"}));
  EXPECT_EQ(d.Int("/v"), 1);
  EXPECT_EQ(d.Str("/id"), "gen_01HZX3");
  EXPECT_EQ(d.Str("/status"), "succeeded");
  EXPECT_EQ(d.Str("/task_id"), "9a6fc5d5-1b2c-4d3e-8f90-123456789abc");
  EXPECT_EQ(d.Str("/account"), "main");
  EXPECT_EQ(d.Str("/endpoint"), "image_to_video");
  EXPECT_EQ(d.Str("/model"), "gen4_turbo");
  EXPECT_EQ(d.Str("/output/0"), "https://cdn.example.com/out.mp4?_jwt=abc");
  EXPECT_EQ(d.Minified("/output"), R"(["https://cdn.example.com/out.mp4?_jwt=abc"])");
  EXPECT_EQ(d.Int("/cost/estimated"), 25);
  EXPECT_EQ(d.Int("/cost/upstream"), 25);
  EXPECT_EQ(d.Int("/attempts"), 1);
  EXPECT_EQ(d.Str("/timings/taken_at"), "2026-11-27T22:40:00.000Z");
  EXPECT_EQ(d.Str("/timings/submitted_at"), "2026-11-27T22:40:00.123Z");
  EXPECT_EQ(d.Str("/timings/finished_at"), "2026-11-27T22:41:00.999Z");
  EXPECT_EQ(d.Str("/user"), "user_42");
  EXPECT_EQ(d.Minified("/meta"), R"({"any":"json, echoed back"})");
  EXPECT_FALSE(d.Has("error"));
  EXPECT_FALSE(d.Has("refund"));
  EXPECT_FALSE(d.Has("replayed"));
  EXPECT_FALSE(d.Has("duplicate_of"));
}

TEST(EventResult, SucceededExactText) {
  EXPECT_EQ(EncodeResult(Succeeded()),
            R"({"v":1,"id":"gen_01HZX3","status":"succeeded","task_id":"9a6fc5d5-1b2c-4d3e-8f90-123456789abc",)"
            R"("account":"main","endpoint":"image_to_video","model":"gen4_turbo",)"
            R"("output":["https://cdn.example.com/out.mp4?_jwt=abc"],"cost":{"estimated":25,"upstream":25},)"
            R"("attempts":1,"timings":{"taken_at":"2026-11-27T22:40:00.000Z",)"
            R"("submitted_at":"2026-11-27T22:40:00.123Z","finished_at":"2026-11-27T22:41:00.999Z"},)"
            R"("user":"user_42","meta":{"any":"json, echoed back"}})");
}

TEST(EventResult, FailedHasErrorAndRefundAndNoOutput) {
  ResultEvent e = Failed();
  e.output = {"https://should-not-appear"};
  Doc d(EncodeResult(e));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d.Keys(), (std::vector<std::string>{"v", "id", "status", "task_id", "account", "endpoint", "model",
                                                "error", "refund", "cost", "attempts", "timings", "user", "meta"}));
  EXPECT_EQ(d.Str("/status"), "failed");
  EXPECT_EQ(d.Keys("/error"), (std::vector<std::string>{"class", "code", "message"}));
  EXPECT_EQ(d.Str("/error/class"), "moderation");
  EXPECT_EQ(d.Str("/error/code"), "SAFETY.INPUT.IMAGE");
  EXPECT_EQ(d.Str("/error/message"), "input image rejected by moderation");
  EXPECT_EQ(d.Keys("/refund"), std::vector<std::string>{"credits"});
  EXPECT_EQ(d.Int("/refund/credits"), 26);
  EXPECT_FALSE(d.Has("output"));
  EXPECT_EQ(d.Int("/attempts"), 2);
}

TEST(EventResult, FailedExactText) {
  ResultEvent e = Failed();
  e.error_class = ErrorClass::kInvalidJob;
  e.error_code = {};
  e.error_message = "endpoint: \"nope\" is not an allowed endpoint";
  e.task_id = {};
  e.account = {};
  e.endpoint = {};
  e.model = {};
  e.attempts = 0;
  e.user = std::nullopt;
  EXPECT_EQ(EncodeResult(e),
            R"({"v":1,"id":"gen_01HZX3","status":"failed","task_id":null,"account":null,"endpoint":"","model":"",)"
            R"("error":{"class":"invalid_job","code":null,"message":"endpoint: \"nope\" is not an allowed endpoint"},)"
            R"("refund":{"credits":26},"cost":{"estimated":null,"upstream":null},"attempts":0,)"
            R"("timings":{"taken_at":null,"submitted_at":null,"finished_at":null},"user":null,"meta":{}})");
}

TEST(EventResult, CancelledAndAbsentValuesEncodeAsNull) {
  ResultEvent e = Failed();
  e.status = "cancelled";
  e.error_class = ErrorClass::kCancelled;
  e.error_code = {};
  e.refund_credits = std::nullopt;
  e.task_id = {};
  e.account = {};
  e.user = std::nullopt;
  e.meta = {};
  e.taken_at_ms = 1795819200000;
  Doc d(EncodeResult(e));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d.Str("/status"), "cancelled");
  EXPECT_EQ(d.Str("/error/class"), "cancelled");
  EXPECT_TRUE(d.IsNull("/error/code"));
  EXPECT_TRUE(d.IsNull("/refund"));
  EXPECT_TRUE(d.IsNull("/task_id"));
  EXPECT_TRUE(d.IsNull("/account"));
  EXPECT_TRUE(d.IsNull("/user"));
  EXPECT_EQ(d.Minified("/meta"), "{}");
  EXPECT_TRUE(d.IsNull("/cost/estimated"));
  EXPECT_TRUE(d.IsNull("/cost/upstream"));
  EXPECT_EQ(d.Str("/timings/taken_at"), "2026-11-27T22:40:00.000Z");
  EXPECT_TRUE(d.IsNull("/timings/submitted_at"));
  EXPECT_TRUE(d.IsNull("/timings/finished_at"));
  EXPECT_FALSE(d.Has("output"));
}

TEST(EventResult, ZeroRefundIsAnObjectNotNull) {
  ResultEvent e = Failed();
  e.refund_credits = 0;
  Doc d(EncodeResult(e));
  EXPECT_EQ(d.Int("/refund/credits"), 0);
}

TEST(EventResult, EmptyUserIsAStringNotNull) {
  ResultEvent e = Succeeded();
  e.user = "";
  Doc d(EncodeResult(e));
  EXPECT_EQ(d.Str("/user"), "");
}

TEST(EventResult, SucceededWithSeveralOrNoOutputs) {
  ResultEvent e = Succeeded();
  e.output = {"https://a/1.png", "https://a/2.png"};
  Doc d(EncodeResult(e));
  EXPECT_EQ(d.Minified("/output"), R"(["https://a/1.png","https://a/2.png"])");
  e.output.clear();
  Doc d2(EncodeResult(e));
  EXPECT_EQ(d2.Minified("/output"), "[]");
}

TEST(EventResult, Annotations) {
  ResultEvent e = Succeeded();
  e.replayed = true;
  e.duplicate_of = "gen_01HZX3";
  Doc d(EncodeResult(e));
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d.At("/replayed").is_bool());
  bool replayed = false;
  EXPECT_EQ(d.At("/replayed").get(replayed), simdjson::SUCCESS);
  EXPECT_TRUE(replayed);
  EXPECT_EQ(d.Str("/duplicate_of"), "gen_01HZX3");
}

TEST(EventResult, LargeIntegers) {
  ResultEvent e = Failed();
  e.refund_credits = 9007199254740991;
  e.cost_estimated = INT64_MAX;
  e.cost_upstream = -3;  // Runway reports negative amounts on refund days; written as is
  Doc d(EncodeResult(e));
  EXPECT_EQ(d.Int("/refund/credits"), 9007199254740991);
  EXPECT_EQ(d.Int("/cost/estimated"), INT64_MAX);
  EXPECT_EQ(d.Int("/cost/upstream"), -3);
}

}  // namespace
}  // namespace runwayd
