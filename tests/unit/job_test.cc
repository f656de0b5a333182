// tests/unit/job_test.cc — ParseJob: the job as a whole (size, JSON, v, id, endpoint),
// identity read from invalid jobs, threads. The body and the other fields:
// job_fields_test.cc.
#include "queue/job.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "job_test_util.h"

namespace runwayd {
namespace {

using job_test::ExpectError;
using job_test::ExpectOk;
using job_test::J;
using job_test::Parse;
using job_test::Repeat;

// ---------------------------------------------------------------------------

TEST(JobParse, ContractExampleIsReadCompletely) {
  const std::string raw = R"({
  "v": 1,
  "id": "gen_01HZX3",
  "endpoint": "image_to_video",
  "body": {"model": "gen4_turbo", "promptImage": "https://cdn.example.com/a.jpg",
           "promptText": "slow dolly in", "ratio": "1280:720", "duration": 5},
  "charged": 26,
  "user": "user_42",
  "account": "main",
  "fallback_models": ["gen4_turbo"],
  "deadline_s": 1800,
  "reply_to": "runway:results:web-7",
  "meta": {"any": "json, echoed back"}
}
)";
  auto r = Parse(raw);
  ASSERT_TRUE(r.p.ok) << r.p.error;
  const Job& j = r.job;
  EXPECT_EQ(j.id, "gen_01HZX3");
  EXPECT_EQ(j.endpoint, "image_to_video");
  EXPECT_EQ(j.body, R"({"model": "gen4_turbo", "promptImage": "https://cdn.example.com/a.jpg",
           "promptText": "slow dolly in", "ratio": "1280:720", "duration": 5})");
  EXPECT_EQ(j.facts.model, "gen4_turbo");
  EXPECT_TRUE(j.facts.has_duration);
  EXPECT_EQ(j.facts.duration_s, 5.0);
  EXPECT_EQ(j.facts.ratio, "1280:720");
  EXPECT_FALSE(j.facts.audio.has_value());
  EXPECT_EQ(j.facts.seed, -1);
  EXPECT_EQ(j.facts.asset_urls, std::vector<std::string>{"https://cdn.example.com/a.jpg"});
  EXPECT_EQ(j.charged, 26);
  EXPECT_EQ(j.user, "user_42");
  EXPECT_EQ(j.account, "main");
  EXPECT_EQ(j.fallback_models, std::vector<std::string>{"gen4_turbo"});
  EXPECT_EQ(j.deadline_s, 1800);
  EXPECT_EQ(j.reply_to, "runway:results:web-7");
  EXPECT_EQ(j.meta, R"({"any": "json, echoed back"})");
}

TEST(JobParse, MinimalJobLeavesOptionalFieldsEmpty) {
  auto r = Parse(J().Json());
  ASSERT_TRUE(r.p.ok) << r.p.error;
  EXPECT_FALSE(r.job.charged.has_value());
  EXPECT_FALSE(r.job.user.has_value());
  EXPECT_TRUE(r.job.account.empty());
  EXPECT_TRUE(r.job.fallback_models.empty());
  EXPECT_FALSE(r.job.deadline_s.has_value());
  EXPECT_TRUE(r.job.reply_to.empty());
  EXPECT_TRUE(r.job.meta.empty());
}

TEST(JobParse, ResetsTheOutputBetweenCalls) {
  Job job;
  ASSERT_TRUE(ParseJob(J().Set("user", R"("u1")").Set("charged", "5").Json(), {}, &job).ok);
  ASSERT_TRUE(job.user.has_value());
  ASSERT_TRUE(ParseJob(J().Json(), {}, &job).ok);
  EXPECT_FALSE(job.user.has_value());
  EXPECT_FALSE(job.charged.has_value());
}

// --- size ---------------------------------------------------------------------

TEST(JobSize, AtTheLimitIsAccepted) {
  const std::string raw = J().Json();
  JobRules rules;
  rules.max_bytes = raw.size();
  ExpectOk(raw, rules);
}

