// tests/unit/events_test.cc — the JSON runwayd writes: every event is parsed back
// (simdjson DOM, which validates JSON and UTF-8 completely) and its values checked.
#include "queue/events.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include "queue/job.h"

namespace runwayd {
namespace {

namespace dom = simdjson::dom;

// A parsed event. Not movable: elements point into the parser.
class Doc {
 public:
  explicit Doc(const std::string& json) : json_(json) {
    const auto err = parser_.parse(json_).get(root_);
    ok_ = err == simdjson::SUCCESS;
    EXPECT_TRUE(ok_) << simdjson::error_message(err) << " in: " << json_;
  }
  Doc(const Doc&) = delete;
  Doc& operator=(const Doc&) = delete;

  bool ok() const { return ok_; }
  dom::element At(std::string_view pointer) {
    dom::element e;
    const auto err = root_.at_pointer(pointer).get(e);
    EXPECT_EQ(err, simdjson::SUCCESS) << pointer << " in " << json_;
    return e;
  }
  bool Has(std::string_view key) {
    dom::object o;
    if (root_.get(o)) return false;
    dom::element e;
    return o[key].get(e) == simdjson::SUCCESS;
  }
  std::string Str(std::string_view pointer) {
    std::string_view s;
    const auto err = At(pointer).get(s);
    EXPECT_EQ(err, simdjson::SUCCESS) << pointer << " is not a string in " << json_;
    return std::string(s);
  }
  int64_t Int(std::string_view pointer) {
    int64_t n = 0;
    const auto err = At(pointer).get(n);
    EXPECT_EQ(err, simdjson::SUCCESS) << pointer << " is not an integer in " << json_;
    return n;
  }
  bool IsNull(std::string_view pointer) { return At(pointer).is_null(); }
  std::vector<std::string> Keys(std::string_view pointer = "") {
    std::vector<std::string> keys;
    dom::object o;
    if (At(pointer).get(o)) return keys;
    for (auto [k, v] : o) keys.emplace_back(k);
    return keys;
  }
  // The element re-serialised by simdjson (compact), to compare JSON values.
  std::string Minified(std::string_view pointer) { return simdjson::minify(At(pointer)); }

