// runway/checks.cc — the reference's model catalogue and asset rules.
//
// Only what the reference states is checked: a false refusal loses a job, while a
// request that slips through is refused by Runway with a free 400.
#include "runway/checks.h"

#include <fmt/format.h>

#include <algorithm>
#include <span>
#include <cctype>
#include <cmath>
#include <initializer_list>
#include <string_view>

namespace runwayd::runway {
namespace {

constexpr size_t kMaxUrl = 2048;
constexpr size_t kMaxDataUri = 5 * 1024 * 1024;

using Names = std::span<const std::string_view>;

// The catalogue of ../shared/runway-api.md, "Creating a task".
constexpr std::string_view kImageToVideo[] = {"gen4_turbo", "gen4.5", "gen3a_turbo", "veo3", "veo3.1", "veo3.1_fast"};
constexpr std::string_view kTextToVideo[] = {"gen4.5", "veo3", "veo3.1", "veo3.1_fast"};
constexpr std::string_view kVideoToVideo[] = {"gen4_aleph", "aleph2"};
constexpr std::string_view kCharacterPerformance[] = {"act_two"};
constexpr std::string_view kTextToImage[] = {"gen4_image", "gen4_image_turbo"};

struct EndpointModels {
  std::string_view endpoint;
  Names models;
};
constexpr EndpointModels kCatalogue[] = {
    {"image_to_video", kImageToVideo},
    {"text_to_video", kTextToVideo},
    {"video_to_video", kVideoToVideo},
    {"character_performance", kCharacterPerformance},
    {"text_to_image", kTextToImage},
};

constexpr std::string_view kGen4Ratios[] = {"1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672"};
constexpr std::string_view kGen45TextRatios[] = {"1280:720", "720:1280"};
constexpr std::string_view kGen3Ratios[] = {"1280:768", "768:1280"};
constexpr std::string_view kVeoRatios[] = {"1280:720", "720:1280", "1080:1920", "1920:1080"};

const EndpointModels* FindEndpoint(std::string_view endpoint) {
  for (const auto& e : kCatalogue) {
    if (e.endpoint == endpoint) return &e;
  }
  return nullptr;
}

bool Contains(Names list, std::string_view v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

bool KnownAnywhere(std::string_view model) {
  for (const auto& e : kCatalogue) {
    if (Contains(e.models, model)) return true;
  }
  return false;
}

std::string Join(Names list) {
  std::string out;
  size_t i = 0;
  for (auto v : list) {
    if (i > 0) out += (i + 1 == list.size()) ? " or " : ", ";
    out += v;
    ++i;
  }
  return out;
}

// Printable ASCII excerpt of something the producer sent, for error messages.
std::string Excerpt(std::string_view s, size_t max = 64) {
  std::string out;
  for (char c : s.substr(0, std::min(s.size(), max))) {
    const unsigned char u = static_cast<unsigned char>(c);
    out.push_back(u >= 0x20 && u <= 0x7e ? c : '?');
  }
  if (s.size() > max) out += "...";
  return out;
}

CheckResult Fail(std::string error) { return CheckResult{false, std::move(error)}; }

// Duration rule of one model: integer seconds in [lo, hi], or one of `allowed`.
struct DurationRule {
  bool required = false;
  int lo = 0, hi = 0;                          // used when allowed is empty
  std::initializer_list<int> allowed = {};     // discrete choices
};

CheckResult CheckDuration(std::string_view model, const BodyFacts& f, const DurationRule& rule) {
  if (!f.has_duration) {
    if (rule.required) return Fail(fmt::format("body.duration: required for {}", model));
    return {};
  }
  const double d = f.duration_s;
  const bool whole = std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e6;
  const int n = whole ? static_cast<int>(d) : 0;
  if (rule.allowed.size() == 0) {
    if (whole && n >= rule.lo && n <= rule.hi) return {};
    return Fail(fmt::format("body.duration: {} takes {}..{} s, got {}", model, rule.lo, rule.hi, d));
  }
  if (whole && std::find(rule.allowed.begin(), rule.allowed.end(), n) != rule.allowed.end()) return {};
  if (rule.allowed.size() == 1) {
    return Fail(fmt::format("body.duration: {} takes exactly {} s, got {}", model, *rule.allowed.begin(), d));
  }
  std::string choices;
  size_t i = 0;
  for (int v : rule.allowed) {
    if (i > 0) choices += (i + 1 == rule.allowed.size()) ? " or " : ", ";
    choices += std::to_string(v);
    ++i;
  }
  return Fail(fmt::format("body.duration: {} takes {} s, got {}", model, choices, d));
}

CheckResult CheckRatio(std::string_view model, const BodyFacts& f, Names ratios,
                       bool required) {
  if (f.ratio.empty()) {
    if (required) return Fail(fmt::format("body.ratio: required for {}", model));
    return {};
  }
  if (Contains(ratios, f.ratio)) return {};
  return Fail(fmt::format("body.ratio: {} takes {}, got {}", model, Join(ratios), Excerpt(f.ratio)));
}

// Model-specific rules of the reference ("Durations and ratios").
CheckResult CheckModelRules(std::string_view endpoint, const BodyFacts& f) {
  const std::string_view m = f.model;
  const bool text_to_video = endpoint == "text_to_video";
  CheckResult r;
  if (m == "gen4_turbo") {
    r = CheckDuration(m, f, {false, 2, 10, {}});
    if (r.ok) r = CheckRatio(m, f, kGen4Ratios, false);
  } else if (m == "gen4.5") {
    r = CheckDuration(m, f, {true, 2, 10, {}});
    if (r.ok) r = CheckRatio(m, f, text_to_video ? Names(kGen45TextRatios) : Names(kGen4Ratios), text_to_video);
  } else if (m == "gen3a_turbo") {
    r = CheckDuration(m, f, {false, 0, 0, {5, 10}});
    if (r.ok) r = CheckRatio(m, f, kGen3Ratios, false);
  } else if (m == "veo3") {
    // The reference gives veo3 no ratio list: only its duration is checked.
    r = CheckDuration(m, f, {false, 0, 0, {8}});
    if (r.ok && text_to_video && f.ratio.empty()) r = Fail("body.ratio: required for veo3");
  } else if (m == "veo3.1" || m == "veo3.1_fast") {
    r = CheckDuration(m, f, {false, 0, 0, {4, 6, 8}});
    if (r.ok) r = CheckRatio(m, f, kVeoRatios, text_to_video);
  } else if (m == "act_two") {
    r = CheckRatio(m, f, kGen4Ratios, false);
  }
  return r;
}

bool IEqualsPrefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

// Why `host` (lowercase, no port) is not a domain name; empty when it is one.
std::string_view HostProblem(std::string_view host) {
  if (host.empty()) return "no host";
  if (host.front() == '[') return "an IP address is not allowed, use a domain name";
  if (host.back() == '.') host.remove_suffix(1);  // "example.com." is fully qualified
  if (host == "localhost" || (host.size() > 10 && host.substr(host.size() - 10) == ".localhost")) {
    return "localhost is not allowed";
  }
  if (host.find('.') == std::string_view::npos) return "the host is not a domain name";
  size_t label_start = 0;
  for (size_t i = 0; i <= host.size(); ++i) {
    if (i == host.size() || host[i] == '.') {
      if (i == label_start) return "the host has an empty label";
      label_start = i + 1;
      continue;
    }
    const unsigned char u = static_cast<unsigned char>(host[i]);
    if (!(std::isalnum(u) || u == '-' || u == '_' || u >= 0x80)) return "the host has invalid characters";
  }
  // The top-level label of a domain starts with a letter (or is an IDN): this
  // refuses IPv4 literals in every notation (1.2.3.4, 0x7f.1, 2130706433.0).
  const std::string_view tld = host.substr(host.rfind('.') + 1);
  const unsigned char first = static_cast<unsigned char>(tld.front());
  if (!(std::isalpha(first) || first >= 0x80)) return "an IP address is not allowed, use a domain name";
  return "";
}

}  // namespace

bool IsKnownModel(std::string_view endpoint, std::string_view model) {
  const EndpointModels* e = FindEndpoint(endpoint);
  return e != nullptr && Contains(e->models, model);
}

CheckResult CheckAssetUrl(std::string_view url) {
  if (IEqualsPrefix(url, "data:")) {
    if (url.size() > kMaxDataUri) {
      return Fail(fmt::format("data URI of {} bytes is over the 5 MB limit", url.size()));
    }
    if (url.find(',') == std::string_view::npos) return Fail("data URI without a ',' before its data");
    return {};
  }
  if (url.empty()) return Fail("empty URL");
  if (url.size() > kMaxUrl) return Fail(fmt::format("URL of {} characters is over the 2048 limit", url.size()));
  for (char c : url) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return Fail("URL contains spaces or control characters");
  }
  if (!IEqualsPrefix(url, "https://")) return Fail("only https:// URLs are allowed");
  std::string_view rest = url.substr(8);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
  std::string host;
  if (!authority.empty() && authority.front() == '[') {
    host.assign(1, '[');  // not = "[": GCC 12 warns falsely (-Wrestrict, bug 105329)
  } else {
    authority = authority.substr(0, authority.find(':'));
    host.reserve(authority.size());
    for (char c : authority) host.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  if (std::string_view problem = HostProblem(host); !problem.empty()) return Fail(std::string(problem));
  return {};
}

CheckResult CheckJobBody(const Job& job, const CheckRules& rules) {
  const BodyFacts& f = job.facts;
  if (FindEndpoint(job.endpoint) != nullptr) {
    if (f.model.empty()) return Fail("body.model: required");
    if (!IsKnownModel(job.endpoint, f.model)) {
      if (KnownAnywhere(f.model)) {
        return Fail(fmt::format("body.model: {} is not available on {}", Excerpt(f.model), job.endpoint));
      }
      if (!rules.allow_unknown_models) {
        return Fail(fmt::format("body.model: unknown model {} for {}", Excerpt(f.model), job.endpoint));
      }
    } else {
      CheckResult r = CheckModelRules(job.endpoint, f);
      if (!r.ok) return r;
    }
  }
  for (size_t i = 0; i < f.asset_urls.size(); ++i) {
    CheckResult r = CheckAssetUrl(f.asset_urls[i]);
    if (!r.ok) {
      return Fail(fmt::format("body asset {} ({}): {}", i + 1, Excerpt(f.asset_urls[i], 48), r.error));
    }
  }
  return {};
}

}  // namespace runwayd::runway
