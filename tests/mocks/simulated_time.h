#pragma once

// A TimeSource that moves only when a test advances it.

#include <chrono>

#include "strait/common/time.h"

namespace strait::testing {

class SimulatedTimeSource : public TimeSource {
 public:
  MonotonicTime monotonicTime() const override { return now_; }
  SystemTime systemTime() const override { return SystemTime{} + now_.time_since_epoch(); }
  void advance(std::chrono::milliseconds by) { now_ += by; }
  // Milliseconds since the simulated epoch.
  int64_t nowMs() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(now_.time_since_epoch()).count();
  }

 private:
  MonotonicTime now_{std::chrono::seconds(1000)};
};

}  // namespace strait::testing
