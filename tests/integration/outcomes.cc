// tests/integration/outcomes.cc — see outcomes.h.
#include "outcomes.h"

#include <gtest/gtest.h>
#include <simdjson.h>

namespace harness {
namespace {

void Report(std::vector<std::string>* bad, const std::string& what) {
  if (bad != nullptr) bad->push_back(what);
  else ADD_FAILURE() << what;
}

}  // namespace

std::vector<ResultEvent> ReadResults(Redis& r, const std::string& key, std::vector<std::string>* bad) {
  std::vector<ResultEvent> out;
  simdjson::dom::parser p;
  for (const auto& s : r.List(key)) {
    simdjson::dom::element e;
    std::string_view sv;
    if (p.parse(s).get(e) || e["id"].get_string().get(sv)) {
      Report(bad, "result is not JSON with an id: " + s.substr(0, 200));
      continue;
    }
    ResultEvent x;
    x.id = sv;
    auto str = [&](simdjson::simdjson_result<simdjson::dom::element> v, std::string* to) {
      if (!v.get_string().get(sv)) *to = sv;
    };
    str(e["status"], &x.status);
    str(e["task_id"], &x.task_id);
    str(e["account"], &x.account);
    str(e["model"], &x.model);
    str(e["duplicate_of"], &x.duplicate_of);
    str(e["timings"]["taken_at"], &x.taken_at);
    str(e["timings"]["finished_at"], &x.finished_at);
    simdjson::dom::object err;
    if (!e["error"].get_object().get(err)) {
      str(err["class"], &x.error_class);
      str(err["message"], &x.error_message);
      if (!err["code"].get_string().get(sv)) x.error_code = sv, x.error_code_null = false;
    }
    int64_t n = 0;
    if (!e["attempts"].get_int64().get(n)) x.attempts = n;
    if (!e["refund"]["credits"].get_int64().get(n)) x.refund = n;
    bool b = false;
    if (!e["replayed"].get_bool().get(b)) x.replayed = b;
    x.has_output = e["output"].is_array();
    out.push_back(std::move(x));
  }
  return out;
}

std::vector<ResultEvent> ResultsFor(Redis& r, const std::string& id, const std::string& key) {
  std::vector<ResultEvent> out;
  for (auto& x : ReadResults(r, key))
    if (x.id == id) out.push_back(std::move(x));
  return out;
}

std::vector<RefundEvent> ReadRefunds(Redis& r, const std::string& key, std::vector<std::string>* bad) {
  std::vector<RefundEvent> out;
  simdjson::dom::parser p;
  for (const auto& s : r.List(key)) {
    simdjson::dom::element e;
    std::string_view id;
    int64_t credits = 0;
    if (p.parse(s).get(e) || e["refund_id"].get_string().get(id) || e["credits"].get_int64().get(credits)) {
      Report(bad, "bad refund event: " + s.substr(0, 200));
      continue;
    }
    out.push_back(RefundEvent{std::string(id), credits});
  }
  return out;
}

std::map<std::string, int64_t> RefundsById(Redis& r, const std::string& key) {
  std::map<std::string, int64_t> out;
  for (const auto& ev : ReadRefunds(r, key)) {
    EXPECT_EQ(out.count(ev.refund_id), 0u) << "refund emitted twice for " << ev.refund_id;
    out[ev.refund_id] = ev.credits;
  }
  return out;
}

}  // namespace harness
