// runway/http.h — HTTP requests on the daemon's libuv loop, through curl's multi interface.
//
// One HttpEngine owns one CURLM driven by curl_multi_socket_action: one uv_poll_t per
// socket curl asks about, one uv_timer_t for curl's timeout and one uv_idle_t for a 0 ms
// timeout (run on the loop's next turn, so curl is never re-entered from its own
// callback, yet no 1 ms sleep per request), curl_multi_info_read drained after every
// action. Connections are reused (HTTP/2 multiplexing when offered,
// keep-alive otherwise) up to `max_host_connections` per host; easy handles are pooled,
// each with its last base URL parsed, so a request to that base sets only its path.
// A connection's uv_poll_t lives as long as the connection, not one transfer (see
// http_sockets.cc): on a reused connection a request costs no epoll_ctl at all.
//
// Money rule for POSTs (task creation): curl never sends one twice. curl retries a
// request by itself on a fresh connection when a reused one died before any answer;
// its pre-request callback runs before every send, and for a POST the second call
// aborts the transfer, which fails with kSentNoAnswer: the caller decides (outcome
// unknown), instead of risking a second paid task. (The body goes with the headers
// in one send: CURLOPT_POSTFIELDS, not a read callback that curl cannot rewind.)
//
// Every callback passed to Send() runs exactly once, from the loop, never inside
// Send(). Close() aborts what is in flight (kNotSent, or kSentNoAnswer once sent) and
// keeps the loop running until curl's sockets are closed. Send() after Close() is a bug.
#pragma once

#include <curl/curl.h>
#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "runway/classify.h"

namespace runwayd::runway {

struct HttpOptions {
  long connect_timeout_ms = 5000;
  long request_timeout_ms = 60000;
  // Cap per host, and on the requests handed to curl at once; the rest wait in our own
  // FIFO. No more requests than connections: a request curl cannot give a connection
  // sits in its pending queue, and curl tries every queued request against every
  // connection (host names compared) each time it runs: 4 x 64 cost ~190,000
  // instructions per job in bench/run intake, about a third of the daemon's CPU. Over
  // HTTP/2 the same number of requests share fewer connections.
  long max_host_connections = 64;
  long max_total_connections = 256;
  size_t max_response_bytes = 4 << 20;  // larger bodies fail the request
  std::string ca_file;                  // extra CA bundle for private endpoints
  std::string user_agent = "runwayd/0.1";
  // The proxy and its exclusions, "" for none: see ProxyFromEnvironment.
  std::string proxy;
  std::string no_proxy;
};

// Reads curl's proxy environment once, with curl's own rules for `scheme` ("http" or
// "https"): `<scheme>_proxy`, then its uppercase form except HTTP_PROXY (which CGI sets
// from a request header, so curl ignores it), then all_proxy / ALL_PROXY; exclusions
// from no_proxy / NO_PROXY; an empty value counts as unset. Left to curl, these
// variables were looked up on every request (getenv walks the whole environment: 2% of
// the daemon's instructions). `get` is getenv outside tests.
void ProxyFromEnvironment(std::string_view scheme, const std::function<const char*(const char*)>& get,
                          std::string* proxy, std::string* no_proxy);

struct HttpRequest {
  const char* method = "GET";     // GET, POST, DELETE
  std::string url;
  std::string body;               // POST only
  const curl_slist* headers = nullptr;  // borrowed: must outlive the request (per-account list)
};

struct HttpResult {
  Transport transport = Transport::kAnswered;
  long status = 0;
  std::string body;
  RetryHints hints;
  int curl_code = 0;
  std::string curl_error;         // one line, for logs (never contains headers)
  double seconds = 0;             // total time
};

class HttpEngine {
 public:
  using Callback = std::function<void(HttpResult&&)>;
  HttpEngine(uv_loop_t* loop, HttpOptions opts);
  ~HttpEngine();
  HttpEngine(const HttpEngine&) = delete;
  HttpEngine& operator=(const HttpEngine&) = delete;

