// tools/runwayctl/redis_client.cc — runwayctl's synchronous Redis connection.
//
// The URL syntax is the daemon's own (runwayd::ParseRedisUrl): redis://[user:pass@]
// host:port[/db] or unix:///path[?db=N]. A password may also come from REDISCLI_AUTH
// (as for redis-cli and scripts/replay) when the URL has none. On Redis Cluster a
// command answered with MOVED is sent again to the node named (a braced prefix keeps
// every key of a deployment on that node, so the rest of the session stays there).
#include <strings.h>

#include <cmath>
#include <cstdlib>

#include "tools/runwayctl/ctl.h"

namespace runwayctl {

std::string Reply::str() const {
  if (!r_) return "";
  switch (r_->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR: return std::string(r_->str, r_->len);
    case REDIS_REPLY_INTEGER: return std::to_string(r_->integer);
    default: return "";
  }
}

std::string Reply::at(size_t i) const {
  if (i >= size()) return "";
  const redisReply* e = r_->element[i];
  if (e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS || e->type == REDIS_REPLY_ERROR)
    return std::string(e->str, e->len);
  if (e->type == REDIS_REPLY_INTEGER) return std::to_string(e->integer);
  return "";
}

namespace {

std::string Upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
  return s;
}

redisReply* Run(redisContext* c, const std::vector<std::string>& argv) {
  std::vector<const char*> a;
  std::vector<size_t> l;
  for (const auto& s : argv) {
    a.push_back(s.data());
    l.push_back(s.size());
  }
  return static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(a.size()), a.data(), l.data()));
}

}  // namespace

runwayd::Keys KeysFor(const Globals& g) { return runwayd::Keys{g.prefix, ""}; }

std::string DaemonKey(const Globals& g, const std::string& kind, const std::string& daemon) {
  return g.prefix + ":" + kind + ":" + daemon;
}

std::unique_ptr<Redis> Redis::Open(const Globals& g) {
  std::string url = g.redis_url;
  if (url.empty()) {
    const char* e = getenv("RUNWAYD_REDIS_URL");
    if (!e || !*e) e = getenv("REDIS_URL");
    url = (e && *e) ? e : "redis://127.0.0.1:6379";
  }
  if (url.rfind("rediss://", 0) == 0)
    Fail(kUsage, "redis url: rediss:// (TLS) is not supported; the daemon speaks plain redis:// or unix://");
  std::unique_ptr<Redis> r(new Redis);
  std::string error;
  if (!runwayd::ParseRedisUrl(url, &r->ep_, &error)) Fail(kUsage, error);
  if (r->ep_.password.empty()) {
    const char* pw = getenv("REDISCLI_AUTH");
    if (pw && *pw) r->ep_.password = pw;
  }
  double t = g.timeout_s > 0 ? g.timeout_s : 10;
  r->tv_.tv_sec = static_cast<time_t>(t);
  r->tv_.tv_usec = static_cast<suseconds_t>((t - std::floor(t)) * 1e6);
  r->Connect(r->ep_.host, r->ep_.port);
  return r;
}

void Redis::Connect(const std::string& host, int port) {
  if (c_) redisFree(c_);
  c_ = ep_.unix_path.empty() ? redisConnectWithTimeout(host.c_str(), port, tv_)
                             : redisConnectUnixWithTimeout(ep_.unix_path.c_str(), tv_);
  if (c_ == nullptr) Fail(kRuntime, "cannot connect to redis at " + where() + ": out of memory");
  if (c_->err) Fail(kRuntime, "cannot connect to redis at " + where() + ": " + c_->errstr);
  redisSetTimeout(c_, tv_);
  auto check = [&](redisReply* raw, const char* what) {
    Reply rep(raw);
    if (raw == nullptr) Fail(kRuntime, "redis at " + where() + ": " + what + ": " + (c_->err ? c_->errstr : "no answer"));
    if (!rep.error()) return;
    std::string e = rep.str();
    if (e.rfind("WRONGPASS", 0) == 0 || e.find("invalid password") != std::string::npos ||
        e.find("invalid username-password") != std::string::npos)
      Fail(kRuntime, "redis at " + where() + " refused the credentials (WRONGPASS)");
    Fail(kRuntime, "redis at " + where() + ": " + what + ": " + e);
  };
  if (!ep_.password.empty()) {
    if (ep_.user.empty()) check(Run(c_, {"AUTH", ep_.password}), "AUTH");
    else check(Run(c_, {"AUTH", ep_.user, ep_.password}), "AUTH");
  }
  if (ep_.db != 0) check(Run(c_, {"SELECT", std::to_string(ep_.db)}), "SELECT");
}

