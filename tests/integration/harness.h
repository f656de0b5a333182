// tests/integration/harness.h — real processes for integration tests.
//
// A Stack is a private world in a temporary directory: a real redis-server on a
// free port, the project's runway-sim speaking real HTTP, and any number of runwayd
// processes, all started from the build's bin/ directory and all stopped (SIGKILL
// if they do not stop) when the Stack is destroyed, so a failing test leaves
// nothing running. Nothing here mocks Redis or HTTP.
#pragma once

#include <hiredis/hiredis.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace harness {

std::string Bin(const std::string& name);  // path of an executable in the build's bin/
int FreePort();
int64_t NowMs();
void WriteFile(const std::string& path, const std::string& text);
std::string ReadFile(const std::string& path);
// Polls `cond` every 20 ms until it is true or `timeout` passes. Returns cond().
bool WaitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout);

// Occurrences of `needle` in the file at `path` (a log), not overlapping.
size_t CountInLog(const std::string& path, const std::string& needle);
// Waits until the file at `path` contains `needle`.
bool WaitLog(const std::string& path, const std::string& needle,
             std::chrono::milliseconds timeout = std::chrono::seconds(10));
// GET `url` (POST `body` when given) into `out`; `ca` verifies a private certificate.
// False on a transport error; any HTTP status is an answer.
bool Fetch(const std::string& url, std::string* out, const std::string& ca = "", const std::string* body = nullptr);

// A shell command's exit status (-1: not run, or killed by a signal) and output.
struct ShellRun {
  int rc = -1;
  std::string out, err;
};
std::ostream& operator<<(std::ostream& o, const ShellRun& r);  // for failure messages
// `s` quoted for /bin/sh.
std::string ShellQuote(const std::string& s);
// Runs `cmdline` with /bin/sh, `input` on its stdin, capturing stdout and stderr
// apart (stderr and stdin go through files in `dir`; "" uses a temporary directory,
// removed afterwards). Waits for it to end: a caller that needs a time limit says
// "timeout N ..." in `cmdline`.
ShellRun RunShell(const std::string& cmdline, const std::string& dir = "", const std::string& input = "");

// A child process with stdout+stderr to a log file.
class Process {
 public:
  Process(std::vector<std::string> argv, std::map<std::string, std::string> env, std::string log_path);
  ~Process();
  pid_t pid() const { return pid_; }
  bool running();
  void Signal(int sig);
  // Waits for exit up to `timeout`; returns the exit status (or -1 on timeout / -signal).
  int Wait(std::chrono::milliseconds timeout);
  const std::string& log_path() const { return log_; }

 private:
  pid_t pid_ = -1;
  int status_ = 0;
  bool exited_ = false;
  std::string log_;
};

// A synchronous Redis client for assertions (hiredis blocking API).
class Redis {
 public:
  explicit Redis(int port, std::string password = "");
  ~Redis();
  // Runs one command (argv form); returns the reply (caller frees via the wrapper).
  std::unique_ptr<redisReply, void (*)(void*)> Cmd(const std::vector<std::string>& argv);
  long long Int(const std::vector<std::string>& argv);
  std::vector<std::string> List(const std::string& key);  // LRANGE 0 -1, oldest first
  void Push(const std::string& key, const std::string& value);  // LPUSH

 private:
  redisContext* c_ = nullptr;
  std::string password_;
  void Connect(int port);
};

struct SimOptions {
  double time_scale = 0.05;
  std::string extra_toml;  // appended to the generated config ([task], [chaos], more accounts)
  int64_t balance = 1000000;
  std::string account_limits;  // inline table for the first account's limits, e.g. {gen4_turbo = {max_concurrent = 2}}
};

struct DaemonOptions {
  std::string id = "d1";
  double time_scale = 0.05;
  int64_t heartbeat_ttl_ms = 2000;
  std::string extra_toml;  // extra [jobs]/[upstream]/... tables
  std::string daemon_keys;  // extra lines inside [daemon] (max_in_flight = 20, ...)
  std::map<std::string, std::string> env;  // extra environment (NOTIFY_SOCKET, ...)
  std::string log_format = "text";
};

// The test key of the first simulated account (a valid-looking, public test value).
extern const char* kTestKey;

class Stack {
 public:
  explicit Stack(const std::string& name);
  ~Stack();
  void StartRedis(const std::string& extra_args = "");
  // Before StartRedis: require this password (the daemons get it in their URL).
  void SetRedisPassword(const std::string& pw) { redis_password_ = pw; }
  void StopRedis(int sig);
  void StartSim(const SimOptions& o = {});
  // Starts a runwayd; returns its index.
  size_t StartDaemon(const DaemonOptions& o = {});
  Process& daemon(size_t i) { return *daemons_.at(i); }
  // The port of the daemon's metrics endpoint (from its log), 0 if not found.
  int MetricsPort(size_t i);
  std::string MetricsGet(size_t i, const std::string& path);
  // Waits until the daemon's log says it is ready (READY after recovery).
  bool WaitReady(size_t i, std::chrono::milliseconds timeout = std::chrono::seconds(10));

  Redis& redis() { return *redis_; }
  int redis_port() const { return redis_port_; }
  int sim_port() const { return sim_port_; }
  const std::string& dir() const { return dir_; }
  std::string SimGet(const std::string& path);   // body of GET http://127.0.0.1:<sim>/path
  std::string SimPost(const std::string& path, const std::string& body);
  std::string Logs() const;  // every process's log, for failure messages

 private:
  std::string dir_;
  int redis_port_ = 0, sim_port_ = 0;
  std::string redis_password_;
  std::unique_ptr<Process> redis_proc_, sim_;
  std::vector<std::unique_ptr<Process>> daemons_;
  std::unique_ptr<Redis> redis_;
};

// A job in the contract's format; `seed` makes every create traceable in the simulator.
std::string MakeJob(const std::string& id, const std::string& endpoint, const std::string& model, int duration,
                    int64_t charged, int64_t seed, const std::string& prompt = "a calm sea",
                    const std::string& extra = "");

// `runwayctl --redis <s's redis> ARGS...` through /bin/sh, `input` on its stdin.
ShellRun RunCtl(const Stack& s, const std::vector<std::string>& args, const std::string& input = "");

// Whether this test binary is built with AddressSanitizer (whose shadow memory rules out
// `ulimit -v`, among others).
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAsan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kAsan = true;
#else
inline constexpr bool kAsan = false;
#endif
#else
inline constexpr bool kAsan = false;
#endif

}  // namespace harness
