// queue/redis.cc — see redis.h for the promises.
//
// Lifetime rules that shape this file:
//  * hiredis frees its async context itself after the connect callback reports a
//    failure and after the disconnect callback; we only forget our pointer there.
//  * redisAsyncFree() is only called from our own timer callbacks, never from inside
//    a hiredis callback, so hiredis is never re-entered while it iterates.
//  * every user callback runs exactly once: hiredis calls pending callbacks with a
//    NULL reply when the context dies; commands that could not be queued are failed
//    on the next loop iteration through `defer_timer_`.
#include "queue/redis.h"

#include "queue/uv_adapter.h"

#include <spdlog/spdlog.h>

#include <charconv>
#include <cstring>
#include <random>

namespace runwayd {

std::string RedisEndpoint::Describe() const {
  if (!unix_path.empty()) return "unix://" + unix_path + (db ? "?db=" + std::to_string(db) : "");
  return "redis://" + host + ":" + std::to_string(port) + "/" + std::to_string(db);
}

bool ParseRedisUrl(std::string_view url, RedisEndpoint* out, std::string* error) {
  RedisEndpoint e;
  auto fail = [&](const char* why) {
    *error = std::string("redis url: ") + why;
    return false;
  };
  auto parse_int = [](std::string_view s, int* v) {
    auto r = std::from_chars(s.data(), s.data() + s.size(), *v);
    return r.ec == std::errc() && r.ptr == s.data() + s.size();
  };
  if (url.rfind("unix://", 0) == 0) {
    std::string_view rest = url.substr(7);
    size_t q = rest.find('?');
    e.unix_path = std::string(rest.substr(0, q));
    if (e.unix_path.empty() || e.unix_path[0] != '/') return fail("unix:// needs an absolute path");
    if (q != std::string_view::npos) {
      std::string_view query = rest.substr(q + 1);
      if (query.rfind("db=", 0) != 0 || !parse_int(query.substr(3), &e.db) || e.db < 0)
        return fail("the only query parameter is db=N");
    }
    *out = e;
    return true;
  }
  if (url.rfind("redis://", 0) != 0) return fail("expected redis://host:port[/db] or unix:///path");
  std::string_view rest = url.substr(8);
  size_t at = rest.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view cred = rest.substr(0, at);
    rest = rest.substr(at + 1);
    size_t colon = cred.find(':');
    if (colon == std::string_view::npos) {
      e.password = std::string(cred);
    } else {
      e.user = std::string(cred.substr(0, colon));
      e.password = std::string(cred.substr(colon + 1));
    }
  }
  size_t slash = rest.find('/');
  std::string_view hostport = rest.substr(0, slash);
  if (slash != std::string_view::npos && slash + 1 < rest.size()) {
    if (!parse_int(rest.substr(slash + 1), &e.db) || e.db < 0) return fail("database must be a number");
  }
  size_t colon = hostport.rfind(':');
  if (colon != std::string_view::npos) {
    if (!parse_int(hostport.substr(colon + 1), &e.port) || e.port <= 0 || e.port > 65535)
      return fail("port must be 1..65535");
    hostport = hostport.substr(0, colon);
  }
  if (hostport.empty()) return fail("missing host");
  e.host = std::string(hostport);
  *out = e;
  return true;
}

struct RedisConn::Pending {
  Pending(RedisConn* s, Callback c) : self(s), cb(std::move(c)) {}
  RedisConn* self;
  Callback cb;
  // EVALSHA only (see OnReplyC): the script to send whole after NOSCRIPT, and the wire
  // form of the arguments that follow it (numkeys, keys, args), nargs of them.
  const std::string* script = nullptr;
  size_t nargs = 0;
  std::string tail;
};

RedisConn::RedisConn(uv_loop_t* loop, Options opts) : loop_(loop), opts_(std::move(opts)) {
  timer_ = new uv_timer_t;
  defer_timer_ = new uv_timer_t;
  uv_timer_init(loop_, timer_);
  uv_timer_init(loop_, defer_timer_);
  timer_->data = this;
  defer_timer_->data = this;
  handles_open_ = 2;
}

RedisConn::~RedisConn() = default;

void RedisConn::Start() {
  uv_timer_start(timer_, OnTimerC, 200, 200);
  Connect();
}

