#pragma once

// Outlier detection of one cluster (config `outlier_detection`): ejects endpoints that fail,
// by five detectors, and lets them back after an ejection time that grows with each ejection.
//
// Scope: one OutlierDetector per cluster PER PROCESS (per ClusterInfo). A new host set of the
// same cluster (an endpoint update) reaches it through updateHosts(): hosts that stay keep their
// streaks, ejections and multipliers (the state lives on the host, OutlierHostState), hosts that
// leave give their ejection back. Per-worker detectors would each see 1/N of a host's failures
// and eject N times too late at low traffic.
//
// Thread-safety:
// - report*() are called by any worker after every upstream attempt. The common path is a few
//   relaxed atomic increments on the host's own state: no lock, no allocation, no lookup.
// - When a consecutive-failure streak reaches its threshold, the reporting worker ejects the host
//   at once under `lock_` (rare: once per streak), reading the injected TimeSource.
// - evaluate() runs on the main thread every `interval` (the caller's timer), under `lock_`:
//   un-ejection, multiplier decay, success rate and failure percentage.
// - The verdict is Host::setEjected(), a relaxed atomic the load balancers read on every pick.
//
// Rules (docs/resilience-algorithms.md):
// - consecutive_5xx: 5xx responses, resets and timeouts in a row; any other response resets it.
// - consecutive_gateway_failure: 502/503/504, resets and timeouts in a row.
// - consecutive_local_origin_failure: connect failures in a row; any response resets it.
// - A streak that reaches its threshold triggers one ejection attempt and restarts from zero,
//   whether the ejection happened or was prevented.
// - success_rate: hosts with >= request_volume results in the interval, when there are >=
//   minimum_hosts of them; eject if rate < mean - stdev_factor/1000 * stdev (population stdev).
// - failure_percentage: same volume rules; eject if failures * 100 >= threshold * results.
// - Ejection time = min(base_ejection_time * multiplier, max_ejection_time), where multiplier
//   counts ejections (incremented on each) and decays by one at each evaluate() in which the host
//   is neither ejected nor was un-ejected. Un-ejection happens at the first evaluate() at or after
//   the ejection's end (so an ejection lasts its time rounded up to the next interval tick).
// - Limit: ejected hosts after the ejection <= max(1, floor(hosts * max_ejection_percent / 100))
//   when max_ejection_percent > 0 (0: never eject), and never the last host not ejected. A
//   prevented ejection counts in ejectionsOverflow(). With no host available the load balancers
//   use every host (panic mode), so at worst ejection has no effect.
// - enforcing false: the detector counts a detection (detected()) but does not eject.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "config/types.h"
#include "strait/common/time.h"
#include "strait/upstream/host.h"

namespace strait::upstream {

enum class OutlierDetectorKind : uint8_t {
  Consecutive5xx,
  ConsecutiveGatewayFailure,
  ConsecutiveLocalOriginFailure,
  SuccessRate,
  FailurePercentage,
};
inline constexpr size_t kOutlierDetectorKinds = 5;
// "consecutive_5xx", ...: the label value of the detector in stats.
const char* outlierDetectorName(OutlierDetectorKind kind);

class OutlierDetector {
 public:
  // `hosts` is copied (shared pointers): the hosts it judges until the next updateHosts().
  OutlierDetector(const config::OutlierDetection& config, const HostVector& hosts,
                  const TimeSource& time_source);
  ~OutlierDetector();

  // ---- from any worker, after each upstream attempt ---------------------------------------
  // A complete response (any status).
  void reportStatus(const Host& host, uint16_t status);
  // The connection to the host could not be established (refused, connect timeout).
  void reportConnectFailure(const Host& host);
  // The upstream reset or closed the stream before a complete response.
  void reportReset(const Host& host);
  // No response within the per-try or route timeout.
  void reportTimeout(const Host& host);

  // ---- main thread ------------------------------------------------------------------------
  // Every config.interval.
  void evaluate();
  // A new host set of the cluster is published: judge these hosts from now on. A host that left
  // while ejected is handed back (not ejected) and no longer counts against the limit.
  void updateHosts(const HostVector& hosts);

  // ---- stats and tests (any thread; relaxed reads) -----------------------------------------
  bool ejected(const Host& host) const;
  uint32_t multiplier(const Host& host) const;  // under the lock
  // When the current ejection of the host ends (meaningless when not ejected).
  MonotonicTime ejectedUntil(const Host& host) const;
  uint64_t ejectionsTotal(OutlierDetectorKind kind) const;     // enforced ejections
  uint64_t detected(OutlierDetectorKind kind) const;           // enforced or not
  uint64_t ejectionsActive() const { return active_.load(std::memory_order_relaxed); }
  uint64_t ejectionsOverflow() const { return overflow_.load(std::memory_order_relaxed); }
  // The most hosts that may be ejected at once (see the rules above).
  size_t maxEjected() const { return max_ejected_.load(std::memory_order_relaxed); }

 private:
  // A streak reached its threshold (a worker thread, or tests).
  void onStreak(const Host& host, OutlierDetectorKind kind, bool enforcing);
  // Under lock_. Ejects if the limits allow; counts the detection either way.
  void ejectLocked(Host& host, OutlierDetectorKind kind, bool enforcing, MonotonicTime now);
  void bumpStreak(std::atomic<uint32_t>& streak, uint32_t threshold, const Host& host,
                  OutlierDetectorKind kind, bool enforcing);
  void countResult(OutlierHostState& state, bool failure);
  void evaluateSuccessRate(MonotonicTime now);
  void evaluateFailurePercentage(MonotonicTime now);
  // The detector's own handle on `host`, or nullptr when it is not (or no longer) judged here.
  Host* memberLocked(const Host& host) const;

  const config::OutlierDetection config_;
  const TimeSource& time_source_;

  mutable std::mutex lock_;  // ejection state and hosts_; never taken on the per-result path
  HostVector hosts_;
  std::atomic<size_t> max_ejected_{0};
  std::array<std::atomic<uint64_t>, kOutlierDetectorKinds> ejections_{};
  std::array<std::atomic<uint64_t>, kOutlierDetectorKinds> detected_{};
  std::atomic<uint64_t> active_{0};
  std::atomic<uint64_t> overflow_{0};

  // Interval snapshots, reused by evaluate() (main thread, under lock_).
  struct Volume {
    size_t host;
    uint64_t results;
    uint64_t failures;
  };
  std::vector<Volume> volumes_;
};

}  // namespace strait::upstream
