#pragma once

// The fault filter's decision: which faults (delay, abort, response bandwidth limit, response
// delay) one request gets, and which connection faults (reset, black hole) one accepted
// connection gets.
//
// Scope: one FaultDecider per fault filter config PER PROCESS (built with the config snapshot,
// shared by the workers). Its only mutable state is the active-fault cap (a process-wide
// lock-free ResourceLimit: `max_active_faults` counts faults in force across every worker, which
// is what an operator capping the blast radius means) and the stats counters (relaxed atomics).
// decide() is safe from any worker thread; the RandomGenerator passed in is the worker's own.
// No allocation.
//
// Sampling: each configured fault draws once, in the order delay, abort, rate limit, response
// delay, with random.bounded(kPercentScale) < percent; a percent of 0 or 100% draws nothing, so
// scripted tests see only the draws that matter.
//
// Header control (only when `header_control: true`, for trusted test traffic):
//   x-strait-fault-delay-ms: N           a delay of N ms (0..kMaxHeaderDelayMs), always applied
//   x-strait-fault-response-delay-ms: N  a response delay of N ms (same range), always applied
//   x-strait-fault-abort: STATUS|reset   an abort with that status (200..599) or a reset ...
//   x-strait-fault-abort-percent: P      ... at P percent (0..100; default 100)
// A malformed header value is ignored (counted in headerErrors()).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

#include "filters/common/request_match.h"
#include "filters/fault/config.h"
#include "proxy/upstream/resource_manager.h"
#include "strait/common/random.h"

namespace strait::filters::fault {

inline constexpr int64_t kMaxHeaderDelayMs = 60'000;

struct FaultDecision {
  bool delay = false;
  std::chrono::milliseconds delay_time{0};
  bool response_delay = false;
  std::chrono::milliseconds response_delay_time{0};
  bool abort = false;
  uint16_t abort_status = 0;  // 0 with abort_reset
  bool abort_reset = false;
  bool rate_limit = false;
  uint64_t rate_limit_kbps = 0;
  // Dry run: the faults above were decided but must not be applied (count only).
  bool dry_run = false;
  // The decision holds one slot of max_active_faults: give it back with FaultDecider::finish().
  bool holds_slot = false;
  // A fault was drawn but max_active_faults were in force: this request runs clean.
  bool overflowed = false;

  bool any() const { return delay || abort || rate_limit || response_delay; }
};

struct ConnectionFaultDecision {
  bool reset = false;
  bool black_hole = false;
  bool dry_run = false;
};

class FaultDecider {
 public:
  explicit FaultDecider(FaultConfig config);

  // For one request. Returns no fault when the match does not apply, or when a fault was drawn
  // but max_active_faults are already in force (counted in overflows()).
  FaultDecision decide(const RequestAttributes& request, RandomGenerator& random);
  // The request with that decision ended (or its faults are over): frees its slot. Idempotent.
  void finish(FaultDecision& decision);
  // For one accepted connection (reset is drawn first; black hole only if no reset). Connection
  // faults take no max_active_faults slot and no match applies (there is no request yet).
  ConnectionFaultDecision decideConnection(RandomGenerator& random);

  const FaultConfig& config() const { return config_; }
  uint64_t activeFaults() const { return active_.active(); }
  uint64_t overflows() const { return active_.overflows(); }
  uint64_t delaysInjected() const { return delays_.load(std::memory_order_relaxed); }
  uint64_t responseDelaysInjected() const {
    return response_delays_.load(std::memory_order_relaxed);
  }
  uint64_t abortsInjected() const { return aborts_.load(std::memory_order_relaxed); }
  uint64_t rateLimitsInjected() const { return rate_limits_.load(std::memory_order_relaxed); }
  uint64_t connectionResets() const { return connection_resets_.load(std::memory_order_relaxed); }
  uint64_t blackHoles() const { return black_holes_.load(std::memory_order_relaxed); }
  // Faults decided in dry run (not applied).
  uint64_t dryRunFaults() const { return dry_run_.load(std::memory_order_relaxed); }
  uint64_t headerErrors() const { return header_errors_.load(std::memory_order_relaxed); }

 private:
  static bool draw(uint32_t percent, RandomGenerator& random);
  void applyHeaders(const RequestAttributes& request, RandomGenerator& random,
                    FaultDecision& decision);
  // `name: N` (milliseconds, 0..kMaxHeaderDelayMs) sets a delay of N ms (none for 0).
  void applyHeaderDelay(const RequestAttributes& request, std::string_view name, bool& delay,
                        std::chrono::milliseconds& time);
  void count(std::atomic<uint64_t>& counter) { counter.fetch_add(1, std::memory_order_relaxed); }

  const FaultConfig config_;
  const RequestMatcher matcher_;
  upstream::ResourceLimit active_;
  std::atomic<uint64_t> delays_{0};
  std::atomic<uint64_t> response_delays_{0};
  std::atomic<uint64_t> aborts_{0};
  std::atomic<uint64_t> rate_limits_{0};
  std::atomic<uint64_t> connection_resets_{0};
  std::atomic<uint64_t> black_holes_{0};
  std::atomic<uint64_t> dry_run_{0};
  std::atomic<uint64_t> header_errors_{0};
};

using FaultDeciderSharedPtr = std::shared_ptr<FaultDecider>;

}  // namespace strait::filters::fault
