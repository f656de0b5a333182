// ledger/pricing.cc — the reference's price table and the cost of one task.
//
// All arithmetic is integer: the duration is converted to whole milliseconds once
// (rounded up, so a fraction of a millisecond is never lost), then
// credits/second * milliseconds = milli-credits, rounded up to a whole credit.
#include "ledger/pricing.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace runwayd::ledger {
namespace {

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
// Longest output we price: a day. Keeps rate * milliseconds far from overflow
// for any sane rate; larger products saturate anyway.
constexpr double kMaxDurationS = 86400.0;

ModelPrice PerSecond(int64_t rate, double default_duration_s, int64_t minimum = 0) {
  ModelPrice p;
  p.per_second = rate;
  p.minimum = minimum;
  p.default_duration_s = default_duration_s;
  return p;
}

ModelPrice WithAudio(int64_t without_audio, int64_t with_audio, double default_duration_s) {
  ModelPrice p = PerSecond(without_audio, default_duration_s);
  p.per_second_audio = with_audio;
  p.audio_default = true;
  return p;
}

ModelPrice PerImage(int64_t at_720, int64_t at_1080) {
  ModelPrice p;
  p.per_image = at_720;
  p.per_image_1080 = at_1080;
  return p;
}

// Seconds -> whole milliseconds, rounded up. A value within a millionth of a
// millisecond of a whole number is that number (4.1 * 1000 may be 4100.0000000001).
int64_t DurationMs(double seconds) {
  if (!std::isfinite(seconds) || seconds <= 0) return 0;
  seconds = std::min(seconds, kMaxDurationS);
  const double ms = seconds * 1000.0;
  const double nearest = std::round(ms);
  if (std::fabs(ms - nearest) < 1e-6) return static_cast<int64_t>(nearest);
  return static_cast<int64_t>(std::ceil(ms));
}

// a * b, saturating at INT64_MAX (both non-negative).
int64_t MulSat(int64_t a, int64_t b) {
  if (a <= 0 || b <= 0) return 0;
  if (a > kInt64Max / b) return kInt64Max;
  return a * b;
}

// gen4_image's 720p ratios, as Runway's API reference lists them; its other ten
// (1920:1080, 1080:1920, 1024:1024, 1360:768, 1080:1080, 1168:880, 1440:1080,
// 1080:1440, 1808:768, 2112:912) are its 1080p ratios. The sides do not tell the tier
// (1024:1024 and 2112:912 are 1080p), so the list does; a ratio that is not on it is
// priced at the 1080p rate: a reservation may be too high, never too low.
bool Is720Ratio(std::string_view ratio) {
  for (std::string_view r : {"1280:720", "720:1280", "720:720", "960:720", "720:960", "1680:720"})
    if (ratio == r) return true;
  return false;
}

}  // namespace

PriceTable PriceTable::Defaults() {
  PriceTable t;
  // Runway's defaults when the body has no duration: 10 s for gen4_turbo and
  // gen3a_turbo, 8 s for the veo models, 5 s otherwise. act_two has no duration: its
  // output is as long as its reference video (3 to 30 s), which the daemon does not
  // read, so it reserves the longest (never under-reserve; estimatedCost corrects it).
  t.Set("gen4_turbo", PerSecond(5, 10));
  t.Set("gen3a_turbo", PerSecond(5, 10));
  t.Set("gen4.5", PerSecond(12, 5));
  t.Set("gen4_aleph", PerSecond(15, 5));
  t.Set("aleph2", PerSecond(28, 5, /*minimum=*/56));
  t.Set("act_two", PerSecond(5, 30));
  t.Set("veo3", PerSecond(40, 8));
  t.Set("veo3.1", WithAudio(20, 40, 8));
  t.Set("veo3.1_fast", WithAudio(10, 15, 8));
  t.Set("gen4_image", PerImage(5, 8));
  t.Set("gen4_image_turbo", PerImage(2, 0));
  return t;
}

const ModelPrice* PriceTable::Find(std::string_view model) const {
  auto it = prices_.find(model);
  return it == prices_.end() ? nullptr : &it->second;
}

std::optional<int64_t> PriceTable::Cost(const BodyFacts& facts) const {
  const ModelPrice* p = Find(facts.model);
  if (p == nullptr) return std::nullopt;

  int64_t credits = 0;
  if (p->per_image > 0) {
    // One image per task: the body has no image count.
    credits = (p->per_image_1080 > 0 && !Is720Ratio(facts.ratio)) ? p->per_image_1080 : p->per_image;
  } else {
    const bool audio = facts.audio.value_or(p->audio_default);
    const int64_t rate = (audio && p->per_second_audio > 0) ? p->per_second_audio : p->per_second;
    const int64_t ms = DurationMs(facts.has_duration ? facts.duration_s : p->default_duration_s);
    const int64_t milli = MulSat(rate, ms);
    credits = milli / 1000 + (milli % 1000 != 0 ? 1 : 0);
  }
  return std::max(credits, p->minimum);
}

}  // namespace runwayd::ledger
