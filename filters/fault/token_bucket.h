#pragma once

// A token bucket for the fault filter's `response_rate_limit`: how many response bytes may be
// written now, refilled at a fixed rate from the injected clock.
//
// Scope: one TokenBucket PER STREAM (a limited response), used only on its worker: not
// thread-safe, no allocation. Capacity is 50 ms of the rate (at least 1 byte), as Envoy's 50 ms
// fill interval: small enough that the output is smooth, large enough to write in chunks. The
// bucket starts full. Refill is exact integer arithmetic with the fractional byte carried, so
// the long-run rate has no drift.

#include <chrono>
#include <cstdint>

#include "strait/common/time.h"

namespace strait::filters::fault {

class TokenBucket {
 public:
  TokenBucket(uint64_t bytes_per_second, MonotonicTime now);
  static TokenBucket fromKbps(uint64_t kbps, MonotonicTime now) {
    return TokenBucket(kbps * 1024, now);
  }

  // Takes up to `wanted` bytes; returns how many may be written now.
  uint64_t consume(uint64_t wanted, MonotonicTime now);
  // How long until `bytes` (at most the capacity) are available; 0 if they are now. The caller
  // arms its timer with this after consume() gave less than it wanted.
  std::chrono::milliseconds timeUntil(uint64_t bytes, MonotonicTime now);

  uint64_t capacity() const { return capacity_; }
  uint64_t available(MonotonicTime now);

 private:
  void refill(MonotonicTime now);

  const uint64_t rate_;  // bytes per second
  const uint64_t capacity_;
  uint64_t tokens_;
  uint64_t remainder_ = 0;  // fraction of a byte, in 1e-6 byte units
  MonotonicTime last_;
};

}  // namespace strait::filters::fault
