// queue/job_scan.cc — ParseJob's first pass and shared text helpers (job_scan.h).
//
// The scan walks every value of the document once. It proves the whole text is one
// valid JSON object (every scalar parsed, every string unescaped, no number with an
// exponent beyond a double's, nothing after the closing brace), at most kMaxDepth
// levels deep, and finds repeated keys: at the top level (recorded per name, so the
// identity fields that are not repeated can still be read) and in every object
// outside `meta` (an error). On-Demand only checks what it is asked to read, so
// without this pass a body like {"model":"x","seed":tru} would pass unnoticed.
#include "queue/job_scan.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace runwayd::job_parse {
namespace {

// True when the exponent written in the number token `t`, if any, is at most 308 in
// magnitude, a double's range. JSON readers disagree past it even where the value is
// plain: 0e400 is 0 to simdjson and JavaScript but an error to rapidjson, so a body
// or meta holding it would not read the same at Runway, in the fallback rewrite and
// in a consumer of the result event. Only the digits of a token simdjson has already
// validated are read here.
bool ExponentInRange(std::string_view t) {
  const size_t e = t.find_first_of("eE");
  if (e == std::string_view::npos) return true;
  size_t i = e + 1;
  if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
  int exp = 0;
  for (; i < t.size() && t[i] >= '0' && t[i] <= '9'; ++i) exp = std::min(exp * 10 + (t[i] - '0'), 100000);
  return exp <= 308;
}

// True when the number token `t` follows the JSON grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?
// ([eE][+-]?[0-9]+)?. simdjson says NUMBER_ERROR both for 1e400 (valid JSON, out of
// range) and for 01 (not JSON); only the first leaves the document valid JSON.
bool IsJsonNumber(std::string_view t) {
  size_t i = 0;
  auto digits = [&] {
    size_t start = i;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i;
    return i > start;
  };
  if (i < t.size() && t[i] == '-') ++i;
  if (i < t.size() && t[i] == '0') ++i;
  else if (!digits()) return false;
  if (i < t.size() && t[i] == '.' && (++i, !digits())) return false;
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == t.size();
}

// True when every escape in the string token `t` (quotes included) follows the JSON
// grammar. simdjson says STRING_ERROR both for "\q" (not JSON) and for a lone
// surrogate "\ud800" (valid JSON whose text is not Unicode): only the second passes.
bool EscapesAreJson(std::string_view t) {
  for (size_t i = 1; i < t.size(); ++i) {
    if (t[i] == '"') return true;  // the closing quote: what follows is not the string
    if (t[i] != '\\') continue;
    if (++i == t.size()) return false;
    const char c = t[i];
    if (c == 'u') {
      for (int k = 1; k <= 4; ++k)
        if (i + k >= t.size() || !std::isxdigit(static_cast<unsigned char>(t[i + k]))) return false;
      i += 4;
    } else if (std::string_view("\"\\/bfnrt").find(c) == std::string_view::npos) {
      return false;
    }
  }
  return false;
}

// First key present twice in `keys` (sorted in place), or nullptr.
const std::string_view* FindRepeat(std::vector<std::string_view>& keys) {
  std::sort(keys.begin(), keys.end());
  auto it = std::adjacent_find(keys.begin(), keys.end());
  return it == keys.end() ? nullptr : &*it;
}

// Reads every value under `v` (at `depth`, the job object being 1). With `check_keys`,
// the first key repeated in any object is recorded in scan->nested_repeat, prefixed by
// `top`, the top-level field it is under. Returns the first simdjson error.
simdjson::error_code Walk(od::value v, int depth, bool check_keys, std::string_view top, Scan* scan) {
  od::json_type t;
  if (auto e = v.type().get(t)) return e;
  switch (t) {
    case od::json_type::object: {
      if (depth + 1 > kMaxDepth) return scan->valid_json = true, simdjson::DEPTH_ERROR;
      od::object o;
      if (auto e = v.get_object().get(o)) return e;
      std::vector<std::string_view> keys;
      for (auto fr : o) {
        od::field f;
        if (auto e = std::move(fr).get(f)) return e;
        std::string_view k;
        if (auto e = f.unescaped_key().get(k)) return e;
        if (check_keys) keys.push_back(k);
        if (auto e = Walk(f.value(), depth + 1, check_keys, top, scan)) return e;
      }
      if (check_keys && scan->nested_repeat.empty()) {
        if (const std::string_view* k = FindRepeat(keys)) {
          scan->nested_repeat = fmt::format("{}: key {} appears more than once in an object", top, Echo(*k));
        }
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::array: {
      if (depth + 1 > kMaxDepth) return scan->valid_json = true, simdjson::DEPTH_ERROR;
      od::array a;
      if (auto e = v.get_array().get(a)) return e;
      for (auto er : a) {
        od::value x;
        if (auto e = std::move(er).get(x)) return e;
        if (auto e = Walk(x, depth + 1, check_keys, top, scan)) return e;
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::string: {
      std::string_view s;
      const std::string_view token = v.raw_json_token();
      auto e = v.get_string().get(s);
      if (e == simdjson::STRING_ERROR) scan->valid_json = EscapesAreJson(token);
      return e;
    }
    case od::json_type::number: {
      const std::string_view token = TrimRight(v.raw_json_token());
      double d;
      auto e = v.get_double().get(d);
      if (!e && !ExponentInRange(token)) e = simdjson::NUMBER_ERROR;
      if (e == simdjson::NUMBER_ERROR) scan->valid_json = IsJsonNumber(token);
      return e;
    }
    case od::json_type::boolean: {
      bool b;
      return v.get_bool().get(b);
    }
    case od::json_type::null: {
      bool is_null = false;
      if (auto e = v.is_null().get(is_null)) return e;
      return is_null ? simdjson::SUCCESS : simdjson::INCORRECT_TYPE;
    }
  }
  return simdjson::INCORRECT_TYPE;
}

}  // namespace

std::string Echo(std::string_view s) {
  size_t n = s.size();
  bool cut = false;
  if (n > kEchoBytes) {
    n = kEchoBytes;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
    cut = true;
  }
  std::string out = "\"";
  const std::string_view head = s.substr(0, n);
  for (size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t control = ControlAt(head, i);
    if (control == 1) {
      out += fmt::format("\\x{:02x}", c);
    } else if (control == 2) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned char>(s[++i]));
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
  if (cut) out += "...";
  return out;
}

bool HasControl(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i)
    if (ControlAt(s, i) != 0) return true;
  return false;
}

std::string JsonError(simdjson::error_code e) {
  switch (e) {
    case simdjson::EMPTY: return "job: empty, not a JSON object";
    case simdjson::UTF8_ERROR: return "job: not valid UTF-8";
    case simdjson::UNESCAPED_CHARS: return "job: not valid JSON (unescaped control character in a string)";
    case simdjson::UNCLOSED_STRING: return "job: not valid JSON (unclosed string)";
    case simdjson::DEPTH_ERROR: return fmt::format("job: nested deeper than {} levels", kMaxDepth);
    case simdjson::TAPE_ERROR:
      return "job: not valid JSON (misplaced or missing comma, colon, brace, bracket or key)";
    case simdjson::INCOMPLETE_ARRAY_OR_OBJECT:
      return "job: not valid JSON (unbalanced braces or brackets, or text after the job object)";
    case simdjson::INCORRECT_TYPE:
    case simdjson::T_ATOM_ERROR:
    case simdjson::F_ATOM_ERROR:
    case simdjson::N_ATOM_ERROR: return "job: not valid JSON (invalid value)";
    case simdjson::NUMBER_ERROR: return "job: not valid JSON (invalid or out-of-range number)";
    case simdjson::STRING_ERROR: return "job: not valid JSON (invalid escape in a string)";
    default: return fmt::format("job: not valid JSON ({})", simdjson::error_message(e));
  }
}

IntRead ReadInt(od::value& v, int64_t* n) {
  od::json_type t;
  if (v.type().get(t) != simdjson::SUCCESS || t != od::json_type::number) return IntRead::kNotNumber;
  const std::string_view token = TrimRight(v.raw_json_token());
  if (token.find_first_of(".eE") != std::string_view::npos) return IntRead::kNotInteger;
  if (v.get_int64().get(*n) != simdjson::SUCCESS) return IntRead::kOutOfRange;
  return IntRead::kOk;
}

std::string Describe(od::value& v) {
  od::json_type t;
  if (v.type().get(t) != simdjson::SUCCESS) return "an invalid value";
  switch (t) {
    case od::json_type::string: return "a string";
    case od::json_type::object: return "an object";
    case od::json_type::array: return "an array";
    case od::json_type::null: return "null";
    case od::json_type::number:
    case od::json_type::boolean: break;
  }
  std::string_view token = TrimRight(v.raw_json_token());
  if (token.size() > kEchoBytes) return std::string(token.substr(0, kEchoBytes)) + "...";
  return std::string(token);
}

Scan ScanDocument(od::parser& parser, const simdjson::padded_string& text) {
  Scan scan;
  od::document doc;
  if (auto e = parser.iterate(text).get(doc)) {
    scan.fatal = JsonError(e);
    return scan;
  }
  od::json_type t;
  if (auto e = doc.type().get(t)) {
    scan.fatal = JsonError(e);
    return scan;
  }
  if (t != od::json_type::object) {
    scan.fatal = "job: not a JSON object";
    return scan;
  }
  od::object root;
  if (auto e = doc.get_object().get(root)) {
    scan.fatal = JsonError(e);
    return scan;
  }
  std::vector<std::string_view> keys;
  for (auto fr : root) {
    od::field f;
    simdjson::error_code e = std::move(fr).get(f);
    std::string_view k;
    if (!e) e = f.unescaped_key().get(k);
    if (!e) e = Walk(f.value(), 1, k != "meta", k, &scan);
    if (e) {
      scan.fatal = JsonError(e);
      return scan;
    }
    if (k == "meta") scan.meta_walked = true;
    keys.push_back(k);
  }
  // The root object is closed: anything left is trailing garbage.
  const char* rest = nullptr;
  if (doc.current_location().get(rest) != simdjson::OUT_OF_BOUNDS) {
    scan.fatal = "job: not valid JSON (text after the job object)";
    return scan;
  }
  std::sort(keys.begin(), keys.end());
  for (size_t i = 1; i < keys.size(); ++i) {
    if (keys[i] == keys[i - 1] && (scan.top_repeats.empty() || scan.top_repeats.back() != keys[i])) {
      scan.top_repeats.emplace_back(keys[i]);
    }
  }
  return scan;
}

bool ReadTopLevel(od::parser& parser, const simdjson::padded_string& text,
                  const std::function<simdjson::error_code(std::string_view key, od::value& v, bool repeated)>& read) {
  // Two iterations: the keys first (a repeated one must not be read at all), then the
  // values. A value nobody reads is skipped by bracket counting, at any depth.
  std::vector<std::string> keys;
  for (int pass = 0; pass < 2; ++pass) {
    od::document doc;
    od::object root;
    simdjson::error_code e = parser.iterate(text).get(doc);
    if (!e) e = doc.get_object().get(root);
    if (e) return false;
    for (auto fr : root) {
      od::field f;
      std::string_view k;
      if (std::move(fr).get(f) || f.unescaped_key().get(k)) return false;
      if (pass == 0) {
        keys.emplace_back(k);
        continue;
      }
      if (read(k, f.value(), std::count(keys.begin(), keys.end(), k) > 1)) return false;
    }
    const char* rest = nullptr;
    if (doc.current_location().get(rest) != simdjson::OUT_OF_BOUNDS) return false;
  }
  return true;
}

}  // namespace runwayd::job_parse