void RedisConn::Connect() {
  if (closing_) return;
  const RedisEndpoint& e = opts_.endpoint;
  ac_ = e.unix_path.empty() ? redisAsyncConnect(e.host.c_str(), e.port) : redisAsyncConnectUnix(e.unix_path.c_str());
  if (ac_ == nullptr || ac_->err) {
    spdlog::warn("redis {}: cannot connect: {}", e.Describe(), ac_ ? ac_->errstr : "out of memory");
    if (ac_) redisAsyncFree(ac_);
    ac_ = nullptr;
    ScheduleReconnect();
    return;
  }
  ac_->data = this;
  if (AttachRedisToLoop(ac_, loop_) != REDIS_OK) {
    redisAsyncFree(ac_);
    ac_ = nullptr;
    ScheduleReconnect();
    return;
  }
  redisAsyncSetConnectCallback(ac_, OnConnectC);
  redisAsyncSetDisconnectCallback(ac_, OnDisconnectC);
  last_progress_ms_ = connect_started_ms_ = static_cast<int64_t>(uv_now(loop_));
  // Setup goes first on the wire: hiredis buffers commands until the socket connects.
  auto check = [this](const char* what) {
    return [this, what](redisReply* r) {
      if (r && r->type == REDIS_REPLY_ERROR) {
        spdlog::error("redis {}: {} failed: {}", opts_.endpoint.Describe(), what, std::string(r->str, r->len));
      }
    };
  };
  if (!e.password.empty()) {
    if (e.user.empty()) Command({"AUTH", e.password}, check("AUTH"));
    else Command({"AUTH", e.user, e.password}, check("AUTH"));
  }
  if (e.db != 0) {
    std::string db = std::to_string(e.db);
    Command({"SELECT", db}, check("SELECT"));
  }
  if (!opts_.client_name.empty()) Command({"CLIENT", "SETNAME", opts_.client_name}, check("CLIENT SETNAME"));
  if (on_up_) on_up_();
}

void RedisConn::OnConnectC(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<RedisConn*>(ac->data);
  if (status != REDIS_OK) {
    // hiredis frees the context after this callback.
    self->ac_ = nullptr;
    self->Lost(ac->errstr);
    return;
  }
  self->connected_ = true;
  self->attempt_ = 0;
  self->last_progress_ms_ = static_cast<int64_t>(uv_now(self->loop_));
  spdlog::info("redis {}: connected", self->opts_.endpoint.Describe());
  if (self->on_connected_) self->on_connected_();
}

void RedisConn::OnDisconnectC(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<RedisConn*>(ac->data);
  self->ac_ = nullptr;  // freed by hiredis after this callback
  self->Lost(status == REDIS_OK ? "closed" : ac->errstr);
}

void RedisConn::Lost(const char* why) {
  bool was = connected_;
  connected_ = false;
  if (closing_) {
    MaybeFinishClose();
    return;
  }
  spdlog::warn("redis {}: connection lost ({}), reconnecting", opts_.endpoint.Describe(), why ? why : "?");
  if (was && on_down_) on_down_();
  ScheduleReconnect();
}

void RedisConn::ScheduleReconnect() {
  if (closing_) return;
  int64_t delay = opts_.backoff_min_ms << std::min(attempt_, 16);
  delay = std::min(delay, opts_.backoff_max_ms);
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  delay = delay / 2 + static_cast<int64_t>(rng() % static_cast<uint64_t>(delay / 2 + 1));
  ++attempt_;
  ++reconnects_;
  reconnect_at_ms_ = static_cast<int64_t>(uv_now(loop_)) + delay;
}

void RedisConn::OnTimerC(uv_timer_t* t) { static_cast<RedisConn*>(t->data)->Tick(); }

