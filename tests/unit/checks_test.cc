// tests/unit/checks_test.cc — runway/checks.h: the reference's catalogue and asset rules.
#include "runway/checks.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

namespace runwayd::runway {
namespace {

Job MakeJob(const std::string& endpoint, const std::string& model, std::optional<double> duration = std::nullopt,
            const std::string& ratio = "", std::vector<std::string> assets = {}) {
  Job j;
  j.endpoint = endpoint;
  j.facts.model = model;
  if (duration) {
    j.facts.duration_s = *duration;
    j.facts.has_duration = true;
  }
  j.facts.ratio = ratio;
  j.facts.asset_urls = std::move(assets);
  return j;
}

CheckResult Check(const Job& j, bool allow_unknown = false) {
  CheckRules rules;
  rules.allow_unknown_models = allow_unknown;
  return CheckJobBody(j, rules);
}

// ----------------------------------------------------------------- catalogue

TEST(Catalogue, ModelsPerEndpoint) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> expected = {
      {"image_to_video", {"gen4_turbo", "gen4.5", "gen3a_turbo", "veo3", "veo3.1", "veo3.1_fast"}},
      {"text_to_video", {"gen4.5", "veo3", "veo3.1", "veo3.1_fast"}},
      {"video_to_video", {"gen4_aleph", "aleph2"}},
      {"character_performance", {"act_two"}},
      {"text_to_image", {"gen4_image", "gen4_image_turbo"}},
  };
  const std::vector<std::string> all = {"gen4_turbo", "gen4.5",     "gen3a_turbo", "veo3",       "veo3.1",
                                        "veo3.1_fast", "gen4_aleph", "aleph2",      "act_two",    "gen4_image",
                                        "gen4_image_turbo"};
  for (const auto& [endpoint, models] : expected) {
    for (const std::string& m : all) {
      const bool listed = std::find(models.begin(), models.end(), m) != models.end();
      EXPECT_EQ(IsKnownModel(endpoint, m), listed) << endpoint << " " << m;
    }
  }
  EXPECT_FALSE(IsKnownModel("text_to_video", "gen4_turbo"));  // "gen4_turbo has no text-to-video"
  EXPECT_FALSE(IsKnownModel("video_upscale", "upscale_v1"));
  EXPECT_FALSE(IsKnownModel("image_to_video", "GEN4_TURBO"));
  EXPECT_FALSE(IsKnownModel("image_to_video", ""));
}

TEST(CheckJobBody, ReferenceExampleJobPasses) {
  Job j = MakeJob("image_to_video", "gen4_turbo", 5, "1280:720", {"https://cdn.example.com/a.jpg"});
  CheckResult r = Check(j);
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_TRUE(r.error.empty());
}

TEST(CheckJobBody, UnknownModelNeedsPermission) {
  Job j = MakeJob("image_to_video", "gen5_ultra", 5);
  CheckResult r = Check(j);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error.rfind("body.model:", 0), 0u) << r.error;
  EXPECT_NE(r.error.find("gen5_ultra"), std::string::npos) << r.error;
  EXPECT_TRUE(Check(j, /*allow_unknown=*/true).ok);
  // Allowed unknown models still get their assets checked.
  j.facts.asset_urls = {"http://cdn.example.com/a.jpg"};
  EXPECT_FALSE(Check(j, true).ok);
}

TEST(CheckJobBody, KnownModelOnTheWrongEndpointIsRefusedEvenWhenUnknownsAreAllowed) {
  CheckResult r = Check(MakeJob("text_to_video", "gen4_turbo", 5, "1280:720"), true);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("not available on text_to_video"), std::string::npos) << r.error;
  EXPECT_FALSE(Check(MakeJob("image_to_video", "act_two"), true).ok);
}

TEST(CheckJobBody, MissingModelIsRefused) {
  CheckResult r = Check(MakeJob("image_to_video", ""), true);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error.rfind("body.model", 0), 0u);
}