TEST(JobSize, OverTheLimitIsRefusedBeforeParsing) {
  const std::string raw = J().Set("charged", "26").Json();
  JobRules rules;
  rules.max_bytes = raw.size() - 1;
  auto r = Parse(raw, rules);
  EXPECT_FALSE(r.p.ok);
  EXPECT_EQ(r.p.error, "job: " + std::to_string(raw.size()) + " bytes, over the limit of " +
                           std::to_string(raw.size() - 1));
  EXPECT_TRUE(r.job.id.empty()) << "nothing is read from an oversized job";
  EXPECT_FALSE(r.job.charged.has_value());
}

TEST(JobSize, DefaultLimitIs256KiB) {
  const std::string pad = Repeat("x", 256 * 1024);
  ExpectError(J().Set("meta", "\"" + pad + "\"").Json(), "job: 262");
}

// --- JSON ---------------------------------------------------------------------

TEST(JobJson, NotJsonOrNotAnObjectIsRefused) {
  for (const std::string raw : {"", "   ", "not json", "[1,2]", "\"a string\"", "42", "null", "true", "{"}) {
    auto r = Parse(raw);
    EXPECT_FALSE(r.p.ok) << "'" << raw << "'";
    EXPECT_EQ(r.p.error.substr(0, 5), "job: ") << r.p.error;
  }
  ExpectError("[1,2]", "job: not a JSON object");
  ExpectError("\"x\"", "job: not a JSON object");
  ExpectError("", "job: empty");
}

TEST(JobJson, WhitespaceAroundTheObjectIsAccepted) {
  ExpectOk("  \n\t" + J().Json() + " \r\n ");
}

TEST(JobJson, TrailingGarbageIsRefused) {
  const std::string job = J().Json();
  for (const std::string tail : {" x", "}", "{}", " {\"v\":1}", ",", "]", "\"", "1", " null"}) {
    auto r = Parse(job + tail);
    EXPECT_FALSE(r.p.ok) << "tail '" << tail << "'";
    EXPECT_EQ(r.p.error.substr(0, 5), "job: ") << r.p.error;
  }
}

TEST(JobJson, TruncatedJobIsRefused) {
  const std::string job = J().Json();
  for (size_t n = 0; n < job.size(); ++n) {
    auto r = Parse(job.substr(0, n));
    EXPECT_FALSE(r.p.ok) << job.substr(0, n);
    EXPECT_TRUE(r.job.id.empty()) << "nothing is read from a broken document: " << job.substr(0, n);
  }
}

// On-Demand only reads what it is asked for: every value, even one the parser has
// no rule for, must still be valid JSON. (Valid JSON refused all the same, such as
// 1e400 or "\ud800", keeps its identity: job_identity_test.cc.)
TEST(JobJson, InvalidValuesAnywhereAreRefused) {
  const std::vector<std::string> bad_bodies = {
      R"({"model":"gen4_turbo","promptText":tru})",
      R"({"model":"gen4_turbo","promptText":nul})",
      R"({"model":"gen4_turbo","x":01})",
      R"({"model":"gen4_turbo","x":1.})",
      R"({"model":"gen4_turbo","x":-})",
      R"({"model":"gen4_turbo","x":"\q"})",
      R"({"model":"gen4_turbo","x":[1 2]})",
      R"({"model":"gen4_turbo","x":[1,]})",
      R"({"model":"gen4_turbo",})",
      R"({"model":"gen4_turbo","x":{"a" 1}})",
      R"({"model":"gen4_turbo","x":{]})",
      "{\"model\":\"gen4_turbo\",\"x\":\"tab\there\"}",
      "{\"model\":\"gen4_turbo\",\"x\":\"ctl\x01\"}",
      "{\"model\":\"gen4_turbo\",\"x\":\"bad \xff utf8\"}",
      "{\"model\":\"gen4_turbo\",\"x\":\"overlong \xc0\xaf\"}",
  };
  for (const auto& body : bad_bodies) {
    auto r = Parse(J().Set("charged", "26").Set("body", body).Json());
    EXPECT_FALSE(r.p.ok) << body;
    EXPECT_EQ(r.p.error.substr(0, 5), "job: ") << body << " -> " << r.p.error;
    EXPECT_TRUE(r.job.id.empty()) << body;
    EXPECT_FALSE(r.job.charged.has_value()) << body;
  }
  ExpectError(J().Set("meta", R"({"a":[tru]})").Json(), "job: not valid JSON");
  ExpectError(J().Set("user", "\"a\xff\"").Json(), "job: not valid UTF-8");
}

