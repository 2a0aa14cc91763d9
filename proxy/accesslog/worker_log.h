#pragma once

// A worker's side of the access log: formats a line into a buffer the worker owns and reuses
// (no allocation per line once it has grown to the longest line) and hands it to the process's
// Writer. One per worker thread; not thread-safe.

#include <string>

#include "proxy/accesslog/formatter.h"
#include "proxy/accesslog/writer.h"

namespace strait::accesslog {

class WorkerLog final : public Sink {
 public:
  explicit WorkerLog(Writer& writer) : writer_(writer) { line_.reserve(1024); }

  // Sink
  void log(Format format, const Entry& entry) override {
    line_.clear();
    accesslog::format(format, entry, line_);
    writer_.submit(line_);
  }

 private:
  Writer& writer_;
  std::string line_;
};

}  // namespace strait::accesslog
