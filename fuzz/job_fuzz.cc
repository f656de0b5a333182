// fuzz/job_fuzz.cc — libFuzzer target for ParseJob and the event encoders.
//
// Any bytes go through ParseJob. Then, as the daemon would: an identifiable job
// (valid id) gets a result event, a job with `charged` a refund event, and every
// job a dead entry. The target checks the invariants that matter downstream:
//   - ParseJob never crashes, always keeps `raw`, and `ok` agrees with `error`;
//   - errors are one line of valid UTF-8, short enough for a log line;
//   - an accepted job has id, endpoint, body and body.model, and its id obeys the rules;
//   - the captured `body` is a JSON object and `meta` is JSON, each on its own;
//   - every encoded event is valid JSON and UTF-8 (checked by rapidjson, a second
//     parser) and carries back the id, meta, credits and raw job it was given.
//
// Build and run (the lead wires it into CMake with RUNWAYD_FUZZ):
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I. fuzz/job_fuzz.cc \
//     queue/job.cc queue/events.cc $(pkg-config --cflags --libs simdjson) -lfmt -o /tmp/job_fuzz
//   /tmp/job_fuzz -max_total_time=60 -dict=fuzz/job.dict /tmp/job_corpus fuzz/corpus/job
// (the first directory receives new inputs: keep the seed corpus small).

// rapidjson 1.1.0 computes `nullptr + n` in internal::Stack (see queue/events.cc).
#if defined(__clang__)
#pragma clang attribute push(__attribute__((no_sanitize("pointer-overflow"))), apply_to = function)
#endif
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#if defined(__clang__)
#pragma clang attribute pop
#endif
#include <simdjson.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "queue/events.h"
#include "queue/job.h"

namespace {

// rapidjson is the oracle: a parser other than the one under test, validating
// syntax and UTF-8 completely (simdjson's DOM would refuse valid integers above
// 2^64, which the On-Demand parser reads as doubles, as JSON.parse does).
constexpr unsigned kStrict = rapidjson::kParseValidateEncodingFlag;

[[noreturn]] void Fail(const char* what, std::string_view detail) {
  std::fprintf(stderr, "job_fuzz invariant broken: %s: %.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

// Parses `json` completely; aborts when it is not valid JSON.
void MustParse(rapidjson::Document* doc, std::string_view json, const char* what) {
  doc->Parse<kStrict>(json.data(), json.size());
  if (doc->HasParseError()) {
    std::fprintf(stderr, "rapidjson: %s at %zu\n", rapidjson::GetParseError_En(doc->GetParseError()),
                 doc->GetErrorOffset());
    Fail(what, json);
  }
}

std::string_view Str(const rapidjson::Value& v, const char* key, std::string_view json) {
  if (!v.IsObject() || !v.HasMember(key) || !v[key].IsString()) Fail("missing string", json);
  return std::string_view(v[key].GetString(), v[key].GetStringLength());
}

void CheckJob(std::string_view raw, const runwayd::JobParse& p, const runwayd::Job& job) {
  if (job.raw != raw) Fail("raw not kept", raw);
  if (p.ok != p.error.empty()) Fail("ok disagrees with error", p.error);
  if (p.error.find('\n') != std::string::npos || p.error.find('\r') != std::string::npos) Fail("error not one line", p.error);
  if (p.error.size() > 400) Fail("error too long", p.error);
  if (!simdjson::validate_utf8(p.error.data(), p.error.size())) Fail("error not UTF-8", p.error);
  if (!job.id.empty()) {
    if (job.id.size() > 4 * 128) Fail("id too long", job.id);
    for (unsigned char c : job.id) {
      if (c < 0x20 || c == 0x7f) Fail("control character in id", job.id);
    }
  }
  if (job.charged && (*job.charged < 0 || *job.charged > (int64_t{1} << 53) - 1)) Fail("charged out of range", raw);
  if (job.deadline_s && (*job.deadline_s < 1 || *job.deadline_s > 7 * 24 * 3600)) Fail("deadline out of range", raw);
  if (job.fallback_models.size() > 8) Fail("too many fallback models", raw);
  if (job.facts.has_duration && !(job.facts.duration_s >= 0)) Fail("negative duration", raw);
  rapidjson::Document doc;
  if (!job.body.empty()) {
    MustParse(&doc, job.body, "body is not JSON");
    if (!doc.IsObject()) Fail("body is not an object", job.body);
  }
  if (!job.meta.empty()) MustParse(&doc, job.meta, "meta is not JSON");
  if (p.ok) {
    if (job.id.empty() || job.endpoint.empty() || job.body.empty() || job.facts.model.empty()) {
      Fail("accepted job misses a required field", raw);
    }
    // An accepted job is valid JSON for the oracle too.
    MustParse(&doc, raw, "accepted job is not JSON");
    if (!doc.IsObject()) Fail("accepted job is not an object", raw);
  }
}

void CheckResult(const runwayd::Job& job, bool succeeded) {
  runwayd::ResultEvent e;
  e.id = job.id;
  e.status = succeeded ? "succeeded" : "failed";
  e.task_id = job.id;  // any text
  e.account = job.account;
  e.endpoint = job.endpoint;
  e.model = job.facts.model;
  e.output = job.facts.asset_urls;
  e.cost_estimated = job.charged;
  e.attempts = 1;
  e.taken_at_ms = 1795819200123;
  e.user = job.user;
  e.meta = job.meta;
  e.error_class = runwayd::ErrorClass::kInvalidJob;
  e.error_message = job.raw;  // arbitrary bytes, maybe invalid UTF-8
  e.refund_credits = job.charged;
  const std::string json = runwayd::EncodeResult(e);
  rapidjson::Document result;
  MustParse(&result, json, "result is not JSON");
  if (Str(result, "id", json) != job.id) Fail("result id changed", json);
  if (!result.HasMember("meta")) Fail("result has no meta", json);
  // meta goes out as the exact bytes it came in (it may repeat keys, so compare text, not values).
  const std::string meta = "\"meta\":" + (job.meta.empty() ? std::string("{}") : job.meta);
  if (json.find(meta) == std::string::npos) Fail("result meta changed", json);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  runwayd::JobRules rules;
  rules.extra_endpoints = {"video_upscale"};
  runwayd::Job job;
  const runwayd::JobParse p = runwayd::ParseJob(raw, rules, &job);
  CheckJob(raw, p, job);

  if (!job.id.empty()) CheckResult(job, p.ok && size % 2 == 0);

  if (job.charged && !job.id.empty()) {
    runwayd::RefundEvent r;
    r.id = job.id;
    r.user = job.user;
    r.credits = *job.charged;
    r.reason = runwayd::ErrorClass::kInvalidJob;
    r.meta = job.meta;
    const std::string json = runwayd::EncodeRefund(r);
    rapidjson::Document refund;
    MustParse(&refund, json, "refund is not JSON");
    if (!refund["credits"].IsInt64() || refund["credits"].GetInt64() != *job.charged) {
      Fail("refund credits changed", json);
    }
  }

  runwayd::DeadEntry d;
  d.job = raw;
  d.id = job.id;
  d.reason = p.error;
  d.dead_at_ms = 1795819200123;
  const std::string json = runwayd::EncodeDead(d);
  rapidjson::Document dead;
  MustParse(&dead, json, "dead entry is not JSON");
  if (simdjson::validate_utf8(raw.data(), raw.size()) && Str(dead, "job", json) != raw) {
    Fail("dead entry lost the job", json);
  }
  return 0;
}
