// tools/runwayctl/job.cc — `runwayctl job ID`: where a job is, and what every place
// that can know about it says (its "history").
//
// Places, in the order a job passes them (key layout: queue/store.h):
//   P:jobs                   queued (the list holds raw jobs: scanned, each id read)
//   P:processing:<daemon>    taken by a daemon, not yet admitted
//   P:job:<id>               in flight: state, daemon, attempt, account, model, task_id...
//   P:retry                  waiting for its next attempt (the record names no daemon)
//   P:cancelreq:<id>         an operator's cancel waiting for the job to be taken
//   P:done:<id>              finished within the dedup window ("succeeded", "failed:<class>")
//   P:refunded:<id>          a refund was emitted (TTL: the refund window)
//   P:replayed:<id>          put back by a replay, not taken yet
//   P:dead                   dead entries with that id (whole list)
//   P:results, reply_to      result events (the newest --scan entries of each)
//   P:refunds                refund events (the newest --scan entries)
// Read-only. Exit 3 when none of them knows the id.
#include <simdjson.h>

#include <cstdio>
#include <functional>
#include <map>

#include "tools/runwayctl/ctl.h"

namespace runwayctl {
namespace {

struct Entry {
  std::string source;  // key, with "#index" for list entries
  std::string kind;
  std::string text;    // one line for people
  std::function<void(JsonWriter&)> json;  // the entry's own fields
};

std::string GetStr(simdjson::dom::element e, const char* k) {
  std::string_view v;
  return e[k].get_string().get(v) ? std::string() : std::string(v);
}

std::optional<std::string> IdOf(simdjson::dom::parser& p, const std::string& raw, simdjson::dom::element* out) {
  if (p.parse(raw.data(), raw.size(), true).get(*out)) return std::nullopt;
  std::string_view id;
  if ((*out)["id"].get_string().get(id)) return std::nullopt;
  return std::string(id);
}

std::string DescribeResult(simdjson::dom::element e) {
  std::string status = GetStr(e, "status");
  std::string s = status.empty() ? "result" : status;
  std::string fin = GetStr(e["timings"], "finished_at");
  if (!fin.empty()) s += " at " + fin;
  std::string model = GetStr(e, "model"), task = GetStr(e, "task_id"), account = GetStr(e, "account");
  if (!account.empty()) s += ", account " + account;
  if (!model.empty()) s += ", model " + model;
  if (!task.empty()) s += ", task " + task;
  if (status == "succeeded") {
    simdjson::dom::array out;
    if (!e["output"].get_array().get(out) && out.size() > 0) {
      std::string_view u;
      if (!out.at(0).get_string().get(u)) s += ", output " + Printable(u, 120);
    }
  } else {
    std::string cls = GetStr(e["error"], "class"), msg = GetStr(e["error"], "message");
    if (!cls.empty()) s += ": " + cls;
    if (!msg.empty()) s += " (" + Printable(msg, 120) + ")";
    int64_t credits = 0;
    if (!e["refund"]["credits"].get_int64().get(credits)) s += ", refund " + std::to_string(credits) + " credits";
    std::string dup = GetStr(e, "duplicate_of");
    if (!dup.empty()) s += ", duplicate of a known job";
  }
  bool replayed = false;
  if (!e["replayed"].get_bool().get(replayed) && replayed) s += ", replayed";
  return s;
}

}  // namespace

int RunJob(const Globals& g, const JobOptions& o) {
  auto r = Redis::Open(g);
  runwayd::Keys k = KeysFor(g);
  const std::string& id = o.id;
  int64_t now = NowMs();
  simdjson::dom::parser parser;
  simdjson::dom::element el;
  std::vector<Entry> h;
  std::string where, summary, reply_to;
  std::map<std::string, std::string> first;  // kind -> summary of its first entry
  auto seen = [&](const std::string& kind, const std::string& text) { first.emplace(kind, text); };
  auto remember_reply_to = [&](const std::string& raw) {
    simdjson::dom::element j;
    if (reply_to.empty() && !parser.parse(raw.data(), raw.size(), true).get(j)) reply_to = GetStr(j, "reply_to");
  };

  // In flight: the job record (a keyed command first, for a Cluster's redirect).
  Reply rec = r->Cmd({"HGETALL", k.job(id)});
  std::map<std::string, std::string> f;
  for (size_t i = 0; i + 1 < rec.size(); i += 2) f[rec.at(i)] = rec.at(i + 1);
  std::vector<Reply> m = r->Pipeline({{"GET", k.done(id)}, {"PTTL", k.done(id)}, {"PTTL", k.refunded(id)},
                                      {"PTTL", k.replayed(id)}, {"PTTL", k.cancel_request(id)}, {"SMEMBERS", k.daemons()},
                                      {"EXISTS", DaemonKey(g, "daemon", f.count("daemon") ? f["daemon"] : "")},
                                      {"ZSCORE", k.retry(), id}});
  if (!f.empty()) {
    bool alive = m[6].integer() == 1;
    std::string d = f["daemon"], state = f["state"], task = f["task_id"];
    std::optional<int64_t> due = m[7].nil() ? std::nullopt : ToInt(m[7].str());
    if (d.empty() && due)
      seen("in_flight", "waiting for attempt " + std::to_string(ToInt(f["attempt"]).value_or(0) + 1) + ", due " +
                            (*due > now ? "in " + std::to_string((*due - now + 999) / 1000) + " s" : "now") +
                            " (any daemon takes it from " + k.retry() + ")");
    else
      seen("in_flight", "in flight on " + d + (alive ? "" : " (its heartbeat expired: another daemon adopts it)") +
                            ", state " + state + ", attempt " + f["attempt"] + (task.empty() ? "" : ", task " + task));
    std::string text = "state " + state + ", daemon " + d + (alive ? " (alive)" : " (heartbeat expired)") +
                       ", attempt " + f["attempt"];
    if (!f["account"].empty()) text += ", account " + f["account"];
    if (!f["model"].empty()) text += ", model " + f["model"];
    if (!task.empty()) text += ", task " + task;
    if (auto t = ToInt(f["taken_at"])) text += ", taken " + Ago(*t, now);
    if (auto t = ToInt(f["submitted_at"]); t && *t > 0) text += ", submitted " + Ago(*t, now);
    if (!f["adopted_from"].empty()) text += ", adopted from " + f["adopted_from"];
    h.push_back({k.job(id), "in_flight", text, [f, alive](JsonWriter& w) {
                   KeyStr(w, "daemon", f.at("daemon"));
                   Key(w, "daemon_alive"), w.Bool(alive);
                   Key(w, "fields");
                   w.StartObject();
                   for (const auto& [name, value] : f) {
                     if (name == "raw" || name == "body") continue;
                     KeyStr(w, name, value);
                   }
                   w.EndObject();
                   if (f.count("raw")) Key(w, "job"), RawOrString(w, f.at("raw"));
                 }});
    if (f.count("raw")) remember_reply_to(f["raw"]);
  }

  // Taken, not yet admitted: every registered daemon's processing list.
  for (size_t i = 0; i < m[5].size(); ++i) {
    std::string d = m[5].at(i), key = DaemonKey(g, "processing", d);
    r->ScanList(key, 0, 1000, [&](size_t idx, const std::string& raw) {
      if (IdOf(parser, raw, &el) != id) return true;
      seen("taken", "taken by " + d + ", not yet admitted");
      h.push_back({key + " #" + std::to_string(idx), "taken", "taken by " + d + ", not yet admitted",
                   [d, raw](JsonWriter& w) { KeyStr(w, "daemon", d), Key(w, "job"), RawOrString(w, raw); }});
      remember_reply_to(raw);
      return true;
    });
  }

  // Queued: the whole queue; the daemon takes from the tail, so "ahead" counts toward it.
  std::vector<std::pair<size_t, std::string>> queued;
  size_t qlen = 0;
  r->ScanList(k.jobs(), 0, 1000, [&](size_t idx, const std::string& raw) {
    qlen = idx + 1;
    if (IdOf(parser, raw, &el) == id) queued.emplace_back(idx, raw);
    return true;
  });
  for (const auto& [idx, raw] : queued) {
    size_t ahead = qlen - 1 - idx;
    std::string text = "queued, " + std::to_string(ahead) + " job(s) ahead of it";
    seen("queued", text);
    h.push_back({k.jobs() + " #" + std::to_string(idx), "queued", text, [ahead, raw = raw](JsonWriter& w) {
                   KeyInt(w, "ahead", static_cast<int64_t>(ahead)), Key(w, "job"), RawOrString(w, raw);
                 }});
    remember_reply_to(raw);
  }

  auto marker = [&](const std::string& key, const char* kind, const std::string& text, const Reply& pttl,
                    const std::string& value) {
    int64_t ttl = pttl.integer();
    std::string t = text + (ttl > 0 ? ", expires in " + Span(ttl) : "");
    h.push_back({key, kind, t, [ttl, value](JsonWriter& w) {
                   if (!value.empty()) KeyStr(w, "value", value);
                   KeyNumOrNull(w, "ttl_ms", ttl >= 0 ? std::optional<int64_t>(ttl) : std::nullopt);
                 }});
  };
  if (m[4].integer() != -2) marker(k.cancel_request(id), "cancel_requested", "cancel requested; the job is cancelled when a daemon takes it", m[4], "");
  if (m[3].integer() != -2) marker(k.replayed(id), "replayed", "put back by a replay; not taken yet", m[3], "");
  if (!m[0].nil()) {
    std::string done = m[0].str();
    marker(k.done(id), "done", "finished: " + done + " (dedup marker: the same id is refused as a duplicate)", m[1], done);
    seen("finished", "finished: " + done);
  }
  if (m[2].integer() != -2) marker(k.refunded(id), "refunded", "a refund was emitted for this id", m[2], "");

  // Dead entries: the whole list.
  r->ScanList(k.dead(), 0, 1000, [&](size_t idx, const std::string& raw) {
    if (IdOf(parser, raw, &el) != id) return true;
    std::string cls = GetStr(el, "error_class"), reason = GetStr(el, "reason"), at = GetStr(el, "dead_at");
    std::string text = "dead" + (at.empty() ? "" : " since " + at) + ": " + cls + " (" + Printable(reason, 120) + ")";
    seen("dead", "dead (" + cls + "): scripts/replay or runwayctl replay can put it back");
    h.push_back({k.dead() + " #" + std::to_string(idx), "dead", text, [raw](JsonWriter& w) {
                   Key(w, "entry"), RawOrString(w, raw);
                 }});
    remember_reply_to(GetStr(el, "job"));
    return true;
  });

  // Results: the newest entries of P:results and of the job's own reply_to list.
  std::vector<std::string> result_lists = {k.results()};
  if (!reply_to.empty() && reply_to != k.results()) result_lists.push_back(reply_to);
  for (const auto& list : result_lists) {
    r->ScanList(list, o.scan, 500, [&](size_t idx, const std::string& raw) {
      if (IdOf(parser, raw, &el) != id) return true;
      std::string text = DescribeResult(el);
      seen("finished", "finished: " + GetStr(el, "status"));
      h.push_back({list + " #" + std::to_string(idx), "result", text, [raw](JsonWriter& w) {
                     Key(w, "event"), RawOrString(w, raw);
                   }});
      return true;
    });
  }
  r->ScanList(k.refunds(), o.scan, 500, [&](size_t idx, const std::string& raw) {
    if (IdOf(parser, raw, &el) != id) return true;
    int64_t credits = 0;
    if (el["credits"].get_int64().get(credits)) credits = 0;
    // user and reason come from producers' jobs: never raw to a terminal.
    std::string text = "refund of " + std::to_string(credits) + " credits to " + Printable(GetStr(el, "user")) +
                       " (" + Printable(GetStr(el, "reason")) + "), not yet consumed";
    h.push_back({k.refunds() + " #" + std::to_string(idx), "refund", text, [raw](JsonWriter& w) {
                   Key(w, "event"), RawOrString(w, raw);
                 }});
    return true;
  });

  // Where it is now: the first place of the job's path that knows it, latest first.
  for (const char* kind : {"in_flight", "taken", "queued", "dead", "finished"}) {
    if (first.count(kind)) {
      where = kind, summary = first[kind];
      break;
    }
  }
  bool found = !h.empty();
  if (where.empty() && found) where = h.front().kind, summary = h.front().text;
  if (!found) where = "unknown", summary = "no trace";
  if (g.json) {
    rapidjson::StringBuffer b;
    JsonWriter w(b);
    w.StartObject();
    KeyInt(w, "v", 1);
    KeyStr(w, "id", id);
    KeyStr(w, "where", where);
    KeyStr(w, "summary", summary);
    KeyInt(w, "scanned_results", static_cast<int64_t>(o.scan));
    Key(w, "history");
    w.StartArray();
    for (const auto& e : h) {
      w.StartObject();
      KeyStr(w, "source", e.source);
      KeyStr(w, "kind", e.kind);
      KeyStr(w, "text", e.text);
      if (e.json) e.json(w);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    PrintJson(b);
  } else if (found) {
    std::string out = "job " + Printable(id) + ": " + Printable(summary, std::string::npos) + "\n\n";
    Table t({"SOURCE", "WHAT IT SAYS"});
    for (const auto& e : h) t.Row({Printable(e.source, 160), e.text});
    fputs((out + t.Render()).c_str(), stdout);
  }
  if (!found)
    Fail(kNotFound, "no trace of job \"" + Printable(id, 128) + "\" under prefix " + g.prefix +
                        " (not queued, taken, in flight, finished within the dedup window, dead, nor among the newest " +
                        std::to_string(o.scan) + " results and refunds)");
  return kOk;
}

}  // namespace runwayctl
