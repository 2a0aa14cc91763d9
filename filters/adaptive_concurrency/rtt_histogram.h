#pragma once

// A lock-free histogram of round-trip times for one sample window: every worker adds with one
// relaxed fetch_add, the controller reads a percentile at the window's end. Buckets are
// log-linear over microseconds (16 per power of two, so a percentile is within ~6%), from 1 µs to
// more than an hour; a value is reported as its bucket's midpoint.

#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstdint>
#include <limits>

namespace strait::filters::adaptive_concurrency {

class RttHistogram {
 public:
  static constexpr uint32_t kSubBits = 4;
  static constexpr uint32_t kSub = 1u << kSubBits;
  static constexpr uint32_t kBuckets = (40 - kSubBits + 1) * kSub;

  void add(std::chrono::microseconds rtt) {
    const uint64_t us = rtt.count() <= 0 ? 0 : static_cast<uint64_t>(rtt.count());
    buckets_[indexOf(us)].fetch_add(1, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
    uint64_t seen = min_us_.load(std::memory_order_relaxed);
    while (us < seen && !min_us_.compare_exchange_weak(seen, us, std::memory_order_relaxed)) {
    }
  }

  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  // The smallest value added (exact), or zero when empty.
  std::chrono::microseconds min() const {
    const uint64_t us = min_us_.load(std::memory_order_relaxed);
    return std::chrono::microseconds(us == kNone ? 0 : static_cast<int64_t>(us));
  }
  // The value at `percentile` (1..100), or zero when empty.
  std::chrono::microseconds percentile(double percentile) const {
    const uint64_t total = count();
    if (total == 0) {
      return std::chrono::microseconds(0);
    }
    uint64_t rank = static_cast<uint64_t>(percentile / 100.0 * static_cast<double>(total) + 0.5);
    rank = rank == 0 ? 1 : rank;
    uint64_t seen = 0;
    for (uint32_t i = 0; i < kBuckets; ++i) {
      seen += buckets_[i].load(std::memory_order_relaxed);
      if (seen >= rank) {
        return std::chrono::microseconds(static_cast<int64_t>(midpointOf(i)));
      }
    }
    return std::chrono::microseconds(static_cast<int64_t>(midpointOf(kBuckets - 1)));
  }
  void clear() {
    for (auto& b : buckets_) {
      b.store(0, std::memory_order_relaxed);
    }
    count_.store(0, std::memory_order_relaxed);
    min_us_.store(kNone, std::memory_order_relaxed);
  }

  static uint32_t indexOf(uint64_t us) {
    if (us < kSub) {
      return static_cast<uint32_t>(us);
    }
    const uint32_t exponent = 63 - static_cast<uint32_t>(std::countl_zero(us));  // >= kSubBits
    const uint32_t sub = static_cast<uint32_t>(us >> (exponent - kSubBits)) & (kSub - 1);
    const uint32_t index = (exponent - kSubBits + 1) * kSub + sub;
    return index < kBuckets ? index : kBuckets - 1;
  }
  static uint64_t lowerBoundOf(uint32_t index) {
    if (index < kSub) {
      return index;
    }
    const uint32_t exponent = index / kSub + kSubBits - 1;
    const uint64_t sub = index % kSub;
    return (uint64_t{1} << exponent) + (sub << (exponent - kSubBits));
  }
  static uint64_t midpointOf(uint32_t index) {
    if (index < kSub) {
      return index;
    }
    const uint32_t exponent = index / kSub + kSubBits - 1;
    return lowerBoundOf(index) + ((uint64_t{1} << (exponent - kSubBits)) / 2);
  }

 private:
  static constexpr uint64_t kNone = std::numeric_limits<uint64_t>::max();
  std::array<std::atomic<uint64_t>, kBuckets> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> min_us_{kNone};
};

}  // namespace strait::filters::adaptive_concurrency
