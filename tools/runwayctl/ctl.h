// tools/runwayctl/ctl.h — what runwayctl's commands share: exit codes, the global
// options, a synchronous Redis connection (hiredis), and output helpers.
//
// Every command reads or writes Redis only (the key layout of queue/store.h and
// ledger/scripts.h, through runwayd::Keys) and prints either tables for people or one
// JSON document (--json, written with rapidjson's Writer) for scripts. A command
// reports a problem by throwing Failure: main() prints "runwayctl: <message>" on
// stderr and exits with its code. Passwords never reach a message: connection errors
// name the server with RedisEndpoint::Describe().
#pragma once

#include <hiredis/hiredis.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "queue/redis.h"
#include "queue/store.h"

namespace runwayctl {

// Exit codes (docs/runwayctl.md).
enum Exit : int {
  kOk = 0,
  kRuntime = 1,   // Redis unreachable, refused, a script error, a refused action
  kUsage = 2,     // bad command line, bad URL, an invalid job
  kNotFound = 3,  // no trace of the job id (or account) asked for
};

struct Failure : std::runtime_error {
  Failure(int c, const std::string& m) : std::runtime_error(m), code(c) {}
  int code;
};
[[noreturn]] inline void Fail(int code, const std::string& msg) { throw Failure(code, msg); }

struct Globals {
  std::string redis_url;   // empty: $RUNWAYD_REDIS_URL, $REDIS_URL, redis://127.0.0.1:6379
  std::string prefix = "runway";
  bool prefix_given = false;  // --prefix on the command line (wins over a --config file's)
  bool json = false;
  double timeout_s = 10;   // connect and each command
};

// One reply; owns the hiredis object.
class Reply {
 public:
  Reply() = default;
  explicit Reply(redisReply* r) : r_(r, freeReplyObject) {}
  bool nil() const { return !r_ || r_->type == REDIS_REPLY_NIL; }
  bool error() const { return r_ && r_->type == REDIS_REPLY_ERROR; }
  bool is_int() const { return r_ && r_->type == REDIS_REPLY_INTEGER; }
  long long integer() const { return is_int() ? r_->integer : 0; }
  // The text of a string, status or error reply; "" otherwise.
  std::string str() const;
  size_t size() const { return r_ && r_->type == REDIS_REPLY_ARRAY ? r_->elements : 0; }
  // Element i of an array reply as text (nil elements are "").
  std::string at(size_t i) const;
  const redisReply* get() const { return r_.get(); }

 private:
  std::shared_ptr<redisReply> r_;
};

class Redis {
 public:
  // Connects, authenticates and selects the database of the URL; throws Failure.
  static std::unique_ptr<Redis> Open(const Globals& g);
  ~Redis();
  // Runs one command. Follows a Cluster's MOVED redirect; an error reply throws
  // Failure(kRuntime) naming the command, unless `errors_ok` (then it is returned).
  Reply Cmd(const std::vector<std::string>& argv, bool errors_ok = false);
  // Sends every command, then reads every reply (one round trip). Error replies are
  // returned, not thrown.
  std::vector<Reply> Pipeline(const std::vector<std::vector<std::string>>& cmds);
  // LRANGE of `key` in pages of `page` elements, head (newest) first, at most `max`
  // elements (0: all); `f(index, value)` returns false to stop.
  template <class F>
  void ScanList(const std::string& key, size_t max, size_t page, F&& f);
  // "redis://host:port/db" or "unix:///path", never with a password.
  std::string where() const { return ep_.Describe(); }

