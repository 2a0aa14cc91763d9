#pragma once

// The process's signals as filters read them (strait/http/filter.h, ProcessSignals): written by
// the main thread (the worker count at start, draining when a drain begins, the CPU utilisation
// every CpuMeter::kPeriod) and by each worker (its own event-loop lag every LagMeter::kPeriod),
// read from any thread.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>

#include "strait/http/filter.h"

namespace strait::server {

class ProcessSignalsImpl : public http::ProcessSignals {
 public:
  // Workers past this report no lag (a fixed array: nothing to resize while workers read it).
  static constexpr uint32_t kMaxWorkers = 256;

  bool draining() const override { return draining_.load(std::memory_order_relaxed); }
  uint32_t workerCount() const override { return workers_.load(std::memory_order_relaxed); }
  std::chrono::microseconds eventLoopLag(uint32_t worker) const override {
    if (worker >= kMaxWorkers) {
      return std::chrono::microseconds(0);
    }
    return std::chrono::microseconds(lag_us_[worker].load(std::memory_order_relaxed));
  }
  std::optional<double> cpuUtilisation() const override {
    const double cpu = cpu_.load(std::memory_order_relaxed);
    return cpu < 0 ? std::nullopt : std::optional<double>(cpu);
  }

  void setDraining() { draining_.store(true, std::memory_order_relaxed); }
  void setWorkerCount(uint32_t workers) { workers_.store(workers, std::memory_order_relaxed); }
  // By the worker itself.
  void setEventLoopLag(uint32_t worker, std::chrono::microseconds lag) {
    if (worker < kMaxWorkers) {
      lag_us_[worker].store(lag.count(), std::memory_order_relaxed);
    }
  }
  void setCpuUtilisation(double utilisation) { cpu_.store(utilisation, std::memory_order_relaxed); }

 private:
  std::atomic<bool> draining_{false};
  std::atomic<uint32_t> workers_{0};
  std::array<std::atomic<int64_t>, kMaxWorkers> lag_us_{};
  std::atomic<double> cpu_{-1};  // negative: not measured yet
};

}  // namespace strait::server
