#pragma once

// The meters behind ProcessSignals::eventLoopLag() and cpuUtilisation() (process_signals.h):
// pure arithmetic on the times they are given, so tests drive them with made-up clocks.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>

#include "strait/common/time.h"

namespace strait::server {

// How late a worker's loop runs a repeating timer: each tick reports the time it was due and the
// time it ran. Smoothed with an EWMA of weight 1/2, except that a rise is taken at once: a
// stalled loop must show in the next sample, a recovered one fades over a few ticks.
class LagMeter {
 public:
  static constexpr std::chrono::milliseconds kPeriod{50};

  std::chrono::microseconds onTick(MonotonicTime due, MonotonicTime ran) {
    const auto late = std::max(std::chrono::microseconds(0),
                               std::chrono::duration_cast<std::chrono::microseconds>(ran - due));
    smoothed_ = late >= smoothed_ ? late : (smoothed_ + late) / 2;
    return smoothed_;
  }
  std::chrono::microseconds value() const { return smoothed_; }

 private:
  std::chrono::microseconds smoothed_{0};
};

// The process's CPU use between two samples of its CPU time (user + system, getrusage) and the
// wall clock, as a share of `cores` (the worker threads, capped at the machine's cores: more
// workers than cores can never all be busy).
class CpuMeter {
 public:
  static constexpr std::chrono::milliseconds kPeriod{100};

  // nullopt on the first sample (no period yet) or when no time passed.
  std::optional<double> onSample(std::chrono::microseconds cpu_time, MonotonicTime now,
                                 uint32_t cores) {
    std::optional<double> utilisation;
    if (last_.has_value() && now > last_->at && cores > 0) {
      const double wall =
          std::chrono::duration<double, std::micro>(now - last_->at).count() * cores;
      const double used = static_cast<double>((cpu_time - last_->cpu).count());
      utilisation = std::max(0.0, used / wall);
    }
    last_ = Last{cpu_time, now};
    return utilisation;
  }

 private:
  struct Last {
    std::chrono::microseconds cpu;
    MonotonicTime at;
  };
  std::optional<Last> last_;
};

}  // namespace strait::server
