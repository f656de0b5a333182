// tests/unit/job_fields_test.cc — ParseJob, field by field: body (kept byte for byte,
// duration, ratio, audio, seed, asset URLs), charged, user, account, fallback_models,
// deadline_s, reply_to, meta, and unknown or repeated fields.
#include "queue/job.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "job_test_util.h"

namespace runwayd {
namespace {

using job_test::ExpectError;
using job_test::ExpectOk;
using job_test::J;
using job_test::Parse;
using job_test::Repeat;

// --- body -----------------------------------------------------------------------

TEST(JobBody, KeptAsTheExactOriginalBytes) {
  const std::string body =
      "{ \"model\" : \"gen4_turbo\" ,\n  \"promptText\":\"caf\\u00e9 \\\"q\\\" \xf0\x9f\x8e\xac\\n\", "
      "\"x\": [1, 2.50, {\"y\" : null}], \"z\":1E2 }";
  // In the middle (followed by whitespace and a comma) and last (followed by the closing brace).
  for (const std::string& raw : {"{\"v\":1,\"id\":\"a\",\"body\":" + body + " \n\t ,\"endpoint\":\"image_to_video\"}",
                                 "{\"v\":1,\"id\":\"a\",\"endpoint\":\"image_to_video\",\"body\":" + body + "}",
                                 "{\"v\":1,\"id\":\"a\",\"endpoint\":\"image_to_video\",\"body\":" + body + "\r\n}\n"}) {
    auto r = Parse(raw);
    ASSERT_TRUE(r.p.ok) << r.p.error;
    EXPECT_EQ(r.job.body, body);
  }
}

TEST(JobBody, MustBeAnObjectWithAModel) {
  ExpectError(J().Drop("body").Json(), "body: required");
  for (const std::string bad : {"[]", R"("{}")", "null", "1"}) {
    ExpectError(J().Set("body", bad).Json(), "body: must be a JSON object");
  }
  ExpectError(J().Set("body", "{}").Json(), "body.model: required");
  ExpectError(J().Set("body", R"({"promptText":"x"})").Json(), "body.model: required");
  ExpectError(J().Set("body", R"({"model":""})").Json(), "body.model: must be a non-empty string");
  ExpectError(J().Set("body", R"({"model":5})").Json(), "body.model: must be a non-empty string");
  ExpectError(J().Set("body", R"({"model":null})").Json(), "body.model: must be a non-empty string");
  auto r = Parse(J().Set("body", R"({"model":"gen4.5"})").Json());
  EXPECT_TRUE(r.p.ok);
  EXPECT_EQ(r.job.facts.model, "gen4.5");
}

TEST(JobBody, RepeatedKeysAreRefusedAtAnyDepth) {
  ExpectError(J().Set("body", R"({"model":"gen4_turbo","model":"veo3"})").Json(),
              "body: key \"model\" appears more than once");
  // Escapes are decoded before comparing: Runway would read both as "model".
  ExpectError(J().Set("body", R"({"model":"gen4_turbo","mod\u0065l":"veo3"})").Json(),
              "body: key \"model\" appears more than once");
  ExpectError(J().Set("endpoint", R"("character_performance")")
                  .Set("body", R"({"model":"act_two","character":{"type":"image","uri":"https://a.com/1.jpg",)"
                               R"("uri":"https://b.com/2.jpg"},"reference":{"type":"video","uri":"https://a.com/r.mp4"}})")
                  .Json(),
              "body: key \"uri\" appears more than once");
  ExpectError(J().Set("body", R"({"model":"gen4_turbo","x":[{"a":1},{"b":1,"b":2}]})").Json(), "body: key \"b\"");
  // Same key in sibling objects is fine.
  ExpectOk(J().Set("body", R"({"model":"gen4_turbo","x":[{"a":1},{"a":2}],"y":{"a":3}})").Json());
}

TEST(JobBody, Duration) {
  auto r = Parse(J().Set("body", R"({"model":"gen4_turbo","duration":10})").Json());
  EXPECT_TRUE(r.job.facts.has_duration);
  EXPECT_EQ(r.job.facts.duration_s, 10.0);
  r = Parse(J().Set("body", R"({"model":"gen4_turbo","duration":2.5})").Json());
  EXPECT_TRUE(r.p.ok);
  EXPECT_EQ(r.job.facts.duration_s, 2.5);
  r = Parse(J().Set("body", R"({"model":"gen4_turbo","duration":0})").Json());
  EXPECT_TRUE(r.p.ok);
  EXPECT_TRUE(r.job.facts.has_duration);
  r = Parse(J().Set("body", R"({"model":"gen4_turbo"})").Json());
  EXPECT_TRUE(r.p.ok);
  EXPECT_FALSE(r.job.facts.has_duration);
  EXPECT_EQ(r.job.facts.duration_s, 0.0);
  ExpectError(J().Set("body", R"({"model":"gen4_turbo","duration":-5})").Json(), "body.duration: must not be negative");
  ExpectError(J().Set("body", R"({"model":"gen4_turbo","duration":-0.5})").Json(), "body.duration: must not be negative");
  ExpectError(J().Set("body", R"({"model":"gen4_turbo","duration":"5"})").Json(), "body.duration: must be a number");
  ExpectError(J().Set("body", R"({"model":"gen4_turbo","duration":null})").Json(), "body.duration: must be a number");
}

TEST(JobBody, Ratio) {
  auto r = Parse(J().Set("body", R"({"model":"gen4_turbo","ratio":"720:1280"})").Json());
  EXPECT_TRUE(r.p.ok);
  EXPECT_EQ(r.job.facts.ratio, "720:1280");
  ExpectError(J().Set("body", R"({"model":"gen4_turbo","ratio":1.77})").Json(), "body.ratio: must be a string");
  ExpectError(J().Set("body", R"({"model":"gen4_turbo","ratio":null})").Json(), "body.ratio: must be a string");
}

TEST(JobBody, Audio) {
  auto r = Parse(J().Set("body", R"({"model":"veo3.1","audio":false})").Json());
  EXPECT_TRUE(r.p.ok);
  EXPECT_EQ(r.job.facts.audio, false);
  r = Parse(J().Set("body", R"({"model":"veo3.1","audio":true})").Json());
  EXPECT_EQ(r.job.facts.audio, true);
  ExpectError(J().Set("body", R"({"model":"veo3.1","audio":"yes"})").Json(), "body.audio: must be true or false");
  ExpectError(J().Set("body", R"({"model":"veo3.1","audio":1})").Json(), "body.audio: must be true or false");
}

TEST(JobBody, Seed) {
  auto r = Parse(J().Set("body", R"({"model":"gen4_turbo","seed":0})").Json());
  EXPECT_TRUE(r.p.ok);
  EXPECT_EQ(r.job.facts.seed, 0);
  r = Parse(J().Set("body", R"({"model":"gen4_turbo","seed":4294967295})").Json());
  EXPECT_EQ(r.job.facts.seed, 4294967295);
  for (const std::string bad : {"-1", "1.5", "1e3", R"("7")", "null"}) {
    ExpectError(J().Set("body", R"({"model":"gen4_turbo","seed":)" + bad + "}").Json(),
                "body.seed: must be a non-negative integer");
  }
}

TEST(JobBody, AssetUrlsFromEveryEndpoint) {
  struct Case {
    std::string endpoint, body;
    std::vector<std::string> urls;
  };
  const std::vector<Case> cases = {
      {"image_to_video", R"({"model":"gen4_turbo","promptImage":"https://a.com/1.jpg"})", {"https://a.com/1.jpg"}},
      {"image_to_video",
       R"({"model":"gen3a_turbo","promptImage":[{"uri":"https://a.com/f.jpg","position":"first"},)"
       R"({"position":"last","uri":"https://a.com/l.jpg"}]})",
       {"https://a.com/f.jpg", "https://a.com/l.jpg"}},
      {"image_to_video", R"({"model":"gen4_turbo","promptImage":"data:image/png;base64,iVBORw0KGgo="})",
       {"data:image/png;base64,iVBORw0KGgo="}},
      {"text_to_video", R"({"model":"veo3.1","promptText":"a cat","ratio":"1280:720"})", {}},
      {"video_to_video", R"({"model":"aleph2","videoUri":"https://a.com/v.mp4","promptText":"x"})",
       {"https://a.com/v.mp4"}},
      {"character_performance",
       R"({"model":"act_two","character":{"type":"image","uri":"https://a.com/c.jpg"},)"
       R"("reference":{"type":"video","uri":"https://a.com/r.mp4"}})",
       {"https://a.com/c.jpg", "https://a.com/r.mp4"}},
      {"text_to_image",
       R"({"model":"gen4_image_turbo","promptText":"x","ratio":"1920:1080",)"
       R"("referenceImages":[{"uri":"https://a.com/1.png","tag":"a"},{"uri":"https://a.com/2.png"}]})",
       {"https://a.com/1.png", "https://a.com/2.png"}},
      {"text_to_image", R"({"model":"gen4_image","references":[{"uri":"https://a.com/r.png"}]})",
       {"https://a.com/r.png"}},
      // Escaped keys and values are decoded like Runway decodes them.
      {"image_to_video", R"({"model":"gen4_turbo","promptIm\u0061ge":"https:\/\/a.com\/x.jpg"})",
       {"https://a.com/x.jpg"}},
  };
  for (const auto& c : cases) {
    auto r = Parse(J().Set("endpoint", "\"" + c.endpoint + "\"").Set("body", c.body).Json());
    EXPECT_TRUE(r.p.ok) << c.body << " -> " << r.p.error;
    EXPECT_EQ(r.job.facts.asset_urls, c.urls) << c.body;
    EXPECT_EQ(r.job.body, c.body);
  }
}

TEST(JobBody, BadAssetReferencesAreRefused) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"model":"gen4_turbo","promptImage":5})", "body.promptImage: must be a URI string or an array"},
      {R"({"model":"gen4_turbo","promptImage":null})", "body.promptImage: must be a URI string or an array"},
      {R"({"model":"gen4_turbo","promptImage":{"uri":"https://a.com"}})", "body.promptImage: must be a URI string"},
      {R"({"model":"gen4_turbo","promptImage":["https://a.com/1.jpg"]})", "body.promptImage[0]: must be an object"},
      {R"({"model":"gen4_turbo","promptImage":[{"uri":"https://a.com/1.jpg"},{"position":"last"}]})",
       "body.promptImage[1].uri: required"},
      {R"({"model":"gen4_turbo","promptImage":[{"uri":7}]})", "body.promptImage[0].uri: must be a string"},
      {R"({"model":"aleph2","videoUri":["https://a.com/v.mp4"]})", "body.videoUri: must be a string"},
      {R"({"model":"act_two","character":"https://a.com/c.jpg"})", "body.character: must be an object with a uri"},
      {R"({"model":"act_two","character":{"type":"image"}})", "body.character.uri: required"},
      {R"({"model":"act_two","reference":{"type":"video","uri":null}})", "body.reference.uri: must be a string"},
      {R"({"model":"gen4_image_turbo","referenceImages":{"uri":"https://a.com"}})",
       "body.referenceImages: must be an array"},
      {R"({"model":"gen4_image_turbo","referenceImages":[{"tag":"x"}]})", "body.referenceImages[0].uri: required"},
      {R"({"model":"gen4_image","references":[1]})", "body.references[0]: must be an object"},
  };
  for (const auto& [body, error] : cases) ExpectError(J().Set("body", body).Json(), error);
}

TEST(JobBody, UnknownBodyKeysAreForwardedForRunwayToJudge) {
  for (const std::string body :
       {R"({"model":"gen4_turbo","contentModeration":{"publicFigureThreshold":"low"},"futureKey":[1]})",
        R"({"model":"gen4_turbo","e":{},"a":[],"n":null,"x":{"y":{}}})", R"({"e":{},"model":"gen4_turbo"})"}) {
    auto r = Parse(J().Set("body", body).Json());
    EXPECT_TRUE(r.p.ok) << r.p.error;
    EXPECT_EQ(r.job.body, body);
  }
}

// --- charged --------------------------------------------------------------------

TEST(JobCharged, NonNegativeIntegersUpTo2Pow53MinusOne) {
  for (const std::string& ok : {std::string("0"), std::string("26"), std::string("9007199254740991")}) {
    auto r = Parse(J().Set("charged", ok).Json());
    EXPECT_TRUE(r.p.ok) << ok << " -> " << r.p.error;
    EXPECT_EQ(r.job.charged, std::stoll(ok));
  }
}

TEST(JobCharged, EverythingElseIsRefusedAndNotFilled) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"26.5", "charged: must be a whole number of credits, got 26.5"},
      {"26.0", "charged: must be a whole number"},
      {"2.6e1", "charged: must be a whole number"},
      {"1e30", "charged: must be a whole number"},
      {"-1", "charged: out of range 0..9007199254740991, got -1"},
      {"9007199254740992", "charged: out of range 0..9007199254740991, got 9007199254740992"},
      {"99999999999999999999", "charged: out of range"},
      {"-99999999999999999999", "charged: out of range"},
      {R"("26")", "charged: must be an integer number of credits, got a string"},
      {"null", "charged: must be an integer number of credits, got null"},
      {"true", "charged: must be an integer number of credits"},
      {"[26]", "charged: must be an integer number of credits, got an array"},
  };
  for (const auto& [value, error] : cases) {
    auto r = Parse(J().Set("charged", value).Json());
    EXPECT_FALSE(r.p.ok) << value;
    EXPECT_EQ(r.p.error.substr(0, error.size()), error) << value << " -> " << r.p.error;
    EXPECT_FALSE(r.job.charged.has_value()) << value;
    EXPECT_EQ(r.job.id, "gen_01HZX3") << "the job is still identifiable";
  }
}

// --- user, account ----------------------------------------------------------------

TEST(JobUser, AnyStringIsEchoed) {
  for (const std::string& u : {std::string("user_42"), std::string(""), std::string("\xc3\xa9l\xc3\xa8ve \xf0\x9f\x98\x80")}) {
    auto r = Parse(J().Set("user", "\"" + u + "\"").Json());
    EXPECT_TRUE(r.p.ok) << r.p.error;
    EXPECT_EQ(r.job.user, u);
  }
  auto r = Parse(J().Set("user", R"("a\"b\\c\nd")").Json());
  EXPECT_EQ(r.job.user, "a\"b\\c\nd");
}

TEST(JobUser, NonStringsAreRefused) {
  for (const std::string bad : {"42", "null", "{}", "false"}) {
    auto r = Parse(J().Set("user", bad).Json());
    EXPECT_EQ(r.p.error, "user: must be a string") << bad;
    EXPECT_FALSE(r.job.user.has_value());
  }
}

TEST(JobAccount, NonEmptyPrintableString) {
  auto r = Parse(J().Set("account", R"("main")").Json());
  EXPECT_TRUE(r.p.ok);
  EXPECT_EQ(r.job.account, "main");
  ExpectError(J().Set("account", R"("")").Json(), "account: must be a non-empty string");
  ExpectError(J().Set("account", "1").Json(), "account: must be a non-empty string");
  ExpectError(J().Set("account", "null").Json(), "account: must be a non-empty string");
  ExpectError(J().Set("account", R"("ma\u0000in")").Json(), "account: contains a control character");
}

// --- fallback_models ----------------------------------------------------------------

TEST(JobFallbackModels, ArrayOfUpToEightNames) {
  auto r = Parse(J().Set("fallback_models", R"(["gen4_turbo","gen3a_turbo"])").Json());
  EXPECT_TRUE(r.p.ok);
  EXPECT_EQ(r.job.fallback_models, (std::vector<std::string>{"gen4_turbo", "gen3a_turbo"}));
  ExpectOk(J().Set("fallback_models", "[]").Json());
  ExpectOk(J().Set("fallback_models", R"(["a","b","c","d","e","f","g","h"])").Json());
}

TEST(JobFallbackModels, BadListsAreRefused) {
  ExpectError(J().Set("fallback_models", R"(["a","b","c","d","e","f","g","h","i"])").Json(),
              "fallback_models: 9 models, at most 8 are allowed");
  ExpectError(J().Set("fallback_models", R"(["a",""])").Json(), "fallback_models[1]: must be a non-empty string");
  ExpectError(J().Set("fallback_models", R"(["a",5])").Json(), "fallback_models[1]: must be a non-empty string");
  ExpectError(J().Set("fallback_models", R"(["a",null])").Json(), "fallback_models[1]: must be a non-empty string");
  ExpectError(J().Set("fallback_models", R"("gen4_turbo")").Json(), "fallback_models: must be an array");
  ExpectError(J().Set("fallback_models", "null").Json(), "fallback_models: must be an array");
}

// The daemon logs fallback model names: a newline would forge a log line of its own.
TEST(JobFallbackModels, ControlCharactersAreRefused) {
  ExpectError(J().Set("fallback_models", R"(["a","x\n2026-12-07T09:00:00.000 error FORGED"])").Json(),
              "fallback_models[1]: contains a control character: \"x\\x0a2026");
  for (const char* bad : {R"(["\u001b[2J"])", R"(["a\u007f"])", R"(["a\u0085"])", R"(["a\tb"])"})
    ExpectError(J().Set("fallback_models", bad).Json(), "fallback_models[0]: contains a control character", {});
  ExpectOk(J().Set("fallback_models", R"(["gen4_turbo","modèle"])").Json());
}

// --- deadline_s -----------------------------------------------------------------------

TEST(JobDeadline, OneSecondToSevenDays) {
  for (const int64_t ok : {1, 1800, 604800}) {
    auto r = Parse(J().Set("deadline_s", std::to_string(ok)).Json());
    EXPECT_TRUE(r.p.ok) << ok;
    EXPECT_EQ(r.job.deadline_s, ok);
  }
  for (const std::string bad : {"0", "-5", "604801", "1.5", "1800.0", R"("1800")", "null"}) {
    auto r = Parse(J().Set("deadline_s", bad).Json());
    EXPECT_EQ(r.p.error.substr(0, 43), "deadline_s: must be an integer from 1 to 60") << bad << " -> " << r.p.error;
    EXPECT_FALSE(r.job.deadline_s.has_value());
  }
}

// --- reply_to -------------------------------------------------------------------------

TEST(JobReplyTo, ResultsListOrASubList) {
  for (const std::string ok : {"runway:results", "runway:results:web-7", "runway:results:a:b"}) {
    auto r = Parse(J().Set("reply_to", "\"" + ok + "\"").Json());
    EXPECT_TRUE(r.p.ok) << ok << " -> " << r.p.error;
    EXPECT_EQ(r.job.reply_to, ok);
  }
  JobRules braces;
  braces.prefix = "{runway}";
  ExpectOk(J().Set("reply_to", R"("{runway}:results:x")").Json(), braces);
  ExpectError(J().Set("reply_to", R"("runway:results:x")").Json(), "reply_to: must be \"{runway}:results\"", braces);
}

TEST(JobReplyTo, OtherKeysAreRefused) {
  for (const std::string bad : {"runway:resultsX", "runway:results:", "runway:result", "runway:jobs",
                                "runway:refunds", "other:results", "", " runway:results", "RUNWAY:results"}) {
    auto r = Parse(J().Set("reply_to", "\"" + bad + "\"").Set("charged", "1").Json());
    EXPECT_EQ(r.p.error.substr(0, 50), "reply_to: must be \"runway:results\" or start with \"") << bad;
    EXPECT_TRUE(r.job.reply_to.empty());
    EXPECT_EQ(r.job.charged, 1);
  }
  ExpectError(J().Set("reply_to", "5").Json(), "reply_to: must be a string");
  ExpectError(J().Set("reply_to", R"("runway:results:a\u0001")").Json(), "reply_to: contains a control character");
}

// --- meta -------------------------------------------------------------------------------

TEST(JobMeta, AnyJsonKeptAsTheExactBytes) {
  for (const std::string meta :
       {R"({})", R"({"a":{"b":[1,2,{"c":null}]},"d":"\u00e9\"\\"})", R"({ "spaced" : [ 1 , 2 ] })", R"([1,"x",{}])",
        R"("text")", R"(42)", R"(-1.5e3)", R"(null)", R"(true)", R"({"dup":1,"dup":2})", "[]", "[[]]",
        R"({"a":{}})", R"([{}])", R"("")"}) {
    for (const std::string& raw : {J().Set("meta", meta).Json(), "{\"meta\":" + meta + "  \n,\"v\":1,\"id\":\"a\","
                                                                  "\"endpoint\":\"text_to_video\",\"body\":{\"model\":\"x\"}}"}) {
      auto r = Parse(raw);
      EXPECT_TRUE(r.p.ok) << raw << " -> " << r.p.error;
      EXPECT_EQ(r.job.meta, meta);
    }
  }
}

// --- unknown and repeated fields -----------------------------------------------------------

TEST(JobFields, UnknownFieldsAreRefused) {
  ExpectError(J().Set("Charged", "26").Json(), "unknown field \"Charged\"");
  ExpectError(J().Set("reply-to", R"("runway:results")").Json(), "unknown field \"reply-to\"");
  ExpectError(J().Set("", "1").Json(), "unknown field \"\"");
  // The name is quoted safely and at most 64 bytes of it are echoed.
  auto r = Parse(J().Set(Repeat("k", 500), "1").Json());
  EXPECT_EQ(r.p.error, "unknown field \"" + Repeat("k", 64) + "\"...");
  r = Parse(J().Set("a\\u0001\\\"b", "1").Json());
  EXPECT_EQ(r.p.error, "unknown field \"a\\x01\\\"b\"");
  // Cut on a character boundary: 63 bytes of 'k' and then a 2-byte character.
  r = Parse(J().Set(Repeat("k", 63) + "\xc3\xa9" + "z", "1").Json());
  EXPECT_EQ(r.p.error, "unknown field \"" + Repeat("k", 63) + "\"...");
}

TEST(JobFields, RepeatedTopLevelFieldsAreRefusedAndNotFilled) {
  auto r = Parse(J().Set("charged", "26").Add("charged", "0").Json());
  EXPECT_EQ(r.p.error, "charged: appears more than once");
  EXPECT_FALSE(r.job.charged.has_value());
  EXPECT_EQ(r.job.id, "gen_01HZX3");

  r = Parse(J().Set("charged", "26").Add("id", R"("other")").Json());
  EXPECT_EQ(r.p.error, "id: appears more than once");
  EXPECT_TRUE(r.job.id.empty());
  EXPECT_EQ(r.job.charged, 26);

  r = Parse(J().Add("v", "1").Json());
  EXPECT_EQ(r.p.error, "v: appears more than once");

  r = Parse(J().Add("extra", "1").Add("extra", "2").Json());
  EXPECT_EQ(r.p.error, "unknown field \"extra\"");

  r = Parse(J().Set("meta", "{}").Add("meta", "[]").Json());
  EXPECT_FALSE(r.p.ok);
  EXPECT_TRUE(r.job.meta.empty());

  // A repeat hidden behind an escape is still a repeat.
  r = Parse(J().Set("user", R"("a")").Add("us\\u0065r", R"("b")").Json());
  EXPECT_EQ(r.p.error, "user: appears more than once");
  EXPECT_FALSE(r.job.user.has_value());
}

}  // namespace
}  // namespace runwayd
