// daemon/metrics_server.cc — see metrics_server.h.
#include "daemon/metrics_server.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <limits>

namespace runwayd::metrics {

int64_t MonotonicMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void Health::SetNotReady(std::string reason) {
  for (char& c : reason)
    if (c == '\n' || c == '\r') c = ' ';
  if (reason.size() > 200) reason.resize(200);
  {
    std::lock_guard lock(mu_);
    reason_ = std::move(reason);
  }
  ready.store(false, std::memory_order_release);
}

std::string Health::reason() const {
  std::lock_guard lock(mu_);
  return reason_;
}

bool ParseListenAddress(const std::string& text, MetricsServerOptions* out, std::string* error) {
  std::string host, port;
  if (!text.empty() && text[0] == '[') {
    const size_t close = text.find("]:");
    if (close == std::string::npos) return *error = "metrics listen address: expected [ipv6]:port", false;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string::npos) return *error = "metrics listen address: expected host:port", false;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  in6_addr a6{};
  in_addr a4{};
  if (inet_pton(AF_INET, host.c_str(), &a4) != 1 && inet_pton(AF_INET6, host.c_str(), &a6) != 1)
    return *error = "metrics listen address: " + host + " is not an IPv4 or IPv6 address", false;
  unsigned long p = 0;
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      (p = std::stoul(port)) > 65535)
    return *error = "metrics listen address: the port must be 0..65535", false;
  out->address = host;
  out->port = static_cast<uint16_t>(p);
  return true;
}

namespace {

// libmicrohttpd's messages. During Start() (on the caller's thread) the last one is
// kept for Start()'s error; later ones (MHD's thread) go to the log.
thread_local std::string t_last_mhd_message;

void LogFromMhd(void* /*cls*/, const char* format, va_list ap) {
  char buf[512];
  vsnprintf(buf, sizeof buf, format, ap);
  std::string msg(buf);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r')) msg.pop_back();
  try {
    t_last_mhd_message = msg;
    spdlog::debug("metrics endpoint: {}", msg);
  } catch (...) {  // nothing may unwind through libmicrohttpd
  }
}

MHD_Result OnRequest(void* cls, MHD_Connection* c, const char* url, const char* method, const char* /*version*/,
                     const char* /*upload_data*/, size_t* upload_data_size, void** /*con_cls*/) {
  try {
    if (*upload_data_size != 0) {
      *upload_data_size = 0;  // a body is never read; the answer was queued on the first call
      return MHD_YES;
    }
    MetricsServer::Reply r = static_cast<MetricsServer*>(cls)->Handle(method, url);
    MHD_Response* resp =
        MHD_create_response_from_buffer(r.body.size(), const_cast<char*>(r.body.data()), MHD_RESPMEM_MUST_COPY);
    if (resp == nullptr) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r.content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (r.status == MHD_HTTP_METHOD_NOT_ALLOWED) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    const MHD_Result ok = MHD_queue_response(c, r.status, resp);
    MHD_destroy_response(resp);
    return ok;
  } catch (...) {
    return MHD_NO;  // nothing may unwind through C frames: close this connection instead
  }
}

}  // namespace

MetricsServer::MetricsServer(Registry* registry, Health* health, MetricsServerOptions options)
    : registry_(registry),
      health_(health),
      options_(std::move(options)),
      ready_gauge_(registry->GetGauge("runwayd_ready", "1 while the daemon is ready (what /readyz answers 200 to).")),
      heartbeat_age_gauge_(registry->GetGauge("runwayd_heartbeat_age_seconds",
                                              "Time since the event loop's last heartbeat.")) {}

MetricsServer::~MetricsServer() { Stop(); }

