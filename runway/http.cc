// runway/http.cc — curl multi on libuv (see http.h).
//
// Shape follows curl's docs/examples/multi-uv.c, with the fixes that example lacks:
// curl_multi_info_read is drained after every socket action, a 0 ms timeout runs on
// the loop's next turn (never inside curl's own callback: OnTimerC), every curl return
// code is checked, and on Close() the loop keeps running until curl has closed its
// sockets and every uv_poll_t is closed. Its decisions that need no socket are in
// http_rules.cc.
#include "runway/http.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>
#include <unordered_set>

namespace runwayd::runway {

struct HttpEngine::Transfer {
  HttpEngine* engine;
  Easy easy;
  Callback cb;
  std::string body_out;
  bool once = false;            // a POST: curl may send it at most once (OnPrereqC)
  uint8_t sends = 0;            // times curl was about to send this request
  bool resend_refused = false;  // curl wanted to send it again: aborted
  bool too_big = false;
  HttpResult res{};
  HttpRequest req{};
  bool in_curl = false;
};

HttpEngine::HttpEngine(uv_loop_t* loop, HttpOptions opts) : loop_(loop), opts_(std::move(opts)) {
  uv_timer_init(loop_, &timer_);
  timer_.data = this;
  uv_idle_init(loop_, &kick_);
  kick_.data = this;
  multi_ = curl_multi_init();
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, OnSocketC);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, OnTimerC);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, opts_.max_host_connections);
  curl_multi_setopt(multi_, CURLMOPT_MAX_TOTAL_CONNECTIONS, opts_.max_total_connections);
  curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, opts_.max_total_connections);
}

HttpEngine::~HttpEngine() {
  for (Easy& x : easy_pool_) {
    curl_easy_cleanup(x.curl);
    curl_url_cleanup(x.url);
  }
}

// Pooled handles keep the options that never change between requests; a request
// sets only its own (URL, method, headers, callback data). curl_easy_reset and a
// dozen setopts per request (each string option copied again) were a visible share
// of the CPU per request.
HttpEngine::Easy HttpEngine::AcquireEasy() {
  if (!easy_pool_.empty()) {
    Easy x = std::move(easy_pool_.back());
    easy_pool_.pop_back();
    return x;
  }
  CURL* e = curl_easy_init();
  if (e == nullptr) return {};
  bool ok = true;
  auto set = [&](CURLoption o, auto v) { ok = ok && curl_easy_setopt(e, o, v) == CURLE_OK; };
  set(CURLOPT_WRITEFUNCTION, OnWriteC);
  set(CURLOPT_PREREQFUNCTION, OnPrereqC);
  set(CURLOPT_NOSIGNAL, 1L);
  set(CURLOPT_CONNECTTIMEOUT_MS, opts_.connect_timeout_ms);
  set(CURLOPT_TIMEOUT_MS, opts_.request_timeout_ms);
  set(CURLOPT_PIPEWAIT, 1L);
  set(CURLOPT_TCP_KEEPALIVE, 1L);
  set(CURLOPT_USERAGENT, opts_.user_agent.c_str());
  set(CURLOPT_PROTOCOLS_STR, "http,https");
  set(CURLOPT_FOLLOWLOCATION, 0L);
  // Our bodies are under a few KB: the smallest upload buffer curl allows (16 KB, not
  // 64 KB) is plenty, and each pooled handle keeps its buffers.
  set(CURLOPT_UPLOAD_BUFFERSIZE, 16384L);
  set(CURLOPT_OPENSOCKETFUNCTION, OnOpenSocketC);
  set(CURLOPT_OPENSOCKETDATA, this);
  set(CURLOPT_CLOSESOCKETFUNCTION, OnCloseSocketC);
  set(CURLOPT_CLOSESOCKETDATA, this);
  if (!opts_.ca_file.empty()) set(CURLOPT_CAINFO, opts_.ca_file.c_str());
  // Both set (even to ""), curl never reads the proxy environment per request.
  set(CURLOPT_PROXY, opts_.proxy.c_str());
  set(CURLOPT_NOPROXY, opts_.no_proxy.c_str());
  if (!ok) {
    curl_easy_cleanup(e);
    return {};
  }
  return Easy{e, curl_url(), {}};
}

void HttpEngine::ReleaseEasy(Easy x) {
  if (x.curl == nullptr) return;
  if (easy_pool_.size() < 1024) {
    easy_pool_.push_back(std::move(x));
    return;
  }
  curl_easy_cleanup(x.curl);
  curl_url_cleanup(x.url);
}

