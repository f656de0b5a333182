// tools/runwayctl/format.cc — output helpers: JSON fragments, times, tables.
#include <simdjson.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "queue/events.h"
#include "queue/job_scan.h"
#include "tools/runwayctl/ctl.h"

namespace runwayctl {

// Keys and strings come from Redis (records, hash fields, producers' jobs) and from the
// command line: any bytes. rapidjson's Writer does not check UTF-8, so invalid bytes
// would make the output invalid JSON for jq and the like; they become U+FFFD.
void Key(JsonWriter& w, std::string_view k) {
  std::string scratch;
  k = runwayd::ValidUtf8(k, &scratch);
  w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
}
void Str(JsonWriter& w, std::string_view v) {
  std::string scratch;
  v = runwayd::ValidUtf8(v, &scratch);
  w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
}
void KeyStr(JsonWriter& w, std::string_view k, std::string_view v) {
  Key(w, k);
  Str(w, v);
}
void KeyInt(JsonWriter& w, std::string_view k, int64_t v) {
  Key(w, k);
  w.Int64(v);
}
void KeyNumOrNull(JsonWriter& w, std::string_view k, const std::optional<int64_t>& v) {
  Key(w, k);
  if (v) w.Int64(*v);
  else w.Null();
}
void KeyTime(JsonWriter& w, std::string_view k, const std::optional<int64_t>& ms) {
  Key(w, k);
  if (ms && *ms > 0) Str(w, Rfc3339(*ms));
  else w.Null();
}

void PrintJson(const rapidjson::StringBuffer& b) {
  fwrite(b.GetString(), 1, b.GetSize(), stdout);
  fputc('\n', stdout);
}

void RawOrString(JsonWriter& w, std::string_view json) {
  simdjson::dom::parser p;
  simdjson::dom::element e;
  if (!p.parse(json.data(), json.size(), true).get(e)) {
    // Trim surrounding whitespace so the document stays compact.
    size_t b = json.find_first_not_of(" \t\r\n"), end = json.find_last_not_of(" \t\r\n");
    std::string_view t = json.substr(b, end - b + 1);
    w.RawValue(t.data(), t.size(), rapidjson::kObjectType);
  } else {
    Str(w, json);
  }
}

std::optional<int64_t> ToInt(std::string_view s) {
  int64_t v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Rfc3339(int64_t ms) {
  time_t secs = static_cast<time_t>(ms / 1000);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[96];
  snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
           tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

std::string Span(int64_t ms) {
  if (ms < 0) ms = -ms;
  char buf[32];
  if (ms < 1000) snprintf(buf, sizeof buf, "%lldms", static_cast<long long>(ms));
  else if (ms < 60000) snprintf(buf, sizeof buf, "%.1fs", ms / 1000.0);
  else if (ms < 3600000) snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(ms / 60000), static_cast<long long>(ms / 1000 % 60));
  else if (ms < 86400000) snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(ms / 3600000), static_cast<long long>(ms / 60000 % 60));
  else snprintf(buf, sizeof buf, "%lldd%02lldh", static_cast<long long>(ms / 86400000), static_cast<long long>(ms / 3600000 % 24));
  return buf;
}

std::string Ago(int64_t ms, int64_t now_ms) {
  if (ms <= 0) return "-";
  int64_t d = now_ms - ms;
  return d >= 0 ? Span(d) + " ago" : "in " + Span(-d);
}

std::string Printable(std::string_view s, size_t max) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (out.size() >= max) {
      out += "...";
      break;
    }
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const size_t control = runwayd::job_parse::ControlAt(s, i);
    char b[8];
    if (control == 1) {
      snprintf(b, sizeof b, "\\x%02X", c);
      out += b;
    } else if (control == 2) {
      // A C1 control (U+0080..U+009F): some terminals act on them (U+009B is CSI, the
      // escape sequences' introducer), as on ESC.
      snprintf(b, sizeof b, "\\u%04X", static_cast<unsigned char>(s[++i]));
      out += b;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

namespace {
// Display width: UTF-8 continuation bytes take no column.
size_t Width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}
}  // namespace

std::string Table::Render() const {
  // Every cell, not only the ones a caller thought of: model names, accounts, task ids
  // and the like come from producers' jobs (or what the daemon kept of them) and reach a
  // terminal here. Printable is idempotent, so cells escaped already stay as they are.
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : rows_) {
    rows.emplace_back();
    for (const auto& c : r) rows.back().push_back(Printable(c, std::string::npos));
  }
  std::vector<size_t> w(head_.size(), 0);
  for (size_t i = 0; i < head_.size(); ++i) w[i] = Width(head_[i]);
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size() && i < w.size(); ++i) w[i] = std::max(w[i], Width(r[i]));
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string l;
    for (size_t i = 0; i < w.size(); ++i) {
      std::string c = i < cells.size() ? cells[i] : "";
      l += c;
      if (i + 1 < w.size()) l += std::string(w[i] - Width(c) + 2, ' ');
    }
    while (!l.empty() && l.back() == ' ') l.pop_back();
    out += l + "\n";
  };
  line(head_);
  for (const auto& r : rows) line(r);
  return out;
}

}  // namespace runwayctl