 private:
  std::string json_;
  dom::parser parser_;
  dom::element root_;
  bool ok_ = false;
};

std::string Minify(const std::string& json) {
  dom::parser p;
  dom::element e;
  EXPECT_EQ(p.parse(json).get(e), simdjson::SUCCESS) << json;
  return simdjson::minify(e);
}

ResultEvent Succeeded() {
  ResultEvent e;
  e.id = "gen_01HZX3";
  e.status = "succeeded";
  e.task_id = "9a6fc5d5-1b2c-4d3e-8f90-123456789abc";
  e.account = "main";
  e.endpoint = "image_to_video";
  e.model = "gen4_turbo";
  e.output = {"https://cdn.example.com/out.mp4?_jwt=abc"};
  e.cost_estimated = 25;
  e.cost_upstream = 25;
  e.attempts = 1;
  e.taken_at_ms = 1795819200000;      // 2026-11-27T22:40:00.000Z
  e.submitted_at_ms = 1795819200123;
  e.finished_at_ms = 1795819260999;
  e.user = "user_42";
  e.meta = R"({"any":"json, echoed back"})";
  return e;
}

ResultEvent Failed() {
  ResultEvent e;
  e.id = "gen_01HZX3";
  e.status = "failed";
  e.task_id = "9a6fc5d5";
  e.account = "main";
  e.endpoint = "image_to_video";
  e.model = "gen4_turbo";
  e.attempts = 2;
  e.error_class = ErrorClass::kModeration;
  e.error_code = "SAFETY.INPUT.IMAGE";
  e.error_message = "input image rejected by moderation";
  e.refund_credits = 26;
  e.user = "user_42";
  return e;
}

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

// --- escaping -----------------------------------------------------------------------------

struct EscapeCase {
  std::string in;
  std::string out;  // the string value read back
};

const std::vector<EscapeCase>& EscapeCases() {
  static const std::vector<EscapeCase> cases = {
      {"plain", "plain"},
      {"say \"hi\"", "say \"hi\""},
      {"back\\slash\\", "back\\slash\\"},
      {"line1\nline2\r\n", "line1\nline2\r\n"},
      {"tab\there", "tab\there"},
      {"ctl\x01\x1f", "ctl\x01\x1f"},
      {std::string("nul\0byte", 8), std::string("nul\0byte", 8)},
      {"del\x7f", "del\x7f"},
      {"caf\xc3\xa9", "caf\xc3\xa9"},                                 // é
      {"clip \xf0\x9f\x8e\xac \xf0\x9f\x98\x80", "clip \xf0\x9f\x8e\xac \xf0\x9f\x98\x80"},  // emoji
      {"\xe2\x80\xa8sep", "\xe2\x80\xa8sep"},                         // U+2028 is valid in JSON
      {"</script>", "</script>"},
      // Invalid UTF-8: every maximal ill-formed subsequence becomes one U+FFFD.
      {"a\xff" "b", "a\xef\xbf\xbd" "b"},
      {"\x80", "\xef\xbf\xbd"},
      {"trunc\xe2\x82", "trunc\xef\xbf\xbd"},                         // € cut short at the end
      {"trunc\xe2\x82x", "trunc\xef\xbf\xbdx"},
      {"\xf0\x9f\x98x", "\xef\xbf\xbdx"},                             // emoji missing its last byte
      {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},                       // overlong '/'
      {"\xe0\x80\xaf", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},       // overlong 3-byte
      {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},       // UTF-16 surrogate
      {"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},  // above U+10FFFF
      {"\xf8\x88\x80\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},  // old 5-byte form
      // Long ASCII runs (scanned eight bytes at a time) with the odd byte on and
      // around the eight-byte boundaries, and at the very end.
      {"abcdefg\xff" "hijklmnop", "abcdefg\xef\xbf\xbd" "hijklmnop"},
      {"abcdefgh\xff" "ijklmnop", "abcdefgh\xef\xbf\xbd" "ijklmnop"},
      {"abcdefghi\xff" "jklmnop", "abcdefghi\xef\xbf\xbd" "jklmnop"},
      {"abcdefghijklmnop\xc3\xa9" "qrstuvwxyz012345\xff", "abcdefghijklmnop\xc3\xa9" "qrstuvwxyz012345\xef\xbf\xbd"},
      {"abcdefghijklmno\xe2\x82\xac", "abcdefghijklmno\xe2\x82\xac"},  // a character across the boundary
      {"abcdefghijklmno\xe2\x82", "abcdefghijklmno\xef\xbf\xbd"},
      {"https://example.com/v/0123456789abcdef.mp4?sig=0123456789", "https://example.com/v/0123456789abcdef.mp4?sig=0123456789"},
  };
  return cases;
}

const std::string& Expected(const EscapeCase& c) { return c.out; }

TEST(EventEscaping, EveryStringFieldRoundTrips) {
  for (const auto& c : EscapeCases()) {
    ResultEvent e = Failed();
    e.id = c.in;
    e.task_id = c.in;
    e.account = c.in;
    e.endpoint = c.in;
    e.model = c.in;
    e.error_code = c.in;
    e.error_message = c.in;
    e.user = c.in;
    e.duplicate_of = c.in;
    const std::string json = EncodeResult(e);
    Doc d(json);
    ASSERT_TRUE(d.ok()) << json;
    for (const char* p : {"/id", "/task_id", "/account", "/endpoint", "/model", "/error/code", "/error/message",
                          "/user", "/duplicate_of"}) {
      EXPECT_EQ(d.Str(p), Expected(c)) << p << " in " << json;
    }
  }
}

TEST(EventEscaping, OutputIsJsonEscapedAndKeepsUtf8AsIs) {
  ResultEvent e = Failed();
  e.error_message = "q\" b\\ n\n c\x01 t\t \xc3\xa9 \xf0\x9f\x8e\xac";
  const std::string json = EncodeResult(e);
  EXPECT_NE(json.find(R"("message":"q\" b\\ n\n c\u0001 t\t )" "\xc3\xa9 \xf0\x9f\x8e\xac\""), std::string::npos)
      << json;
  for (char c : json) EXPECT_GE(static_cast<unsigned char>(c), 0x20) << "no raw control character in " << json;
}

TEST(EventEscaping, RefundDeadAndAccountEventsToo) {
  for (const auto& c : EscapeCases()) {
    RefundEvent r;
    r.id = c.in;
    r.user = c.in;
    r.credits = 1;
    Doc rd(EncodeRefund(r));
    ASSERT_TRUE(rd.ok());
    EXPECT_EQ(rd.Str("/id"), Expected(c));
    EXPECT_EQ(rd.Str("/refund_id"), Expected(c));
    EXPECT_EQ(rd.Str("/user"), Expected(c));

    DeadEntry de;
    de.job = c.in;
    de.id = c.in;
    de.reason = c.in;
    Doc dd(EncodeDead(de));
    ASSERT_TRUE(dd.ok());
    EXPECT_EQ(dd.Str("/job"), Expected(c));
    EXPECT_EQ(dd.Str("/reason"), Expected(c));

    AccountEvent ae;
    ae.type = "account_disabled";
    ae.account = c.in;
    ae.text_fields = {{"reason", c.in}};
    Doc ad(EncodeAccountEvent(ae));
    ASSERT_TRUE(ad.ok());
    EXPECT_EQ(ad.Str("/account"), Expected(c));
    EXPECT_EQ(ad.Str("/reason"), Expected(c));
  }
}

// --- meta ---------------------------------------------------------------------------------

TEST(EventMeta, RawMetaIsInsertedAsItCame) {
  for (const std::string meta : {R"({"a":{"b":[1,2,{"c":null}]},"d":"\u00e9\"\\\n"})", R"({ "spaced" : [ 1 , 2 ] })",
                                 R"([1,"x",{}])", R"("text")", "42", "null", "true", R"({"dup":1,"dup":2})"}) {
    ResultEvent e = Succeeded();
    e.meta = meta;
    const std::string json = EncodeResult(e);
    EXPECT_NE(json.find("\"meta\":" + meta), std::string::npos) << json;  // the exact bytes
    Doc d(json);
    ASSERT_TRUE(d.ok()) << json;
    if (meta.find("dup") == std::string::npos) {
      EXPECT_EQ(d.Minified("/meta"), Minify(meta));
    }

    RefundEvent r;
    r.id = "a";
    r.meta = meta;
    const std::string refund = EncodeRefund(r);
    EXPECT_NE(refund.find("\"meta\":" + meta), std::string::npos) << refund;
    Doc rd(refund);
    EXPECT_TRUE(rd.ok());
  }
}

TEST(EventMeta, NestedMetaFromAParsedJobSurvivesTheRoundTrip) {
  const std::string raw =
      R"({"v":1,"id":"j1","endpoint":"text_to_video","body":{"model":"veo3.1","promptText":"x","ratio":"1280:720"},)"
      R"("charged":40,"user":"u\u00e9","meta":{"order":{"id":7,"lines":[{"sku":"a\"b","qty":2}]},"note":"l1\nl2 \ud83c\udfac"}})";
  Job job;
  const JobParse p = ParseJob(raw, {}, &job);
  ASSERT_TRUE(p.ok) << p.error;
  ResultEvent e = Failed();
  e.id = job.id;
  e.user = job.user;
  e.meta = job.meta;
  e.refund_credits = job.charged;
  Doc d(EncodeResult(e));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d.Int("/meta/order/id"), 7);
  EXPECT_EQ(d.Str("/meta/order/lines/0/sku"), "a\"b");
  EXPECT_EQ(d.Int("/meta/order/lines/0/qty"), 2);
  EXPECT_EQ(d.Str("/meta/note"), "l1\nl2 \xf0\x9f\x8e\xac");
  EXPECT_EQ(d.Str("/user"), "u\xc3\xa9");
  EXPECT_EQ(d.Int("/refund/credits"), 40);
}

