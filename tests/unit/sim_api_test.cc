// Unit tests of runway-sim's request semantics (sim/api.h, sim/validate.h, sim/chaos.h,
// sim/config.h) without sockets: requests go straight to Api::Handle().
#include <gtest/gtest.h>
#include <simdjson.h>

#include "ledger/pricing.h"
#include "sim/api.h"
#include "sim/config.h"
#include "sim/validate.h"

namespace runwayd::sim {
namespace {

constexpr int64_t kSecond = 1'000'000;
constexpr const char* kKey = "Bearer key_main";
constexpr const char* kVersion = "2024-11-06";

class SimApiTest : public ::testing::Test {
 protected:
  void Make(std::string_view toml = "") {
    std::string text = std::string(toml) +
                       "\n[[account]]\nname = \"main\"\nkey = \"key_main\"\nbalance = 100\n"
                       "limits = { gen4_turbo = { max_concurrent = 1, max_daily = 3 } }\n";
    std::string error;
    ASSERT_TRUE(ParseConfig(text, "test.toml", &config_, &error)) << error;
    api_ = std::make_unique<Api>(config_, ledger::PriceTable::Defaults(), [this] { return now_; });
  }

  Response Send(std::string_view method, std::string_view path, std::string_view body = "",
                const char* auth = kKey, const char* version = kVersion) {
    Request r;
    r.method = method;
    r.path = path;
    r.authorization = auth;
    r.runway_version = version;
    r.body = body;
    return api_->Handle(r);
  }

  // Parses a JSON answer (fails the test if it is not JSON).
  simdjson::dom::element Parse(const std::string& body) {
    simdjson::dom::element e;
    EXPECT_EQ(parser_.parse(body).get(e), simdjson::SUCCESS) << body;
    return e;
  }

  SimConfig config_;
  int64_t now_ = 1'700'000'000 * kSecond;
  std::unique_ptr<Api> api_;
  simdjson::dom::parser parser_;
};

constexpr std::string_view kBody =
    R"({"model":"gen4_turbo","promptImage":"https://cdn.example.com/a.jpg","ratio":"1280:720","duration":5,"promptText":"sim:secs=4","seed":7})";

TEST_F(SimApiTest, CreatePollSucceed) {
  Make("[task]\npending_s = 1\n");
  Response r = Send("POST", "/v1/image_to_video", kBody);
  ASSERT_EQ(r.status, 200) << r.body;
  auto created = Parse(r.body);
  const std::string id{std::string_view(created["id"])};
  EXPECT_EQ(int64_t(created["estimatedCost"]["credits"]), 25);

  r = Send("GET", "/v1/tasks/" + id);
  EXPECT_EQ(std::string_view(Parse(r.body)["status"]), "PENDING");
  now_ += 6 * kSecond;
  r = Send("GET", "/v1/tasks/" + id);
  auto done = Parse(r.body);
  EXPECT_EQ(std::string_view(done["status"]), "SUCCEEDED");
  EXPECT_EQ(int64_t(done["cost"]["credits"]), 25);
  EXPECT_EQ(std::string_view(done["output"].at(0)), "https://sim.runway.test/out/" + id + ".mp4?_jwt=sim");

  auto org = Parse(Send("GET", "/v1/organization").body);
  EXPECT_EQ(int64_t(org["creditBalance"]), 75);
  EXPECT_EQ(int64_t(org["tier"]["models"]["gen4_turbo"]["maxConcurrentGenerations"]), 1);
  EXPECT_EQ(int64_t(org["usage"]["models"]["gen4_turbo"]["dailyGenerations"]), 1);

  auto stats = Parse(Send("GET", "/_sim/stats", "", nullptr, nullptr).body);
  EXPECT_EQ(int64_t(stats["requests"]["POST /v1/image_to_video"]), 1);
  EXPECT_EQ(int64_t(stats["requests"]["GET /v1/tasks"]), 2);
  EXPECT_EQ(int64_t(stats["responses"]["200"]), 4);
  EXPECT_EQ(int64_t(stats["creations_by_seed"]["7"]), 1);
  EXPECT_EQ(int64_t(stats["detection"]["count"]), 1);
  EXPECT_EQ(double(stats["detection"]["max_ms"]), 1000.0);  // ended at 5 s, seen at 6 s
  EXPECT_EQ(double(stats["gets_per_task"]), 2.0);
  EXPECT_EQ(int64_t(stats["accounts"]["main"]["balance"]), 75);

  EXPECT_EQ(Send("DELETE", "/v1/tasks/" + id).status, 204);
  EXPECT_EQ(Send("DELETE", "/v1/tasks/" + id).status, 404);
  r = Send("GET", "/v1/tasks/" + id);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, R"({"error":"Could not find Task"})");
}

TEST_F(SimApiTest, AuthVersionAndRoutes) {
  Make();
  EXPECT_EQ(Send("GET", "/v1/organization", "", nullptr).status, 401);
  EXPECT_EQ(Send("GET", "/v1/organization", "", "Bearer key_wrong").status, 401);
  Response r = Send("GET", "/v1/organization", "", kKey, nullptr);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("X-Runway-Version"), std::string::npos);
  EXPECT_EQ(Send("GET", "/v1/organization", "", kKey, "1999-01-01").status, 400);
  EXPECT_EQ(Send("GET", "/v1/nothing").status, 404);
  EXPECT_EQ(Send("GET", "/elsewhere").status, 404);
}

