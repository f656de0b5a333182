// tools/runwayctl/cancel.cc — `runwayctl cancel ID`.
//
// LPUSHes the id onto P:cancel; a daemon picks it up within a second and cancels the
// job's task, or, when no daemon holds the job, remembers the request for a day as
// P:cancelreq:<id> (kRouteCancel) and cancels the job when it is taken. Before that it
// looks for the job: a finished one is refused (there is nothing left to cancel), and
// so is an id found nowhere — most often a mistyped id, whose request would leave the
// real job running (and charged) while the operator believes it cancelled. --force
// sends the request in both cases (a job about to be pushed, for one).
#include <simdjson.h>

#include <cstdio>

#include "tools/runwayctl/ctl.h"

namespace runwayctl {
namespace {

// Whether a raw job in `key` has the id `id` (every element is read: lists hold raw
// jobs, not ids, so LPOS cannot find one).
bool ListHoldsId(Redis& r, const std::string& key, const std::string& id) {
  simdjson::dom::parser p;
  bool found = false;
  r.ScanList(key, 0, 1000, [&](size_t, const std::string& raw) {
    simdjson::dom::element e;
    std::string_view v;
    found = !p.parse(raw.data(), raw.size(), true).get(e) && !e["id"].get_string().get(v) && v == id;
    return !found;
  });
  return found;
}

}  // namespace

bool QueuedOrTaken(Redis& r, const Globals& g, const std::string& id) {
  runwayd::Keys k = KeysFor(g);
  if (ListHoldsId(r, k.jobs(), id)) return true;
  Reply daemons = r.Cmd({"SMEMBERS", k.daemons()});
  for (size_t i = 0; i < daemons.size(); ++i)
    if (ListHoldsId(r, DaemonKey(g, "processing", daemons.at(i)), id)) return true;
  return false;
}

Whereabouts Where(Redis& r, const Globals& g, const std::string& id) {
  runwayd::Keys k = KeysFor(g);
  Whereabouts w;
  w.known = r.Cmd({"EXISTS", k.job(id)}).integer() == 1;
  if (w.known) w.owner = r.Cmd({"HGET", k.job(id), "daemon"}).str();
  w.done = r.Cmd({"GET", k.done(id)}).str();
  return w;
}

int RunCancel(const Globals& g, const CancelOptions& o) {
  if (o.id.empty()) Fail(kUsage, "cancel: the job id is empty");
  auto r = Redis::Open(g);
  runwayd::Keys k = KeysFor(g);
  const auto [known, owner, done] = Where(*r, g, o.id);
  if (!known && !done.empty() && !o.force)
    Fail(kRuntime, "job \"" + Printable(o.id, 128) + "\" already finished (" + Printable(done, 128) +
                       "): nothing to cancel (--force sends the request anyway; it would cancel a later job "
                       "with this id taken within a day)");
  const bool queued = !known && done.empty() && QueuedOrTaken(*r, g, o.id);
  if (!known && done.empty() && !queued && !o.force)
    Fail(kNotFound, "no job \"" + Printable(o.id, 128) + "\" under prefix " + Printable(g.prefix, 128) +
                        " (not queued, taken, in flight, waiting for a retry, nor finished): is the id right? "
                        "(--force sends the request anyway: it waits a day for a job with this id)");
  long long pending = r->Cmd({"LPUSH", k.cancel(), o.id}).integer();
  std::string what = !owner.empty() ? "in flight on " + Printable(owner, 128) +
                                          ": that daemon cancels its task and ends the job as cancelled"
                     : known  ? "waits for a retry: it ends cancelled when it comes due, with no new task"
                     : queued ? "not admitted yet: a daemon cancels it when it takes it"
                              : "not known yet: the request waits a day for a job with this id";
  if (g.json) {
    rapidjson::StringBuffer b;
    JsonWriter w(b);
    w.StartObject();
    KeyInt(w, "v", 1);
    KeyStr(w, "id", o.id);
    Key(w, "requested"), w.Bool(true);
    Key(w, "in_flight_on");
    if (owner.empty()) w.Null();
    else Str(w, owner);
    KeyInt(w, "pending_requests", pending);
    w.EndObject();
    PrintJson(b);
  } else {
    printf("cancel requested for %s (%s)\n", Printable(o.id).c_str(), what.c_str());
  }
  return kOk;
}

}  // namespace runwayctl