// --- refund ---------------------------------------------------------------------------------

TEST(EventRefund, Shape) {
  RefundEvent r;
  r.id = "gen_01HZX3";
  r.user = "user_42";
  r.credits = 26;
  r.reason = ErrorClass::kUpstreamInsufficientCredits;
  const std::string json = EncodeRefund(r);
  EXPECT_EQ(json, R"({"v":1,"refund_id":"gen_01HZX3","id":"gen_01HZX3","user":"user_42","credits":26,)"
                  R"("reason":"upstream_insufficient_credits","meta":{}})");
  Doc d(json);
  EXPECT_EQ(d.Str("/refund_id"), "gen_01HZX3");
  EXPECT_EQ(d.Str("/id"), "gen_01HZX3");
  EXPECT_EQ(d.Int("/credits"), 26);
  EXPECT_EQ(d.Str("/reason"), "upstream_insufficient_credits");

  r.user = std::nullopt;
  r.meta = R"({"k":[1]})";
  r.reason = ErrorClass::kDeadlineExceeded;
  Doc d2(EncodeRefund(r));
  EXPECT_TRUE(d2.IsNull("/user"));
  EXPECT_EQ(d2.Minified("/meta"), R"({"k":[1]})");
  EXPECT_EQ(d2.Str("/reason"), "deadline_exceeded");
}