Redis::~Redis() {
  if (c_) redisFree(c_);
}

Reply Redis::Cmd(const std::vector<std::string>& argv, bool errors_ok) {
  for (int hop = 0;; ++hop) {
    redisReply* raw = Run(c_, argv);
    if (raw == nullptr) {
      std::string why = c_->err ? c_->errstr : "no answer";
      if (c_->err == REDIS_ERR_IO && why.find("Resource temporarily unavailable") != std::string::npos)
        why = "no answer within the timeout (--timeout)";
      Fail(kRuntime, "redis at " + where() + ": " + Upper(argv[0]) + ": " + why);
    }
    Reply rep(raw);
    if (!rep.error()) return rep;
    std::string e = rep.str();
    if (e.rfind("MOVED ", 0) == 0 && hop < 5 && ep_.unix_path.empty()) {
      // "MOVED <slot> <host>:<port>": the prefix's slot lives on another node.
      std::string target = e.substr(e.find(' ', 6) + 1);
      size_t colon = target.rfind(':');
      std::string host = target.substr(0, colon);
      if (host.empty()) host = ep_.host;
      int port = std::atoi(target.c_str() + colon + 1);
      ep_.host = host;
      ep_.port = port;
      Connect(host, port);
      continue;
    }
    if (e.rfind("NOAUTH", 0) == 0 || e.find("unauthenticated") != std::string::npos)
      Fail(kRuntime, "redis at " + where() +
                         " wants a password: use --redis redis://[user:]password@host:port, $RUNWAYD_REDIS_URL "
                         "or REDISCLI_AUTH");
    if (errors_ok) return rep;
    std::string what = Upper(argv[0]);
    if (argv.size() > 1 && what != "EVAL" && what != "EVALSHA") what += " " + argv[1];
    Fail(kRuntime, "redis at " + where() + ": " + what + ": " + e);
  }
}

std::vector<Reply> Redis::Pipeline(const std::vector<std::vector<std::string>>& cmds) {
  std::vector<Reply> out;
  out.reserve(cmds.size());
  // Bounded batches keep the output buffer small for long lists of keys.
  const size_t kBatch = 512;
  for (size_t base = 0; base < cmds.size(); base += kBatch) {
    size_t end = std::min(cmds.size(), base + kBatch);
    for (size_t i = base; i < end; ++i) {
      std::vector<const char*> a;
      std::vector<size_t> l;
      for (const auto& s : cmds[i]) {
        a.push_back(s.data());
        l.push_back(s.size());
      }
      redisAppendCommandArgv(c_, static_cast<int>(a.size()), a.data(), l.data());
    }
    for (size_t i = base; i < end; ++i) {
      void* raw = nullptr;
      if (redisGetReply(c_, &raw) != REDIS_OK || raw == nullptr)
        Fail(kRuntime, "redis at " + where() + ": " + (c_->err ? c_->errstr : "no answer"));
      out.emplace_back(static_cast<redisReply*>(raw));
      const Reply& rep = out.back();
      if (rep.error() && (rep.str().rfind("NOAUTH", 0) == 0))
        Fail(kRuntime, "redis at " + where() + " wants a password: use --redis redis://[user:]password@host:port");
    }
  }
  return out;
}

}  // namespace runwayctl
