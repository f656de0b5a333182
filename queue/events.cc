// queue/events.cc — JSON encoding of results, refunds, dead entries and account
// events (docs/job-format.md). Every document is written by rapidjson's Writer.
//
// Strings: the Writer escapes '"', '\\' and every control character below 0x20
// (\n, \t, ... or \u00XX); valid non-ASCII UTF-8 passes through unchanged. Invalid
// UTF-8 is never handed to the Writer: each maximal ill-formed subsequence is
// replaced by U+FFFD first (the Unicode "substitution of maximal subparts"
// practice), so every event is valid JSON and valid UTF-8 whatever bytes came in.
// (A dead entry's `job` gets U+001A instead: see EncodeDead.)
// We do not use kWriteValidateEncodingFlag: on a bad byte it makes String() fail
// half-way, leaving an unterminated string in the buffer.
#include "queue/events.h"

// rapidjson 1.1.0's internal::Stack computes `nullptr + n` before its first
// allocation (Stack::Reserve), which clang's -fsanitize=pointer-overflow reports
// (fixed upstream after 1.1.0; harmless: the result is only compared). Exempt
// rapidjson's own functions so sanitizer and fuzz builds stay clean.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((no_sanitize("pointer-overflow"))), apply_to = function)
#endif
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#if defined(__clang__)
#pragma clang attribute pop
#endif

#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>

namespace runwayd {
namespace {

constexpr std::array<std::pair<ErrorClass, const char*>, 10> kClassNames = {{
    {ErrorClass::kInvalidJob, "invalid_job"},
    {ErrorClass::kInvalidInput, "invalid_input"},
    {ErrorClass::kModeration, "moderation"},
    {ErrorClass::kUpstreamFailure, "upstream_failure"},
    {ErrorClass::kUpstreamInsufficientCredits, "upstream_insufficient_credits"},
    {ErrorClass::kUpstreamUnavailable, "upstream_unavailable"},
    {ErrorClass::kAccountUnusable, "account_unusable"},
    {ErrorClass::kDeadlineExceeded, "deadline_exceeded"},
    {ErrorClass::kOutcomeUnknown, "outcome_unknown"},
    {ErrorClass::kCancelled, "cancelled"},
}};

// Length of the well-formed UTF-8 sequence at p[0..n), or 0 when it is ill-formed,
// with *bad set to the length of its maximal ill-formed subpart (>= 1).
size_t Utf8Sequence(const unsigned char* p, size_t n, size_t* bad) {
  const unsigned char c = p[0];
  if (c < 0x80) return 1;
  size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c == 0xE0) {
    len = 3, lo = 0xA0;  // no overlong forms
  } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
    len = 3;
  } else if (c == 0xED) {
    len = 3, hi = 0x9F;  // no surrogates
  } else if (c == 0xF0) {
    len = 4, lo = 0x90;  // no overlong forms
  } else if (c >= 0xF1 && c <= 0xF3) {
    len = 4;
  } else if (c == 0xF4) {
    len = 4, hi = 0x8F;  // nothing above U+10FFFF
  } else {
    *bad = 1;  // 0x80..0xC1, 0xF5..0xFF never start a character
    return 0;
  }
  size_t k = 1;
  for (; k < len && k < n; ++k) {
    const unsigned char d = p[k];
    if (d < (k == 1 ? lo : 0x80) || d > (k == 1 ? hi : 0xBF)) break;
  }
  if (k == len) return len;
  *bad = k;
  return 0;
}

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

class JsonOut {
 public:
  JsonOut() : w_(buf_) {}

  void BeginObject() { w_.StartObject(); }
  void EndObject() { w_.EndObject(); }
  void BeginArray() { w_.StartArray(); }
  void EndArray() { w_.EndArray(); }
  void Key(std::string_view k) { String(k, /*key=*/true); }
  void Str(std::string_view s, std::string_view replacement = kReplacement) { String(s, false, replacement); }
  void StrOrNull(std::string_view s) { s.empty() ? Null() : Str(s); }
  void Int(int64_t n) { w_.Int64(n); }
  void Null() { w_.Null(); }
  void Bool(bool b) { w_.Bool(b); }
  // Unix milliseconds as RFC 3339; 0 (unknown) and anything before 1970 as null.
  void Time(int64_t ms) { ms <= 0 ? Null() : Str(FormatTimeMs(ms)); }
  // A raw JSON fragment as it came (ParseJob validated it); absent encodes as {}.
  void Meta(std::string_view meta) {
    if (meta.empty()) {
      w_.StartObject();
      w_.EndObject();
    } else {
      w_.RawValue(meta.data(), meta.size(), rapidjson::kObjectType);
    }
  }
  std::string Take() { return std::string(buf_.GetString(), buf_.GetSize()); }

