// queue/job.cc — ParseJob: the v1 job contract (docs/job-format.md).
//
// Two passes of simdjson On-Demand over one padded copy of the job:
//
//  1. Scan (queue/job_scan.cc): proves the whole text is one valid JSON object at
//     most kMaxDepth levels deep and finds repeated keys, before any rule reads it
//     (On-Demand only checks what it is asked to read).
//  2. Read: iterates the top-level fields once, in order, applying the rules of
//     each field, extracting the body facts and capturing the exact bytes of
//     `body` and `meta`.
//
// Decisions (documented in docs/job-format.md):
//  - `id` length is counted in Unicode characters (code points), not bytes. An id
//    is printable: no C0 control (< 0x20), DEL (0x7f) or C1 control (U+0080..U+009F);
//    other UTF-8 is accepted (the document is UTF-8-validated by simdjson).
//  - null is never accepted in place of an optional field: omit the field. Only
//    `meta` may be null (any JSON).
//  - Integers (v, charged, deadline_s, body.seed) are written without a fraction
//    or exponent: 26.0 and 2.6e1 are refused. charged is at most 2^53 - 1, the
//    largest integer every JSON reader (JavaScript included) reads exactly.
//  - A top-level field given twice is refused and neither value is used; a key
//    repeated in any object outside `meta` is refused too (Runway would read the
//    last value, the facts the first). `meta` is only echoed: repeats are its own.
//  - The body's facts fields (duration, ratio, audio, seed, asset references) must
//    have the types Runway expects: a wrong type is refused here, before a paid call.
#include "queue/job.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <array>

#include "queue/job_body.h"
#include "queue/job_scan.h"

namespace runwayd {
namespace {

namespace od = simdjson::ondemand;
using job_parse::CountChars;
using job_parse::Describe;
using job_parse::Echo;
using job_parse::HasControl;
using job_parse::IntRead;
using job_parse::JsonError;
using job_parse::ReadInt;
using job_parse::Scan;
using job_parse::ScanDocument;
using job_parse::TrimRight;

constexpr int64_t kMaxCharged = (int64_t{1} << 53) - 1;     // 9007199254740991, exact in a double
constexpr int64_t kMaxDeadlineS = 7 * 24 * 3600;            // one week
constexpr size_t kMaxFallbackModels = 8;

// The top-level fields of a v1 job.
constexpr std::array<std::string_view, 11> kFields = {
    "v", "id", "endpoint", "body", "charged", "user", "account", "fallback_models", "deadline_s", "reply_to", "meta"};

constexpr std::array<std::string_view, 5> kStandardEndpoints = {
    "image_to_video", "text_to_video", "video_to_video", "character_performance", "text_to_image"};

// ---------------------------------------------------------------------------
// Pass 2: read the fields.

class Reader {
 public:
  Reader(const JobRules& rules, Job* out, od::document* doc) : rules_(rules), out_(out), doc_(doc) {}

  // Returns a simdjson error only for a document the scan should have refused.
  simdjson::error_code Field(std::string_view key, od::value& v, bool repeated);
  std::string Finish();
  // Records an error unless an earlier one was recorded.
  void Fail(std::string e) {
    if (first_error_.empty()) first_error_ = std::move(e);
  }

 private:
  simdjson::error_code Version(od::value& v);
  void Id(od::value& v);
  void Endpoint(od::value& v);
  simdjson::error_code Body(od::value& v);
  void Charged(od::value& v);
  void User(od::value& v);
  void Account(od::value& v);
  simdjson::error_code FallbackModels(od::value& v);
  void Deadline(od::value& v);
  void ReplyTo(od::value& v);
  simdjson::error_code Meta(od::value& v);

