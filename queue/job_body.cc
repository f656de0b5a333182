// queue/job_body.cc — the body's facts (see job_body.h; the rules: docs/job-format.md).
//
// A facts field with the wrong type is refused here, before a paid call: Runway would
// refuse it too, or read it differently from the checks and the price. Any other key
// goes to Runway untouched, since Runway validates what it knows and new keys appear.
#include "queue/job_body.h"

#include <fmt/format.h>

#include "queue/job_scan.h"

namespace runwayd::job_parse {
namespace {

class BodyReader {
 public:
  BodyReader(od::document* doc, std::string* body, BodyFacts* facts, std::string* first_error)
      : doc_(doc), body_(body), facts_(facts), first_error_(first_error) {}
  simdjson::error_code Read(od::value& v);

 private:
  simdjson::error_code Field(std::string_view key, od::value& v);
  simdjson::error_code UriObject(std::string_view where, od::value& v, bool required);
  simdjson::error_code UriArray(std::string_view where, od::value& v);
  void Fail(std::string e) {
    if (first_error_->empty()) *first_error_ = std::move(e);
  }

  od::document* doc_;
  std::string* body_;
  BodyFacts* facts_;
  std::string* first_error_;
  bool seen_model_ = false;
};

simdjson::error_code BodyReader::Read(od::value& v) {
  const char* start = v.raw_json_token().data();
  od::object o;
  if (v.get_object().get(o)) {
    Fail("body: must be a JSON object");
    return simdjson::SUCCESS;
  }
  for (auto fr : o) {
    od::field f;
    if (auto e = std::move(fr).get(f)) return e;
    std::string_view k;
    if (auto e = f.unescaped_key().get(k)) return e;
    if (auto e = Field(k, f.value())) return e;
  }
  // The body object is consumed: the iterator is on the token after its '}'.
  const char* end = nullptr;
  if (auto e = doc_->current_location().get(end)) return e;
  const std::string_view body = TrimRight(std::string_view(start, static_cast<size_t>(end - start)));
  if (body.size() < 2 || body.front() != '{' || body.back() != '}') return simdjson::TAPE_ERROR;
  body_->assign(body);
  if (!seen_model_) Fail("body.model: required");
  return simdjson::SUCCESS;
}

simdjson::error_code BodyReader::Field(std::string_view key, od::value& v) {
  BodyFacts& facts = *facts_;
  if (key == "model") {
    seen_model_ = true;
    std::string_view s;
    if (v.get_string().get(s) || s.empty()) {
      Fail("body.model: must be a non-empty string");
    } else {
      facts.model.assign(s);
    }
  } else if (key == "duration") {
    od::json_type t;
    double d = 0;
    if (v.type().get(t) || t != od::json_type::number || v.get_double().get(d)) {
      Fail(fmt::format("body.duration: must be a number, got {}", Describe(v)));
    } else if (d < 0) {
      Fail(fmt::format("body.duration: must not be negative, got {}", Describe(v)));
    } else {
      facts.duration_s = d;
      facts.has_duration = true;
    }
  } else if (key == "ratio") {
    std::string_view s;
    if (v.get_string().get(s)) {
      Fail("body.ratio: must be a string");
    } else {
      facts.ratio.assign(s);
    }
  } else if (key == "audio") {
    bool b = false;
    if (v.get_bool().get(b)) {
      Fail("body.audio: must be true or false");
    } else {
      facts.audio = b;
    }
  } else if (key == "seed") {
    int64_t n = 0;
    if (ReadInt(v, &n) != IntRead::kOk || n < 0) {
      Fail(fmt::format("body.seed: must be a non-negative integer, got {}", Describe(v)));
    } else {
      facts.seed = n;
    }
  } else if (key == "promptImage") {
    od::json_type t;
    if (auto e = v.type().get(t)) return e;
    if (t == od::json_type::string) {
      std::string_view s;
      if (auto e = v.get_string().get(s)) return e;
      facts.asset_urls.emplace_back(s);
    } else if (t == od::json_type::array) {
      return UriArray("body.promptImage", v);
    } else {
      Fail("body.promptImage: must be a URI string or an array of {uri, position}");
    }
  } else if (key == "videoUri") {
    std::string_view s;
    if (v.get_string().get(s)) {
      Fail("body.videoUri: must be a string");
    } else {
      facts.asset_urls.emplace_back(s);
    }
  } else if (key == "character") {
    return UriObject("body.character", v, true);
  } else if (key == "reference") {
    return UriObject("body.reference", v, true);
  } else if (key == "referenceImages") {
    return UriArray("body.referenceImages", v);
  } else if (key == "references") {
    return UriArray("body.references", v);
  }
  // Any other key goes to Runway as it is: Runway validates what it knows.
  return simdjson::SUCCESS;
}

// An object {"uri": "...", ...}; its uri is an asset.
simdjson::error_code BodyReader::UriObject(std::string_view where, od::value& v, bool required) {
  od::object o;
  if (v.get_object().get(o)) {
    Fail(fmt::format("{}: must be an object with a uri", where));
    return simdjson::SUCCESS;
  }
  bool seen_uri = false;
  for (auto fr : o) {
    od::field f;
    if (auto e = std::move(fr).get(f)) return e;
    std::string_view k;
    if (auto e = f.unescaped_key().get(k)) return e;
    if (k != "uri") continue;
    seen_uri = true;
    std::string_view s;
    if (f.value().get_string().get(s)) {
      Fail(fmt::format("{}.uri: must be a string", where));
    } else {
      facts_->asset_urls.emplace_back(s);
    }
  }
  if (required && !seen_uri) Fail(fmt::format("{}.uri: required", where));
  return simdjson::SUCCESS;
}

// An array of {"uri": "...", ...} objects.
simdjson::error_code BodyReader::UriArray(std::string_view where, od::value& v) {
  od::array a;
  if (v.get_array().get(a)) {
    Fail(fmt::format("{}: must be an array of objects with a uri", where));
    return simdjson::SUCCESS;
  }
  size_t i = 0;
  for (auto er : a) {
    od::value x;
    if (auto e = std::move(er).get(x)) return e;
    if (auto e = UriObject(fmt::format("{}[{}]", where, i), x, true)) return e;
    ++i;
  }
  return simdjson::SUCCESS;
}

}  // namespace

simdjson::error_code ReadBody(od::document* doc, od::value& v, std::string* body, BodyFacts* facts,
                              std::string* first_error) {
  return BodyReader(doc, body, facts, first_error).Read(v);
}

}  // namespace runwayd::job_parse
