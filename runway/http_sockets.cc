// runway/http_sockets.cc — the sockets half of HttpEngine (see http.h): which fds the
// loop watches for curl, and for how long.
//
// Why this is more than multi-uv.c's "one uv_poll_t per CURL_POLL_* call": curl says
// CURL_POLL_REMOVE for a keep-alive connection after every transfer and asks for it
// again on the next one. Closing the uv_poll_t on REMOVE and creating a new one for the
// next request cost five epoll_ctl calls and an ioctl per request (uv_poll_init probes
// the fd with EPOLL_CTL_ADD+DEL and sets O_NONBLOCK; every uv_poll_start first deletes
// the fd from epoll, then adds it back) — half of all the daemon's syscalls. So:
//
//   1. We open and close connection sockets ourselves (CURLOPT_OPENSOCKETFUNCTION and
//      CURLOPT_CLOSESOCKETFUNCTION). Such an fd is "owned": its uv_poll_t lives from
//      the first time curl asks about it until curl closes the socket, and the close
//      callback closes the uv_poll_t *before* close(2), so a reused fd number can never
//      meet a stale epoll registration.
//   2. uv_poll_start is called only when the events change. Between transfers an idle
//      owned connection stays watched for readability (curl asked for exactly that during
//      the last response): the next request on it costs no epoll_ctl at all. If an idle
//      connection becomes readable (the server closed it, or sent something unasked),
//      we stop watching it, so level-triggered epoll cannot spin; curl finds it dead
//      when it next considers reusing it and closes it through (1).
//   3. Any other fd curl asks about (the threaded resolver's socketpair, which curl
//      closes itself) keeps the old, safe treatment: its uv_poll_t is started on every
//      request and closed on CURL_POLL_REMOVE.
//
// The fd -> Slot table replaces curl_multi_assign: a pointer handed to curl could
// outlive the uv_poll_t it named (curl reports REMOVE after closing the socket).
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "runway/http.h"

namespace runwayd::runway {

struct HttpEngine::Socket {
  uv_poll_t poll;
  HttpEngine* engine;
  curl_socket_t fd;
  bool owned;
  int events = 0;     // what the uv_poll_t watches now (0: stopped)
  bool idle = false;  // curl said REMOVE; still watched for a close by the server
};

HttpEngine::Slot& HttpEngine::SlotFor(curl_socket_t fd) {
  auto i = static_cast<size_t>(fd);
  if (i >= slots_.size()) slots_.resize(std::max<size_t>(i + 1, slots_.size() * 2));
  return slots_[i];
}

void HttpEngine::Watch(Socket* sock, int events) {
  // An owned fd keeps its epoll registration, so unchanged events need no call; any
  // other fd may have been closed and reused behind our back: always start it again.
  if (sock->owned && events == sock->events) return;
  int rc = events == 0 ? uv_poll_stop(&sock->poll) : uv_poll_start(&sock->poll, events, OnPollC);
  if (rc != 0) spdlog::error("http: cannot watch socket {}: {}", sock->fd, uv_strerror(rc));
  sock->events = rc == 0 ? events : 0;
}

void HttpEngine::CloseSocket(Socket* sock) {
  Slot& slot = SlotFor(sock->fd);
  if (slot.sock == sock) slot.sock = nullptr;
  // uv_close takes the fd out of epoll now; the memory goes in the close callback.
  uv_close(reinterpret_cast<uv_handle_t*>(&sock->poll), [](uv_handle_t* h) {
    auto* so = static_cast<Socket*>(h->data);
    HttpEngine* eng = so->engine;
    delete so;
    --eng->sockets_open_;
    eng->MaybeFinishClose();
  });
}

void HttpEngine::CloseAllSockets() {
  for (Slot& slot : slots_) {
    if (slot.sock != nullptr) CloseSocket(slot.sock);
    slot = Slot{};
  }
}

curl_socket_t HttpEngine::OnOpenSocketC(void* clientp, curlsocktype purpose, struct curl_sockaddr* addr) {
  auto* self = static_cast<HttpEngine*>(clientp);
  if (purpose != CURLSOCKTYPE_IPCXN) return CURL_SOCKET_BAD;  // only connections are made
  curl_socket_t fd = socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
  if (fd == CURL_SOCKET_BAD) return fd;
  Slot& slot = self->SlotFor(fd);
  // A watcher left on this number belongs to an fd curl closed without telling us
  // (rule 3): retire it before the new socket is watched.
  if (slot.sock != nullptr) self->CloseSocket(slot.sock);
  slot.owned = true;
  return fd;
}

int HttpEngine::OnCloseSocketC(void* clientp, curl_socket_t fd) {
  auto* self = static_cast<HttpEngine*>(clientp);
  Slot& slot = self->SlotFor(fd);
  if (slot.sock != nullptr) self->CloseSocket(slot.sock);  // out of epoll before close(2)
  slot = Slot{};
  return close(fd);
}

int HttpEngine::OnSocketC(CURL*, curl_socket_t s, int what, void* userp, void*) {
  auto* self = static_cast<HttpEngine*>(userp);
  Slot& slot = self->SlotFor(s);
  Socket* sock = slot.sock;
  if (what == CURL_POLL_REMOVE) {
    if (sock == nullptr) return 0;
    if (sock->owned) {
      sock->idle = true;
      self->Watch(sock, UV_READABLE);  // usually already so: no syscall
    } else {
      self->CloseSocket(sock);
    }
    return 0;
  }
  if (sock == nullptr) {
    sock = new Socket{{}, self, s, slot.owned};
    if (int rc = uv_poll_init_socket(self->loop_, &sock->poll, s); rc != 0) {
      // Not -1: curl takes that as the whole multi handle dead, and every later request
      // would fail for the life of the process. Unwatched, this new connection's transfer
      // ends at its connect or request timeout (as "not sent" or "sent, no answer" by what
      // went out: never sent twice), and only it fails; curl calls again with the next
      // change of interest, and watching is tried again then.
      delete sock;
      spdlog::error("http: cannot watch socket {}: {}", s, uv_strerror(rc));
      return 0;
    }
    sock->poll.data = sock;
    slot.sock = sock;
    ++self->sockets_open_;
  }
  sock->idle = false;
  int events = 0;
  if (what & CURL_POLL_IN) events |= UV_READABLE;
  if (what & CURL_POLL_OUT) events |= UV_WRITABLE;
  self->Watch(sock, events);
  return 0;
}

void HttpEngine::OnPollC(uv_poll_t* p, int status, int events) {
  auto* sock = static_cast<Socket*>(p->data);
  HttpEngine* self = sock->engine;
  if (sock->idle) {
    // Readable while no transfer uses it: closed by the server (or junk). curl has no
    // interest in it now; stop watching so epoll does not report it again and again.
    self->Watch(sock, 0);
    return;
  }
  int flags = 0;
  if (status < 0) {
    flags = CURL_CSELECT_ERR;
    // libuv stopped the watcher before this callback: forget the events, or a later
    // Watch() with the same ones would think it still runs and never restart it.
    sock->events = 0;
  } else {
    if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  }
  self->Action(sock->fd, flags);
}

}  // namespace runwayd::runway