  const JobRules& rules_;
  Job* out_;
  od::document* doc_;
  bool seen_v_ = false, seen_id_ = false, seen_endpoint_ = false, seen_body_ = false;
  std::string v_error_;      // reported before anything else: another version has other rules
  std::string first_error_;  // the first other error in document order
};

simdjson::error_code Reader::Field(std::string_view key, od::value& v, bool repeated) {
  if (key == "v") seen_v_ = true;
  if (key == "id") seen_id_ = true;
  if (key == "endpoint") seen_endpoint_ = true;
  if (key == "body") seen_body_ = true;
  if (repeated) {
    // Which of the values counts is ambiguous: none does.
    if (key == "v") {
      if (v_error_.empty()) v_error_ = "v: appears more than once";
    } else if (std::find(kFields.begin(), kFields.end(), key) != kFields.end()) {
      Fail(fmt::format("{}: appears more than once", key));
    } else {
      Fail(fmt::format("unknown field {}", Echo(key)));
    }
    return simdjson::SUCCESS;
  }
  if (key == "v") return Version(v);
  if (key == "id") return Id(v), simdjson::SUCCESS;
  if (key == "endpoint") return Endpoint(v), simdjson::SUCCESS;
  if (key == "body") return Body(v);
  if (key == "charged") return Charged(v), simdjson::SUCCESS;
  if (key == "user") return User(v), simdjson::SUCCESS;
  if (key == "account") return Account(v), simdjson::SUCCESS;
  if (key == "fallback_models") return FallbackModels(v);
  if (key == "deadline_s") return Deadline(v), simdjson::SUCCESS;
  if (key == "reply_to") return ReplyTo(v), simdjson::SUCCESS;
  if (key == "meta") return Meta(v);
  Fail(fmt::format("unknown field {}", Echo(key)));
  return simdjson::SUCCESS;
}

simdjson::error_code Reader::Version(od::value& v) {
  int64_t n = 0;
  if (ReadInt(v, &n) != IntRead::kOk) {
    v_error_ = fmt::format("v: must be the integer 1, got {}", Describe(v));
  } else if (n != 1) {
    v_error_ = fmt::format("v: version {} is not supported (this daemon reads version 1)", n);
  }
  return simdjson::SUCCESS;
}

void Reader::Id(od::value& v) {
  std::string_view s;
  if (v.get_string().get(s)) return Fail("id: must be a string");
  if (s.empty()) return Fail("id: must not be empty");
  if (HasControl(s)) return Fail(fmt::format("id: contains a control character: {}", Echo(s)));
  if (CountChars(s) > rules_.max_id_len) {
    return Fail(fmt::format("id: longer than {} characters", rules_.max_id_len));
  }
  out_->id.assign(s);
}

void Reader::Endpoint(od::value& v) {
  std::string_view s;
  if (v.get_string().get(s)) return Fail("endpoint: must be a string");
  if (!rules_.admitted && !IsStandardEndpoint(s) &&
      std::find(rules_.extra_endpoints.begin(), rules_.extra_endpoints.end(), s) == rules_.extra_endpoints.end()) {
    return Fail(fmt::format("endpoint: {} is not an allowed endpoint", Echo(s)));
  }
  out_->endpoint.assign(s);
}

simdjson::error_code Reader::Body(od::value& v) {
  return job_parse::ReadBody(doc_, v, &out_->body, &out_->facts, &first_error_);
}

void Reader::Charged(od::value& v) {
  int64_t n = 0;
  switch (ReadInt(v, &n)) {
    case IntRead::kNotNumber:
      return Fail(fmt::format("charged: must be an integer number of credits, got {}", Describe(v)));
    case IntRead::kNotInteger:
      return Fail(fmt::format("charged: must be a whole number of credits, got {}", Describe(v)));
    case IntRead::kOutOfRange:
      return Fail(fmt::format("charged: out of range 0..{}, got {}", kMaxCharged, Describe(v)));
    case IntRead::kOk:
      break;
  }
  if (n < 0 || n > kMaxCharged) {
    return Fail(fmt::format("charged: out of range 0..{}, got {}", kMaxCharged, n));
  }
  out_->charged = n;
}

void Reader::User(od::value& v) {
  std::string_view s;
  if (v.get_string().get(s)) return Fail("user: must be a string");
  out_->user.emplace(s);
}

void Reader::Account(od::value& v) {
  std::string_view s;
  if (v.get_string().get(s) || s.empty()) return Fail("account: must be a non-empty string");
  if (HasControl(s)) return Fail(fmt::format("account: contains a control character: {}", Echo(s)));
  out_->account.assign(s);
}

simdjson::error_code Reader::FallbackModels(od::value& v) {
  od::array a;
  if (v.get_array().get(a)) {
    Fail("fallback_models: must be an array of model names");
    return simdjson::SUCCESS;
  }
  std::vector<std::string> models;
  bool ok = true;
  size_t i = 0;
  for (auto er : a) {
    od::value x;
    if (auto e = std::move(er).get(x)) return e;
    std::string_view s;
    if (x.get_string().get(s) || s.empty()) {
      if (ok) Fail(fmt::format("fallback_models[{}]: must be a non-empty string", i));
      ok = false;
    } else if (HasControl(s)) {  // the daemon logs model names: no forged log lines
      if (ok) Fail(fmt::format("fallback_models[{}]: contains a control character: {}", i, Echo(s)));
      ok = false;
    } else if (models.size() < kMaxFallbackModels) {
      models.emplace_back(s);
    }
    ++i;
  }
  if (ok && i > kMaxFallbackModels) {
    Fail(fmt::format("fallback_models: {} models, at most {} are allowed", i, kMaxFallbackModels));
    ok = false;
  }
  if (ok) out_->fallback_models = std::move(models);
  return simdjson::SUCCESS;
}

void Reader::Deadline(od::value& v) {
  int64_t n = 0;
  if (ReadInt(v, &n) != IntRead::kOk || n < 1 || n > kMaxDeadlineS) {
    return Fail(fmt::format("deadline_s: must be an integer from 1 to {} seconds, got {}", kMaxDeadlineS, Describe(v)));
  }
  out_->deadline_s = n;
}

void Reader::ReplyTo(od::value& v) {
  std::string_view s;
  if (v.get_string().get(s)) return Fail("reply_to: must be a string");
  const std::string base = rules_.prefix + ":results";
  const bool ok = s == base || (s.size() > base.size() + 1 && s.substr(0, base.size()) == base &&
                                s[base.size()] == ':');
  if (!ok) {
    return Fail(fmt::format("reply_to: must be \"{0}\" or start with \"{0}:\", got {1}", base, Echo(s)));
  }
  if (HasControl(s)) return Fail(fmt::format("reply_to: contains a control character: {}", Echo(s)));
  out_->reply_to.assign(s);
}

simdjson::error_code Reader::Meta(od::value& v) {
  od::json_type t;
  if (auto e = v.type().get(t)) return e;
  std::string_view text;
  if (t == od::json_type::object) {
    od::object o;
    if (auto e = v.get_object().get(o)) return e;
    if (auto e = o.raw_json().get(text)) return e;
  } else if (t == od::json_type::array) {
    od::array a;
    if (auto e = v.get_array().get(a)) return e;
    if (auto e = a.raw_json().get(text)) return e;
  } else {
    text = v.raw_json_token();
  }
  text = TrimRight(text);
  if (text.empty()) return simdjson::TAPE_ERROR;
  out_->meta.assign(text);
  return simdjson::SUCCESS;
}

std::string Reader::Finish() {
  if (!v_error_.empty()) return v_error_;
  if (!seen_v_) return "v: required (this daemon reads version 1)";
  if (!first_error_.empty()) return first_error_;
  if (!seen_id_) return "id: required";
  if (!seen_endpoint_) return "endpoint: required";
  if (!seen_body_) return "body: required";
  return {};
}

}  // namespace

bool IsStandardEndpoint(std::string_view endpoint) {
  return std::find(kStandardEndpoints.begin(), kStandardEndpoints.end(), endpoint) != kStandardEndpoints.end();
}

JobParse ParseJob(std::string_view raw, const JobRules& rules, Job* out) {
  *out = Job{};
  out->raw.assign(raw);
  JobParse result;
  if (raw.size() > rules.max_bytes && !rules.admitted) {
    result.error = fmt::format("job: {} bytes, over the limit of {}", raw.size(), rules.max_bytes);
    return result;
  }

  thread_local od::parser parser;
  const simdjson::padded_string text(raw);

  Scan scan = ScanDocument(parser, text);
  if (!scan.fatal.empty()) {
    result.error = std::move(scan.fatal);
    // Valid JSON refused all the same (too deep, a number out of range, a lone
    // surrogate): its identity is plain to read, so the job still gets a result and its
    // refund. Only those fields are read; meta only when the scan walked it whole.
    if (scan.valid_json) {
      Job identity;
      Reader reader(rules, &identity, nullptr);
      auto read = [&](std::string_view key, od::value& v, bool repeated) {
        const bool wanted = key == "id" || key == "charged" || key == "user" || key == "reply_to" ||
                            (key == "meta" && scan.meta_walked);
        return wanted ? reader.Field(key, v, repeated) : simdjson::SUCCESS;
      };
      if (job_parse::ReadTopLevel(parser, text, read)) {
        identity.raw = std::move(out->raw);
        *out = std::move(identity);
      }
    }
    return result;
  }

  // The document is valid: iterate it again, reading each top-level field once.
  od::document doc;
  od::object root;
  simdjson::error_code e = parser.iterate(text).get(doc);
  if (!e) e = doc.get_object().get(root);
  Reader reader(rules, out, &doc);
  if (!scan.nested_repeat.empty()) reader.Fail(std::move(scan.nested_repeat));
  if (!e) {
    for (auto fr : root) {
      od::field f;
      if ((e = std::move(fr).get(f))) break;
      std::string_view key;
      if ((e = f.unescaped_key().get(key))) break;
      const bool repeated =
          std::find(scan.top_repeats.begin(), scan.top_repeats.end(), key) != scan.top_repeats.end();
      if ((e = reader.Field(key, f.value(), repeated))) break;
    }
  }
  if (e) {
    // Unreachable for a document the scan accepted; trust nothing read.
    *out = Job{};
    out->raw.assign(raw);
    result.error = JsonError(e);
    return result;
  }

  result.error = reader.Finish();
  result.ok = result.error.empty();
  return result;
}

}  // namespace runwayd