void RedisConn::Tick() {
  int64_t now = static_cast<int64_t>(uv_now(loop_));
  if (closing_) {
    if (ac_) redisAsyncFree(ac_);  // fails pending callbacks, then OnDisconnectC / nothing
    ac_ = nullptr;
    connected_ = false;
    MaybeFinishClose();
    return;
  }
  if (ac_ == nullptr) {
    if (reconnect_at_ms_ != 0 && now >= reconnect_at_ms_) {
      reconnect_at_ms_ = 0;
      Connect();
    }
    return;
  }
  if (!connected_ && now - connect_started_ms_ > opts_.connect_timeout_ms) {
    spdlog::warn("redis {}: connect did not finish in {} ms", opts_.endpoint.Describe(), now - connect_started_ms_);
    redisAsyncContext* ac = ac_;
    redisAsyncFree(ac);  // never connected: hiredis runs no disconnect callback
    if (ac_ == ac) {
      ac_ = nullptr;
      Lost("connect timeout");
    }
    return;
  }
  bool waiting = pending_ > 0 || !connected_;
  // A busy loop reaches its timers before it reads its sockets: a reply may be waiting
  // unread. Only a silence seen on two ticks in a row (I/O was read in between) counts.
  bool silent = waiting && now - last_progress_ms_ > opts_.stall_ms;
  bool confirmed = silent && suspect_;
  suspect_ = silent;
  if (confirmed) {
    suspect_ = false;
    spdlog::warn("redis {}: no answer for {} ms, dropping the connection", opts_.endpoint.Describe(),
                 now - last_progress_ms_);
    redisAsyncContext* ac = ac_;
    redisAsyncFree(ac);  // callbacks get NULL; OnDisconnectC runs if it was connected
    if (ac_ == ac) {     // it was never connected: no disconnect callback
      ac_ = nullptr;
      Lost("stalled");
    }
  }
}

// The command in Redis's wire form (RESP: an array of bulk strings, each length-prefixed,
// so any bytes are safe), written here rather than by redisAsyncCommandArgv: hiredis
// formats each argument's length with its own printf-like sdscatfmt, which was 7% of
// the daemon's instructions in the intake benchmark. It is built in wire_, reused from
// call to call (hiredis copies it before returning), so a command costs no allocation
// of its own beyond its Pending. A run of arguments is one resize and plain copies:
// an EVALSHA has ~18 arguments, and appending each with five std::string calls cost
// ~210 instructions an argument (2.3% of the daemon's in the steady benchmark).
namespace {

// Writes "<kind><n>\r\n" at `out` (room for kMaxHeader bytes); returns its length.
constexpr size_t kMaxHeader = 1 + 20 + 2;  // kind, the digits of any size_t, CRLF
size_t WriteHeader(char* out, char kind, size_t n) {
  out[0] = kind;
  char* end = std::to_chars(out + 1, out + kMaxHeader - 2, n).ptr;  // cannot fail: 20 digits fit
  end[0] = '\r';
  end[1] = '\n';
  return static_cast<size_t>(end + 2 - out);
}

}  // namespace

void RedisConn::AppendHeader(char kind, size_t n) {
  char head[kMaxHeader];
  wire_.append(head, WriteHeader(head, kind, n));
}

void RedisConn::AppendArgs(const std::string_view* a, size_t n) {
  size_t bound = 0;
  for (size_t i = 0; i < n; ++i) bound += kMaxHeader + a[i].size() + 2;
  const size_t at = wire_.size();
  wire_.resize(at + bound);
  char* const start = wire_.data();
  char* p = start + at;
  for (size_t i = 0; i < n; ++i) {
    p += WriteHeader(p, '$', a[i].size());
    if (!a[i].empty()) std::memcpy(p, a[i].data(), a[i].size());
    p += a[i].size();
    *p++ = '\r';
    *p++ = '\n';
  }
  wire_.resize(static_cast<size_t>(p - start));  // down to what was written
}

void RedisConn::Command(const std::vector<std::string_view>& argv, Callback cb) {
  wire_.clear();
  AppendHeader('*', argv.size());
  AppendArgs(argv.data(), argv.size());
  Submit(new Pending(this, std::move(cb)));
}

void RedisConn::Submit(Pending* p) {
  const int rc = (ac_ == nullptr || closing_)
                     ? REDIS_ERR
                     : redisAsyncFormattedCommand(ac_, OnReplyC, p, wire_.data(), wire_.size());
  if (wire_.capacity() > kWireKeep) std::string().swap(wire_);  // a rare big command
  if (rc != REDIS_OK) {
    Callback c = std::move(p->cb);
    delete p;
    Defer(std::move(c));
    return;
  }
  if (pending_ == 0) last_progress_ms_ = static_cast<int64_t>(uv_now(loop_));
  ++pending_;
}

