// sim/body_checker.cc — field-level checks (see body_checker.h), and CheckAssetUri
// (declared in validate.h, the module's public face).
#include "sim/body_checker.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include <fmt/format.h>

namespace runwayd::sim {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

constexpr size_t kMaxDataUri = 5 * 1024 * 1024;
constexpr size_t kMaxUrl = 2048;
constexpr size_t kMaxPrompt = 1000;

}  // namespace

bool In(Names set, std::string_view v) { return std::find(set.begin(), set.end(), v) != set.end(); }

std::string Quoted(Names set) {
  std::string s;
  for (auto v : set) s += fmt::format("{}'{}'", s.empty() ? "" : " | ", v);
  return s;
}

const char* TypeName(element e) {
  switch (e.type()) {
    case element_type::ARRAY: return "array";
    case element_type::OBJECT: return "object";
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE: return "number";
    case element_type::STRING: return "string";
    case element_type::BOOL: return "boolean";
    case element_type::NULL_VALUE: return "null";
  }
  return "unknown";
}

bool Field(object o, std::string_view key, element* out) {
  return o.at_key(key).get(*out) == simdjson::SUCCESS;
}

void BodyChecker::Add(std::string code, std::vector<PathElem> path, std::string message) {
  Issue i;
  i.code = std::move(code);
  i.path = std::move(path);
  i.message = std::move(message);
  issues.push_back(std::move(i));
}

void BodyChecker::TypeIssue(std::vector<PathElem> path, std::string_view expected,
                            std::string_view received) {
  Issue i;
  i.code = "invalid_type";
  i.path = std::move(path);
  i.expected = expected;
  i.received = received;
  i.message = received == "undefined" ? "Required"
                                      : fmt::format("Expected {}, received {}", expected, received);
  issues.push_back(std::move(i));
}

void BodyChecker::UnknownKeys(object o, Names allowed, std::vector<PathElem> path) {
  UnknownKeys(o, std::vector<std::string_view>(allowed.begin(), allowed.end()), std::move(path));
}

void BodyChecker::UnknownKeys(object o, const std::vector<std::string_view>& allowed,
                              std::vector<PathElem> path) {
  Issue i;
  for (auto f : o)
    if (std::find(allowed.begin(), allowed.end(), f.key) == allowed.end()) i.keys.emplace_back(f.key);
  if (i.keys.empty()) return;
  i.code = "unrecognized_keys";
  i.path = std::move(path);
  i.message = "Unrecognized key(s) in object: ";
  for (size_t k = 0; k < i.keys.size(); ++k) i.message += fmt::format("{}'{}'", k ? ", " : "", i.keys[k]);
  issues.push_back(std::move(i));
}

void BodyChecker::Prompt(object o, bool required) {
  element e;
  if (!Field(o, "promptText", &e)) {
    if (required) TypeIssue({{"promptText"}}, "string", "undefined");
    return;
  }
  std::string_view s;
  if (e.get_string().get(s) != simdjson::SUCCESS) return TypeIssue({{"promptText"}}, "string", TypeName(e));
  // Runway counts UTF-16 code units: one per code point, two for 4-byte sequences.
  size_t units = 0;
  for (unsigned char c : s) units += (c & 0xC0) == 0x80 ? 0 : (c >= 0xF0 ? 2 : 1);
  if (units < 1) Add("too_small", {{"promptText"}}, "String must contain at least 1 character(s)");
  if (units > kMaxPrompt)
    Add("too_big", {{"promptText"}}, fmt::format("String must contain at most {} character(s)", kMaxPrompt));
  prompt = std::string(s);
}

void BodyChecker::Ratio(object o, Names allowed, bool required) {
  element e;
  if (!Field(o, "ratio", &e)) {
    if (required) TypeIssue({{"ratio"}}, "string", "undefined");
    return;
  }
  std::string_view s;
  if (e.get_string().get(s) != simdjson::SUCCESS) return TypeIssue({{"ratio"}}, "string", TypeName(e));
  facts.ratio = std::string(s);
  if (In(allowed, s)) return;
  Issue i;
  i.code = "invalid_enum_value";
  i.path = {{"ratio"}};
  i.options.assign(allowed.begin(), allowed.end());
  i.message = fmt::format("Invalid enum value. Expected {}, received '{}'", Quoted(allowed), s);
  issues.push_back(std::move(i));
}

void BodyChecker::Duration(object o, bool required, int64_t lo, int64_t hi,
                           std::initializer_list<int64_t> set) {
  element e;
  if (!Field(o, "duration", &e)) {
    if (required) TypeIssue({{"duration"}}, "number", "undefined");
    return;
  }
  double d = 0;
  if (e.get_double().get(d) != simdjson::SUCCESS) return TypeIssue({{"duration"}}, "number", TypeName(e));
  facts.duration_s = d;
  facts.has_duration = true;
  if (d != std::floor(d)) return TypeIssue({{"duration"}}, "integer", "float");
  if (set.size() != 0) {
    if (std::fabs(d) < 1e9 && std::find(set.begin(), set.end(), static_cast<int64_t>(d)) != set.end()) return;
    std::string list;
    for (auto x : set) list += fmt::format("{}{}", list.empty() ? "" : ", ", x);
    Add("invalid_literal", {{"duration"}}, fmt::format("Invalid literal value, expected one of {}", list));
  } else if (d < static_cast<double>(lo)) {
    Add("too_small", {{"duration"}}, fmt::format("Number must be greater than or equal to {}", lo));
  } else if (d > static_cast<double>(hi)) {
    Add("too_big", {{"duration"}}, fmt::format("Number must be less than or equal to {}", hi));
  }
}