bool MetricsServer::Start(std::string* error) {
  if (daemon_ != nullptr) return true;
  sockaddr_in a4{};
  sockaddr_in6 a6{};
  sockaddr* addr = nullptr;
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
  if (inet_pton(AF_INET, options_.address.c_str(), &a4.sin_addr) == 1) {
    a4.sin_family = AF_INET;
    a4.sin_port = htons(options_.port);
    addr = reinterpret_cast<sockaddr*>(&a4);
  } else if (inet_pton(AF_INET6, options_.address.c_str(), &a6.sin6_addr) == 1) {
    a6.sin6_family = AF_INET6;
    a6.sin6_port = htons(options_.port);
    addr = reinterpret_cast<sockaddr*>(&a6);
    flags |= MHD_USE_IPv6;
  } else {
    *error = "metrics endpoint: " + options_.address + " is not an IPv4 or IPv6 address";
    return false;
  }
  t_last_mhd_message.clear();
  daemon_ = MHD_start_daemon(flags, options_.port, nullptr, nullptr, &OnRequest, this,
                             MHD_OPTION_SOCK_ADDR, addr,
                             MHD_OPTION_CONNECTION_LIMIT, 64u,
                             MHD_OPTION_CONNECTION_TIMEOUT, 10u,
                             MHD_OPTION_EXTERNAL_LOGGER, &LogFromMhd, static_cast<void*>(nullptr),
                             MHD_OPTION_END);
  if (daemon_ == nullptr) {
    const std::string where = options_.address.find(':') == std::string::npos
                                  ? fmt::format("{}:{}", options_.address, options_.port)
                                  : fmt::format("[{}]:{}", options_.address, options_.port);
    *error = "metrics endpoint: cannot listen on " + where +
             (t_last_mhd_message.empty() ? std::string() : ": " + t_last_mhd_message);
    return false;
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
  port_ = info != nullptr && info->port != 0 ? info->port : options_.port;
  return true;
}

void MetricsServer::Stop() {
  if (daemon_ == nullptr) return;
  MHD_stop_daemon(daemon_);  // joins MHD's thread
  daemon_ = nullptr;
}

MetricsServer::Reply MetricsServer::Handle(std::string_view method, std::string_view url) {
  constexpr const char* kText = "text/plain; charset=utf-8";
  if (method != "GET" && method != "HEAD") return {MHD_HTTP_METHOD_NOT_ALLOWED, kText, "method not allowed\n"};
  const int64_t beat = health_->heartbeat_ms.load(std::memory_order_relaxed);
  const int64_t age_ms = beat == 0 ? std::numeric_limits<int64_t>::max() : MonotonicMs() - beat;
  const bool alive = age_ms <= options_.heartbeat_max_age_ms;
  const bool ready = alive && health_->ready.load(std::memory_order_acquire);
  auto stalled = [&] {
    return beat == 0 ? std::string("no event loop heartbeat yet\n")
                     : fmt::format("event loop stalled: last heartbeat {:.1f} s ago\n", age_ms / 1000.0);
  };

  if (url == "/metrics") {
    ready_gauge_->Set(ready ? 1 : 0);
    heartbeat_age_gauge_->Set(beat == 0 ? std::numeric_limits<double>::infinity() : age_ms / 1000.0);
    return {MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", registry_->Render()};
  }
  if (url == "/healthz") return alive ? Reply{MHD_HTTP_OK, kText, "ok\n"} : Reply{MHD_HTTP_SERVICE_UNAVAILABLE, kText, stalled()};
  if (url == "/readyz") {
    if (!alive) return {MHD_HTTP_SERVICE_UNAVAILABLE, kText, stalled()};
    if (!ready) return {MHD_HTTP_SERVICE_UNAVAILABLE, kText, "not ready: " + health_->reason() + "\n"};
    return {MHD_HTTP_OK, kText, "ok\n"};
  }
  if (url == "/") return {MHD_HTTP_OK, kText, "runwayd: /metrics /healthz /readyz\n"};
  return {MHD_HTTP_NOT_FOUND, kText, "not found\n"};
}

}  // namespace runwayd::metrics
