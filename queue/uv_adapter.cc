// queue/uv_adapter.cc — see uv_adapter.h for why this exists.
#include "queue/uv_adapter.h"

#include <new>

namespace runwayd {
namespace {

// Writes are not polled for: a command queued during a loop iteration is written by a
// uv_prepare_t just before the loop next blocks, together with every other command
// queued meanwhile. Polling for UV_WRITABLE instead cost four epoll_ctl calls per
// write (libuv's uv_poll_start deletes the fd from epoll and adds it back, once to add
// the write interest and once to drop it) and one write per command. Only when a write
// leaves data behind (the socket buffer is full) does the uv_poll_t wait for
// writability. Before hiredis reports the connect done, writability is what tells it
// the connect finished, so that is polled for too.
struct Events {
  redisAsyncContext* context;  // null once hiredis called cleanup
  uv_poll_t handle;
  uv_prepare_t flush;
  int want = 0;          // what hiredis asked for
  int polling = 0;       // what the uv_poll_t watches now
  bool writing = false;  // inside redisAsyncHandleWrite: an AddWrite now means "blocked"
  int open = 2;          // handles not yet closed; freed when both are
};

void Write(Events* p) {
  p->writing = true;
  redisAsyncHandleWrite(p->context);  // may call cleanup: `p` stays valid until closed
  p->writing = false;
}

void OnPoll(uv_poll_t* handle, int status, int events) {
  auto* p = static_cast<Events*>(handle->data);
  // On an error status, `events` is meaningless: run what we asked for, and hiredis
  // reads the socket error itself (a refused connect, a reset connection).
  int ev = status < 0 ? p->polling : events;
  if (p->context != nullptr && (ev & UV_READABLE)) redisAsyncHandleRead(p->context);
  if (p->context != nullptr && (ev & UV_WRITABLE)) Write(p);
}

void OnFlush(uv_prepare_t* h) {
  auto* p = static_cast<Events*>(h->data);
  uv_prepare_stop(h);
  if (p->context != nullptr && (p->want & UV_WRITABLE)) Write(p);
}

void Update(Events* p, bool poll_write) {
  int events = (p->want & UV_READABLE) | (poll_write ? (p->want & UV_WRITABLE) : 0);
  if (events == p->polling) return;
  p->polling = events;
  if (events) uv_poll_start(&p->handle, events, OnPoll);
  else uv_poll_stop(&p->handle);
}

void AddRead(void* d) {
  auto* p = static_cast<Events*>(d);
  p->want |= UV_READABLE;
  Update(p, (p->polling & UV_WRITABLE) != 0);
}

void DelRead(void* d) {
  auto* p = static_cast<Events*>(d);
  p->want &= ~UV_READABLE;
  Update(p, (p->polling & UV_WRITABLE) != 0);
}

void AddWrite(void* d) {
  auto* p = static_cast<Events*>(d);
  p->want |= UV_WRITABLE;
  if (p->polling & UV_WRITABLE) return;  // already waiting: that write takes this command too
  bool connected = (p->context->c.flags & REDIS_CONNECTED) != 0;
  if (connected && !p->writing) uv_prepare_start(&p->flush, OnFlush);
  else Update(p, true);  // blocked, or connecting: wait until the socket takes more
}

void DelWrite(void* d) {
  auto* p = static_cast<Events*>(d);
  p->want &= ~UV_WRITABLE;
  uv_prepare_stop(&p->flush);
  Update(p, false);
}

void Cleanup(void* d) {
  auto* p = static_cast<Events*>(d);
  p->context = nullptr;  // hiredis frees the context right after this
  auto closed = [](uv_handle_t* h) {
    auto* e = static_cast<Events*>(h->data);
    if (--e->open == 0) delete e;
  };
  uv_close(reinterpret_cast<uv_handle_t*>(&p->handle), closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&p->flush), closed);
}

}  // namespace

int AttachRedisToLoop(redisAsyncContext* ac, uv_loop_t* loop) {
  if (ac->ev.data != nullptr) return REDIS_ERR;
  auto* p = new (std::nothrow) Events{ac, {}, {}};
  if (p == nullptr) return REDIS_ERR;
  if (uv_poll_init(loop, &p->handle, ac->c.fd) != 0) {
    delete p;  // never registered with the loop: nothing to close
    return REDIS_ERR;
  }
  uv_prepare_init(loop, &p->flush);  // cannot fail on Unix
  p->handle.data = p;
  p->flush.data = p;
  ac->ev.data = p;
  ac->ev.addRead = AddRead;
  ac->ev.delRead = DelRead;
  ac->ev.addWrite = AddWrite;
  ac->ev.delWrite = DelWrite;
  ac->ev.cleanup = Cleanup;
  return REDIS_OK;
}

}  // namespace runwayd
