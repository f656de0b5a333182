// tests/unit/job_test_util.h — what job_test.cc and job_fields_test.cc share: a job
// built field by field (J), and ParseJob run with the checks every call must pass
// (raw always kept, ok exactly when there is no error, a one-line error).
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "queue/job.h"

namespace runwayd::job_test {

// A job as an ordered list of (key, raw JSON value), so a test can change one field.
class J {
 public:
  J() {
    kv_ = {{"v", "1"},
           {"id", R"("gen_01HZX3")"},
           {"endpoint", R"("image_to_video")"},
           {"body", R"({"model":"gen4_turbo","promptImage":"https://cdn.example.com/a.jpg","ratio":"1280:720","duration":5})"}};
  }
  J& Set(const std::string& k, const std::string& json) {
    for (auto& [key, value] : kv_) {
      if (key == k) {
        value = json;
        return *this;
      }
    }
    kv_.emplace_back(k, json);
    return *this;
  }
  J& Add(const std::string& k, const std::string& json) {  // even when k is there already
    kv_.emplace_back(k, json);
    return *this;
  }
  J& Drop(const std::string& k) {
    std::erase_if(kv_, [&](const auto& p) { return p.first == k; });
    return *this;
  }
  std::string Json() const {
    std::string s = "{";
    for (size_t i = 0; i < kv_.size(); ++i) {
      if (i) s += ",";
      s += "\"" + kv_[i].first + "\":" + kv_[i].second;
    }
    return s + "}";
  }

 private:
  std::vector<std::pair<std::string, std::string>> kv_;
};

struct Parsed {
  JobParse p;
  Job job;
};

inline Parsed Parse(const std::string& raw, const JobRules& rules = {}) {
  Parsed r;
  r.p = ParseJob(raw, rules, &r.job);
  EXPECT_EQ(r.job.raw, raw) << "raw is always filled";
  EXPECT_EQ(r.p.ok, r.p.error.empty()) << r.p.error;
  EXPECT_EQ(r.p.error.find('\n'), std::string::npos) << "one line: " << r.p.error;
  EXPECT_LT(r.p.error.size(), 300u) << r.p.error;
  return r;
}

inline void ExpectOk(const std::string& raw, const JobRules& rules = {}) {
  auto r = Parse(raw, rules);
  EXPECT_TRUE(r.p.ok) << raw << "\n  -> " << r.p.error;
}

// Refused with an error that starts with `prefix`.
inline void ExpectError(const std::string& raw, const std::string& prefix, const JobRules& rules = {}) {
  auto r = Parse(raw, rules);
  EXPECT_FALSE(r.p.ok) << raw;
  EXPECT_EQ(r.p.error.substr(0, prefix.size()), prefix) << raw << "\n  -> " << r.p.error;
}

inline std::string Repeat(const std::string& s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

}  // namespace runwayd::job_test
