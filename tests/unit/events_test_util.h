// tests/unit/events_test_util.h — what the events tests share: an event parsed back
// (Doc; simdjson's DOM validates JSON and UTF-8 completely) and two full results.
#pragma once

#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>
#include <string_view>
#include <vector>

#include "queue/events.h"

namespace runwayd::events_test {

// A parsed event. Not movable: elements point into the parser.
class Doc {
 public:
  explicit Doc(const std::string& json) : json_(json) {
    const auto err = parser_.parse(json_).get(root_);
    ok_ = err == simdjson::SUCCESS;
    EXPECT_TRUE(ok_) << simdjson::error_message(err) << " in: " << json_;
  }
  Doc(const Doc&) = delete;
  Doc& operator=(const Doc&) = delete;

  bool ok() const { return ok_; }
  simdjson::dom::element At(std::string_view pointer) {
    simdjson::dom::element e;
    const auto err = root_.at_pointer(pointer).get(e);
    EXPECT_EQ(err, simdjson::SUCCESS) << pointer << " in " << json_;
    return e;
  }
  bool Has(std::string_view key) {
    simdjson::dom::object o;
    if (root_.get(o)) return false;
    simdjson::dom::element e;
    return o[key].get(e) == simdjson::SUCCESS;
  }
  std::string Str(std::string_view pointer) {
    std::string_view s;
    const auto err = At(pointer).get(s);
    EXPECT_EQ(err, simdjson::SUCCESS) << pointer << " is not a string in " << json_;
    return std::string(s);
  }
  int64_t Int(std::string_view pointer) {
    int64_t n = 0;
    const auto err = At(pointer).get(n);
    EXPECT_EQ(err, simdjson::SUCCESS) << pointer << " is not an integer in " << json_;
    return n;
  }
  bool IsNull(std::string_view pointer) { return At(pointer).is_null(); }
  std::vector<std::string> Keys(std::string_view pointer = "") {
    std::vector<std::string> keys;
    simdjson::dom::object o;
    if (At(pointer).get(o)) return keys;
    for (auto [k, v] : o) keys.emplace_back(k);
    return keys;
  }
  // The element re-serialised by simdjson (compact), to compare JSON values.
  std::string Minified(std::string_view pointer) { return simdjson::minify(At(pointer)); }

 private:
  std::string json_;
  simdjson::dom::parser parser_;
  simdjson::dom::element root_;
  bool ok_ = false;
};

inline std::string Minify(const std::string& json) {
  simdjson::dom::parser p;
  simdjson::dom::element e;
  EXPECT_EQ(p.parse(json).get(e), simdjson::SUCCESS) << json;
  return simdjson::minify(e);
}

inline ResultEvent Succeeded() {
  ResultEvent e;
  e.id = "gen_01HZX3";
  e.status = "succeeded";
  e.task_id = "9a6fc5d5-1b2c-4d3e-8f90-123456789abc";
  e.account = "main";
  e.endpoint = "image_to_video";
  e.model = "gen4_turbo";
  e.output = {"https://cdn.example.com/out.mp4?_jwt=abc"};
  e.cost_estimated = 25;
  e.cost_upstream = 25;
  e.attempts = 1;
  e.taken_at_ms = 1795819200000;      // 2026-11-27T22:40:00.000Z
  e.submitted_at_ms = 1795819200123;
  e.finished_at_ms = 1795819260999;
  e.user = "user_42";
  e.meta = R"({"any":"json, echoed back"})";
  return e;
}

inline ResultEvent Failed() {
  ResultEvent e;
  e.id = "gen_01HZX3";
  e.status = "failed";
  e.task_id = "9a6fc5d5";
  e.account = "main";
  e.endpoint = "image_to_video";
  e.model = "gen4_turbo";
  e.attempts = 2;
  e.error_class = ErrorClass::kModeration;
  e.error_code = "SAFETY.INPUT.IMAGE";
  e.error_message = "input image rejected by moderation";
  e.refund_credits = 26;
  e.user = "user_42";
  return e;
}

}  // namespace runwayd::events_test
