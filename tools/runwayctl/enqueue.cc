// tools/runwayctl/enqueue.cc — `runwayctl enqueue` (cancel: cancel.cc).
//
// enqueue takes one job from a file, from stdin (`-`), or builds it from flags with
// rapidjson's Writer, then validates it with the daemon's own parser (queue/job.h
// ParseJob) so an operator sees exactly the error the daemon would write to the dead
// list, and only then LPUSHes it onto P:jobs. An id the daemon still knows (in flight,
// or finished within the dedup window) is refused unless --force: the daemon would
// only answer it with a duplicate failure.
#include <simdjson.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>

#include "queue/job.h"
#include "tools/runwayctl/ctl.h"

namespace runwayctl {
namespace {

// Trailing line ends are dropped (as an editor or `echo` adds them), so a job file may
// hold a little more than the limit; past this much more it certainly does not fit.
constexpr size_t kInputSlack = 1 << 20;

// Reads at most `max_bytes` + kInputSlack bytes: a job file that is not one (a video, a
// log, /dev/zero, a pipe that never ends) is refused at once instead of being read
// whole into memory first.
std::string ReadInput(const std::string& file, size_t max_bytes, const std::string& over_hint) {
  std::ifstream in;
  std::istream* src = &std::cin;
  if (file != "-") {
    in.open(file, std::ios::binary);
    if (!in) Fail(kUsage, "cannot read " + file + ": " + std::strerror(errno));
    src = &in;
  }
  const size_t cap = max_bytes + kInputSlack;
  std::string text;
  char buf[65536];
  while (text.size() <= cap && src->read(buf, sizeof buf).gcount() > 0) text.append(buf, src->gcount());
  if (src->bad()) Fail(kRuntime, std::string("cannot read the job from ") + (file == "-" ? "stdin" : file));
  if (text.size() > cap)
    Fail(kUsage, "invalid job: job: more than " + std::to_string(cap) + " bytes, over the limit of " +
                     std::to_string(max_bytes) + over_hint);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (text.find_first_not_of(" \t\r\n") == std::string::npos)
    Fail(kUsage, std::string("no job in ") + (file == "-" ? "stdin" : file));
  return text;
}

std::string NewId() {
  std::random_device rd;
  char buf[48];
  snprintf(buf, sizeof buf, "ctl_%lld_%08x", static_cast<long long>(NowMs()), rd());
  return buf;
}

std::string BuildJob(const EnqueueOptions& o, std::string* id) {
  if (!o.endpoint) Fail(kUsage, "enqueue: --endpoint is required (or give the job with --file FILE or -)");
  if (!o.model) Fail(kUsage, "enqueue: --model is required (or give the job with --file FILE or -)");
  *id = o.id ? *o.id : NewId();
  rapidjson::StringBuffer b;
  JsonWriter w(b);
  w.StartObject();
  KeyInt(w, "v", 1);
  KeyStr(w, "id", *id);
  KeyStr(w, "endpoint", *o.endpoint);
  Key(w, "body");
  w.StartObject();
  KeyStr(w, "model", *o.model);
  if (o.prompt) KeyStr(w, "promptText", *o.prompt);
  if (o.image) KeyStr(w, "promptImage", *o.image);
  if (o.ratio) KeyStr(w, "ratio", *o.ratio);
  if (o.duration) {
    // CLI11 reads "nan" and "inf" as numbers: JSON has neither (rapidjson's Writer drops
    // them and leaves a broken document), and their cast to an integer is undefined.
    double d = *o.duration;
    if (!std::isfinite(d)) Fail(kUsage, "enqueue: --duration must be a finite number of seconds");
    Key(w, "duration");
    if (std::fabs(d) < 9e15 && d == std::trunc(d)) w.Int64(static_cast<int64_t>(d));
    else w.Double(d);
  }
  if (o.seed) KeyInt(w, "seed", *o.seed);
  w.EndObject();
  if (o.charged) KeyInt(w, "charged", *o.charged);
  if (o.user) KeyStr(w, "user", *o.user);
  if (o.account) KeyStr(w, "account", *o.account);
  if (!o.fallback_models.empty()) {
    Key(w, "fallback_models");
    w.StartArray();
    for (const auto& m : o.fallback_models) Str(w, m);
    w.EndArray();
  }
  if (o.deadline) KeyInt(w, "deadline_s", *o.deadline);
  if (o.reply_to) KeyStr(w, "reply_to", *o.reply_to);
  if (o.meta) {
    // Refused rather than sent as a string: a typo in an object ('{"batch":7') would reach
    // the platform as text it cannot match, with every result of the job.
    simdjson::dom::parser p;
    simdjson::dom::element e;
    if (p.parse(*o.meta).get(e))
      Fail(kUsage, "enqueue: --meta is not valid JSON (a string needs its quotes: --meta '\"text\"')");
    Key(w, "meta");
    RawOrString(w, *o.meta);
  }
  w.EndObject();
  return std::string(b.GetString(), b.GetSize());
}

bool AnyJobFlag(const EnqueueOptions& o) {
  return o.id || o.endpoint || o.model || o.prompt || o.image || o.ratio || o.user || o.account || o.reply_to ||
         o.meta || o.duration || o.charged || o.deadline || o.seed || !o.fallback_models.empty();
}

}  // namespace

int RunEnqueue(const Globals& given, const EnqueueOptions& o) {
  if (!o.file.empty() && AnyJobFlag(o))
    Fail(kUsage, "enqueue: give the job either as a file (--file FILE, or - for stdin) or with flags, not both");
  // The daemon's own limits, not the defaults: with a lower jobs.max_bytes a job passed
  // here would be dead-lettered (and refunded) by the daemon; with a higher one, a job it
  // takes would be refused here. And its own list: a job pushed under the default prefix
  // waits forever for a daemon configured with another.
  DaemonRules daemon;
  if (!o.config.empty()) ReadDaemonConfig(o.config, &daemon);
  Globals g = given;
  if (daemon.prefix && !g.prefix_given) g.prefix = *daemon.prefix;
  runwayd::JobRules rules;
  rules.prefix = g.prefix;
  if (o.max_bytes) rules.max_bytes = static_cast<size_t>(*o.max_bytes);
  else if (daemon.max_bytes) rules.max_bytes = *daemon.max_bytes;
  rules.extra_endpoints = o.extra_endpoints;
  rules.extra_endpoints.insert(rules.extra_endpoints.end(), daemon.extra_endpoints.begin(),
                               daemon.extra_endpoints.end());
  const std::string over_hint =
      o.config.empty() && !o.max_bytes
          ? " (the default jobs.max_bytes: give the daemon's with --config FILE or --max-bytes N)"
          : "";
  std::string built_id;
  const std::string raw = o.file.empty() ? BuildJob(o, &built_id) : ReadInput(o.file, rules.max_bytes, over_hint);
  runwayd::Job job;
  runwayd::JobParse p = runwayd::ParseJob(raw, rules, &job);
  if (!p.ok) Fail(kUsage, "invalid job: " + p.error + (raw.size() > rules.max_bytes ? over_hint : ""));
  // The daemon ends a job pinned to an account it does not have at once, refunded
  // (account_unusable). --force: the account is about to be added (and the daemon reloaded).
  if (!job.account.empty() && !daemon.accounts.empty() && !o.force &&
      std::find(daemon.accounts.begin(), daemon.accounts.end(), job.account) == daemon.accounts.end()) {
    std::string names;
    for (const auto& a : daemon.accounts) names += (names.empty() ? "" : ", ") + Printable(a, 64);
    Fail(kUsage, "invalid job: account \"" + Printable(job.account, 128) + "\" is not in " + o.config +
                     " (its accounts: " + names + "); --force to push it anyway");
  }

  if (o.dry_run) {
    if (g.json) {
      rapidjson::StringBuffer b;
      JsonWriter w(b);
      w.StartObject();
      KeyInt(w, "v", 1);
      KeyStr(w, "id", job.id);
      Key(w, "valid"), w.Bool(true);
      Key(w, "enqueued"), w.Bool(false);
      Key(w, "job"), RawOrString(w, raw);
      w.EndObject();
      PrintJson(b);
    } else {
      printf("%s\n", raw.c_str());
    }
    return kOk;
  }

  auto r = Redis::Open(g);
  runwayd::Keys k = KeysFor(g);
  // The record, not its owner: a job waiting in the retry set has a record without a
  // `daemon` field, and kAdmit refuses a copy of it all the same (as replay.lua does).
  const auto [known, owner, done] = Where(*r, g, job.id);
  // A daemon joins P:daemons at its first heartbeat and stays, stopped or not, until a live
  // peer adopts it away: an empty set means a wrong --prefix (the job would wait on a list
  // no daemon reads) or a deployment whose daemons never started.
  const bool no_daemon = r->Cmd({"SCARD", k.daemons()}).integer() == 0;
  // A replay deletes the dedup marker and sets P:replayed:<id>, which admission consumes:
  // while it exists, a replayed copy of the id waits in the queue (or was just taken).
  const bool replay_queued =
      !known && done.empty() && r->Cmd({"EXISTS", k.replayed(job.id)}).integer() == 1;
  if (!o.force && (known || !done.empty() || replay_queued)) {
    std::string why = !owner.empty()  ? "is in flight on " + Printable(owner, 128)
                      : known         ? std::string("waits for a retry")
                      : replay_queued ? std::string("was put back by a replay and waits in the queue")
                                      : "finished (" + Printable(done, 128) + ") within the dedup window";
    Fail(kRuntime, "job \"" + Printable(job.id, 128) + "\" " + why +
                       ": the daemon would refuse it as a duplicate (pick another id, or --force to push it anyway)");
  }
  // A cancel for the id, routed while no daemon held it (P:cancelreq:<id>, kept a day) or
  // not routed yet (in P:cancel, for up to a second), would end this job "cancelled" the
  // moment a daemon takes it, unrun. An enqueue is the operator's newer decision, as a
  // replay is (replay.lua drops it too), and the cancel goes with the push (one
  // transaction) — unless a job with the id is still queued or taken: the cancel is
  // that job's, and dropping it would let the job the operator cancelled run.
  const bool cancel_waits = r->Cmd({"EXISTS", k.cancel_request(job.id)}).integer() == 1 ||
                            !r->Cmd({"LPOS", k.cancel(), job.id}).nil();
  const bool cancel_kept = cancel_waits && QueuedOrTaken(*r, g, job.id);
  if (cancel_kept && !o.force)
    Fail(kRuntime, "job \"" + Printable(job.id, 128) + "\" is queued (or taken, not yet admitted) with a cancel " +
                       "waiting for it: it ends cancelled when a daemon takes it, and a copy pushed now would end as " +
                       "its duplicate (enqueue it after that job's result, or --force to push it anyway and keep the " +
                       "cancel)");
  std::vector<Reply> tx;
  try {
    std::vector<std::vector<std::string>> cmds = {{"MULTI"}};
    if (!cancel_kept)
      cmds.insert(cmds.end(), {{"DEL", k.cancel_request(job.id)}, {"LREM", k.cancel(), "0", job.id}});
    cmds.insert(cmds.end(), {{"LPUSH", k.jobs(), raw}, {"EXEC"}});
    tx = r->Pipeline(cmds);
  } catch (const Failure& f) {
    // Sent but unanswered (--timeout, a dropped connection): Redis may have pushed it. A
    // second enqueue would then push a copy that ends as a duplicate_job failure.
    Fail(f.code, std::string(f.what()) + "; the job may have been pushed all the same: look with `runwayctl job " +
                     Printable(job.id, 128) + "` before enqueueing it again");
  }
  const Reply& exec = tx.back();
  const size_t n = tx.size() - 2;  // the queued commands; the LPUSH is the last
  if (exec.size() != n || exec.get()->element[n - 1]->type != REDIS_REPLY_INTEGER)
    Fail(kRuntime, "redis at " + r->where() + ": LPUSH " + k.jobs() + ": " +
                       (exec.size() == n   ? exec.at(n - 1)
                        : tx[n].error()    ? tx[n].str()
                        : exec.error()     ? exec.str()
                                           : std::string("the transaction was refused")));
  const bool cancel_dropped =
      !cancel_kept && (exec.get()->element[0]->integer == 1 || exec.get()->element[1]->integer > 0);
  const long long len = exec.get()->element[n - 1]->integer;
  if (no_daemon)
    fprintf(stderr,
            "runwayctl: warning: no runwayd has registered under prefix %s (%s is empty): the job waits until "
            "one does; is --prefix the daemons' redis.prefix?\n",
            Printable(g.prefix).c_str(), Printable(k.daemons()).c_str());
  if (g.json) {
    rapidjson::StringBuffer b;
    JsonWriter w(b);
    w.StartObject();
    KeyInt(w, "v", 1);
    KeyStr(w, "id", job.id);
    Key(w, "enqueued"), w.Bool(true);
    KeyStr(w, "queue", k.jobs());
    KeyInt(w, "length", len);
    KeyStr(w, "reply_to", job.reply_to.empty() ? k.results() : job.reply_to);
    Key(w, "cancel_dropped"), w.Bool(cancel_dropped);
    Key(w, "cancel_kept"), w.Bool(cancel_kept);
    Key(w, "job"), RawOrString(w, raw);
    w.EndObject();
    PrintJson(b);
  } else {
    printf("enqueued %s on %s (%lld in the queue); its result goes to %s\n", Printable(job.id).c_str(),
           k.jobs().c_str(), len, (job.reply_to.empty() ? k.results() : job.reply_to).c_str());
    if (cancel_dropped)
      printf("dropped an earlier cancel that was waiting for this id (%s or %s)\n",
             Printable(k.cancel_request(job.id)).c_str(), k.cancel().c_str());
    if (cancel_kept)
      printf("kept the cancel waiting for the job with this id that is queued or taken: it cancels that one\n");
  }
  return kOk;
}

}  // namespace runwayctl