void BodyChecker::Seed(object o) {
  element e;
  if (!Field(o, "seed", &e)) return;
  double d = 0;
  if (e.get_double().get(d) != simdjson::SUCCESS) return TypeIssue({{"seed"}}, "number", TypeName(e));
  if (d != std::floor(d)) return TypeIssue({{"seed"}}, "integer", "float");
  if (d < 0) return Add("too_small", {{"seed"}}, "Number must be greater than or equal to 0");
  if (d > 4294967295.0) return Add("too_big", {{"seed"}}, "Number must be less than or equal to 4294967295");
  facts.seed = static_cast<int64_t>(d);
}

void BodyChecker::Bool(object o, std::string_view key, bool is_audio) {
  element e;
  if (!Field(o, key, &e)) return;
  bool b = false;
  if (e.get_bool().get(b) != simdjson::SUCCESS) return TypeIssue({{std::string(key)}}, "boolean", TypeName(e));
  if (is_audio) facts.audio = b;
}

void BodyChecker::Moderation(object o) {
  element e;
  if (!Field(o, "contentModeration", &e)) return;
  object m;
  if (e.get_object().get(m) != simdjson::SUCCESS) return TypeIssue({{"contentModeration"}}, "object", TypeName(e));
  UnknownKeys(m, {"publicFigureThreshold"}, {{"contentModeration"}});
  element t;
  std::string_view s;
  if (Field(m, "publicFigureThreshold", &t) &&
      (t.get_string().get(s) != simdjson::SUCCESS || (s != "auto" && s != "low")))
    Add("invalid_enum_value", {{"contentModeration"}, {"publicFigureThreshold"}},
        "Invalid enum value. Expected 'auto' | 'low'");
}

void BodyChecker::Asset(element e, std::vector<PathElem> path, bool video) {
  std::string_view s;
  if (e.get_string().get(s) != simdjson::SUCCESS) return TypeIssue(std::move(path), "string", TypeName(e));
  std::string why = CheckAssetUri(s, video);
  if (!why.empty()) return Add("custom", std::move(path), why);
  facts.asset_urls.emplace_back(s);
}

void BodyChecker::AssetObject(element e, std::vector<PathElem> path, Names types, Names extra, bool video) {
  object o;
  if (e.get_object().get(o) != simdjson::SUCCESS) return TypeIssue(std::move(path), "object", TypeName(e));
  std::vector<std::string_view> allowed(extra.begin(), extra.end());
  allowed.push_back("uri");
  if (types.size() != 0) allowed.push_back("type");
  UnknownKeys(o, allowed, path);
  if (types.size() != 0) {
    auto tp = path;
    tp.push_back({"type"});
    element t;
    std::string_view ts;
    if (!Field(o, "type", &t)) {
      TypeIssue(tp, "string", "undefined");
    } else if (t.get_string().get(ts) != simdjson::SUCCESS || !In(types, ts)) {
      Add("invalid_enum_value", tp, fmt::format("Invalid enum value. Expected {}", Quoted(types)));
    } else {
      video = ts == "video";  // character may be an image or a video
    }
  }
  path.push_back({"uri"});
  element u;
  if (!Field(o, "uri", &u)) return TypeIssue(std::move(path), "string", "undefined");
  Asset(u, std::move(path), video);
}

std::string CheckAssetUri(std::string_view uri, bool video) {
  if (uri.substr(0, 5) == "data:") {
    const std::string_view want = video ? "data:video/" : "data:image/";
    if (uri.substr(0, want.size()) != want)
      return fmt::format("Data URIs must have the {} media type.", video ? "video/*" : "image/*");
    if (uri.size() > kMaxDataUri) return "Data URIs must be at most 5 MB.";
    return "";
  }
  std::string scheme(uri.substr(0, 8));
  for (char& ch : scheme) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (scheme != "https://") return "Only HTTPS URLs are allowed.";
  if (uri.size() > kMaxUrl) return fmt::format("URLs must be at most {} characters.", kMaxUrl);
  const std::string_view rest = uri.substr(8);
  const std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.find('@') != std::string_view::npos) return "Invalid URL.";
  if (!authority.empty() && authority.front() == '[') return "URLs must use a domain name, not an IP address.";
  const std::string_view host = authority.substr(0, authority.find(':'));
  if (host.empty() || host.find('.') == std::string_view::npos) return "Invalid URL.";
  bool all_numeric = true;
  for (char ch : host) {
    const auto u = static_cast<unsigned char>(ch);
    if (!(std::isalnum(u) || ch == '.' || ch == '-')) return "Invalid URL.";
    all_numeric = all_numeric && (std::isdigit(u) || ch == '.');
  }
  if (all_numeric) return "URLs must use a domain name, not an IP address.";
  // Simulator hook: the reserved TLD .invalid stands for an asset Runway cannot fetch.
  constexpr std::string_view kUnfetchable = ".invalid";
  if (host.size() > kUnfetchable.size() && host.substr(host.size() - kUnfetchable.size()) == kUnfetchable)
    return "Failed to fetch asset. Received HTTP response code \"404\".";
  return "";
}

}  // namespace runwayd::sim
