#pragma once

// The process's signals as filters read them (strait/http/filter.h, ProcessSignals): written by
// the main thread (the worker count at start, draining when a drain begins), read from any
// thread.

#include <atomic>
#include <cstdint>

#include "strait/http/filter.h"

namespace strait::server {

class ProcessSignalsImpl : public http::ProcessSignals {
 public:
  bool draining() const override { return draining_.load(std::memory_order_relaxed); }
  uint32_t workerCount() const override { return workers_.load(std::memory_order_relaxed); }

  void setDraining() { draining_.store(true, std::memory_order_relaxed); }
  void setWorkerCount(uint32_t workers) { workers_.store(workers, std::memory_order_relaxed); }

 private:
  std::atomic<bool> draining_{false};
  std::atomic<uint32_t> workers_{0};
};

}  // namespace strait::server
