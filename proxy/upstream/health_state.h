#pragma once

// The threshold state machine of one host's active health check, kept apart from any I/O so that
// it can be tested directly: `unhealthy_threshold` consecutive failures turn a healthy host
// unhealthy, `healthy_threshold` consecutive successes turn an unhealthy host healthy again.
// A result that does not cross a threshold is no transition. Main thread only (not thread-safe).

#include <cstdint>

namespace strait::upstream {

enum class HealthTransition { None, BecameHealthy, BecameUnhealthy };

class HealthState {
 public:
  // Hosts of a static cluster start healthy ("healthy until proven otherwise"), so that a fresh
  // proxy serves at once instead of waiting `healthy_threshold` intervals (Envoy waits).
  HealthState(uint32_t healthy_threshold, uint32_t unhealthy_threshold, bool healthy = true)
      : healthy_threshold_(healthy_threshold == 0 ? 1 : healthy_threshold),
        unhealthy_threshold_(unhealthy_threshold == 0 ? 1 : unhealthy_threshold),
        healthy_(healthy) {}

  HealthTransition onSuccess();
  HealthTransition onFailure();

  bool healthy() const { return healthy_; }
  uint32_t consecutiveSuccesses() const { return successes_; }
  uint32_t consecutiveFailures() const { return failures_; }

 private:
  const uint32_t healthy_threshold_;
  const uint32_t unhealthy_threshold_;
  bool healthy_;
  uint32_t successes_ = 0;
  uint32_t failures_ = 0;
};

}  // namespace strait::upstream
