// tests/fault/audit.cc — the invariants checked after a fault run (fault.h: AuditRun):
// every job pushed ends in exactly one result, no task is created twice for one
// attempt, exactly one refund per charged failure, nothing left behind in Redis;
// and what to print when a job is missing.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "fault.h"
#include "outcomes.h"
#include "sim_view.h"

namespace fault {

namespace {

std::vector<std::string> Scan(harness::Redis& r, const std::string& pattern) {
  std::vector<std::string> keys;
  std::string cursor = "0";
  do {
    auto rep = r.Cmd({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) break;
    cursor = std::string(rep->element[0]->str, rep->element[0]->len);
    for (size_t i = 0; i < rep->element[1]->elements; ++i)
      keys.emplace_back(rep->element[1]->element[i]->str, rep->element[1]->element[i]->len);
  } while (cursor != "0");
  return keys;
}

}  // namespace

size_t CountResults(harness::Redis& r) { return static_cast<size_t>(std::max(0LL, r.Int({"LLEN", "runway:results"}))); }

size_t LeftInRedis(harness::Redis& r) {
  size_t n = static_cast<size_t>(std::max(0LL, r.Int({"LLEN", "runway:jobs"})));
  for (const char* pat : {"runway:processing:*", "runway:inflight:*", "runway:job:*"}) n += Scan(r, pat).size();
  return n;
}

bool Drained(harness::Stack& s, size_t n, std::chrono::milliseconds timeout) {
  return harness::WaitFor([&] { return CountResults(s.redis()) >= n && LeftInRedis(s.redis()) == 0; }, timeout);
}

std::string RecordField(harness::Redis& r, const std::string& id, const std::string& field) {
  auto v = r.Cmd({"HGET", "runway:job:" + id, field});
  return v && v->type == REDIS_REPLY_STRING ? std::string(v->str, v->len) : std::string();
}

std::string Audit::Summary() const {
  std::ostringstream o;
  o << "jobs " << jobs << ", results " << results << " (succeeded " << succeeded << ", failed " << failed
    << ", outcome_unknown " << outcome_unknown << " (" << unknown_created << " created upstream), retried " << retried << "), lost " << lost
    << ", duplicate results " << duplicate_results << ", foreign results " << foreign_results << ", creations "
    << creations << ", extra creations " << extra_creations << ", attempt/creation mismatches "
    << creation_mismatches << ", orphan creations " << orphan_creations << ", refunds " << refunds << " ("
    << refunded_credits << " credits), refunded twice " << refunds_twice << ", refund mismatches "
    << refund_mismatches << ", left in redis " << left_in_redis;
  for (const auto& v : violations) o << "\n  " << v;
  return o.str();
}

Audit AuditRun(harness::Stack& s, const std::vector<JobSpec>& jobs) {
  Audit a;
  auto& r = s.redis();
  auto note = [&a](std::string v) {
    if (a.violations.size() < 30) a.violations.push_back(std::move(v));
  };
  auto bad = [&a](const std::string& id) {
    if (a.bad_ids.size() < 30) a.bad_ids.push_back(id);
  };
  std::vector<std::string> unreadable;
  const std::vector<harness::ResultEvent> results = harness::ReadResults(r, "runway:results", &unreadable);
  for (auto& b : unreadable) note(b);
  a.foreign_results += unreadable.size();
  a.jobs = jobs.size();
  a.results = results.size();
  std::map<std::string, const JobSpec*> by_id;
  std::map<int64_t, const JobSpec*> by_seed;
  for (const auto& j : jobs) {
    by_id[j.id] = &j;
    by_seed[j.seed] = &j;
  }
  std::map<std::string, std::vector<const harness::ResultEvent*>> per;
  for (const auto& x : results) {
    if (!by_id.count(x.id)) {
      ++a.foreign_results;
      note("result for an id never pushed: " + x.id);
      continue;
    }
    per[x.id].push_back(&x);
  }

  // Creations per seed, from the simulator.
  std::map<int64_t, int64_t> made;
  {
    const std::string body = s.SimGet("/_sim/stats");
    harness::SimStats st;
    std::string error;
    if (!harness::ParseSimStats(body, &st, &error)) {
      note("bad /_sim/stats (" + error + "): " + body.substr(0, 200));
    } else {
      for (const auto& [seed, n] : st.creations) {
        made[seed] = n;
        a.creations += n;
        if (!by_seed.count(seed)) {
          ++a.orphan_creations;
          note("task created for seed " + std::to_string(seed) + " that no job has");
        }
      }
    }
  }

  // Refund events.
  std::map<std::string, int64_t> refunds;
  std::vector<std::string> bad_refunds;
  for (const auto& ev : harness::ReadRefunds(r, "runway:refunds", &bad_refunds)) {
    ++a.refunds;
    a.refunded_credits += ev.credits;
    if (refunds.count(ev.refund_id)) {
      ++a.refunds_twice;
      note("refund emitted twice for " + ev.refund_id);
    }
    refunds[ev.refund_id] = ev.credits;
  }
  for (const auto& b : bad_refunds) {
    ++a.refund_mismatches;
    note(b);
  }

  for (const auto& j : jobs) {
    auto it = per.find(j.id);
    if (it == per.end()) {
      ++a.lost;
      continue;
    }
    if (it->second.size() > 1) {
      ++a.duplicate_results;
      bad(j.id);
      std::string v = "job " + j.id + " has " + std::to_string(it->second.size()) + " results:";
      for (const harness::ResultEvent* x : it->second)
        v += " [" + x->status + " " + x->error_class + (x->duplicate_of.empty() ? "" : " duplicate") + " attempts " +
             std::to_string(x->attempts) + "]";
      note(v);
    }
    // The oldest result is the one the platform acted on (ReadResults: oldest first).
    const harness::ResultEvent& x = *it->second.front();
    const bool ok = x.status == "succeeded";
    const bool unknown = x.error_class == "outcome_unknown";
    ok ? ++a.succeeded : ++a.failed;
    if (unknown) ++a.outcome_unknown;
    if (x.attempts > 1) ++a.retried;
    const int64_t m = made.count(j.seed) ? made[j.seed] : 0;
    if (m > x.attempts) {
      a.extra_creations += static_cast<size_t>(m - x.attempts);
      bad(j.id);
      note("job " + j.id + ": " + std::to_string(m) + " tasks created for " + std::to_string(x.attempts) +
           " attempt(s), result " + x.status + " " + x.error_class);
    } else {
      // The attempts a result reports are the tasks created for the job, an unanswered
      // create (outcome_unknown) counted as one although it may not have made a task.
      bool fine;
      if (unknown && x.task_id.empty() && m == x.attempts) ++a.unknown_created;
      if (unknown) fine = m >= x.attempts - 1;
      else fine = m == x.attempts;
      if (!fine) {
        ++a.creation_mismatches;
        bad(j.id);
        note("job " + j.id + ": " + std::to_string(m) + " task(s) created, result reports " +
             std::to_string(x.attempts) + " attempt(s), " + x.status + " " + x.error_class +
             (x.task_id.empty() ? " without a task id" : " task " + x.task_id));
      }
    }
    const bool refund_due = !ok && x.duplicate_of.empty() && j.charged > 0;
    const auto rf = refunds.find(j.id);
    if (refund_due != (rf != refunds.end()) || (refund_due && rf->second != j.charged) ||
        (refund_due ? x.refund != j.charged : x.refund != -1)) {
      ++a.refund_mismatches;
      bad(j.id);
      note("job " + j.id + ": " + x.status + " " + x.error_class + ", charged " + std::to_string(j.charged) +
           ", refund event " + (rf == refunds.end() ? "none" : std::to_string(rf->second)) + ", result refund " +
           std::to_string(x.refund));
    }
  }
  for (const auto& [id, c] : refunds) {
    if (!by_id.count(id)) {
      ++a.refund_mismatches;
      note("refund for an id never pushed: " + id);
    }
  }
  a.left_in_redis = LeftInRedis(r);
  if (a.lost) note(std::to_string(a.lost) + " job(s) without a result:\n" + DescribeMissing(s, jobs));
  if (a.left_in_redis) note(std::to_string(a.left_in_redis) + " key(s)/entries left in Redis");
  return a;
}

std::string JobLogLines(const std::string& dir, const std::vector<std::string>& ids, size_t max_ids) {
  std::ostringstream o;
  std::vector<std::string> files;
  for (const char* f : {"d1.log", "d2.log", "d3.log"}) files.push_back(dir + "/" + f);
  for (size_t i = 0; i < ids.size() && i < max_ids; ++i) {
    o << "-- log lines of " << ids[i] << "\n";
    const std::string needle = "job=" + ids[i] + " ";
    for (const auto& f : files) {
      std::ifstream in(f);
      const std::string name = f.substr(f.rfind('/') + 1);
      for (std::string line; std::getline(in, line);)
        if (line.find(needle) != std::string::npos) o << name << ": " << line << "\n";
    }
  }
  return o.str();
}

std::string DescribeMissing(harness::Stack& s, const std::vector<JobSpec>& jobs, size_t max) {
  auto& r = s.redis();
  std::set<std::string> have;
  simdjson::dom::parser p;
  for (const auto& sj : r.List("runway:results")) {
    simdjson::dom::element e;
    std::string_view id;
    if (!p.parse(sj).get(e) && !e["id"].get_string().get(id)) have.insert(std::string(id));
  }
  std::map<std::string, std::vector<std::string>> lists;
  for (const auto& k : Scan(r, "runway:processing:*")) lists[k] = r.List(k);
  lists["runway:jobs"] = r.List("runway:jobs");
  std::ostringstream o;
  size_t n = 0;
  for (const auto& j : jobs) {
    if (have.count(j.id)) continue;
    if (++n > max) {
      o << "    ...\n";
      break;
    }
    o << "    " << j.id << ":";
    const std::string needle = "\"id\":\"" + j.id + "\"";
    for (const auto& [k, v] : lists)
      for (const auto& raw : v)
        if (raw.find(needle) != std::string::npos) o << " in " << k;
    auto h = r.Cmd({"HGETALL", "runway:job:" + j.id});
    if (h->type == REDIS_REPLY_ARRAY && h->elements) {
      o << " record{";
      for (size_t i = 0; i + 1 < h->elements; i += 2) {
        std::string f(h->element[i]->str, h->element[i]->len);
        if (f == "raw") continue;
        o << f << "=" << std::string(h->element[i + 1]->str, h->element[i + 1]->len) << " ";
      }
      o << "}";
    }
    for (const auto& k : Scan(r, "runway:inflight:*"))
      if (r.Int({"SISMEMBER", k, j.id}) == 1) o << " in " << k;
    o << "\n";
  }
  return o.str();
}


}  // namespace fault
