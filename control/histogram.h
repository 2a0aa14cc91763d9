#pragma once

// A Prometheus histogram of durations, for strait-cp's own telemetry (push latency,
// convergence, snapshot build time): fixed buckets from 1 ms to 60 s, rendered as the text
// format's _bucket{le=...}, _sum and _count lines. Main thread only, like everything in
// strait-cp.

#include <array>
#include <chrono>
#include <cstdint>
#include <string>

namespace strait::cp {

class Histogram {
 public:
  static constexpr std::array<double, 14> kBounds = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                     0.5,   1,     2.5,  5,     10,  30,  60};

  void observe(std::chrono::duration<double> value);
  uint64_t count() const { return count_; }
  // Observations at or under kBounds[i].
  uint64_t cumulative(size_t i) const;
  double sum() const { return sum_; }

  // The series lines of `name` with `labels` (`type="clusters"`, or empty), without the HELP
  // and TYPE lines.
  void render(std::string& out, const std::string& name, const std::string& labels) const;

 private:
  std::array<uint64_t, kBounds.size()> buckets_{};  // not cumulative
  uint64_t count_ = 0;
  double sum_ = 0;
};

}  // namespace strait::cp
