// tests/unit/job_identity_test.cc — a job that is valid JSON but refused all the same
// (nested deeper than 64 levels, a number past a double's range, a lone UTF-16
// surrogate) keeps its top-level identity, so the daemon can send its failed result
// and its refund; a job that is not valid JSON keeps nothing.
#include <gtest/gtest.h>

#include "job_test_util.h"

namespace runwayd::job_test {
namespace {

// The identity fields of every test job, with `field` set to `value`.
std::string WithIdentity(const std::string& field, const std::string& value) {
  return J().Set("charged", "30").Set("user", R"("u2")").Set("reply_to", R"("runway:results:web")")
      .Set(field, value)
      .Json();
}

void ExpectIdentity(const std::string& raw, const std::string& error_prefix) {
  auto r = Parse(raw);
  EXPECT_FALSE(r.p.ok) << raw;
  EXPECT_EQ(r.p.error.substr(0, error_prefix.size()), error_prefix) << r.p.error;
  EXPECT_EQ(r.job.id, "gen_01HZX3") << raw;
  EXPECT_EQ(r.job.charged, 30) << raw;
  EXPECT_EQ(r.job.user, "u2") << raw;
  EXPECT_EQ(r.job.reply_to, "runway:results:web") << raw;
  EXPECT_TRUE(r.job.body.empty()) << "only the identity is read";
  EXPECT_TRUE(r.job.endpoint.empty());
}

TEST(JobIdentity, TooDeepKeepsTheIdentity) {
  ExpectIdentity(WithIdentity("meta", Repeat("[", 64) + Repeat("]", 64)), "job: nested deeper than 64 levels");
  // Far past any parser's own limit: skipped without descending.
  ExpectIdentity(WithIdentity("meta", Repeat("[", 5000) + Repeat("]", 5000)), "job: nested deeper than 64 levels");
  ExpectIdentity(
      WithIdentity("body", R"({"model":"gen4_turbo","x":)" + Repeat("{\"a\":", 70) + "1" + Repeat("}", 70) + "}"),
      "job: nested deeper than 64 levels");
  // The identity fields after the deep value are read too.
  ExpectIdentity(J().Set("meta", Repeat("[", 100) + Repeat("]", 100)).Set("charged", "30").Set("user", R"("u2")")
                     .Set("reply_to", R"("runway:results:web")").Json(),
                 "job: nested deeper than 64 levels");
}

TEST(JobIdentity, NumbersPastADoubleKeepTheIdentity) {
  for (const char* x : {"1e400", "0e400", "1e-400", "-0E+400", "0.5e999999999999999999"}) {
    ExpectIdentity(WithIdentity("body", std::string(R"({"model":"gen4_turbo","x":)") + x + "}"),
                   "job: not valid JSON (invalid or out-of-range number)");
    ExpectIdentity(WithIdentity("meta", std::string(R"({"a":[)") + x + "]}"), "job: not valid JSON");
  }
}

TEST(JobIdentity, LoneSurrogateKeepsTheIdentity) {
  for (const char* x : {R"("\ud800")", R"("a\udfffb")", R"("\"\\\/\b\f\n\r\t\ud800")"}) {
    ExpectIdentity(WithIdentity("body", std::string(R"({"model":"gen4_turbo","x":)") + x + "}"),
                   "job: not valid JSON (invalid escape in a string)");
  }
}

// meta is echoed byte for byte: only when the scan walked it whole.
TEST(JobIdentity, MetaIsKeptOnlyWhenItWasValidated) {
  std::string deep_body = R"({"model":"gen4_turbo","x":)" + Repeat("[", 70) + Repeat("]", 70) + "}";
  auto before = Parse(J().Drop("body").Set("meta", R"({"k":1})").Set("body", deep_body).Json());
  EXPECT_EQ(before.job.id, "gen_01HZX3");
  EXPECT_EQ(before.job.meta, R"({"k":1})");
  auto unwalked = Parse(J().Set("body", deep_body).Set("meta", R"({"k":1})").Json());
  EXPECT_EQ(unwalked.job.id, "gen_01HZX3");
  EXPECT_TRUE(unwalked.job.meta.empty()) << "after the failure: not validated";
  auto after = Parse(J().Set("body", deep_body).Set("meta", R"({"k":[1e400]})").Json());
  EXPECT_EQ(after.job.id, "gen_01HZX3");
  EXPECT_TRUE(after.job.meta.empty()) << after.job.meta;
}

// What is not valid JSON keeps nothing, as before: the identity is only read from a
// document whose grammar is sound.
TEST(JobIdentity, InvalidJsonKeepsNothing) {
  for (const char* x : {"01", "1.", "-", "1e", "1e+", "-01", R"("\q")", R"("\u12")", R"("\u12g4")", "tru"}) {
    auto r = Parse(WithIdentity("body", std::string(R"({"model":"gen4_turbo","x":)") + x + "}"));
    EXPECT_FALSE(r.p.ok) << x;
    EXPECT_TRUE(r.job.id.empty()) << x;
    EXPECT_FALSE(r.job.charged.has_value()) << x;
  }
  // Refused for depth, but the text after the job object is not JSON.
  auto r = Parse(WithIdentity("meta", Repeat("[", 70) + Repeat("]", 70)) + "x");
  EXPECT_FALSE(r.p.ok);
  EXPECT_TRUE(r.job.id.empty());
}

// A repeated identity field is ambiguous: not read, as in a job that parses.
TEST(JobIdentity, RepeatedFieldsAreNotRead) {
  auto r = Parse(J().Set("meta", Repeat("[", 70) + Repeat("]", 70)).Set("charged", "30").Add("charged", "5").Json());
  EXPECT_EQ(r.job.id, "gen_01HZX3");
  EXPECT_FALSE(r.job.charged.has_value());
  EXPECT_EQ(r.p.error, "job: nested deeper than 64 levels");
}

// A record's raw is read again under the rules of today (Resume: a restart, an adoption,
// a retry), which a reload or a peer may have changed since its admission: a lower
// max_bytes, an endpoint dropped from extra_endpoints. Such a job was admitted and may
// have a task running at Runway: read as admitted, it is not refused for either. Every
// other rule still holds.
TEST(JobIdentity, AnAdmittedJobIsNotRefusedForTheSizeOrEndpointItWasAdmittedWith) {
  JobRules now;
  now.max_bytes = 200;
  const std::string big = J().Set("meta", "\"" + std::string(300, 'm') + "\"").Json();
  const std::string extra = J().Set("endpoint", R"("sound_effect")").Json();
  ExpectError(big, "job: ", now);
  ExpectError(extra, "endpoint: ", now);
  now.admitted = true;
  ExpectOk(big, now);
  ExpectOk(extra, now);
  ExpectError(J().Set("charged", "-1").Json(), "charged: ", now);
}

}  // namespace
}  // namespace runwayd::job_test
