// queue/uv_adapter.h — hiredis's event-loop boundary, implemented on libuv.
//
// hiredis asks an event library for five things (add/del read, add/del write,
// cleanup) plus one pointer of private data; this file is those six and nothing else.
//
// Why not <hiredis/adapters/libuv.h>: the adapter that ships with hiredis 0.14 (the
// version Debian packages) returns early when uv_poll reports an error status. A
// non-blocking connect to a closed port (Redis restarting) reports exactly that, so
// hiredis never learns that the connect failed: no connect callback, no reconnect,
// until our stall watchdog gives up seconds later. Upstream fixed it the same way
// this file does: on an error status, run the handlers for the events we asked for,
// and hiredis's own socket-error check turns it into a failed connect or a
// disconnect (getsockopt SO_ERROR).
//
// Commands queued during one loop iteration go out in one write, just before the loop
// next blocks (a uv_prepare_t), instead of polling for writability per command.
//
// Ownership: the uv_poll_t and the uv_prepare_t belong to hiredis's context from attach
// until hiredis calls cleanup; they are freed only in their close callbacks.
#pragma once

#include <hiredis/async.h>
#include <uv.h>

namespace runwayd {

// Attaches `ac` to `loop`. Returns REDIS_OK or REDIS_ERR (context already attached,
// out of memory, or uv_poll_init failed; nothing is leaked then).
int AttachRedisToLoop(redisAsyncContext* ac, uv_loop_t* loop);

}  // namespace runwayd
