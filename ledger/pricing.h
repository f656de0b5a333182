// ledger/pricing.h — what a task costs in Runway credits, with no I/O.
//
// A table of per-model prices (the reference's defaults, overridable from the
// configuration) and one pure function from (model, body facts) to credits.
// Credits are integers: billing is linear in fractional seconds, so the cost is
// computed in milli-credits and rounded up to a whole credit (never under-reserve).
// Runway's own `estimatedCost`/`cost` is the truth when present: callers prefer it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "queue/job.h"

namespace runwayd::ledger {

struct ModelPrice {
  int64_t per_second = 0;          // credits per second of output (audio off, or no audio flag)
  int64_t per_second_audio = 0;    // with audio=true; 0: same as per_second
  int64_t minimum = 0;             // a floor on the total
  int64_t per_image = 0;           // image models: per image at 720p ratios
  int64_t per_image_1080 = 0;      // image models at any other ratio (1080p); 0: same as per_image
  double default_duration_s = 0;   // used when the body has no duration
  bool audio_default = true;       // veo3.1*: audio unless the body says audio=false
};

class PriceTable {
 public:
  // The reference's defaults for every model it lists.
  static PriceTable Defaults();
  void Set(const std::string& model, const ModelPrice& p) { prices_[model] = p; }
  const ModelPrice* Find(std::string_view model) const;
  // Credits for one task of `facts.model`; nullopt when the model is unknown.
  std::optional<int64_t> Cost(const BodyFacts& facts) const;

 private:
  std::map<std::string, ModelPrice, std::less<>> prices_;
};

}  // namespace runwayd::ledger
