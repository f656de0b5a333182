// tests/unit/events_test.cc — the JSON runwayd writes, parsed back (simdjson's DOM
// validates JSON and UTF-8 completely): every string field escaped and round-tripped
// in every event, raw meta inserted as it came, and the refund, dead-letter and
// account events' shapes. The result event itself: events_result_test.cc.
#include "queue/events.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>
#include <vector>

#include "events_test_util.h"
#include "queue/job.h"

namespace runwayd {
namespace {

using events_test::Doc;
using events_test::Failed;
using events_test::Minify;
using events_test::Succeeded;

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
    // The job's invalid bytes become U+001A, not U+FFFD: replayed, the text stays refused.
    std::string job = Expected(c);
    for (size_t at; (at = job.find("\xef\xbf\xbd")) != std::string::npos;) job.replace(at, 3, "\x1a");
    EXPECT_EQ(dd.Str("/job"), job);
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
  EXPECT_EQ(d.Str("/job"), std::string("\0\x1a{not json", 11));  // U+001A: stays refused if replayed
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
