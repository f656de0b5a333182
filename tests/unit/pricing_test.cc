// tests/unit/pricing_test.cc — ledger/pricing.h against the reference's price list.
#include "ledger/pricing.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace runwayd::ledger {
namespace {

BodyFacts Video(const std::string& model, std::optional<double> duration = std::nullopt,
                std::optional<bool> audio = std::nullopt) {
  BodyFacts f;
  f.model = model;
  if (duration) {
    f.duration_s = *duration;
    f.has_duration = true;
  }
  f.audio = audio;
  return f;
}

BodyFacts Image(const std::string& model, const std::string& ratio) {
  BodyFacts f;
  f.model = model;
  f.ratio = ratio;
  return f;
}

std::optional<int64_t> Cost(const BodyFacts& f) { return PriceTable::Defaults().Cost(f); }

TEST(Pricing, PerSecondModelsWithExplicitDuration) {
  EXPECT_EQ(Cost(Video("gen4_turbo", 5)), 25);
  EXPECT_EQ(Cost(Video("gen4_turbo", 10)), 50);
  EXPECT_EQ(Cost(Video("gen4_turbo", 2)), 10);
  EXPECT_EQ(Cost(Video("gen3a_turbo", 5)), 25);
  EXPECT_EQ(Cost(Video("gen3a_turbo", 10)), 50);
  EXPECT_EQ(Cost(Video("gen4.5", 5)), 60);
  EXPECT_EQ(Cost(Video("gen4.5", 10)), 120);
  EXPECT_EQ(Cost(Video("gen4_aleph", 5)), 75);
  EXPECT_EQ(Cost(Video("aleph2", 5)), 140);
  EXPECT_EQ(Cost(Video("act_two", 7)), 35);
  EXPECT_EQ(Cost(Video("veo3", 8)), 320);
}

TEST(Pricing, MissingDurationUsesRunwaysDefault) {
  EXPECT_EQ(Cost(Video("gen4_turbo")), 50);    // 10 s
  EXPECT_EQ(Cost(Video("gen3a_turbo")), 50);   // 10 s
  EXPECT_EQ(Cost(Video("veo3")), 320);         // 8 s
  EXPECT_EQ(Cost(Video("veo3.1")), 320);       // 8 s, audio on by default
  EXPECT_EQ(Cost(Video("veo3.1_fast")), 120);  // 8 s, audio on by default
  EXPECT_EQ(Cost(Video("gen4.5")), 60);        // 5 s
  EXPECT_EQ(Cost(Video("gen4_aleph")), 75);    // 5 s
  EXPECT_EQ(Cost(Video("act_two")), 150);      // 30 s: the longest reference video
}

TEST(Pricing, AudioFlagChangesTheVeo31Rates) {
  EXPECT_EQ(Cost(Video("veo3.1", 8, true)), 320);
  EXPECT_EQ(Cost(Video("veo3.1", 8, false)), 160);
  EXPECT_EQ(Cost(Video("veo3.1", 4, false)), 80);
  EXPECT_EQ(Cost(Video("veo3.1", 6, true)), 240);
  EXPECT_EQ(Cost(Video("veo3.1_fast", 8, true)), 120);
  EXPECT_EQ(Cost(Video("veo3.1_fast", 8, false)), 80);
  EXPECT_EQ(Cost(Video("veo3.1_fast", 4, true)), 60);
  EXPECT_EQ(Cost(Video("veo3.1_fast", 6, false)), 60);
  // A model without an audio price ignores the flag.
  EXPECT_EQ(Cost(Video("gen4_turbo", 5, true)), 25);
  EXPECT_EQ(Cost(Video("gen4_turbo", 5, false)), 25);
  EXPECT_EQ(Cost(Video("veo3", 8, false)), 320);
}

TEST(Pricing, FractionalDurationsRoundUpToAWholeCredit) {
  EXPECT_EQ(Cost(Video("gen4_turbo", 2.5)), 13);     // 12.5
  EXPECT_EQ(Cost(Video("gen4_turbo", 2.4)), 12);     // exactly 12: no float drift
  EXPECT_EQ(Cost(Video("gen4.5", 4.1)), 50);         // 49.2
  EXPECT_EQ(Cost(Video("gen4.5", 0.1)), 2);          // 1.2
  EXPECT_EQ(Cost(Video("act_two", 3.3)), 17);        // 16.5
  EXPECT_EQ(Cost(Video("act_two", 0.2)), 1);         // exactly 1
  EXPECT_EQ(Cost(Video("gen4_aleph", 1.0 / 3)), 6);  // priced as 334 ms: whole ms, rounded up
  EXPECT_EQ(Cost(Video("veo3.1_fast", 5.5, false)), 55);
  EXPECT_EQ(Cost(Video("veo3.1_fast", 5.5, true)), 83);  // 82.5
  // Products that are whole in decimal but not in binary floating point.
  for (int tenths = 1; tenths <= 300; ++tenths) {
    const double d = tenths / 10.0;
    const int64_t expected_milli = 12 * tenths * 100;  // gen4.5: 12 credits/s
    const int64_t expected = (expected_milli + 999) / 1000;
    EXPECT_EQ(Cost(Video("gen4.5", d)), expected) << d;
  }
}

TEST(Pricing, MinimumIsAFloor) {
  EXPECT_EQ(Cost(Video("aleph2", 1)), 56);    // 28 < 56
  EXPECT_EQ(Cost(Video("aleph2", 2)), 56);    // exactly the minimum
  EXPECT_EQ(Cost(Video("aleph2", 2.5)), 70);  // above it
  EXPECT_EQ(Cost(Video("aleph2", 0)), 56);
}

// gen4_image: 5 credits at its six 720p ratios, 8 at its ten 1080p ratios (Runway's
// API reference lists both sets). The sides do not tell the tier: 1024:1024 and
// 2112:912 are 1080p ratios, and were priced 5 when the rule was "smaller side >= 1080".
// A ratio on neither list reserves the higher price.
TEST(Pricing, ImageModelsPerImageBy720Or1080Ratio) {
  for (const char* r : {"1280:720", "720:1280", "720:720", "960:720", "720:960", "1680:720"})
    EXPECT_EQ(Cost(Image("gen4_image", r)), 5) << r;
  for (const char* r : {"1920:1080", "1080:1920", "1024:1024", "1360:768", "1080:1080", "1168:880", "1440:1080",
                        "1080:1440", "1808:768", "2112:912"})
    EXPECT_EQ(Cost(Image("gen4_image", r)), 8) << r;
  EXPECT_EQ(Cost(Image("gen4_image", "")), 8);
  EXPECT_EQ(Cost(Image("gen4_image", "garbage")), 8);
  EXPECT_EQ(Cost(Image("gen4_image", "1280:7200")), 8);
  EXPECT_EQ(Cost(Image("gen4_image_turbo", "1280:720")), 2);
  EXPECT_EQ(Cost(Image("gen4_image_turbo", "1920:1080")), 2);
  // A duration on an image model is irrelevant.
  BodyFacts f = Image("gen4_image", "1920:1080");
  f.has_duration = true;
  f.duration_s = 10;
  EXPECT_EQ(Cost(f), 8);
}

TEST(Pricing, UnknownModelIsNullopt) {
  EXPECT_EQ(Cost(Video("gen5_ultra", 5)), std::nullopt);
  EXPECT_EQ(Cost(Video("", 5)), std::nullopt);
  EXPECT_EQ(Cost(Video("GEN4_TURBO", 5)), std::nullopt);  // names are exact
  EXPECT_EQ(PriceTable::Defaults().Find("gen5_ultra"), nullptr);
  EXPECT_EQ(PriceTable().Cost(Video("gen4_turbo", 5)), std::nullopt);  // empty table
}

TEST(Pricing, DefaultsCoverEveryModelOfTheReference) {
  const PriceTable t = PriceTable::Defaults();
  for (const char* m : {"gen4_turbo", "gen3a_turbo", "gen4.5", "gen4_aleph", "aleph2", "act_two", "veo3",
                        "veo3.1", "veo3.1_fast", "gen4_image", "gen4_image_turbo"}) {
    EXPECT_NE(t.Find(m), nullptr) << m;
    EXPECT_TRUE(t.Cost(Video(m, 5)).has_value()) << m;
  }
}

TEST(Pricing, SetOverridesAndAddsModels) {
  PriceTable t = PriceTable::Defaults();
  ModelPrice p;
  p.per_second = 7;
  p.default_duration_s = 4;
  t.Set("gen4_turbo", p);
  EXPECT_EQ(t.Cost(Video("gen4_turbo", 5)), 35);
  EXPECT_EQ(t.Cost(Video("gen4_turbo")), 28);  // the override's default duration
  // Other models are untouched.
  EXPECT_EQ(t.Cost(Video("gen4.5", 5)), 60);

  ModelPrice speech;
  speech.per_second = 1;
  speech.minimum = 3;
  speech.default_duration_s = 1;
  t.Set("eleven_multilingual_v2", speech);
  EXPECT_EQ(t.Cost(Video("eleven_multilingual_v2", 10)), 10);
  EXPECT_EQ(t.Cost(Video("eleven_multilingual_v2")), 3);

  ModelPrice audio_off_by_default;
  audio_off_by_default.per_second = 10;
  audio_off_by_default.per_second_audio = 30;
  audio_off_by_default.audio_default = false;
  audio_off_by_default.default_duration_s = 8;
  t.Set("veo3.1", audio_off_by_default);
  EXPECT_EQ(t.Cost(Video("veo3.1")), 80);
  EXPECT_EQ(t.Cost(Video("veo3.1", 8, true)), 240);

  ModelPrice image;
  image.per_image = 3;  // per_image_1080 = 0: same price at 1080p
  t.Set("gen4_image", image);
  EXPECT_EQ(t.Cost(Image("gen4_image", "1920:1080")), 3);
}

TEST(Pricing, HostileNumbersDoNotOverflowOrGoNegative) {
  EXPECT_EQ(Cost(Video("gen4_turbo", -5)), 0);
  EXPECT_EQ(Cost(Video("aleph2", -5)), 56);
  const auto huge = Cost(Video("veo3", 1e300));
  ASSERT_TRUE(huge.has_value());
  EXPECT_GT(*huge, 0);
  EXPECT_EQ(*huge, 40 * 86400);  // capped at one day of output
  PriceTable t;
  ModelPrice absurd;
  absurd.per_second = int64_t{1} << 62;
  t.Set("m", absurd);
  const auto sat = t.Cost(Video("m", 1000));
  ASSERT_TRUE(sat.has_value());
  EXPECT_GT(*sat, 0);
}

}  // namespace
}  // namespace runwayd::ledger