// JSON readers disagree on a number whose exponent is past a double's even when its
// value is plain (0e400: 0 to simdjson and JavaScript, an error to rapidjson), so the
// exponent as written is at most 308 in magnitude, anywhere in the job. Found by
// job_fuzz ("seed":0e40042 in a body).
TEST(JobJson, ExponentsBeyondADoublesRangeAreRefused) {
  for (const char* x : {"0e40042", "0e309", "-0E+400", "1e-400", "0.5e999999999999999999"}) {
    const std::string body = std::string(R"({"model":"gen4_turbo","x":)") + x + "}";
    ExpectError(J().Set("body", body).Json(), "job: not valid JSON (invalid or out-of-range number)");
    ExpectError(J().Set("meta", std::string(R"({"a":[)") + x + "]}").Json(), "job: not valid JSON");
  }
  ExpectError(J().Set("body", R"({"model":"gen4_turbo","seed":0e40042})").Json(), "job: not valid JSON");
  for (const char* x : {"1e308", "1E-308", "2.5e+10", "1e00005", "0.000001", "12345678901234567890"}) {
    ExpectOk(J().Set("body", std::string(R"({"model":"gen4_turbo","x":)") + x + "}").Json());
  }
}

TEST(JobJson, NestingIsLimitedTo64Levels) {
  // The job object is level 1: meta with n nested arrays reaches level 1 + n.
  ExpectOk(J().Set("meta", Repeat("[", 63) + Repeat("]", 63)).Json());
  ExpectError(J().Set("meta", Repeat("[", 64) + Repeat("]", 64)).Json(), "job: nested deeper than 64 levels");
  ExpectError(J().Set("body", R"({"model":"gen4_turbo","x":)" + Repeat("{\"a\":", 70) + "1" + Repeat("}", 70) + "}")
                  .Json(),
              "job: nested deeper than 64 levels");
}

// --- v ------------------------------------------------------------------------

TEST(JobVersion, OneIsAccepted) { ExpectOk(J().Set("v", "1").Json()); }

TEST(JobVersion, AnythingElseIsRefused) {
  ExpectError(J().Drop("v").Json(), "v: required");
  ExpectError(J().Set("v", "2").Json(), "v: version 2 is not supported");
  ExpectError(J().Set("v", "0").Json(), "v: version 0 is not supported");
  ExpectError(J().Set("v", "-1").Json(), "v: version -1 is not supported");
  for (const std::string bad : {R"("1")", "1.0", "1e0", "true", "null", "[1]", "{}"}) {
    ExpectError(J().Set("v", bad).Json(), "v: must be the integer 1");
  }
}

TEST(JobVersion, VersionErrorComesFirstButIdentityIsStillRead) {
  auto r = Parse(J().Set("v", "2").Set("frobnicate", "1").Set("charged", "26").Json());
  EXPECT_EQ(r.p.error.substr(0, 3), "v: ");
  EXPECT_EQ(r.job.id, "gen_01HZX3");
  EXPECT_EQ(r.job.charged, 26);
}

// --- id -----------------------------------------------------------------------

