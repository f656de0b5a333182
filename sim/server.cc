// sim/server.cc — libmicrohttpd glue (see server.h).
#include "sim/server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include <fmt/format.h>

namespace runwayd::sim {
namespace {

// Per-request context, owned by MHD's con_cls from the first call to the completion.
struct RequestCtx {
  std::string body;
  bool too_large = false;
  bool held = false;  // answered later: `response` waits for the resume
  Response response;
};

MHD_Result Queue(MHD_Connection* c, const Response& r) {
  MHD_Response* resp = MHD_create_response_from_buffer(r.body.size(), const_cast<char*>(r.body.data()),
                                                       MHD_RESPMEM_MUST_COPY);
  if (resp == nullptr) return MHD_NO;
  if (!r.body.empty()) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
  for (const auto& [k, v] : r.headers) MHD_add_response_header(resp, k.c_str(), v.c_str());
  const MHD_Result ok = MHD_queue_response(c, static_cast<unsigned>(r.status), resp);
  MHD_destroy_response(resp);
  return ok;
}

MHD_Result AccessTrampoline(void* cls, MHD_Connection* c, const char* url, const char* method,
                            const char* /*version*/, const char* upload_data, size_t* upload_data_size,
                            void** con_cls) {
  try {
    return static_cast<Server*>(cls)->OnRequest(c, url, method, upload_data, upload_data_size, con_cls) ? MHD_YES
                                                                                                        : MHD_NO;
  } catch (...) {
    return MHD_NO;  // nothing may unwind through C frames: close this connection instead
  }
}

void CompletedTrampoline(void* cls, MHD_Connection* /*c*/, void** con_cls,
                         MHD_RequestTerminationCode /*toe*/) {
  auto* ctx = static_cast<RequestCtx*>(*con_cls);
  if (ctx != nullptr && ctx->held) static_cast<Server*>(cls)->HeldDone();
  delete ctx;
  *con_cls = nullptr;
}

void ConnectionTrampoline(void* cls, MHD_Connection* /*c*/, void** /*socket_context*/,
                          MHD_ConnectionNotificationCode toe) {
  if (toe == MHD_CONNECTION_NOTIFY_STARTED) static_cast<Api*>(cls)->CountConnection();
}

}  // namespace

ResumeTimer::ResumeTimer() : thread_([this] { Run(); }) {}

ResumeTimer::~ResumeTimer() {
  Stop();
  if (thread_.joinable()) thread_.join();
}

void ResumeTimer::Add(MHD_Connection* c, int64_t delay_ms) {
  std::unique_lock lock(mu_);
  if (stopping_) {
    lock.unlock();
    MHD_resume_connection(c);
    return;
  }
  const auto due = std::chrono::steady_clock::now() + std::chrono::milliseconds(delay_ms);
  const bool earliest = due_.empty() || due < due_.begin()->first;
  due_.emplace(due, c);
  if (earliest) cv_.notify_one();
}

void ResumeTimer::Stop() {
  std::unique_lock lock(mu_);
  stopping_ = true;
  cv_.notify_one();
  // Run() resumes what is left; wait for it to have done so.
  cv_.wait(lock, [this] { return drained_; });
}

void ResumeTimer::Run() {
  std::unique_lock lock(mu_);
  for (;;) {
    if (stopping_) {
      auto left = std::move(due_);
      due_.clear();
      lock.unlock();
      for (auto& [when, c] : left) Resume(c);
      lock.lock();
      drained_ = true;
      cv_.notify_all();
      return;
    }
    if (due_.empty()) {
      cv_.wait(lock);
      continue;
    }
    const auto next = due_.begin()->first;
    if (std::chrono::steady_clock::now() < next) {
      cv_.wait_until(lock, next);
      continue;
    }
    MHD_Connection* c = due_.begin()->second;
    due_.erase(due_.begin());
    // Thread-safe in MHD (wakes its polling thread). Called without our lock so that
    // MHD's own locking can never wait on a handler that is waiting in Add().
    lock.unlock();
    Resume(c);
    lock.lock();
  }
}

void ResumeTimer::Resume(MHD_Connection* c) {
  MHD_resume_connection(c);
  const int fd = wake_fd_.load();
  if (fd >= 0) {
    const uint64_t one = 1;
    (void)!write(fd, &one, sizeof one);
  }
}

int Server::OnRequest(MHD_Connection* c, const char* url, const char* method, const char* upload_data,
                      size_t* upload_data_size, void** con_cls) {
  auto* ctx = static_cast<RequestCtx*>(*con_cls);
  if (ctx == nullptr) {  // headers only; the body (if any) comes in the next calls
    *con_cls = new RequestCtx();
    return 1;
  }
  if (*upload_data_size != 0) {
    if (ctx->body.size() + *upload_data_size > options_.max_body_bytes) ctx->too_large = true;
    else ctx->body.append(upload_data, *upload_data_size);
    *upload_data_size = 0;
    return 1;
  }
  if (ctx->held) return Queue(c, ctx->response) == MHD_YES;  // resumed after its delay

  Response r;
  if (ctx->too_large) {
    r = Json(413, ErrorJson("Request body too large"));
  } else {
    Request req;
    req.method = method;
    req.path = url;
    req.authorization = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    req.runway_version = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Runway-Version");
    req.content_type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    req.body = ctx->body;
    r = api_->Handle(req);
  }
  if (r.drop) return 0;  // MHD closes the connection without answering
  if (r.delay_ms > 0) {
    ctx->held = true;
    const int64_t delay = r.delay_ms;
    ctx->response = std::move(r);
    held_.fetch_add(1);
    MHD_suspend_connection(c);
    timer_.Add(c, delay);
    return 1;
  }
  return Queue(c, r) == MHD_YES;
}

bool Server::Start(const ServerOptions& options, std::string* error) {
  options_ = options;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(options.port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool tls = !options.tls_cert_pem.empty() && !options.tls_key_pem.empty();

  // MHD_USE_ITC: resuming a held connection (another thread) and quiescing must wake
  // whichever thread serves.
  const unsigned base = MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC | (tls ? MHD_USE_TLS : 0);
  // epoll served by our thread first (see server.h); MHD's own thread and automatic
  // choice if the build lacks epoll.
  const unsigned modes[] = {static_cast<unsigned>(MHD_USE_EPOLL),
                            static_cast<unsigned>(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO)};
  bool ours = false;  // started without MHD's thread: Serve() runs it
  for (const unsigned mode : modes) {
    ours = (mode & MHD_USE_INTERNAL_POLLING_THREAD) == 0;
    daemon_ = MHD_start_daemon(
        base | mode, options.port, nullptr, nullptr, &AccessTrampoline, this,
        MHD_OPTION_SOCK_ADDR, reinterpret_cast<sockaddr*>(&addr),
        MHD_OPTION_CONNECTION_LIMIT, options.connection_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, options.connection_timeout_s,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096u,
        MHD_OPTION_NOTIFY_COMPLETED, &CompletedTrampoline, static_cast<void*>(this),
        MHD_OPTION_NOTIFY_CONNECTION, &ConnectionTrampoline, static_cast<void*>(api_),
        // Without TLS the list ends here: MHD stops reading at MHD_OPTION_END.
        tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, options.tls_cert_pem.c_str(),
        MHD_OPTION_HTTPS_MEM_KEY, options.tls_key_pem.c_str(),
        MHD_OPTION_END);
    if (daemon_ != nullptr) break;
  }
  if (daemon_ == nullptr) {
    *error = fmt::format("cannot start the HTTP server on 127.0.0.1:{}{}", options.port,
                         tls ? " (check the TLS certificate and key)" : "");
    return false;
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
  port_ = info != nullptr ? info->port : options.port;
  if (ours) {
    const MHD_DaemonInfo* efd = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_EPOLL_FD);
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (efd == nullptr || wake_fd_ < 0) {
      *error = "cannot set up the HTTP server's event loop";
      Stop();
      return false;
    }
    quiesce_ = quiesced_ = stop_serving_ = false;  // a Server may be started again after Stop()
    timer_.SetWakeFd(wake_fd_);
    serve_ = std::thread([this, fd = efd->epoll_fd] { Serve(fd); });
  }
  return true;
}

// MHD's epoll fd is readable while any of its sockets has an event: poll() on it
// takes no event away from MHD (waiting on that set with epoll_wait would). Every
// MHD call but MHD_resume_connection (the timer thread's) happens here, Stop()'s
// quiesce included.
void Server::Serve(int epoll_fd) {
  pthread_setname_np(pthread_self(), "sim-http");
  pollfd fds[2] = {{epoll_fd, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  while (!stop_serving_.load()) {
    if (quiesce_.load() && !quiesced_.load()) {
      listener_ = MHD_quiesce_daemon(daemon_);
      quiesced_.store(true);
    }
    int timeout_ms = 1000;  // connection timeouts are MHD's to enforce, from MHD_run
    MHD_UNSIGNED_LONG_LONG t = 0;
    if (MHD_get_timeout(daemon_, &t) == MHD_YES) {
      timeout_ms = static_cast<int>(std::min<MHD_UNSIGNED_LONG_LONG>(t, 1000));
    }
    if (poll(fds, 2, timeout_ms) > 0 && (fds[1].revents & POLLIN) != 0) {
      uint64_t n = 0;
      (void)!read(wake_fd_, &n, sizeof n);
    }
    MHD_run(daemon_);  // epoll with a 0 timeout: drains what is ready, never blocks
  }
}

void Server::Stop() {
  if (daemon_ == nullptr) return;
  auto wake = [this] {
    const uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof one);
  };
  // No new connections while draining; quiescing hands the listening socket to us.
  if (serve_.joinable()) {
    quiesce_.store(true);
    wake();
    while (!quiesced_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  } else {
    listener_ = MHD_quiesce_daemon(daemon_);
  }
  timer_.Stop();  // MHD_stop_daemon must not find a suspended connection
  // Let the answers that were held go out (their completion is counted), briefly:
  // a client must not see a dropped connection just because the simulator stops.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (held_.load() > 0 && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  if (serve_.joinable()) {
    stop_serving_.store(true);
    wake();
    serve_.join();
  }
  MHD_stop_daemon(daemon_);
  daemon_ = nullptr;
  if (listener_ >= 0) close(listener_);  // MHD_INVALID_SOCKET is -1 here
  listener_ = -1;
  timer_.SetWakeFd(-1);
  if (wake_fd_ >= 0) close(wake_fd_);
  wake_fd_ = -1;
}

}  // namespace runwayd::sim
