// tools/runwayctl/main.cc — runwayctl's command line (CLI11) and exit codes.
//
//   runwayctl [--redis URL] [--prefix P] [--json] [--timeout S] COMMAND ...
//   status | accounts [NAME...] | job ID | enqueue [FILE|-] [flags] | cancel ID | replay [filters]
//
// Exit codes: 0 done; 1 Redis error (unreachable, refused, script error) or an action
// refused (a duplicate id, a cancel of a finished job); 2 usage (bad command line, bad
// URL, invalid job); 3 not found (`job ID` with no trace, `accounts NAME` unknown, `cancel
// ID` of a job found nowhere).
// Global options may also follow the command (`runwayctl status --json`).
// docs/runwayctl.md is the manual.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "tools/runwayctl/ctl.h"

#ifndef RUNWAYCTL_VERSION
#define RUNWAYCTL_VERSION "dev"
#endif

int main(int argc, char** argv) {
  using namespace runwayctl;
  Globals g;
  CLI::App app{"runwayctl: operate runwayd through Redis (queues, jobs, accounts, dead letters)", "runwayctl"};
  app.fallthrough();
  app.require_subcommand(1);
  app.set_version_flag("--version", "runwayctl " RUNWAYCTL_VERSION);
  app.add_option("--redis", g.redis_url,
                 "redis://[user:pass@]host:port[/db] or unix:///path[?db=N] (default: $RUNWAYD_REDIS_URL, "
                 "$REDIS_URL, redis://127.0.0.1:6379); a password may also come from REDISCLI_AUTH");
  app.add_option("--prefix", g.prefix, "the daemon's key prefix (redis.prefix)")->capture_default_str();
  app.add_flag("--json", g.json, "print one JSON document instead of tables");
  app.add_option("--timeout", g.timeout_s, "seconds to wait for Redis (connect and each command)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);

  auto* status = app.add_subcommand("status", "queues, jobs in flight, daemons, accounts");

  std::vector<std::string> account_names;
  auto* accounts = app.add_subcommand("accounts", "accounts: balance, estimate, reserved, limits and daily use");
  accounts->add_option("name", account_names, "only these accounts (exit 3 if one is unknown)");

  JobOptions jo;
  auto* job = app.add_subcommand("job", "where a job is and what every place that knows it says");
  job->add_option("id", jo.id, "job id")->required();
  job->add_option("--scan", jo.scan, "newest results and refunds to look through")->capture_default_str()
      ->check(CLI::Range(1, 10000000));

  EnqueueOptions eo;
  auto* enq = app.add_subcommand("enqueue", "validate a job with the daemon's parser and push it onto P:jobs");
  enq->add_option("file", eo.file, "job file, or - for stdin (instead of the flags)");
  enq->add_option("-f,--file", eo.file, "job file, or - for stdin");
  enq->add_option("--id", eo.id, "job id (default: ctl_<ms>_<random>)");
  enq->add_option("--endpoint", eo.endpoint, "image_to_video, text_to_video, video_to_video, ...");
  enq->add_option("--model", eo.model, "body.model");
  enq->add_option("--prompt", eo.prompt, "body.promptText");
  enq->add_option("--image", eo.image, "body.promptImage (a URI)");
  enq->add_option("--ratio", eo.ratio, "body.ratio, e.g. 1280:720");
  enq->add_option("--duration", eo.duration, "body.duration in seconds");
  enq->add_option("--seed", eo.seed, "body.seed");
  enq->add_option("--charged", eo.charged, "platform credits taken from the user (refunded on failure)");
  enq->add_option("--user", eo.user, "user, echoed in the result and refund");
  enq->add_option("--account", eo.account, "pin to this upstream account");
  enq->add_option("--fallback-model", eo.fallback_models, "cheaper model allowed instead (repeatable, in order)");
  enq->add_option("--deadline", eo.deadline, "deadline_s: give up after this many seconds");
  enq->add_option("--reply-to", eo.reply_to, "result list, <prefix>:results[:name]");
  enq->add_option("--meta", eo.meta, "meta: any JSON, echoed back");
  enq->add_option("--extra-endpoint", eo.extra_endpoints,
                  "an endpoint the daemon's upstream.extra_endpoints allows (repeatable)");
  enq->add_option("--config", eo.config,
                  "the daemon's configuration file: push under its redis.prefix (unless --prefix), validate with its "
                  "jobs.max_bytes, upstream.extra_endpoints and account names")
      ->check(CLI::ExistingFile);
  enq->add_option("--max-bytes", eo.max_bytes, "the daemon's jobs.max_bytes (default 262144, or --config's)")
      ->check(CLI::Range(kMinJobBytes, kMaxJobBytes));
  enq->add_flag("--dry-run", eo.dry_run, "validate and print the job; push nothing");
  enq->add_flag("--force", eo.force,
                "push even when the id is in flight or finished (a duplicate), or pins an account --config lacks");

  CancelOptions co;
  auto* cancel = app.add_subcommand("cancel", "ask the daemons to cancel a job (LPUSH P:cancel ID)");
  cancel->add_option("id", co.id, "job id")->required();
  cancel->add_flag("--force", co.force, "send the request even when the job already finished, or is found nowhere");

  ReplayOptions ro;
  int64_t limit = 0;
  auto* replay = app.add_subcommand("replay", "move chosen dead letters back to P:jobs (as scripts/replay)");
  replay->add_option("--class", ro.classes, "error class(es), comma-separated (repeatable)");
  replay->add_option("--reason", ro.reasons, "the reason contains TEXT, case-insensitive (repeatable)");
  replay->add_option("--id", ro.ids, "the job id matches a Redis-style glob (repeatable)");
  replay->add_option("--older-than", ro.older_than, "dead for at least D: 90s, 30m, 2h, 7d, 1w, 1d12h");
  replay->add_option("--newer-than", ro.newer_than, "dead for less than D");
  auto* lim = replay->add_option("--limit", limit, "move at most N entries (the oldest that match)")
                  ->check(CLI::Range(int64_t{1}, int64_t{999999999}));
  replay->add_flag("--dry-run", ro.dry_run, "report what would move; change nothing");
  replay->add_flag("--force", ro.force, "also move ids that succeeded since, or are queued again (docs/replay.md)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    fprintf(stderr, "runwayctl: %s\nTry 'runwayctl --help'.\n", e.what());
    return kUsage;
  }
  g.prefix_given = app.count("--prefix") > 0;
  if (g.prefix.empty() || g.prefix.find_first_of(" \t\r\n") != std::string::npos) {
    fprintf(stderr, "runwayctl: --prefix must be non-empty without spaces\n");
    return kUsage;
  }
  if (*lim) ro.limit = limit;
  try {
    if (*status) return RunStatus(g);
    if (*accounts) return RunAccounts(g, account_names);
    if (*job) return RunJob(g, jo);
    if (*enq) return RunEnqueue(g, eo);
    if (*cancel) return RunCancel(g, co);
    if (*replay) return RunReplay(g, ro);
  } catch (const Failure& f) {
    fflush(stdout);
    fprintf(stderr, "runwayctl: %s\n", f.what());
    return f.code;
  } catch (const std::exception& e) {
    fflush(stdout);
    fprintf(stderr, "runwayctl: %s\n", e.what());
    return kRuntime;
  }
  return kUsage;
}
