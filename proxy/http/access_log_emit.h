#pragma once

// Access log lines from the HTTP/1.1 connection manager: the one for a stream is
// ActiveStream::emitAccessLog(); this one is for a request the codec refused before any stream
// existed (a malformed or oversized head, a headers timeout), answered 400/408/413/414/431/501;
// and emitConnectionFaultAccessLog() for a connection a connection-level fault took.

#include <cstdint>

#include "strait/common/time.h"
#include "strait/http/worker_context.h"
#include "strait/network/connection.h"

namespace strait::http {

void emitCodecErrorAccessLog(WorkerContext& worker, const network::Connection& connection,
                             uint16_t status, MonotonicTime request_start, uint64_t bytes_sent);

// A connection reset or black-holed at accept by a connection-level fault (accept_hooks.h): no
// request, status 0, flag FI; `bytes_received` were read and discarded between `accepted` and
// now (0 for a reset).
void emitConnectionFaultAccessLog(WorkerContext& worker,
                                  const network::Connection& connection, MonotonicTime accepted,
                                  uint64_t bytes_received);

}  // namespace strait::http