// Given a URL string, curl parses it on every request and prints it back whole
// (curl_url_set, then curl_url_get of the URL through its printf: some 14,000
// instructions a request, a tenth of the daemon's in bench/run steady). A pooled
// handle keeps a parsed CURLU of its last base instead, and a request to the same
// base replaces only its path: curl reads the CURLU when the transfer starts
// (CURLOPT_CURLU; the caller may change it between transfers). URLs whose path curl
// would rewrite or encode go through CURLOPT_URL, parsed by curl as before. The
// CURLU is changed only here, while no transfer of this handle is in curl.
bool HttpEngine::SetUrl(Easy* x, const std::string& url) {
  std::string_view base, path;
  if (x->url != nullptr && SplitPlainUrl(url, &base, &path)) {
    CURLUcode uc = CURLUE_OK;
    if (base == x->base) {
      uc = curl_url_set(x->url, CURLUPART_PATH, url.c_str() + base.size(), 0);  // path runs to the end
    } else {
      x->base.clear();
      uc = curl_url_set(x->url, CURLUPART_URL, url.c_str(), 0);
      if (uc == CURLUE_OK) x->base.assign(base);
    }
    if (uc == CURLUE_OK) return curl_easy_setopt(x->curl, CURLOPT_CURLU, x->url) == CURLE_OK;
    x->base.clear();  // a half-set CURLU: parse it whole next time
  }
  return curl_easy_setopt(x->curl, CURLOPT_CURLU, static_cast<CURLU*>(nullptr)) == CURLE_OK &&
         curl_easy_setopt(x->curl, CURLOPT_URL, url.c_str()) == CURLE_OK;
}

size_t HttpEngine::OnWriteC(char* ptr, size_t size, size_t n, void* userdata) {
  auto* t = static_cast<Transfer*>(userdata);
  size_t len = size * n;
  if (t->res.body.size() + len > t->engine->opts_.max_response_bytes) {
    t->too_big = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  t->res.body.append(ptr, len);
  return len;
}

// curl calls this each time a request is about to go out on a connection: once per
// transfer, and again when it retries by itself on a fresh connection because a
// reused one died before any answer ("connection died, retrying"). For a POST that
// second time is refused: the first may have reached Runway and made a paid task.
// (Refused even if the first send wrote nothing, which curl would resend safely: a
// send that fails at once needs a reset the liveness check before reuse would have
// seen, and the price of the rare miss is an unknown outcome, not a second task.)
int HttpEngine::OnPrereqC(void* userdata, char*, char*, int, int) {
  auto* t = static_cast<Transfer*>(userdata);
  if (!t->once || t->sends++ == 0) return CURL_PREREQFUNC_OK;
  t->resend_refused = true;
  return CURL_PREREQFUNC_ABORT;
}

void HttpEngine::Send(HttpRequest req, Callback cb) {
  auto* t = new Transfer{this, {}, std::move(cb), std::move(req.body)};  // the rest as declared
  t->req = std::move(req);
  ++in_flight_;
  live_.insert(t);
  if (active_ >= static_cast<size_t>(opts_.max_host_connections) && !closing_) {
    waiting_.push_back(t);
    return;
  }
  Start(t);
}

void HttpEngine::Start(Transfer* t) {
  t->easy = AcquireEasy();
  const HttpRequest& req = t->req;
  CURL* e = t->easy.curl;
  bool ok = e != nullptr && SetUrl(&t->easy, req.url);
  auto set = [&](CURLoption o, auto v) { ok = ok && curl_easy_setopt(e, o, v) == CURLE_OK; };
  set(CURLOPT_PRIVATE, t);
  set(CURLOPT_WRITEDATA, t);
  set(CURLOPT_HTTPHEADER, req.headers);
  // The method, with whatever the handle's previous request set undone.
  std::string_view method = req.method;
  set(CURLOPT_PREREQDATA, t);
  if (method == "POST") {
    // The body goes out with the headers, in one send; OnPrereqC stops a resend.
    t->once = true;
    set(CURLOPT_POST, 1L);
    set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t->body_out.size()));
    set(CURLOPT_POSTFIELDS, t->body_out.data());
    set(CURLOPT_CUSTOMREQUEST, static_cast<const char*>(nullptr));
  } else {
    set(CURLOPT_HTTPGET, 1L);
    set(CURLOPT_CUSTOMREQUEST, method == "GET" ? nullptr : req.method);
  }
  if (ok && !closing_ && curl_multi_add_handle(multi_, e) == CURLM_OK) {
    ++active_;
    t->in_curl = true;
    return;
  }
  // Could not start: report it from the loop, never from inside Send().
  t->res.curl_error = closing_ ? "shutting down" : "could not start the request";
  failed_.push_back(t);
  if (!closing_) uv_idle_start(&kick_, OnKickC);
}