void RedisConn::OnReplyC(redisAsyncContext* ac, void* reply, void* privdata) {
  (void)ac;
  auto* p = static_cast<Pending*>(privdata);
  RedisConn* self = p->self;
  --self->pending_;
  self->last_progress_ms_ = static_cast<int64_t>(uv_now(self->loop_));
  auto* r = static_cast<redisReply*>(reply);
  try {
    if (p->script != nullptr && r != nullptr && r->type == REDIS_REPLY_ERROR &&
        std::string_view(r->str, r->len).rfind("NOSCRIPT", 0) == 0) {
      // The script is not cached (SCRIPT FLUSH, a fresh server): send it whole, with the
      // same keys and arguments. Submit never runs the callback synchronously.
      self->wire_.clear();
      self->AppendHeader('*', 2 + p->nargs);
      const std::string_view head[] = {"EVAL", *p->script};
      self->AppendArgs(head, 2);
      self->wire_.append(p->tail);
      self->Submit(new Pending(self, std::move(p->cb)));
    } else {
      p->cb(r);
    }
  } catch (const std::exception& e) {
    spdlog::error("redis reply handler threw: {}", e.what());
  } catch (...) {
    spdlog::error("redis reply handler threw");
  }
  delete p;
}

void RedisConn::Eval(const std::string& script, const std::string& sha, const std::vector<std::string_view>& keys,
                     const std::vector<std::string_view>& args, Callback cb) {
  const size_t nargs = 1 + keys.size() + args.size();  // after the script: numkeys, keys, args
  wire_.clear();
  AppendHeader('*', 2 + nargs);
  const std::string_view head[] = {sha.empty() ? "EVAL" : "EVALSHA", sha.empty() ? script : sha};
  AppendArgs(head, 2);
  const size_t tail_at = wire_.size();
  const std::string numkeys = std::to_string(keys.size());  // short: no allocation
  const std::string_view nk = numkeys;
  AppendArgs(&nk, 1);
  AppendArgs(keys.data(), keys.size());
  AppendArgs(args.data(), args.size());
  auto* p = new Pending(this, std::move(cb));
  if (!sha.empty()) {
    // Kept only to resend after NOSCRIPT: the wire form of everything after the sha.
    p->script = &script;
    p->nargs = nargs;
    p->tail.assign(wire_, tail_at, std::string::npos);
  }
  Submit(p);
}

void RedisConn::Defer(Callback cb) {
  deferred_.push_back(std::move(cb));
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(defer_timer_)) && !uv_is_closing(reinterpret_cast<uv_handle_t*>(defer_timer_)))
    uv_timer_start(defer_timer_, OnDeferC, 0, 0);
}

void RedisConn::OnDeferC(uv_timer_t* t) {
  auto* self = static_cast<RedisConn*>(t->data);
  std::vector<Callback> run;
  run.swap(self->deferred_);
  for (auto& cb : run) {
    try {
      cb(nullptr);
    } catch (...) {
      spdlog::error("redis failure handler threw");
    }
  }
  self->MaybeFinishClose();
}

void RedisConn::Close(std::function<void()> done) {
  if (closing_) return;
  closing_ = true;
  close_done_ = std::move(done);
  // The free happens in Tick(), outside any hiredis callback.
  uv_timer_start(timer_, OnTimerC, 0, 0);
}

void RedisConn::MaybeFinishClose() {
  if (!closing_ || ac_ != nullptr || !deferred_.empty() || handles_open_ != 2) return;
  handles_open_ = 1;  // marks "closing in progress"
  auto on_close = [](uv_handle_t* h) {
    auto* self = static_cast<RedisConn*>(h->data);
    delete reinterpret_cast<uv_timer_t*>(h);
    if (--self->handles_open_ == -1) {
      auto done = std::move(self->close_done_);
      if (done) done();
    }
  };
  uv_close(reinterpret_cast<uv_handle_t*>(timer_), on_close);
  uv_close(reinterpret_cast<uv_handle_t*>(defer_timer_), on_close);
}

}  // namespace runwayd