TEST(JobId, PrintableIdsUpToTheLimitAreAccepted) {
  for (const std::string id : {"a", "gen_01HZX3", "with space", "caf\xc3\xa9", "\xf0\x9f\x8e\xac clip", "a:b/c"}) {
    auto r = Parse(J().Set("id", "\"" + id + "\"").Json());
    EXPECT_TRUE(r.p.ok) << id << " -> " << r.p.error;
    EXPECT_EQ(r.job.id, id);
  }
  auto r = Parse(J().Set("id", R"("caf\u00e9")").Json());  // escapes are decoded
  EXPECT_EQ(r.job.id, "caf\xc3\xa9");
  ExpectOk(J().Set("id", "\"" + Repeat("x", 128) + "\"").Json());
}

// Length is counted in characters (code points), not bytes.
TEST(JobId, LengthCountsCharactersNotBytes) {
  auto r = Parse(J().Set("id", "\"" + Repeat("\xc3\xa9", 128) + "\"").Json());  // 256 bytes
  EXPECT_TRUE(r.p.ok) << r.p.error;
  EXPECT_EQ(r.job.id.size(), 256u);
  ExpectOk(J().Set("id", "\"" + Repeat("\xf0\x9f\x8e\xac", 128) + "\"").Json());  // 512 bytes
  ExpectError(J().Set("id", "\"" + Repeat("\xc3\xa9", 129) + "\"").Json(), "id: longer than 128 characters");
  ExpectError(J().Set("id", "\"" + Repeat("x", 129) + "\"").Json(), "id: longer than 128 characters");
}

TEST(JobId, ConfiguredLimitApplies) {
  JobRules rules;
  rules.max_id_len = 4;
  ExpectOk(J().Set("id", R"("abcd")").Json(), rules);
  ExpectError(J().Set("id", R"("abcde")").Json(), "id: longer than 4 characters", rules);
}

TEST(JobId, BadIdsAreRefused) {
  ExpectError(J().Drop("id").Json(), "id: required");
  ExpectError(J().Set("id", R"("")").Json(), "id: must not be empty");
  for (const std::string bad : {"1", "null", "true", "[\"a\"]", "{}"}) {
    ExpectError(J().Set("id", bad).Json(), "id: must be a string");
  }
  for (const std::string bad : {R"("a\u0001b")", R"("a\nb")", R"("a\tb")", R"("\u0000")", R"("a\u007fb")",
                                R"("a\u0085b")", R"("a\u009fb")"}) {
    ExpectError(J().Set("id", bad).Json(), "id: contains a control character");
  }
}

TEST(JobId, InvalidIdIsNotFilled) {
  auto r = Parse(J().Set("id", R"("a\nb")").Set("charged", "3").Json());
  EXPECT_TRUE(r.job.id.empty());
  EXPECT_EQ(r.job.charged, 3);
}

// --- endpoint -------------------------------------------------------------------

TEST(JobEndpoint, StandardEndpoints) {
  for (const std::string e :
       {"image_to_video", "text_to_video", "video_to_video", "character_performance", "text_to_image"}) {
    EXPECT_TRUE(IsStandardEndpoint(e)) << e;
    auto r = Parse(J().Set("endpoint", "\"" + e + "\"").Json());
    EXPECT_TRUE(r.p.ok) << e << " -> " << r.p.error;
    EXPECT_EQ(r.job.endpoint, e);
  }
  for (const std::string e : {"", "Image_to_video", "image_to_video ", "video_upscale", "tasks", "organization"}) {
    EXPECT_FALSE(IsStandardEndpoint(e)) << e;
  }
}

TEST(JobEndpoint, ExtraEndpointsComeFromTheRules) {
  const std::string job = J().Set("endpoint", R"("video_upscale")").Json();
  ExpectError(job, "endpoint: \"video_upscale\" is not an allowed endpoint");
  JobRules rules;
  rules.extra_endpoints = {"video_upscale", "sound_effect"};
  ExpectOk(job, rules);
  ExpectOk(J().Set("endpoint", R"("image_to_video")").Json(), rules);
}