 private:
  void String(std::string_view s, bool key, std::string_view replacement = kReplacement) {
    std::string scratch;
    const std::string_view v = ValidUtf8(s, &scratch, replacement);
    const auto len = static_cast<rapidjson::SizeType>(v.size());
    key ? w_.Key(v.data(), len) : w_.String(v.data(), len);
  }

  rapidjson::StringBuffer buf_;
  rapidjson::Writer<rapidjson::StringBuffer> w_;
};

}  // namespace

std::string_view ValidUtf8(std::string_view s, std::string* scratch, std::string_view replacement) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0, bad = 0;
  while (i < n) {
    // Nearly every string is ASCII (ids, URLs, times): skip eight bytes at a time
    // while none has its top bit set, instead of one call per byte.
    for (uint64_t w = 0; i + 8 <= n; i += 8) {
      std::memcpy(&w, p + i, 8);
      if ((w & 0x8080808080808080ULL) != 0) break;
    }
    if (i == n) break;
    const size_t len = Utf8Sequence(p + i, n - i, &bad);
    if (len == 0) break;
    i += len;
  }
  if (i == n) return s;
  scratch->assign(s.substr(0, i));
  while (i < n) {
    const size_t len = Utf8Sequence(p + i, n - i, &bad);
    if (len == 0) {
      scratch->append(replacement);
      i += bad;
    } else {
      scratch->append(s.substr(i, len));
      i += len;
    }
  }
  return *scratch;
}

const char* ErrorClassName(ErrorClass c) {
  for (const auto& [cls, name] : kClassNames) {
    if (cls == c) return name;
  }
  return "upstream_failure";  // unreachable for a valid enumerator
}

std::optional<ErrorClass> ErrorClassFromName(std::string_view name) {
  for (const auto& [cls, n] : kClassNames) {
    if (name == n) return cls;
  }
  return std::nullopt;
}

// Three timestamps per result: gmtime_r + snprintf cost some 4,000 instructions each
// (a tenth of building the whole event); the civil calendar of <chrono> and a digit
// loop do the same in a few dozen. The unit test checks it against gmtime_r.
std::string FormatTimeMs(int64_t unix_ms) {
  constexpr int64_t kLast = 253402300799999;  // 9999-12-31T23:59:59.999Z: four-digit years only
  if (unix_ms < 0) unix_ms = 0;
  if (unix_ms > kLast) unix_ms = kLast;
  using namespace std::chrono;
  const sys_days day = floor<days>(sys_time<milliseconds>(milliseconds(unix_ms)));
  const year_month_day ymd(day);
  int64_t in_day = unix_ms - duration_cast<milliseconds>(day.time_since_epoch()).count();
  std::string out = "0000-00-00T00:00:00.000Z";
  auto put = [&out](size_t at, size_t width, int64_t v) {
    for (size_t i = width; i-- > 0; v /= 10) out[at + i] = static_cast<char>('0' + v % 10);
  };
  put(0, 4, static_cast<int>(ymd.year()));
  put(5, 2, static_cast<unsigned>(ymd.month()));
  put(8, 2, static_cast<unsigned>(ymd.day()));
  put(11, 2, in_day / 3600000);
  put(14, 2, in_day / 60000 % 60);
  put(17, 2, in_day / 1000 % 60);
  put(20, 3, in_day % 1000);
  return out;
}