// curl has one timeout at a time; each call replaces the last. A 0 ms timeout (every
// new request asks for one) must not call curl back from inside its own callback
// chain. multi-uv.c's 1 ms timer avoids that but costs a sleep and a second wakeup of
// the loop per request batch; an idle handle runs it on the loop's next turn without
// blocking (an active uv_idle_t makes the loop poll with a zero timeout), after
// everything queued in this turn — so all requests added meanwhile go out together.
int HttpEngine::OnTimerC(CURLM*, long timeout_ms, void* userp) {
  auto* self = static_cast<HttpEngine*>(userp);
  if (timeout_ms != 0 && self->failed_.empty()) uv_idle_stop(&self->kick_);
  if (timeout_ms < 0) {
    uv_timer_stop(&self->timer_);
  } else if (timeout_ms == 0) {
    uv_timer_stop(&self->timer_);
    uv_idle_start(&self->kick_, OnKickC);
  } else {
    uv_timer_start(&self->timer_, OnUvTimerC, static_cast<uint64_t>(timeout_ms), 0);
  }
  return 0;
}

void HttpEngine::OnUvTimerC(uv_timer_t* t) { static_cast<HttpEngine*>(t->data)->RunTimeouts(); }

void HttpEngine::OnKickC(uv_idle_t* h) {
  uv_idle_stop(h);
  static_cast<HttpEngine*>(h->data)->RunTimeouts();
}

void HttpEngine::RunTimeouts() {
  CompleteFailed();
  if (multi_) Action(CURL_SOCKET_TIMEOUT, 0);
}

// One round: the handlers may send again, and what fails to start then waits for the
// next round (the next loop turn, or the caller's loop while closing).
void HttpEngine::CompleteFailed() {
  std::vector<Transfer*> failed;
  failed.swap(failed_);
  for (Transfer* t : failed) Complete(t, CURLE_FAILED_INIT);
}

void HttpEngine::Action(curl_socket_t s, int flags) {
  int running = 0;
  CURLMcode rc = curl_multi_socket_action(multi_, s, flags, &running);
  if (rc != CURLM_OK) spdlog::error("http: curl_multi_socket_action: {}", curl_multi_strerror(rc));
  Drain();
}

void HttpEngine::Drain() {
  int left = 0;
  while (CURLMsg* m = curl_multi_info_read(multi_, &left)) {
    if (m->msg != CURLMSG_DONE) continue;
    Transfer* t = nullptr;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&t));
    CURLcode code = m->data.result;
    CURLMcode rc = curl_multi_remove_handle(multi_, m->easy_handle);
    if (rc != CURLM_OK) spdlog::error("http: curl_multi_remove_handle: {}", curl_multi_strerror(rc));
    Complete(t, code);
  }
}

