// queue/uv_adapter.cc — see uv_adapter.h for why this exists.
#include "queue/uv_adapter.h"

#include <new>

namespace runwayd {
namespace {

struct Events {
  redisAsyncContext* context;  // null once hiredis called cleanup
  uv_poll_t handle;
  int events = 0;
};

void OnPoll(uv_poll_t* handle, int status, int events) {
  auto* p = static_cast<Events*>(handle->data);
  // On an error status, `events` is meaningless: run what we asked for, and hiredis
  // reads the socket error itself (a refused connect, a reset connection).
  int ev = status < 0 ? p->events : events;
  if (p->context != nullptr && (ev & UV_READABLE)) redisAsyncHandleRead(p->context);
  if (p->context != nullptr && (ev & UV_WRITABLE)) redisAsyncHandleWrite(p->context);
}

void Update(Events* p) {
  if (p->events) uv_poll_start(&p->handle, p->events, OnPoll);
  else uv_poll_stop(&p->handle);
}

void AddRead(void* d) {
  auto* p = static_cast<Events*>(d);
  p->events |= UV_READABLE;
  Update(p);
}

void DelRead(void* d) {
  auto* p = static_cast<Events*>(d);
  p->events &= ~UV_READABLE;
  Update(p);
}

void AddWrite(void* d) {
  auto* p = static_cast<Events*>(d);
  p->events |= UV_WRITABLE;
  Update(p);
}

void DelWrite(void* d) {
  auto* p = static_cast<Events*>(d);
  p->events &= ~UV_WRITABLE;
  Update(p);
}

void Cleanup(void* d) {
  auto* p = static_cast<Events*>(d);
  p->context = nullptr;  // hiredis frees the context right after this
  uv_close(reinterpret_cast<uv_handle_t*>(&p->handle),
           [](uv_handle_t* h) { delete static_cast<Events*>(h->data); });
}

}  // namespace

int AttachRedisToLoop(redisAsyncContext* ac, uv_loop_t* loop) {
  if (ac->ev.data != nullptr) return REDIS_ERR;
  auto* p = new (std::nothrow) Events{ac, {}, 0};
  if (p == nullptr) return REDIS_ERR;
  if (uv_poll_init(loop, &p->handle, ac->c.fd) != 0) {
    delete p;  // never registered with the loop: nothing to close
    return REDIS_ERR;
  }
  p->handle.data = p;
  ac->ev.data = p;
  ac->ev.addRead = AddRead;
  ac->ev.delRead = DelRead;
  ac->ev.addWrite = AddWrite;
  ac->ev.delWrite = DelWrite;
  ac->ev.cleanup = Cleanup;
  return REDIS_OK;
}

}  // namespace runwayd
