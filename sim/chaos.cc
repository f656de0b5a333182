// sim/chaos.cc — chaos plans and the /_sim/chaos parser (see chaos.h).
#include "sim/chaos.h"

#include <simdjson.h>

#include <fmt/format.h>

namespace runwayd::sim {

ChaosPlan Chaos::Roll(bool is_create) {
  ChaosPlan p;
  const ChaosConfig& c = config_;
  // Draw every number even when a rate is 0, so that turning one rate on does not
  // shift the sequence the others see.
  const double early = Uniform();
  const double split = Uniform();
  const double late = Uniform();
  const double slow = Uniform();

  double band = c.rate_429;
  if (early < band) {
    p.early_status = 429;
  } else if (early < (band += c.rate_502)) {
    p.early_status = 502;
  } else if (early < (band += c.rate_503)) {
    p.early_status = 503;
  } else if (early < (band += c.rate_504)) {
    if (is_create && split < c.rate_504_created) {
      p.late_504 = true;
    } else {
      p.early_status = 504;
    }
  } else if (early < (band += c.reset_before)) {
    p.reset_before = true;
  }

  if (p.early_status == 0 && !p.reset_before && !p.late_504) {
    band = c.reset_after;
    if (late < band) {
      p.reset_after = true;
    } else if (late < (band += c.malformed_rate)) {
      p.body = ChaosPlan::Body::kMalformed;
    } else if (late < (band += c.truncated_rate)) {
      p.body = ChaosPlan::Body::kTruncated;
    }
  }
  if (!p.reset_before && !p.reset_after && slow < c.slow_rate) p.delay_ms = c.slow_ms;
  return p;
}

std::string MalformBody(std::string_view body) {
  // `{"id":"..."}` becomes `{"id":"..."]`: every byte a naive reader greps for is
  // there, but no JSON parser accepts it.
  std::string s(body);
  if (!s.empty() && s.back() == '}') {
    s.back() = ']';
  } else {
    s += "<html>";
  }
  return s;
}

std::string TruncateBody(std::string_view body) {
  return std::string(body.substr(0, body.size() / 2));
}

bool ParseChaosJson(std::string_view json, ChaosConfig* out, std::string* error) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(json.data(), json.size()).get(root) != simdjson::SUCCESS) {
    *error = "body is not valid JSON";
    return false;
  }
  simdjson::dom::object obj;
  if (root.get_object().get(obj) != simdjson::SUCCESS) {
    *error = "body must be a JSON object";
    return false;
  }
  ChaosConfig c;
  for (auto field : obj) {
    const std::string_view k = field.key;
    if (k == "organization") {
      bool b = false;
      if (field.value.get_bool().get(b) != simdjson::SUCCESS) {
        *error = "organization: expected a boolean";
        return false;
      }
      c.organization = b;
      continue;
    }
    double v = 0;
    if (field.value.get_double().get(v) != simdjson::SUCCESS) {  // DOM converts integers
      *error = fmt::format("{}: expected a number", k);
      return false;
    }
    if (k == "rate_429") c.rate_429 = v;
    else if (k == "rate_502") c.rate_502 = v;
    else if (k == "rate_503") c.rate_503 = v;
    else if (k == "rate_504") c.rate_504 = v;
    else if (k == "rate_504_created") c.rate_504_created = v;
    else if (k == "reset_before") c.reset_before = v;
    else if (k == "reset_after") c.reset_after = v;
    else if (k == "slow_rate") c.slow_rate = v;
    else if (k == "slow_ms") c.slow_ms = static_cast<int64_t>(v);
    else if (k == "retry_after_s") c.retry_after_s = static_cast<int64_t>(v);
    else if (k == "malformed_rate") c.malformed_rate = v;
    else if (k == "truncated_rate") c.truncated_rate = v;
    else {
      *error = fmt::format("unknown key \"{}\"", k);
      return false;
    }
  }
  if (!ValidateChaos(c, error)) return false;
  *out = c;
  return true;
}

}  // namespace runwayd::sim
