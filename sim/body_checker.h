// sim/body_checker.h — field-level checks on a JSON request body, zod style.
//
// Promises: each check looks at one field of a simdjson DOM object, appends zero or
// more Issues (never stops at the first, like zod) and records in `facts` what pricing
// and the statistics need (duration, ratio, audio, seed, asset URLs). No check throws
// or keeps a reference to the document beyond the call. Used by sim/validate.cc, which
// knows which fields each endpoint and model allows; this module knows only how one
// field of a given kind is checked.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "queue/job.h"
#include "sim/validate.h"

namespace runwayd::sim {

using Names = std::initializer_list<std::string_view>;

bool In(Names set, std::string_view v);
// "'a' | 'b' | 'c'", as zod writes an enum's options.
std::string Quoted(Names set);
// JSON type names as zod reports them ("number", "string", "object", ...).
const char* TypeName(simdjson::dom::element e);
// The field `key` of `o`, if present (of any type).
bool Field(simdjson::dom::object o, std::string_view key, simdjson::dom::element* out);

class BodyChecker {
 public:
  std::vector<Issue> issues;
  BodyFacts facts;
  std::string prompt;  // promptText, when it is a string

  void Add(std::string code, std::vector<PathElem> path, std::string message);
  void TypeIssue(std::vector<PathElem> path, std::string_view expected, std::string_view received);
  // One unrecognized_keys issue listing every key of `o` not in `allowed`.
  void UnknownKeys(simdjson::dom::object o, const std::vector<std::string_view>& allowed,
                   std::vector<PathElem> path);
  void UnknownKeys(simdjson::dom::object o, Names allowed, std::vector<PathElem> path);

  // promptText: a string of 1 to 1000 characters.
  void Prompt(simdjson::dom::object o, bool required);
  // ratio: one of `allowed`.
  void Ratio(simdjson::dom::object o, Names allowed, bool required);
  // duration: an integer in [lo, hi], or (when `set` is non-empty) one of `set`.
  void Duration(simdjson::dom::object o, bool required, int64_t lo, int64_t hi,
                std::initializer_list<int64_t> set = {});
  // seed: an integer in [0, 4294967295].
  void Seed(simdjson::dom::object o);
  // A boolean field; `is_audio` records it as facts.audio.
  void Bool(simdjson::dom::object o, std::string_view key, bool is_audio);
  // contentModeration: {publicFigureThreshold?: "auto" | "low"}.
  void Moderation(simdjson::dom::object o);
  // An asset URI string (see CheckAssetUri).
  void Asset(simdjson::dom::element e, std::vector<PathElem> path, bool video);
  // {type?, uri, ...extra}: `type` (required when `types` is non-empty) among `types`.
  void AssetObject(simdjson::dom::element e, std::vector<PathElem> path, Names types, Names extra,
                   bool video);
};

}  // namespace runwayd::sim
