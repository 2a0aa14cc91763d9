#pragma once

// Access log lines from the HTTP/1.1 connection manager: the one for a stream is
// ActiveStream::emitAccessLog(); this one is for a request the codec refused before any stream
// existed (a malformed or oversized head, a headers timeout), answered 400/408/413/414/431/501.

#include <cstdint>

#include "proxy/server/worker_context.h"
#include "strait/common/time.h"
#include "strait/network/connection.h"

namespace strait::http {

void emitCodecErrorAccessLog(server::WorkerContext& worker, const network::Connection& connection,
                             uint16_t status, MonotonicTime request_start, uint64_t bytes_sent);

}  // namespace strait::http
