#pragma once

// Where the HTTP layer hands a stream's access log line (docs/config.md, "access_log"): one per
// worker (accesslog::WorkerLog formats it into the worker's own buffer and queues it for the
// process's writer thread). Not thread-safe.

#include "strait/accesslog/entry.h"

namespace strait::accesslog {

enum class Format { Json, Text };

class Sink {
 public:
  // Formats and queues one line; a full queue drops it (counted by the writer).
  virtual void log(Format format, const Entry& entry) = 0;

 protected:
  ~Sink() = default;
};

}  // namespace strait::accesslog
