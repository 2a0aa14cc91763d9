#pragma once

// Clocks are injected (ARCHITECTURE.md): the data path asks a TimeSource, never the OS, so that
// tests can drive time-based logic with a simulated clock.

#include <chrono>

namespace strait {

using MonotonicTime = std::chrono::time_point<std::chrono::steady_clock>;
using SystemTime = std::chrono::time_point<std::chrono::system_clock>;

class TimeSource {
 public:
  virtual ~TimeSource() = default;
  virtual MonotonicTime monotonicTime() const = 0;
  virtual SystemTime systemTime() const = 0;
};

class RealTimeSource : public TimeSource {
 public:
  MonotonicTime monotonicTime() const override { return std::chrono::steady_clock::now(); }
  SystemTime systemTime() const override { return std::chrono::system_clock::now(); }
};

}  // namespace strait