// --- dead -------------------------------------------------------------------------------------

TEST(EventDead, ShapeAndTheJobSurvivesAsAString) {
  const std::string raw = "{\"v\":1,\"id\":\"x\",\"meta\":{\"q\":\"a\\\"b\\\\c\"},\n\"note\":\"\xc3\xa9\"}  \n";
  DeadEntry e;
  e.job = raw;
  e.id = "x";
  e.reason = "unknown field \"note\"";
  e.error_class = ErrorClass::kInvalidJob;
  e.attempts = 1;
  e.taken_at_ms = 1795819200000;
  e.dead_at_ms = 1795819200250;
  const std::string json = EncodeDead(e);
  Doc d(json);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d.Keys(), (std::vector<std::string>{"v", "job", "id", "reason", "error_class", "attempts", "taken_at",
                                                "dead_at"}));
  EXPECT_EQ(d.Int("/v"), 1);
  EXPECT_EQ(d.Str("/job"), raw) << "byte for byte, so a replay pushes the same job";
  EXPECT_EQ(d.Str("/id"), "x");
  EXPECT_EQ(d.Str("/reason"), "unknown field \"note\"");
  EXPECT_EQ(d.Str("/error_class"), "invalid_job");
  EXPECT_EQ(d.Int("/attempts"), 1);
  EXPECT_EQ(d.Str("/taken_at"), "2026-11-27T22:40:00.000Z");
  EXPECT_EQ(d.Str("/dead_at"), "2026-11-27T22:40:00.250Z");
}

TEST(EventDead, UnreadableJob) {
  DeadEntry e;
  e.job = std::string_view("\x00\xff{not json", 11);
  e.reason = "job: not valid UTF-8";
  Doc d(EncodeDead(e));
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d.IsNull("/id"));
  EXPECT_EQ(d.Str("/job"), std::string("\0\xef\xbf\xbd{not json", 13));
  EXPECT_TRUE(d.IsNull("/taken_at"));
  EXPECT_TRUE(d.IsNull("/dead_at"));
  EXPECT_EQ(d.Int("/attempts"), 0);
}

// --- account events -------------------------------------------------------------------------------

TEST(EventAccount, Shape) {
  AccountEvent e;
  e.type = "low_balance";
  e.account = "main";
  e.at_ms = 1795819200000;
  e.int_fields = {{"balance", 480}, {"threshold", 500}};
  e.text_fields = {{"note", "top up"}};
  const std::string json = EncodeAccountEvent(e);
  EXPECT_EQ(json, R"({"v":1,"type":"low_balance","account":"main","at":"2026-11-27T22:40:00.000Z",)"
                  R"("balance":480,"threshold":500,"note":"top up"})");
  Doc d(json);
  EXPECT_EQ(d.Int("/balance"), 480);
  EXPECT_EQ(d.Str("/note"), "top up");
}

TEST(EventAccount, ReservedAndRepeatedFieldNamesAreSkipped) {
  AccountEvent e;
  e.type = "balance_reconciled";
  e.account = "main";
  e.int_fields = {{"v", 2}, {"credits", 5}, {"credits", 6}};
  e.text_fields = {{"type", "x"}, {"account", "y"}, {"at", "z"}, {"credits", "w"}, {"task_id", "t"}};
  Doc d(EncodeAccountEvent(e));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d.Keys(), (std::vector<std::string>{"v", "type", "account", "at", "credits", "task_id"}));
  EXPECT_EQ(d.Int("/v"), 1);
  EXPECT_EQ(d.Str("/type"), "balance_reconciled");
  EXPECT_EQ(d.Int("/credits"), 5);
  EXPECT_TRUE(d.IsNull("/at"));
}

TEST(EventAccount, EmptyAccountIsNull) {
  AccountEvent e;
  e.type = "outcome_unknown";
  Doc d(EncodeAccountEvent(e));
  EXPECT_TRUE(d.IsNull("/account"));
}

}  // namespace
}  // namespace runwayd
