// tests/unit/job_test.cc — ParseJob: every rule of the v1 job contract, accepted and refused.
#include "queue/job.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <atomic>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace runwayd {
namespace {

// A job as an ordered list of (key, raw JSON value), so a test can change one field.
class J {
 public:
  J() {
    kv_ = {{"v", "1"},
           {"id", R"("gen_01HZX3")"},
           {"endpoint", R"("image_to_video")"},
           {"body", R"({"model":"gen4_turbo","promptImage":"https://cdn.example.com/a.jpg","ratio":"1280:720","duration":5})"}};
  }
  J& Set(const std::string& k, const std::string& json) {
    for (auto& [key, value] : kv_) {
      if (key == k) {
        value = json;
        return *this;
      }
    }
    kv_.emplace_back(k, json);
    return *this;
  }
  J& Add(const std::string& k, const std::string& json) {  // even when k is there already
    kv_.emplace_back(k, json);
    return *this;
  }
  J& Drop(const std::string& k) {
    std::erase_if(kv_, [&](const auto& p) { return p.first == k; });
    return *this;
  }
  std::string Json() const {
    std::string s = "{";
    for (size_t i = 0; i < kv_.size(); ++i) {
      if (i) s += ",";
      s += "\"" + kv_[i].first + "\":" + kv_[i].second;
    }
    return s + "}";
  }

 private:
  std::vector<std::pair<std::string, std::string>> kv_;
};

struct Parsed {
  JobParse p;
  Job job;
};

Parsed Parse(const std::string& raw, const JobRules& rules = {}) {
  Parsed r;
  r.p = ParseJob(raw, rules, &r.job);
  EXPECT_EQ(r.job.raw, raw) << "raw is always filled";
  EXPECT_EQ(r.p.ok, r.p.error.empty()) << r.p.error;
  EXPECT_EQ(r.p.error.find('\n'), std::string::npos) << "one line: " << r.p.error;
  EXPECT_LT(r.p.error.size(), 300u) << r.p.error;
  return r;
}

void ExpectOk(const std::string& raw, const JobRules& rules = {}) {
  auto r = Parse(raw, rules);
  EXPECT_TRUE(r.p.ok) << raw << "\n  -> " << r.p.error;
}

// Refused with an error that starts with `prefix`.
void ExpectError(const std::string& raw, const std::string& prefix, const JobRules& rules = {}) {
  auto r = Parse(raw, rules);
  EXPECT_FALSE(r.p.ok) << raw;
  EXPECT_EQ(r.p.error.substr(0, prefix.size()), prefix) << raw << "\n  -> " << r.p.error;
}

std::string Repeat(const std::string& s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

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
// no rule for, must still be valid JSON.
TEST(JobJson, InvalidValuesAnywhereAreRefused) {
  const std::vector<std::string> bad_bodies = {
      R"({"model":"gen4_turbo","promptText":tru})",
      R"({"model":"gen4_turbo","promptText":nul})",
      R"({"model":"gen4_turbo","x":01})",
      R"({"model":"gen4_turbo","x":1.})",
      R"({"model":"gen4_turbo","x":-})",
      R"({"model":"gen4_turbo","x":1e400})",
      R"({"model":"gen4_turbo","x":"\ud800"})",
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