// ------------------------------------------------------------------ durations

TEST(Durations, Gen4TurboIntegerTwoToTen) {
  for (int d = 2; d <= 10; ++d) EXPECT_TRUE(Check(MakeJob("image_to_video", "gen4_turbo", d)).ok) << d;
  EXPECT_TRUE(Check(MakeJob("image_to_video", "gen4_turbo")).ok);  // optional
  CheckResult r = Check(MakeJob("image_to_video", "gen4_turbo", 12));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "body.duration: gen4_turbo takes 2..10 s, got 12");
  EXPECT_FALSE(Check(MakeJob("image_to_video", "gen4_turbo", 1)).ok);
  EXPECT_FALSE(Check(MakeJob("image_to_video", "gen4_turbo", 0)).ok);
  EXPECT_FALSE(Check(MakeJob("image_to_video", "gen4_turbo", -5)).ok);
  CheckResult frac = Check(MakeJob("image_to_video", "gen4_turbo", 5.5));
  EXPECT_FALSE(frac.ok);
  EXPECT_NE(frac.error.find("got 5.5"), std::string::npos) << frac.error;
}

TEST(Durations, Gen45RequiredIntegerTwoToTen) {
  for (const char* ep : {"image_to_video", "text_to_video"}) {
    EXPECT_TRUE(Check(MakeJob(ep, "gen4.5", 2, "1280:720")).ok) << ep;
    EXPECT_TRUE(Check(MakeJob(ep, "gen4.5", 10, "720:1280")).ok) << ep;
    EXPECT_FALSE(Check(MakeJob(ep, "gen4.5", 11, "1280:720")).ok) << ep;
    CheckResult missing = Check(MakeJob(ep, "gen4.5", std::nullopt, "1280:720"));
    EXPECT_FALSE(missing.ok) << ep;
    EXPECT_EQ(missing.error, "body.duration: required for gen4.5");
  }
}

TEST(Durations, Gen3aTurboFiveOrTen) {
  EXPECT_TRUE(Check(MakeJob("image_to_video", "gen3a_turbo", 5)).ok);
  EXPECT_TRUE(Check(MakeJob("image_to_video", "gen3a_turbo", 10)).ok);
  EXPECT_TRUE(Check(MakeJob("image_to_video", "gen3a_turbo")).ok);
  CheckResult r = Check(MakeJob("image_to_video", "gen3a_turbo", 7));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "body.duration: gen3a_turbo takes 5 or 10 s, got 7");
}

TEST(Durations, Veo3ExactlyEight) {
  EXPECT_TRUE(Check(MakeJob("image_to_video", "veo3", 8)).ok);
  EXPECT_TRUE(Check(MakeJob("image_to_video", "veo3")).ok);
  CheckResult r = Check(MakeJob("image_to_video", "veo3", 6));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "body.duration: veo3 takes exactly 8 s, got 6");
}

TEST(Durations, Veo31FourSixOrEight) {
  for (const char* m : {"veo3.1", "veo3.1_fast"}) {
    for (int d : {4, 6, 8}) EXPECT_TRUE(Check(MakeJob("image_to_video", m, d)).ok) << m << d;
    for (int d : {2, 5, 7, 10}) {
      CheckResult r = Check(MakeJob("image_to_video", m, d));
      EXPECT_FALSE(r.ok) << m << d;
      EXPECT_NE(r.error.find("4, 6 or 8"), std::string::npos) << r.error;
    }
  }
}

// --------------------------------------------------------------------- ratios

TEST(Ratios, Gen4SixRatios) {
  for (const char* ratio : {"1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672"}) {
    EXPECT_TRUE(Check(MakeJob("image_to_video", "gen4_turbo", 5, ratio)).ok) << ratio;
    EXPECT_TRUE(Check(MakeJob("image_to_video", "gen4.5", 5, ratio)).ok) << ratio;
    EXPECT_TRUE(Check(MakeJob("character_performance", "act_two", std::nullopt, ratio)).ok) << ratio;
  }
  CheckResult r = Check(MakeJob("image_to_video", "gen4_turbo", 5, "1920:1080"));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error.rfind("body.ratio: gen4_turbo takes 1280:720", 0), 0u) << r.error;
  EXPECT_NE(r.error.find("got 1920:1080"), std::string::npos) << r.error;
  EXPECT_FALSE(Check(MakeJob("character_performance", "act_two", std::nullopt, "1080:1920")).ok);
}