void HttpEngine::Complete(Transfer* t, CURLcode code) {
  HttpResult& r = t->res;
  CURL* e = t->easy.curl;
  long req_bytes = 0;
  if (e != nullptr && code != CURLE_FAILED_INIT) {
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_getinfo(e, CURLINFO_REQUEST_SIZE, &req_bytes);
    curl_easy_getinfo(e, CURLINFO_TOTAL_TIME, &r.seconds);
    auto header = [e](const char* name) -> std::string_view {
      struct curl_header* h = nullptr;
      if (curl_easy_header(e, name, 0, CURLH_HEADER, -1, &h) == CURLHE_OK && h && h->value) return h->value;
      return {};
    };
    r.hints = ParseRetryHints(header("x-should-retry"), header("retry-after-ms"), header("retry-after"),
                              static_cast<int64_t>(time(nullptr)));
  }
  r.curl_code = static_cast<int>(code);
  if (t->too_big) {
    r.transport = Transport::kAnswered;  // the status line was read; the body is not usable
    r.body.clear();
    r.curl_error = "response body over the size limit";
  } else if (code == CURLE_FAILED_INIT) {
    r.transport = Transport::kNotSent;
  } else if (t->resend_refused) {
    r.transport = Transport::kSentNoAnswer;  // the first send went out, and no answer came
    r.status = 0;
    r.curl_error = "the connection closed without an answer; not sent again (a create may have been made)";
  } else {
    r.transport = TransportFor(code, req_bytes);
    if (code != CURLE_OK && r.curl_error.empty()) r.curl_error = curl_easy_strerror(code);
    if (r.transport != Transport::kAnswered) r.status = 0;
  }
  // The handle keeps no pointer into a freed body (a later GET would not read it).
  if (t->once && e != nullptr) curl_easy_setopt(e, CURLOPT_POSTFIELDS, static_cast<const char*>(nullptr));
  ReleaseEasy(std::move(t->easy));
  if (t->in_curl) --active_;
  --in_flight_;
  live_.erase(t);
  // A slot in curl is free: hand it the oldest waiting request.
  while (!closing_ && active_ < static_cast<size_t>(opts_.max_host_connections) && !waiting_.empty()) {
    Transfer* next = waiting_.front();
    waiting_.pop_front();
    Start(next);
  }
  try {
    t->cb(std::move(r));
  } catch (const std::exception& ex) {
    spdlog::error("http: completion handler threw: {}", ex.what());
  } catch (...) {
    spdlog::error("http: completion handler threw");
  }
  delete t;
  MaybeFinishClose();
}

void HttpEngine::Close(std::function<void()> done) {
  if (closing_) return;
  closing_ = true;
  close_done_ = std::move(done);
  // Called from a completion handler (inside Drain), curl's message queue may still
  // hold transfers that ended in the same action: they end with their own result, not
  // as aborted. Over HTTP/2 several answers are read at once; an answered create
  // reported "sent, no answer" would be a paid task given up as an unknown outcome.
  Drain();
  std::deque<Transfer*> waiting;
  waiting.swap(waiting_);
  for (Transfer* t : waiting) {
    t->res.curl_error = "shutting down";
    Complete(t, CURLE_FAILED_INIT);
  }
  std::vector<Transfer*> live(live_.begin(), live_.end());
  for (Transfer* t : live) {
    if (!t->in_curl) continue;  // failed_ ones are completed below
    CURLMcode rc = curl_multi_remove_handle(multi_, t->easy.curl);
    if (rc != CURLM_OK) spdlog::error("http: curl_multi_remove_handle: {}", curl_multi_strerror(rc));
    t->res.curl_error = "shutting down";
    // Aborted, not refused: a request whose bytes went out may have been acted on (a
    // create may have made and charged a task), so Complete reads how much was sent
    // and reports kSentNoAnswer for those, kNotSent only for the rest.
    Complete(t, CURLE_ABORTED_BY_CALLBACK);
  }
  // Completion handlers may try to send more; those fail here too, until none is left.
  while (!failed_.empty()) CompleteFailed();
  // curl closes its cached connections here, each through OnCloseSocketC; their
  // uv_poll_t handles finish closing on the next loop iteration.
  CURLMcode rc = curl_multi_cleanup(multi_);
  if (rc != CURLM_OK) spdlog::error("http: curl_multi_cleanup: {}", curl_multi_strerror(rc));
  multi_ = nullptr;
  CloseAllSockets();
  for (auto* h : {reinterpret_cast<uv_handle_t*>(&timer_), reinterpret_cast<uv_handle_t*>(&kick_)}) {
    uv_close(h, [](uv_handle_t* hh) {
      auto* self = static_cast<HttpEngine*>(hh->data);
      --self->handles_open_;
      self->MaybeFinishClose();
    });
  }
}

void HttpEngine::MaybeFinishClose() {
  if (!closing_ || finishing_) return;
  // A Send() after Close() returned (a timer or Redis callback reacting to the stop)
  // could not start and waits in failed_, with no kick_ to report it: it ends here, from
  // a close callback or the end of another completion, never inside Send(). One frame
  // does it all, so `done` (which may free us) runs last, from the outermost call.
  if (multi_ == nullptr && !failed_.empty()) {
    finishing_ = true;
    while (!failed_.empty()) CompleteFailed();
    finishing_ = false;
  }
  if (handles_open_ != 0 || sockets_open_ != 0 || in_flight_ != 0 || !close_done_) return;
  auto done = std::move(close_done_);
  close_done_ = nullptr;
  done();
}

}  // namespace runwayd::runway