TEST(JobEndpoint, BadEndpointsAreRefused) {
  ExpectError(J().Drop("endpoint").Json(), "endpoint: required");
  ExpectError(J().Set("endpoint", R"("Image_To_Video")").Json(), "endpoint: \"Image_To_Video\" is not an allowed");
  ExpectError(J().Set("endpoint", R"("../v1/organization")").Json(), "endpoint: ");
  ExpectError(J().Set("endpoint", "5").Json(), "endpoint: must be a string");
  ExpectError(J().Set("endpoint", "null").Json(), "endpoint: must be a string");
}


// --- identity on failure -------------------------------------------------------------------

TEST(JobIdentity, ValidIdentityFieldsAreFilledWhenTheJobIsInvalid) {
  auto r = Parse(J().Set("endpoint", R"("nope")")
                     .Set("charged", "26")
                     .Set("user", R"("user_42")")
                     .Set("reply_to", R"("runway:results:web-7")")
                     .Set("meta", R"({"order":7})")
                     .Json());
  EXPECT_FALSE(r.p.ok);
  EXPECT_EQ(r.job.id, "gen_01HZX3");
  EXPECT_EQ(r.job.charged, 26);
  EXPECT_EQ(r.job.user, "user_42");
  EXPECT_EQ(r.job.reply_to, "runway:results:web-7");
  EXPECT_EQ(r.job.meta, R"({"order":7})");

  // The same when the error is in the body, an unknown field, or a missing field.
  for (const std::string& raw :
       {J().Set("body", R"({"model":""})").Set("charged", "26").Set("user", R"("u")").Json(),
        J().Set("bogus", "1").Set("charged", "26").Set("user", R"("u")").Json(),
        J().Drop("endpoint").Set("charged", "26").Set("user", R"("u")").Json(),
        J().Set("body", R"({"model":"a","model":"b"})").Set("charged", "26").Set("user", R"("u")").Json()}) {
    r = Parse(raw);
    EXPECT_FALSE(r.p.ok) << raw;
    EXPECT_EQ(r.job.id, "gen_01HZX3") << raw;
    EXPECT_EQ(r.job.charged, 26) << raw;
    EXPECT_EQ(r.job.user, "u") << raw;
  }
}

TEST(JobIdentity, ErrorsAreReportedInDocumentOrder) {
  auto r = Parse(J().Set("charged", "-1").Set("user", "5").Json());
  EXPECT_EQ(r.p.error.substr(0, 8), "charged:");
  r = Parse(J().Set("user", "5").Set("charged", "-1").Json());
  EXPECT_EQ(r.p.error, "user: must be a string");
}

TEST(JobParse, IsSafeFromSeveralThreads) {
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t, &failures] {
      for (int i = 0; i < 500; ++i) {
        const std::string id = "t" + std::to_string(t) + "_" + std::to_string(i);
        Job job;
        const JobParse p = ParseJob(J().Set("id", "\"" + id + "\"").Set("meta", "[" + std::to_string(i) + "]").Json(),
                                    {}, &job);
        if (!p.ok || job.id != id || job.meta != "[" + std::to_string(i) + "]") ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

// Every accepted body and meta is valid JSON on its own.
TEST(JobParse, CapturedBodyAndMetaParseOnTheirOwn) {
  const std::string raw = J().Set("body", R"({"model":"gen4_turbo","x":{"y":[1,{"z":"\u00e9"}]}} )")
                              .Set("meta", R"( {"a":[{"b":{}}]} )")
                              .Json();
  auto r = Parse(raw);
  ASSERT_TRUE(r.p.ok) << r.p.error;
  simdjson::dom::parser dom;
  simdjson::dom::element e;
  EXPECT_EQ(dom.parse(r.job.body).get(e), simdjson::SUCCESS) << r.job.body;
  EXPECT_TRUE(e.is_object());
  EXPECT_EQ(dom.parse(r.job.meta).get(e), simdjson::SUCCESS) << r.job.meta;
  EXPECT_TRUE(e.is_object());
}

}  // namespace
}  // namespace runwayd