std::string EncodeResult(const ResultEvent& e) {
  JsonOut j;
  j.BeginObject();
  j.Key("v"), j.Int(1);
  j.Key("id"), j.Str(e.id);
  j.Key("status"), j.Str(e.status);
  j.Key("task_id"), j.StrOrNull(e.task_id);
  j.Key("account"), j.StrOrNull(e.account);
  j.Key("endpoint"), j.Str(e.endpoint);
  j.Key("model"), j.Str(e.model);
  if (e.status == "succeeded") {
    j.Key("output");
    j.BeginArray();
    for (const auto& url : e.output) j.Str(url);
    j.EndArray();
  } else {
    j.Key("error");
    j.BeginObject();
    j.Key("class"), j.Str(ErrorClassName(e.error_class));
    j.Key("code"), j.StrOrNull(e.error_code);
    j.Key("message"), j.Str(e.error_message);
    j.EndObject();
    j.Key("refund");
    if (e.refund_credits) {
      j.BeginObject();
      j.Key("credits"), j.Int(*e.refund_credits);
      j.EndObject();
    } else {
      j.Null();
    }
  }
  j.Key("cost");
  j.BeginObject();
  j.Key("estimated"), e.cost_estimated ? j.Int(*e.cost_estimated) : j.Null();
  j.Key("upstream"), e.cost_upstream ? j.Int(*e.cost_upstream) : j.Null();
  j.EndObject();
  j.Key("attempts"), j.Int(e.attempts);
  j.Key("timings");
  j.BeginObject();
  j.Key("taken_at"), j.Time(e.taken_at_ms);
  j.Key("submitted_at"), j.Time(e.submitted_at_ms);
  j.Key("finished_at"), j.Time(e.finished_at_ms);
  j.EndObject();
  j.Key("user"), e.user ? j.Str(*e.user) : j.Null();
  j.Key("meta"), j.Meta(e.meta);
  if (e.replayed) j.Key("replayed"), j.Bool(true);
  if (!e.duplicate_of.empty()) j.Key("duplicate_of"), j.Str(e.duplicate_of);
  j.EndObject();
  return j.Take();
}

std::string EncodeRefund(const RefundEvent& e) {
  JsonOut j;
  j.BeginObject();
  j.Key("v"), j.Int(1);
  j.Key("refund_id"), j.Str(e.id);
  j.Key("id"), j.Str(e.id);
  j.Key("user"), e.user ? j.Str(*e.user) : j.Null();
  j.Key("credits"), j.Int(e.credits);
  j.Key("reason"), j.Str(ErrorClassName(e.reason));
  j.Key("meta"), j.Meta(e.meta);
  j.EndObject();
  return j.Take();
}

std::string EncodeDead(const DeadEntry& e) {
  JsonOut j;
  j.BeginObject();
  j.Key("v"), j.Int(1);
  // Not U+FFFD here: with it a job refused for its bytes became a valid job, which a
  // replay pushed back and the daemon ran (a paid task the producer never sent). U+001A
  // (SUBSTITUTE) is a control character no JSON text holds raw: replayed, the job is
  // refused again, as the bytes that came were.
  j.Key("job"), j.Str(e.job, "\x1A");
  j.Key("id"), j.StrOrNull(e.id);
  j.Key("reason"), j.Str(e.reason);
  j.Key("error_class"), j.Str(ErrorClassName(e.error_class));
  j.Key("attempts"), j.Int(e.attempts);
  j.Key("taken_at"), j.Time(e.taken_at_ms);
  j.Key("dead_at"), j.Time(e.dead_at_ms);
  j.EndObject();
  return j.Take();
}

std::string EncodeAccountEvent(const AccountEvent& e) {
  // Extra fields never repeat a key: one that is reserved or already written is skipped.
  std::vector<std::string_view> written = {"v", "type", "account", "at"};
  auto fresh = [&written](std::string_view k) {
    for (auto w : written) {
      if (w == k) return false;
    }
    written.push_back(k);
    return true;
  };
  JsonOut j;
  j.BeginObject();
  j.Key("v"), j.Int(1);
  j.Key("type"), j.Str(e.type);
  j.Key("account"), j.StrOrNull(e.account);
  j.Key("at"), j.Time(e.at_ms);
  for (const auto& [k, n] : e.int_fields) {
    if (fresh(k)) j.Key(k), j.Int(n);
  }
  for (const auto& [k, s] : e.text_fields) {
    if (fresh(k)) j.Key(k), j.Str(s);
  }
  j.EndObject();
  return j.Take();
}

}  // namespace runwayd