TEST_F(SimApiTest, LimitsAndCredits) {
  Make();
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Send("POST", "/v1/image_to_video", kBody).status, 200);
  Response r = Send("POST", "/v1/image_to_video", kBody);
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.body, R"({"error":"Your daily task limit has been reached."})");
  EXPECT_TRUE(r.headers.empty());  // no Retry-After on the daily limit
  r = Send("POST", "/v1/text_to_video", R"({"model":"gen4.5","promptText":"x","ratio":"1280:720","duration":10})");
  EXPECT_EQ(r.status, 400);  // 120 credits > 25 left
  EXPECT_EQ(r.body, R"({"error":"You do not have enough credits to run this task."})");
  auto stats = Parse(Send("GET", "/_sim/stats").body);
  EXPECT_EQ(int64_t(stats["throttled_tasks"]), 2);
  EXPECT_EQ(int64_t(stats["duplicate_seeds"]), 1);
  r = Send("POST", "/_sim/topup", R"({"account":"main","credits":1000})");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(int64_t(Parse(r.body)["balance"]), 1025);
}

TEST_F(SimApiTest, ValidationIssues) {
  Make();
  Response r = Send("POST", "/v1/image_to_video",
                    R"({"model":"gen4_turbo","promptImage":"https://a.example.com/x.png","ratio":"1280:720","foo":1,"bar":2})");
  ASSERT_EQ(r.status, 400);
  auto e = Parse(r.body);
  EXPECT_EQ(std::string_view(e["error"]), "Validation of body failed");
  EXPECT_EQ(std::string_view(e["issues"].at(0)["code"]), "unrecognized_keys");
  EXPECT_EQ(std::string_view(e["issues"].at(0)["keys"].at(1)), "bar");
  EXPECT_EQ(simdjson::dom::array(e["issues"].at(0)["path"]).size(), 0u);

  auto issue = [&](std::string_view endpoint, std::string_view body) {
    Validation v = ValidateCreate(endpoint, body);
    EXPECT_FALSE(v.ok) << body;
    return v.issues.empty() ? Issue{} : v.issues[0];
  };
  Issue i = issue("image_to_video", R"({"model":"gen4_turbo","promptImage":"http://a.example.com/x.png","ratio":"1280:720"})");
  EXPECT_EQ(i.path[0].key, "promptImage");
  EXPECT_EQ(i.message, "Only HTTPS URLs are allowed.");
  i = issue("image_to_video", R"({"model":"gen4_turbo","promptImage":"https://10.0.0.1/x.png","ratio":"1280:720"})");
  EXPECT_EQ(i.path[0].key, "promptImage");
  EXPECT_EQ(issue("image_to_video", R"({"model":"gen4_turbo","promptImage":"https://a.example.com/x","ratio":"1280:720","duration":11})").path[0].key, "duration");
  EXPECT_EQ(issue("image_to_video", R"({"model":"gen4_turbo","promptImage":"https://a.example.com/x","ratio":"1280:768"})").path[0].key, "ratio");
  EXPECT_EQ(issue("image_to_video", R"({"model":"gen4_turbo","promptImage":"https://a.example.com/x","ratio":"1280:720","audio":true})").code, "unrecognized_keys");
  EXPECT_EQ(issue("text_to_video", R"({"model":"gen4_turbo","promptText":"x","ratio":"1280:720"})").path[0].key, "model");
  EXPECT_EQ(issue("text_to_image", R"({"model":"gen4_image_turbo","promptText":"x","ratio":"1920:1080"})").path[0].key, "referenceImages");
  EXPECT_EQ(issue("image_to_video", "[1]").code, "invalid_type");
  EXPECT_FALSE(ValidateCreate("image_to_video", "{nope").ok);

  Validation ok = ValidateCreate("text_to_video", R"({"model":"veo3.1","promptText":"x","ratio":"1080:1920","duration":6,"audio":false})");
  EXPECT_TRUE(ok.ok);
  EXPECT_EQ(ok.facts.audio, false);
  EXPECT_TRUE(ValidateCreate("character_performance",
                             R"({"model":"act_two","character":{"type":"image","uri":"https://a.example.com/c.png"},"reference":{"type":"video","uri":"https://a.example.com/r.mp4"}})").ok);
  EXPECT_TRUE(ValidateCreate("video_to_video", R"({"model":"aleph2","videoUri":"https://a.example.com/v.mp4","promptText":"x"})").ok);
  EXPECT_EQ(CheckAssetUri("https://" + std::string(2100, 'a') + ".com", false).substr(0, 16), "URLs must be at ");
  EXPECT_EQ(CheckAssetUri("https://cdn.example.invalid/x.png", false).substr(0, 23), "Failed to fetch asset. ");
  EXPECT_EQ(CheckAssetUri("data:image/png;base64,AAAA", false), "");
}

TEST_F(SimApiTest, ChaosAnswersAndDrops) {
  Make("[chaos]\nrate_429 = 1.0\n");
  Response r = Send("POST", "/v1/image_to_video", kBody);
  EXPECT_EQ(r.status, 429);
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].first, "Retry-After");
  EXPECT_EQ(Send("GET", "/v1/organization").status, 200);  // organization is exempt by default

  ASSERT_EQ(Send("POST", "/_sim/chaos", R"({"rate_504":1,"rate_504_created":1})").status, 204);
  EXPECT_EQ(Send("POST", "/v1/image_to_video", kBody).status, 504);
  auto stats = Parse(Send("GET", "/_sim/stats").body);
  EXPECT_EQ(int64_t(stats["tasks_created"]), 1);  // the 504 was created and charged

  ASSERT_EQ(Send("POST", "/_sim/chaos", R"({"reset_after":1})").status, 204);
  EXPECT_TRUE(Send("POST", "/v1/image_to_video", kBody).drop);
  ASSERT_EQ(Send("POST", "/_sim/chaos", R"({"truncated_rate":1,"slow_rate":1,"slow_ms":5})").status, 204);
  r = Send("GET", "/v1/organization", "", kKey);
  EXPECT_EQ(r.status, 200);  // organization exempt: intact
  r = Send("POST", "/v1/image_to_video", kBody);
  EXPECT_EQ(r.delay_ms, 5);
  simdjson::dom::element e;
  EXPECT_NE(parser_.parse(r.body).get(e), simdjson::SUCCESS);
  EXPECT_EQ(int64_t(Parse(Send("GET", "/_sim/stats").body)["tasks_created"]), 3);
  EXPECT_EQ(Send("POST", "/_sim/chaos", R"({"rate_429":2})").status, 400);
  EXPECT_EQ(Send("POST", "/_sim/chaos", R"({"nope":0})").status, 400);
}

TEST(SimConfigTest, DefaultsAndErrors) {
  SimConfig c;
  std::string error;
  ASSERT_TRUE(ParseConfig("", "empty", &c, &error)) << error;
  ASSERT_EQ(c.accounts.size(), 1u);
  EXPECT_EQ(c.accounts[0].key.size(), 4u + 128u);
  EXPECT_FALSE(ParseConfig("time_scale = \"fast\"", "x", &c, &error));
  EXPECT_NE(error.find("time_scale"), std::string::npos);
  EXPECT_FALSE(ParseConfig("[chaos]\nrate_249 = 0.1", "x", &c, &error));
  EXPECT_NE(error.find("rate_249"), std::string::npos);
  EXPECT_FALSE(ParseConfig("[task\n", "x", &c, &error));
  ASSERT_TRUE(ParseConfig("time_scale = 0.05\n[task.models]\n\"veo3.1\" = { duration_s = 40 }\n", "x", &c, &error))
      << error;
  EXPECT_DOUBLE_EQ(c.task.models.at("veo3.1").duration_s, 40);
  EXPECT_DOUBLE_EQ(c.task.models.at("veo3.1").jitter_s, 10);
}

}  // namespace
}  // namespace runwayd::sim