TEST(Ratios, Gen45TextToVideoOnlyTwoAndRequired) {
  EXPECT_TRUE(Check(MakeJob("text_to_video", "gen4.5", 5, "1280:720")).ok);
  EXPECT_TRUE(Check(MakeJob("text_to_video", "gen4.5", 5, "720:1280")).ok);
  EXPECT_FALSE(Check(MakeJob("text_to_video", "gen4.5", 5, "960:960")).ok);
  EXPECT_TRUE(Check(MakeJob("image_to_video", "gen4.5", 5, "960:960")).ok);
  CheckResult r = Check(MakeJob("text_to_video", "gen4.5", 5));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "body.ratio: required for gen4.5");
}

TEST(Ratios, Gen3aTurbo) {
  EXPECT_TRUE(Check(MakeJob("image_to_video", "gen3a_turbo", 5, "1280:768")).ok);
  EXPECT_TRUE(Check(MakeJob("image_to_video", "gen3a_turbo", 5, "768:1280")).ok);
  CheckResult r = Check(MakeJob("image_to_video", "gen3a_turbo", 5, "1280:720"));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "body.ratio: gen3a_turbo takes 1280:768 or 768:1280, got 1280:720");
}

TEST(Ratios, Veo31) {
  for (const char* ratio : {"1280:720", "720:1280", "1080:1920", "1920:1080"}) {
    EXPECT_TRUE(Check(MakeJob("text_to_video", "veo3.1", 8, ratio)).ok) << ratio;
    EXPECT_TRUE(Check(MakeJob("image_to_video", "veo3.1_fast", 4, ratio)).ok) << ratio;
  }
  EXPECT_FALSE(Check(MakeJob("image_to_video", "veo3.1", 8, "960:960")).ok);
  EXPECT_FALSE(Check(MakeJob("text_to_video", "veo3.1", 8)).ok);  // text_to_video requires a ratio
  EXPECT_TRUE(Check(MakeJob("image_to_video", "veo3.1", 8)).ok);
}

TEST(Ratios, ModelsWithoutListedRulesAreNotGuessed) {
  EXPECT_TRUE(Check(MakeJob("video_to_video", "gen4_aleph", std::nullopt, "1280:720")).ok);
  EXPECT_TRUE(Check(MakeJob("video_to_video", "aleph2", 5, "whatever")).ok);
  EXPECT_TRUE(Check(MakeJob("text_to_image", "gen4_image", std::nullopt, "1920:1080")).ok);
  EXPECT_TRUE(Check(MakeJob("image_to_video", "veo3", 8, "1080:1920")).ok);
}

// ---------------------------------------------------------------- asset URLs

TEST(AssetUrl, HttpsOnADomainName) {
  for (const char* ok : {"https://cdn.example.com/a.jpg", "HTTPS://CDN.EXAMPLE.COM/A.JPG",
                         "https://example.com", "https://example.com:8443/x?y=1#z", "https://a.b.c.example.co.uk/",
                         "https://user:pw@example.com/a.png", "https://example.com./a.png",
                         "https://xn--bcher-kva.example/a.png", "https://my-cdn.s3.amazonaws.com/k?X-Amz=1"}) {
    CheckResult r = CheckAssetUrl(ok);
    EXPECT_TRUE(r.ok) << ok << ": " << r.error;
  }
}

