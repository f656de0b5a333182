// sim/server.h — the libmicrohttpd front of runway-sim.
//
// Promises:
// - Listens on 127.0.0.1 only; port 0 picks a free port, reported by port().
// - One thread serves all connections through MHD's epoll set, keep-alive, up to
//   `connection_limit` connections. The thread is ours, not MHD's: libmicrohttpd
//   0.9.75's own epoll loop, given exactly 128 ready events (its batch size), waits
//   again with its full timeout before serving them, so 128 busy keep-alive
//   connections stalled until their clients gave up. Ours waits for MHD's epoll fd
//   to become readable and then lets MHD drain it without blocking (MHD_run). If
//   epoll is unavailable, MHD's own thread with its automatic choice of poll/select.
// - Every request is handed, complete, to Api::Handle(). No exception ever leaves an MHD
//   callback; a failure inside one closes that connection.
// - A Response with `drop` closes the connection without an answer (MHD_NO from the
//   access handler). A Response with `delay_ms` is held without blocking anything:
//   the connection is suspended and a timer thread resumes it when due.
// - Stop() (and the destructor) resumes every held connection, then stops the daemon.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "sim/api.h"

struct MHD_Daemon;
struct MHD_Connection;

namespace runwayd::sim {

struct ServerOptions {
  uint16_t port = 0;
  std::string tls_cert_pem;  // both set: HTTPS
  std::string tls_key_pem;
  unsigned connection_limit = 10000;
  unsigned connection_timeout_s = 300;  // idle keep-alive connections are closed after this
  size_t max_body_bytes = 8 * 1024 * 1024;  // data URIs may be 5 MB
};

// Resumes suspended connections when their delay is over.
class ResumeTimer {
 public:
  ResumeTimer();
  ~ResumeTimer();
  void Add(MHD_Connection* c, int64_t delay_ms);
  // Resumes everything now and refuses to hold anything from here on.
  void Stop();
  // An eventfd to write after each resume: the serving thread polls MHD's epoll fd,
  // which a resume does not wake (the answer went out up to a second late). Set once,
  // before the first Add(); -1 when it is closed.
  void SetWakeFd(int fd) { wake_fd_.store(fd); }

 private:
  void Run();
  void Resume(MHD_Connection* c);
  std::atomic<int> wake_fd_{-1};
  std::mutex mu_;
  std::condition_variable cv_;
  std::multimap<std::chrono::steady_clock::time_point, MHD_Connection*> due_;
  bool stopping_ = false;
  bool drained_ = false;  // Run() has resumed everything and exited
  std::thread thread_;
};

class Server {
 public:
  explicit Server(Api* api) : api_(api) {}
  ~Server() { Stop(); }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  bool Start(const ServerOptions& options, std::string* error);
  uint16_t port() const { return port_; }
  void Stop();

  // libmicrohttpd callbacks' bodies (public only so the C trampolines can reach them).
  int OnRequest(MHD_Connection* c, const char* url, const char* method, const char* upload_data,
                size_t* upload_data_size, void** con_cls);
  void HeldDone() { held_.fetch_sub(1); }

 private:
  void Serve(int epoll_fd);  // the serving thread (epoll mode)

  Api* api_;
  ServerOptions options_;
  MHD_Daemon* daemon_ = nullptr;
  std::thread serve_;
  int wake_fd_ = -1;                        // eventfd: Stop() and resumes wake the serving thread
  std::atomic<bool> quiesce_{false};        // Stop() asks the serving thread to quiesce...
  std::atomic<bool> quiesced_{false};       // ...and it has
  std::atomic<bool> stop_serving_{false};
  int listener_ = -1;                       // handed over by MHD_quiesce_daemon
  uint16_t port_ = 0;
  ResumeTimer timer_;
  std::atomic<int64_t> held_{0};  // suspended answers not yet completed
};

}  // namespace runwayd::sim
