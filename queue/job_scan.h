// queue/job_scan.h — the first pass of ParseJob, and the text helpers both passes use.
// Internal to queue/ (job.cc, job_body.cc, job_scan.cc): not part of queue/'s API
// (job.h is). runwayctl's Printable shares ControlAt, so that what the daemon quotes as
// a control character and what runwayctl escapes on a terminal are the same set.
//
// ParseJob (queue/job.cc) reads a job with two passes of simdjson On-Demand over one
// padded copy. The first, ScanDocument, proves the document can be trusted before any
// rule reads it; the second applies the rules. Everything here is pure: no I/O, no
// global state, no exceptions but std::bad_alloc.
#pragma once

#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace runwayd::job_parse {

namespace od = simdjson::ondemand;

constexpr int kMaxDepth = 64;        // containers, the job object is 1
constexpr size_t kEchoBytes = 64;    // input bytes quoted in an error

// ---------------------------------------------------------------------------
// Text helpers for error messages and field rules.

// Quotes at most kEchoBytes bytes of `s` for an error message: one line, control
// characters shown as \xNN (C1 controls as \u00NN), cut on a character boundary.
std::string Echo(std::string_view s);

// The length of the control character at s[i]: 1 for a C0 control or DEL, 2 for a C1
// control in UTF-8 (0xC2 then 0x80..0x9F; its code point is s[i + 1]), else 0.
inline size_t ControlAt(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x20 || c == 0x7f) return 1;
  if (c == 0xC2 && i + 1 < s.size()) {
    const auto d = static_cast<unsigned char>(s[i + 1]);
    if (d >= 0x80 && d <= 0x9F) return 2;
  }
  return 0;
}

// True when `s` (valid UTF-8) holds a C0 control, DEL or a C1 control character.
bool HasControl(std::string_view s);

// Characters (code points) in valid UTF-8: every byte that is not a continuation byte.
inline size_t CountChars(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

inline std::string_view TrimRight(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// The message for a simdjson error in a job ("job: not valid JSON (...)").
std::string JsonError(simdjson::error_code e);

// Reads an integer written without fraction or exponent.
enum class IntRead { kOk, kNotNumber, kNotInteger, kOutOfRange };
IntRead ReadInt(od::value& v, int64_t* n);

// What a value is, for an error message: a number or literal as written (at most
// kEchoBytes of it), otherwise its kind ("a string", "an object", ...).
std::string Describe(od::value& v);

// ---------------------------------------------------------------------------
// Pass 1: validate the whole document, find repeated keys.

struct Scan {
  std::string fatal;                     // the document cannot be trusted at all
  // With `fatal`: the text is valid JSON that ParseJob refuses all the same (nested too
  // deep, a number past a double's range, a lone UTF-16 surrogate in a string value),
  // so its top-level fields can still be found (ReadTopLevel).
  bool valid_json = false;
  bool meta_walked = false;              // `meta` was walked whole before any failure
  std::vector<std::string> top_repeats;  // top-level keys present more than once
  std::string nested_repeat;             // first repeated key inside a value other than meta
};

// Walks every value of `text` once, iterating it with `parser` (ParseJob then iterates
// it again with the same parser for the second pass; the returned Scan owns its strings).
// A non-empty `fatal` means the text is not one valid JSON object of at most kMaxDepth
// levels; otherwise `top_repeats` and `nested_repeat` say which keys appear twice
// (objects inside `meta` are not checked: meta is only echoed).
Scan ScanDocument(od::parser& parser, const simdjson::padded_string& text);

// For a text the scan refused with `valid_json`: iterates its top-level fields again
// and hands each to `read` (repeated: the key appears more than once), skipping every
// value `read` leaves alone without descending into it, so no depth limit applies.
// Returns false when `read` or the iteration fails.
bool ReadTopLevel(od::parser& parser, const simdjson::padded_string& text,
                  const std::function<simdjson::error_code(std::string_view key, od::value& v, bool repeated)>& read);

}  // namespace runwayd::job_parse