 private:
  Redis() = default;
  void Connect(const std::string& host, int port);
  redisContext* c_ = nullptr;
  runwayd::RedisEndpoint ep_;
  timeval tv_{};
};

template <class F>
void Redis::ScanList(const std::string& key, size_t max, size_t page, F&& f) {
  for (size_t start = 0;; start += page) {
    size_t stop = start + page - 1;
    if (max && stop >= max) stop = max - 1;
    if (max && start >= max) return;
    Reply r = Cmd({"LRANGE", key, std::to_string(start), std::to_string(stop)});
    for (size_t i = 0; i < r.size(); ++i)
      if (!f(start + i, r.at(i))) return;
    if (r.size() < stop - start + 1) return;
  }
}

runwayd::Keys KeysFor(const Globals& g);  // daemon left empty: per-daemon keys take it explicitly
std::string DaemonKey(const Globals& g, const std::string& kind, const std::string& daemon);  // P:<kind>:<daemon>

// ---- output -------------------------------------------------------------------------
using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;
void Key(JsonWriter& w, std::string_view k);
void Str(JsonWriter& w, std::string_view v);
void KeyStr(JsonWriter& w, std::string_view k, std::string_view v);
void KeyInt(JsonWriter& w, std::string_view k, int64_t v);
// A hash field that should be an integer: the number, or null when absent/not a number.
void KeyNumOrNull(JsonWriter& w, std::string_view k, const std::optional<int64_t>& v);
// A Unix-ms time as RFC 3339, or null when 0/absent.
void KeyTime(JsonWriter& w, std::string_view k, const std::optional<int64_t>& ms);
// Inserts `json` as a value when it is valid JSON, else as a string.
void RawOrString(JsonWriter& w, std::string_view json);
// Writes a finished document to stdout, one line.
void PrintJson(const rapidjson::StringBuffer& b);

std::optional<int64_t> ToInt(std::string_view s);
int64_t NowMs();                                   // wall clock, Unix ms
std::string Rfc3339(int64_t ms);                   // "2026-11-27T22:40:00.123Z"
std::string Ago(int64_t ms, int64_t now_ms);       // "3.2s ago", "5m ago", "in 2s"
std::string Span(int64_t ms);                      // "850ms", "3.2s", "5m10s", "2h05m", "3d04h"

// A text table: columns padded to their widest cell, two spaces apart.
class Table {
 public:
  explicit Table(std::vector<std::string> head) : head_(std::move(head)) {}
  void Row(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  bool empty() const { return rows_.empty(); }
  std::string Render() const;

 private:
  std::vector<std::string> head_;
  std::vector<std::vector<std::string>> rows_;
};

// Shown in tables for control characters and oversized values of ids and reasons:
// C0 controls and DEL as \xNN, C1 controls (UTF-8) as \u00NN, cut after `max` bytes.
std::string Printable(std::string_view s, size_t max = 200);

// ---- commands (one file each) --------------------------------------------------------
int RunStatus(const Globals& g);
int RunAccounts(const Globals& g, const std::vector<std::string>& names);

struct JobOptions {
  std::string id;
  size_t scan = 1000;  // newest entries of the results and refunds lists to look through
};
int RunJob(const Globals& g, const JobOptions& o);

// The daemon's rules for a job that are configurable (`enqueue --config FILE`): what the
// file does not set keeps the daemon's default. Bounds of jobs.max_bytes as daemon/config.cc.
inline constexpr int64_t kMinJobBytes = 64, kMaxJobBytes = int64_t{64} << 20;
struct DaemonRules {
  std::optional<size_t> max_bytes;              // jobs.max_bytes
  std::vector<std::string> extra_endpoints;     // upstream.extra_endpoints
  std::optional<std::string> prefix;            // redis.prefix
  std::vector<std::string> accounts;            // [[account]] names ("default" when none)
};
void ReadDaemonConfig(const std::string& path, DaemonRules* out);  // throws Failure(kUsage)

// Whether a job with this id waits in P:jobs or in a daemon's processing list (taken,
// not yet admitted). Reads every element of those lists (they hold raw jobs, not ids).
bool QueuedOrTaken(Redis& r, const Globals& g, const std::string& id);

// Where the daemons' records put a job id: its in-flight record (with or without an
// owner: a job waiting in the retry set has no `daemon`) and its dedup marker.
struct Whereabouts {
  bool known = false;  // P:job:<id> exists
  std::string owner;   // its `daemon` field, "" when none
  std::string done;    // P:done:<id>, "" when none
};
Whereabouts Where(Redis& r, const Globals& g, const std::string& id);

struct EnqueueOptions {
  std::string file;  // "-" stdin; empty: build from the flags
  std::string config;                // the daemon's configuration file (daemon_config.cc)
  std::optional<int64_t> max_bytes;  // jobs.max_bytes; wins over --config
  std::optional<std::string> id, endpoint, model, prompt, image, ratio, user, account, reply_to, meta;
  std::optional<double> duration;
  std::optional<int64_t> charged, deadline, seed;
  std::vector<std::string> fallback_models, extra_endpoints;
  bool dry_run = false, force = false;
};
int RunEnqueue(const Globals& g, const EnqueueOptions& o);

struct CancelOptions {
  std::string id;
  bool force = false;
};
int RunCancel(const Globals& g, const CancelOptions& o);

struct ReplayOptions {
  std::vector<std::string> classes, reasons, ids;
  std::string older_than, newer_than;
  std::optional<int64_t> limit;
  bool dry_run = false, force = false;
};
int RunReplay(const Globals& g, const ReplayOptions& o);

}  // namespace runwayctl
