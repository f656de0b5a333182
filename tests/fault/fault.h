// tests/fault/fault.h — tools for the fault-injection tests (tests/fault/).
//
// The fault tests run the real processes of tests/integration/harness.h (a Stack:
// redis-server, runway-sim, runwayd) and break them on purpose: SIGKILL a daemon,
// SIGKILL redis-server, turn on the simulator's chaos, cut a Redis connection right
// after a command reached the server. What they add to the harness:
//   * FaultDaemons: runwayd processes started and restarted by id, any number of
//     times, with JSON logs (exact timestamps) and a metrics endpoint on a free port,
//     optionally pointed at a proxy instead of redis-server;
//   * Producer: pushes jobs from a thread over a period, exactly once even across a
//     redis-server restart (idempotent batches);
//   * Audit(): the contract's invariants over results, refunds, the simulator's
//     creations per seed and what is left in Redis, counted rather than asserted one
//     by one, so a 2,000-job run reports figures instead of 2,000 failures;
//   * log scanning for recovery times, sanitizer reports and unclean loop closes;
//   * RedisProxy: a TCP proxy that can lose the reply to one chosen command;
//   * Params: sizes from RUNWAYD_FAULT_* (scripts/fault runs the long versions).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

namespace fault {

// Sizes and seed of a scenario, overridable from the environment:
//   RUNWAYD_FAULT_JOBS, RUNWAYD_FAULT_KILLS, RUNWAYD_FAULT_REDIS_RESTARTS, RUNWAYD_FAULT_SEED,
//   RUNWAYD_FAULT_PUSH_S (seconds over which jobs are pushed; default scales with the faults).
// RUNWAYD_FAULT_REPORT names a file that receives one JSON line of figures per scenario.
struct Params {
  int jobs = 400;
  int kills = 5;
  int redis_restarts = 2;
  uint64_t seed = 0;
  double push_s = 0;
  static Params FromEnv(int jobs, int kills, int redis_restarts);
};

int64_t WallMs();  // CLOCK_REALTIME, the clock of runwayd's log timestamps

// ------------------------------------------------------------------ daemons

struct FaultDaemonOptions {
  int64_t heartbeat_ttl_ms = 1000;
  double time_scale = 0.05;
  int redis_port = 0;       // 0: the Stack's redis-server
  std::string upstream_toml;  // extra lines in [upstream]
  std::string extra_toml;     // extra tables ([jobs], [polling] ...)
};

// runwayd processes by id. Each start appends to <dir>/<id>.log (one file per id,
// across restarts) and writes <dir>/<id>.toml.
class FaultDaemons {
 public:
  explicit FaultDaemons(harness::Stack& s) : s_(s) {}
  ~FaultDaemons();
  void Start(const std::string& id, const FaultDaemonOptions& o = {});
  // Waits for the "ready" line of the latest start (earlier runs' lines do not count).
  bool WaitReady(const std::string& id, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  harness::Process& proc(const std::string& id) { return *procs_.at(id); }
  bool running(const std::string& id) { return procs_.count(id) && procs_.at(id)->running(); }
  std::string log_path(const std::string& id) const { return s_.dir() + "/" + id + ".log"; }
  // SIGKILL; returns the wall time just before the signal.
  int64_t Kill(const std::string& id);
  // SIGTERM and wait; returns the exit status (0: clean), -1 on timeout.
  int Stop(const std::string& id, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  std::vector<std::string> ids() const;
  // Last `bytes` of every daemon log and of sim.log, for failure messages.
  std::string Tail(size_t bytes = 4000) const;

 private:
  harness::Stack& s_;
  std::map<std::string, std::unique_ptr<harness::Process>> procs_;
  std::map<std::string, size_t> ready_before_;  // "ready" lines in the log before the latest start
  std::vector<std::unique_ptr<harness::Process>> dead_;  // killed instances (reaped)
};

// ------------------------------------------------------------------ jobs

struct JobSpec {
  std::string id;
  int64_t seed = 0;
  int64_t charged = 0;
  std::string json;
};
// n mixed jobs (four endpoint/model pairs), ids "j<seed>", seeds base..base+n-1; every
// tenth is free (charged 0), the others charged 26.
std::vector<JobSpec> MakeJobs(int n, int64_t base);

// Pushes jobs from a thread with its own connection: `batches` LPUSHes spread evenly
// over `seconds`. Each batch is one Lua call guarded by a marker key, so a batch whose
// reply was lost (redis-server killed) is pushed again without duplicating jobs.
class Producer {
 public:
  Producer(int redis_port, const std::vector<JobSpec>& jobs, double seconds, int batches = 40);
  ~Producer();
  void Join();
  size_t pushed() const { return pushed_.load(); }
  bool done() const { return done_.load(); }

 private:
  void Run(int port, std::vector<std::vector<std::string>> batches, double seconds);
  std::thread th_;
  std::atomic<size_t> pushed_{0};
  std::atomic<bool> done_{false}, stop_{false};
};

// ------------------------------------------------------------------ invariants

struct Audit {
  size_t jobs = 0, results = 0, lost = 0, duplicate_results = 0, foreign_results = 0;
  size_t succeeded = 0, failed = 0, outcome_unknown = 0;
  size_t unknown_created = 0;        // outcome_unknown whose last create did make a task
  size_t retried = 0;                // results with attempts > 1
  int64_t creations = 0;             // tasks the simulator created for our seeds
  size_t extra_creations = 0;        // sum over jobs of max(0, creations - attempts)
  size_t creation_mismatches = 0;    // creations != attempts where it must be equal
  size_t orphan_creations = 0;       // tasks created for a seed with no job
  size_t refunds = 0, refunds_twice = 0, refund_mismatches = 0;
  int64_t refunded_credits = 0;
  size_t left_in_redis = 0;          // jobs, processing, inflight, job records left over
  std::vector<std::string> violations;  // first ones, human readable
  std::vector<std::string> bad_ids;     // jobs with a violation (first ones)
  bool ok() const {
    return lost == 0 && duplicate_results == 0 && foreign_results == 0 && extra_creations == 0 &&
           creation_mismatches == 0 && orphan_creations == 0 && refunds_twice == 0 && refund_mismatches == 0 &&
           left_in_redis == 0;
  }
  std::string Summary() const;
};
// Reads results, refunds and leftovers from Redis and creations from the simulator.
Audit AuditRun(harness::Stack& s, const std::vector<JobSpec>& jobs);
// Every daemon log line (and the sim's) that names one of the ids ("job=<id> "), for reports.
std::string JobLogLines(const std::string& dir, const std::vector<std::string>& ids, size_t max_ids = 5);
// Where each job without a result is now (list membership, record state), for reports.
std::string DescribeMissing(harness::Stack& s, const std::vector<JobSpec>& jobs, size_t max = 20);
size_t CountResults(harness::Redis& r);
// Keys left under runway:processing:*, runway:inflight:*, runway:job:* plus runway:jobs' length.
size_t LeftInRedis(harness::Redis& r);
// Waits until n results are in runway:results and nothing is left (LeftInRedis).
bool Drained(harness::Stack& s, size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(30));
// A field of job `id`'s record, "" when there is none.
std::string RecordField(harness::Redis& r, const std::string& id, const std::string& field);

// ------------------------------------------------------------------ logs

struct LogLine {
  int64_t ts_ms = 0;
  std::string level, msg;
};
// runwayd's JSON log lines; other lines (sanitizer reports, anything printed outside
// spdlog) go to *other.
std::vector<LogLine> ReadJsonLog(const std::string& path, std::vector<std::string>* other = nullptr);
// Lines of a sanitizer report (ASan, UBSan, LSan) or of an unclean loop close.
std::vector<std::string> ProcessProblems(const std::string& path);
size_t CountLines(const std::string& path, const std::string& needle);

struct Percentiles {
  size_t n = 0;
  int64_t p50 = -1, max = -1;
};
Percentiles Summarise(std::vector<int64_t> v);

// Appends one JSON object (as a line) to $RUNWAYD_FAULT_REPORT, if set; prints it.
void Report(const std::string& json);

// ------------------------------------------------------------------ proxy

// A TCP proxy in front of redis-server. Normally it forwards both ways.
//   ArmDrop(needle): the next client chunk that contains it is forwarded, the server's
//     reply is swallowed, and that connection is closed: the command ran, the client
//     never learns it.
//   ArmCut(needle): the next client chunk that contains it is NOT forwarded, and the
//     proxy partitions its clients from Redis: every connection is closed and new
//     ones are closed as soon as accepted, until Heal().
//   ArmHold(needle): the next client chunk that contains it is forwarded, and the
//     server's replies on that connection are held back until Release(): the command
//     ran, and the client learns it late (everything after it on that connection waits).
class RedisProxy {
 public:
  explicit RedisProxy(int upstream_port);
  ~RedisProxy();
  int port() const { return port_; }
  void ArmDrop(const std::string& needle);
  void ArmCut(const std::string& needle);
  void ArmHold(const std::string& needle);
  void Release();
  void Heal() { partitioned_ = false; }
  bool fired() const { return fired_.load(); }  // the needle armed last has fired

 private:
  void Loop();
  int upstream_, port_ = 0, listen_fd_ = -1, wake_[2] = {-1, -1};
  std::thread th_;
  std::atomic<bool> stop_{false}, fired_{false}, partitioned_{false}, holding_{false};
  std::mutex mu_;
  std::string needle_;
  enum class Act { kDrop, kCut, kHold } act_ = Act::kDrop;  // what the armed needle does
};

// The setup of every lost-reply test: redis-server and runway-sim started, a RedisProxy
// in front of Redis, and daemons that talk to Redis through it.
struct ProxiedStack {
  explicit ProxiedStack(const std::string& name);
  harness::Stack s;
  RedisProxy proxy;  // on s's redis-server, started by the constructor first
  FaultDaemons d;
  // Starts daemon `id` with `o` (its redis_port replaced by the proxy's) and waits
  // for it to be ready.
  bool StartDaemon(const std::string& id, FaultDaemonOptions o = {});
};

// ------------------------------------------------------------------ upstream

// POSTs a create straight to the simulator with the test key (as a daemon would).
// Returns the HTTP status; *body gets the answer.
long SimCreate(const harness::Stack& s, const std::string& endpoint, const std::string& body_json, std::string* body);
// The task a daemon would create for harness::MakeJob(id, "image_to_video", "gen4_turbo",
// 5, ..., seed, prompt), created straight at the simulator (state a test writes into
// Redis names it). Returns its id; "" on failure, with the answer in *answer.
std::string SimCreateTaskFor(const harness::Stack& s, int64_t seed, const std::string& prompt, std::string* answer);

}  // namespace fault
