#pragma once

// Request hedging's policy state for one route (route `hedge`, docs/config.md): when the next
// backup request is due, and whether the route may send one.
//
//  - The delay: fixed, or a percentile of the route's own recent latency. Every request's first
//    attempt records its time to the response head (or, when a hedge won and it was cancelled,
//    the time it had waited: a lower bound, so the tail the hedges cut stays visible) into a
//    lock-free log-linear histogram. Windows of `window` rotate lazily, on whichever request sees
//    that the window ended; the percentile of the window just finished becomes the delay, when
//    that window holds enough samples to place it (LatencyHistogram::minSamples()), else the
//    delay in force stays (initial_delay until the first full window).
//  - The budget: hedges at most `max_extra_load` of the route's requests, counted over a sliding
//    window (the current window plus the previous one weighted by how much of it the sliding
//    window still covers). The router also takes a token from the cluster's retry budget for each
//    hedge; this is the route's own share.
//
// Scope: one HedgeController PER ROUTE PER PROCESS, owned by the listener runtime's RouteStats
// (kept across a reload that leaves the listener block unchanged). Thread-safety: every method
// may be called from any worker at once; all state is atomic, and nothing locks or allocates.
// Time comes from the caller (the stream's dispatcher clock, a simulated one in tests).

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "config/types.h"
#include "strait/common/time.h"
#include "strait/stats/stats.h"

namespace strait::upstream {

// Counts of latencies in microseconds, log-linear: exact below 16 µs, then 16 buckets per power
// of two (at most 1/16 relative error), up to about 134 s (larger values go in the last bucket).
class LatencyHistogram {
 public:
  static constexpr uint32_t kSubBuckets = 16;
  static constexpr uint32_t kMaxExponent = 27;  // values below 2^27 µs are placed exactly
  static constexpr uint32_t kBucketCount = kSubBuckets + (kMaxExponent - 4) * kSubBuckets;

  void record(uint64_t micros);
  void clear();
  uint64_t count() const;
  // The smallest bucket upper bound at or above `percentile` (0..100) of the recorded values; 0
  // when empty.
  uint64_t percentileMicros(double percentile) const;
  // The samples a window needs before its `percentile` is trusted: at least five values above it.
  static uint64_t minSamples(double percentile);

  static uint32_t bucketOf(uint64_t micros);
  static uint64_t upperBoundOf(uint32_t bucket);

 private:
  std::array<std::atomic<uint64_t>, kBucketCount> counts_{};
};

class HedgeController {
 public:
  // `delay_gauge`: strait_dp_route_hedge_delay_microseconds of this route, kept at the delay in
  // force (published by whichever worker changes it, as a difference, so the shards sum to it).
  HedgeController(const config::HedgePolicy& policy, stats::Gauge delay_gauge);
  HedgeController(const HedgeController&) = delete;
  HedgeController& operator=(const HedgeController&) = delete;

  const config::HedgePolicy& policy() const { return policy_; }

  // A downstream request on the route starts: counted for the extra-load budget. Returns the
  // delay before its first hedge (rotating the windows when one ended).
  std::chrono::microseconds onRequest(MonotonicTime now, stats::Shard& shard);
  // The delay in force now (no rotation).
  std::chrono::microseconds delay() const;
  // A request's first attempt got its response head after `latency` (or was cancelled after
  // it, its response not there yet: a lower bound of its latency).
  void recordLatency(MonotonicTime now, std::chrono::microseconds latency, stats::Shard& shard);
  // A hedge is due: true (and counted) while hedges stay within max_extra_load of the requests
  // in the sliding window; false means the budget is exhausted.
  bool tryAcquireHedge(MonotonicTime now, stats::Shard& shard);

  // For tests and the status page: the sliding window's weighted counts.
  double windowRequests(MonotonicTime now) const;
  double windowHedges(MonotonicTime now) const;

 private:
  struct WindowCounts {
    std::atomic<uint64_t> requests{0};
    std::atomic<uint64_t> hedges{0};
  };

  int64_t epochOf(MonotonicTime now) const;
  // How far `now` is into its window, 0..1.
  double fraction(MonotonicTime now) const;
  // Moves to `now`'s window when the current one ended: the finished window's percentile
  // becomes the delay (percentile policies), its counts the previous window's.
  void maybeRotate(MonotonicTime now, stats::Shard& shard);
  void publish(int64_t delay_us, stats::Shard& shard);
  double weighted(MonotonicTime now, bool hedges) const;

  const config::HedgePolicy policy_;
  const int64_t window_us_;
  const stats::Gauge delay_gauge_;
  std::atomic<int64_t> epoch_;
  // Three histograms by epoch % 3: the current window's, the one just finished, and the next
  // one, cleared at each rotation so that it is empty when its window starts.
  std::array<LatencyHistogram, 3> windows_;
  // By epoch % 2: the current window's counts and the previous one's.
  std::array<WindowCounts, 2> counts_;
  std::atomic<int64_t> delay_us_;
  std::atomic<int64_t> published_us_{0};
};

}  // namespace strait::upstream