TEST(AssetUrl, RefusesOtherSchemes) {
  for (const char* bad : {"http://example.com/a.jpg", "ftp://example.com/a.jpg", "//example.com/a.jpg",
                          "example.com/a.jpg", "https:/example.com/a.jpg", "file:///etc/passwd", ""}) {
    EXPECT_FALSE(CheckAssetUrl(bad).ok) << bad;
  }
  EXPECT_NE(CheckAssetUrl("http://example.com/a.jpg").error.find("https"), std::string::npos);
}

TEST(AssetUrl, RefusesIpLiteralsAndLocalhost) {
  for (const char* bad : {"https://127.0.0.1/a.jpg", "https://10.0.0.1:8443/a.jpg", "https://[::1]/a.jpg",
                          "https://[2001:db8::1]:443/a.jpg", "https://localhost/a.jpg", "https://LOCALHOST:8080/a",
                          "https://foo.localhost/a", "https://intranet/a.jpg", "https://0x7f.1/a",
                          "https://2130706433/a", "https://1.2.3.4./a", "https://user@127.0.0.1/a",
                          "https://example.com@127.0.0.1/a", "https:///a.jpg", "https://exa mple.com/a",
                          "https://example..com/a", "https://.example.com/a", "https://exa$mple.com/a"}) {
    EXPECT_FALSE(CheckAssetUrl(bad).ok) << bad;
  }
  EXPECT_NE(CheckAssetUrl("https://127.0.0.1/a").error.find("IP"), std::string::npos);
  EXPECT_NE(CheckAssetUrl("https://localhost/a").error.find("localhost"), std::string::npos);
}

TEST(AssetUrl, LengthLimit) {
  const std::string base = "https://example.com/";
  const std::string at_limit = base + std::string(2048 - base.size(), 'a');
  ASSERT_EQ(at_limit.size(), 2048u);
  EXPECT_TRUE(CheckAssetUrl(at_limit).ok);
  CheckResult r = CheckAssetUrl(at_limit + "a");
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("2048"), std::string::npos) << r.error;
}

TEST(AssetUrl, DataUrisUpToFiveMegabytes) {
  const std::string head = "data:image/png;base64,";
  EXPECT_TRUE(CheckAssetUrl(head + "iVBORw0KGgo=").ok);
  EXPECT_TRUE(CheckAssetUrl("DATA:image/png;base64,AAAA").ok);
  const std::string at_limit = head + std::string(5 * 1024 * 1024 - head.size(), 'A');
  EXPECT_TRUE(CheckAssetUrl(at_limit).ok);  // longer than 2048: the URL limit does not apply
  CheckResult r = CheckAssetUrl(at_limit + "A");
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("5 MB"), std::string::npos) << r.error;
  EXPECT_FALSE(CheckAssetUrl("data:nothing-here").ok);
}

TEST(CheckJobBody, AssetErrorsNameTheAssetAndStayShort) {
  Job j = MakeJob("image_to_video", "gen4_turbo", 5, "1280:720",
                  {"https://cdn.example.com/ok.jpg", "http://cdn.example.com/" + std::string(3000, 'x')});
  CheckResult r = Check(j);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error.rfind("body asset 2 (http://cdn.example.com/", 0), 0u) << r.error;
  EXPECT_LT(r.error.size(), 200u);
}

TEST(CheckJobBody, ExtraEndpointsGetOnlyAssetChecks) {
  Job j = MakeJob("video_upscale", "upscale_v1", 99, "1:1", {"https://cdn.example.com/v.mp4"});
  EXPECT_TRUE(Check(j).ok);
  j.facts.asset_urls.push_back("https://192.168.1.10/v.mp4");
  EXPECT_FALSE(Check(j).ok);
}

TEST(CheckJobBody, HostileModelNamesAreNotEchoedRaw) {
  Job j = MakeJob("image_to_video", std::string("evil\n\x01") + std::string(500, 'x'));
  CheckResult r = Check(j);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error.find('\n'), std::string::npos);
  EXPECT_LT(r.error.size(), 200u);
}

}  // namespace
}  // namespace runwayd::runway