  void Send(HttpRequest req, Callback cb);
  size_t in_flight() const { return in_flight_; }
  // Aborts every request: their callbacks run with kNotSent (curl_code
  // CURLE_FAILED_INIT) if nothing of them was sent, else with kSentNoAnswer (curl_code
  // CURLE_ABORTED_BY_CALLBACK: Runway may have acted on it). Then cleans curl up while
  // the loop closes its sockets; `done` runs when all handles closed. A Send() between
  // Close() and `done` ends kNotSent (from the loop) before `done`; none may follow it.
  // The engine holds libuv handles: destroy it only after `done` has run.
  void Close(std::function<void()> done);

 private:
  struct Transfer;
  struct Socket;
  // What we know about one fd number (http_sockets.cc).
  struct Slot {
    Socket* sock = nullptr;  // its uv_poll_t, if curl ever asked us to watch it
    bool owned = false;      // opened by OnOpenSocketC: closed only through OnCloseSocketC
  };
  static int OnSocketC(CURL* easy, curl_socket_t s, int what, void* userp, void* socketp);
  static curl_socket_t OnOpenSocketC(void* clientp, curlsocktype purpose, struct curl_sockaddr* addr);
  static int OnCloseSocketC(void* clientp, curl_socket_t fd);
  static int OnTimerC(CURLM* multi, long timeout_ms, void* userp);
  static void OnUvTimerC(uv_timer_t* t);
  static void OnKickC(uv_idle_t* h);
  void RunTimeouts();
  void CompleteFailed();  // ends what could not start (failed_), one round
  static void OnPollC(uv_poll_t* p, int status, int events);
  static size_t OnWriteC(char* ptr, size_t size, size_t n, void* userdata);
  static int OnPrereqC(void* userdata, char* remote_ip, char* local_ip, int remote_port, int local_port);
  void Action(curl_socket_t s, int flags);
  void Drain();
  void Complete(Transfer* t, CURLcode code);
  // A pooled easy handle and the parsed URL its requests go to (see SetUrl).
  struct Easy {
    CURL* curl = nullptr;
    CURLU* url = nullptr;  // owned; null if curl_url() failed (then CURLOPT_URL is used)
    std::string base;      // the scheme://authority `url` holds, "" when none
  };
  Easy AcquireEasy();
  void ReleaseEasy(Easy x);
  static bool SetUrl(Easy* x, const std::string& url);
  void MaybeFinishClose();
  Slot& SlotFor(curl_socket_t fd);
  void Watch(Socket* sock, int events);
  void CloseSocket(Socket* sock);
  void CloseAllSockets();

  uv_loop_t* loop_;
  HttpOptions opts_;
  CURLM* multi_ = nullptr;
  uv_timer_t timer_{};            // closed by Close(), which the owner awaits
  uv_idle_t kick_{};
  std::vector<Easy> easy_pool_;
  std::unordered_set<Transfer*> live_;   // every transfer whose callback has not run
  std::vector<Transfer*> failed_;        // could not start; completed on the loop's next turn
  std::deque<Transfer*> waiting_;        // not handed to curl yet (max_host_connections active)
  size_t active_ = 0;                    // handed to curl
  void Start(Transfer* t);
  size_t in_flight_ = 0;
  std::vector<Slot> slots_;       // indexed by fd
  int sockets_open_ = 0;          // uv_poll_t handles not yet closed
  bool closing_ = false;
  bool finishing_ = false;  // MaybeFinishClose is failing late sends: nested calls wait
  int handles_open_ = 2;          // timer_ and kick_
  std::function<void()> close_done_;
};

// Maps a curl result onto the classification's transport outcome. `request_bytes`
// is CURLINFO_REQUEST_SIZE: 0 means nothing was sent, so the request was refused.
Transport TransportFor(CURLcode code, long request_bytes);

// Splits an absolute URL into its base ("scheme://authority") and a path that curl
// would send as it is: '/' followed by letters, digits and -._~/:@!$&'()*+,;= only,
// no dot segment, no query, no fragment. False for anything else (those URLs are
// left to curl's own parser). The views point into `url`.
bool SplitPlainUrl(std::string_view url, std::string_view* base, std::string_view* path);

}  // namespace runwayd::runway
