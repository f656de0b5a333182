// queue/redis.h — one asynchronous Redis connection on the daemon's libuv loop.
//
// A RedisConn wraps a hiredis async context attached with hiredis' libuv adapter.
// It promises:
//   * every callback passed to Command() runs exactly once: with the reply, or with
//     nullptr when the command could not be sent or the connection died before the
//     reply came. Never synchronously inside Command().
//   * it reconnects by itself, with capped exponential backoff and jitter, and runs
//     the `on_connect` hook (AUTH, SELECT, SCRIPT LOAD are queued first) each time;
//   * a connection that stops answering (a reply older than `stall_ms`) is torn down
//     and reconnected, so a black-holed Redis cannot freeze the daemon;
//   * passwords never reach a log line.
// Ownership: the owner calls Close() and must keep the object alive until the `done`
// callback of Close() has run (hiredis frees its context from inside the loop). A
// command sent between Close() and `done` gets nullptr before `done`; none may follow it.
#pragma once

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace runwayd {

// A parsed redis URL: redis://[user:pass@]host:port[/db] or unix:///path[?db=N].
struct RedisEndpoint {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string unix_path;
  std::string user;
  std::string password;
  int db = 0;
  // "redis://host:port/db" without credentials, for logs.
  std::string Describe() const;
};
// Returns false and sets *error (one line, without the password) on a bad URL.
bool ParseRedisUrl(std::string_view url, RedisEndpoint* out, std::string* error);

class RedisConn {
 public:
  using Callback = std::function<void(redisReply* reply)>;
  struct Options {
    RedisEndpoint endpoint;
    std::string client_name;       // CLIENT SETNAME, for operators' CLIENT LIST
    int64_t stall_ms = 10000;      // a pending reply older than this kills the connection
    int64_t connect_timeout_ms = 3000;  // a connect still pending after this is retried
    int64_t backoff_min_ms = 100;
    int64_t backoff_max_ms = 5000;
  };

  RedisConn(uv_loop_t* loop, Options opts);
  ~RedisConn();
  RedisConn(const RedisConn&) = delete;
  RedisConn& operator=(const RedisConn&) = delete;

  // OnUp runs when each connection attempt starts (hiredis queues commands until the
  // socket connects), so the owner's setup commands go first on the wire; OnDown on
  // every loss of an established connection.
  void OnUp(std::function<void()> f) { on_up_ = std::move(f); }
  void OnDown(std::function<void()> f) { on_down_ = std::move(f); }
  // Runs when a connection attempt has succeeded (OnUp runs when it starts, so that
  // its setup commands go first on the wire; connected() is false until this).
  void OnConnected(std::function<void()> f) { on_connected_ = std::move(f); }

  void Start();
  bool connected() const { return connected_; }
  uint64_t reconnects() const { return reconnects_; }

  // Sends one command (argv form, binary safe). See the callback promise above.
  void Command(const std::vector<std::string_view>& argv, Callback cb);
  // EVALSHA with a fallback to EVAL on NOSCRIPT; EVAL when `sha` is empty.
  // `script` must outlive the call (scripts are static).
  void Eval(const std::string& script, const std::string& sha, const std::vector<std::string_view>& keys,
            const std::vector<std::string_view>& args, Callback cb);

  // Stops reconnecting, fails pending commands (callbacks get nullptr), closes the
  // socket and every handle; `done` runs once everything is released.
  void Close(std::function<void()> done);

  size_t pending() const { return pending_; }

 private:
  struct Pending;
  static void OnConnectC(const redisAsyncContext* ac, int status);
  static void OnDisconnectC(const redisAsyncContext* ac, int status);
  static void OnReplyC(redisAsyncContext* ac, void* reply, void* privdata);
  static void OnTimerC(uv_timer_t* t);
  static void OnDeferC(uv_timer_t* t);
  void Connect();
  void Lost(const char* why);
  void ScheduleReconnect();
  void Tick();
  void Defer(Callback cb);
  void MaybeFinishClose();
  // Command building (see redis.cc): appends to wire_; Submit sends wire_ for `p`
  // (owned from then on), or defers its callback with nullptr.
  void AppendHeader(char kind, size_t n);
  void AppendArgs(const std::string_view* a, size_t n);  // n bulk strings
  void Submit(Pending* p);

  uv_loop_t* loop_;
  Options opts_;
  redisAsyncContext* ac_ = nullptr;
  bool connected_ = false;
  bool closing_ = false;
  int attempt_ = 0;
  uint64_t reconnects_ = 0;
  size_t pending_ = 0;
  int64_t last_progress_ms_ = 0;   // last reply or connect
  int64_t connect_started_ms_ = 0;
  int64_t reconnect_at_ms_ = 0;    // 0: none scheduled
  bool suspect_ = false;           // silent at the last tick; confirmed at the next
  uv_timer_t* timer_;              // watchdog + reconnect; owned, freed in its close callback
  uv_timer_t* defer_timer_;        // runs deferred nullptr callbacks on the next iteration
  std::vector<Callback> deferred_;
  std::string wire_;                       // the command being built, reused
  static constexpr size_t kWireKeep = 1 << 16;  // capacity kept between commands
  int handles_open_ = 0;
  std::function<void()> on_up_, on_down_, on_connected_, close_done_;
};

}  // namespace runwayd
