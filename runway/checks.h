// runway/checks.h — checks that save a wasted paid request, with no I/O.
//
// Before a job's body is sent to Runway as it came, these checks refuse what Runway
// would refuse anyway: a model not allowed for the endpoint, a duration or ratio
// invalid for a known model, an asset URL that is not https:// on a domain name or
// is longer than 2048 characters. The model catalogue is the reference's
// (../shared/runway-api.md); a model unknown to it passes only when the
// configuration says so (allow_unknown_models).
#pragma once

#include <string>
#include <string_view>

#include "queue/job.h"

namespace runwayd::runway {

struct CheckRules {
  bool allow_unknown_models = false;
};

struct CheckResult {
  bool ok = true;
  std::string error;  // one line naming the field, e.g. "body.duration: gen4_turbo takes 2..10 s"
};

// True when `model` is in the catalogue for `endpoint` (one of the five standard endpoints).
bool IsKnownModel(std::string_view endpoint, std::string_view model);

// Checks a parsed job (endpoint + facts). Endpoints beyond the five standard ones
// (allowed by configuration) only get the asset URL checks.
CheckResult CheckJobBody(const Job& job, const CheckRules& rules);

// Checks one asset reference: https:// on a domain name (not an IP literal, not
// localhost), at most 2048 characters; data: URIs are allowed up to 5 MB.
CheckResult CheckAssetUrl(std::string_view url);

}  // namespace runwayd::runway
