// tests/fault/redis_proxy.cc — fault.h's RedisProxy: a TCP relay between the daemons
// and redis-server, one thread, poll(2). An armed needle swallows the reply to the
// command that carries it (the command ran; the client never learns it), holds that
// connection's replies back until Release(), or partitions every client from Redis
// before the command is forwarded, until Heal().
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "fault.h"

namespace fault {

RedisProxy::RedisProxy(int upstream_port) : upstream_(upstream_port) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(listen_fd_, 64) != 0)
    throw std::runtime_error("proxy: cannot listen");
  socklen_t len = sizeof a;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  if (pipe(wake_) != 0) throw std::runtime_error("proxy: pipe");
  th_ = std::thread([this] { Loop(); });
}

RedisProxy::~RedisProxy() {
  stop_ = true;
  (void)!write(wake_[1], "x", 1);
  if (th_.joinable()) th_.join();
  close(listen_fd_);
  close(wake_[0]);
  close(wake_[1]);
}

void RedisProxy::ArmDrop(const std::string& needle) {
  std::lock_guard<std::mutex> l(mu_);
  needle_ = needle;
  act_ = Act::kDrop;
  fired_ = false;  // fired() tells about this needle
}

void RedisProxy::ArmCut(const std::string& needle) {
  std::lock_guard<std::mutex> l(mu_);
  needle_ = needle;
  act_ = Act::kCut;
  fired_ = false;  // fired() tells about this needle
}

void RedisProxy::ArmHold(const std::string& needle) {
  std::lock_guard<std::mutex> l(mu_);
  needle_ = needle;
  act_ = Act::kHold;
  fired_ = false;  // fired() tells about this needle
}

void RedisProxy::Release() {
  holding_ = false;
  (void)!write(wake_[1], "x", 1);  // the loop polls the held server socket again
}

void RedisProxy::Loop() {
  struct Pair {
    int c = -1, s = -1;
    bool drop = false;  // swallow the next server bytes, then cut the connection
    bool hold = false;  // leave the server's bytes unread while holding_
  };
  std::vector<Pair> pairs;
  char buf[65536];
  auto close_pair = [](Pair& p) {
    if (p.c >= 0) close(p.c);
    if (p.s >= 0) close(p.s);
    p.c = p.s = -1;
  };
  auto write_all = [](int fd, const char* d, size_t n) {
    while (n > 0) {
      ssize_t w = ::send(fd, d, n, MSG_NOSIGNAL);
      if (w <= 0) return false;
      d += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  };
  while (!stop_) {
    std::vector<pollfd> fds = {{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    for (auto& p : pairs) {
      fds.push_back({p.c, POLLIN, 0});
      fds.push_back({p.s, static_cast<short>(p.hold && holding_ ? 0 : POLLIN), 0});
    }
    if (poll(fds.data(), fds.size(), 200) < 0) continue;
    if (fds[1].revents & POLLIN) {
      char drain[64];
      (void)!read(wake_[0], drain, sizeof drain);
    }
    const size_t polled = pairs.size();  // pairs accepted below have no pollfd yet
    for (size_t i = 0; i < polled; ++i) {
      Pair& p = pairs[i];
      const pollfd& pc = fds[2 + 2 * i];
      const pollfd& ps = fds[3 + 2 * i];
      if (p.c < 0) continue;
      if (pc.revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = recv(p.c, buf, sizeof buf, 0);
        if (n <= 0) {
          close_pair(p);
          continue;
        }
        std::string_view chunk(buf, static_cast<size_t>(n));
        bool cut = false;
        {
          std::lock_guard<std::mutex> l(mu_);
          if (!needle_.empty() && chunk.find(needle_) != std::string_view::npos) {
            needle_.clear();
            if (act_ == Act::kCut) cut = true;
            else if (act_ == Act::kDrop) p.drop = true;
            else p.hold = holding_ = true;
            fired_ = true;
          }
        }
        if (cut) {  // the command never reaches Redis; nothing does until Heal()
          partitioned_ = true;
          for (auto& q : pairs) close_pair(q);
          break;
        }
        if (!write_all(p.s, buf, static_cast<size_t>(n))) {
          close_pair(p);
          continue;
        }
      }
      if (p.s >= 0 && !(p.hold && holding_) && (ps.revents & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t n = recv(p.s, buf, sizeof buf, 0);
        if (n <= 0 || p.drop) {  // the reply is lost with the connection
          close_pair(p);
          continue;
        }
        if (!write_all(p.c, buf, static_cast<size_t>(n))) close_pair(p);
      }
    }
    if (fds[0].revents & POLLIN) {
      int c = accept(listen_fd_, nullptr, nullptr);
      if (c >= 0 && partitioned_) {
        close(c);  // Redis is unreachable: the connection opens and closes at once
      } else if (c >= 0) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(static_cast<uint16_t>(upstream_));
        if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
          pairs.push_back({c, s, false});
        } else {
          close(c);
          close(s);
        }
      }
    }
    pairs.erase(std::remove_if(pairs.begin(), pairs.end(), [](const Pair& p) { return p.c < 0; }), pairs.end());
  }
  for (auto& p : pairs) close_pair(p);
}

namespace {
int StartedRedisPort(harness::Stack& s) {
  s.StartRedis();
  s.StartSim();
  return s.redis_port();
}
}  // namespace

ProxiedStack::ProxiedStack(const std::string& name) : s(name), proxy(StartedRedisPort(s)), d(s) {}

bool ProxiedStack::StartDaemon(const std::string& id, FaultDaemonOptions o) {
  o.redis_port = proxy.port();
  d.Start(id, o);
  return d.WaitReady(id);
}

}  // namespace fault
