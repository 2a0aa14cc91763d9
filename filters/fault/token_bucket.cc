#include "filters/fault/token_bucket.h"

#include <algorithm>

namespace strait::filters::fault {

TokenBucket::TokenBucket(uint64_t bytes_per_second, MonotonicTime now)
    : rate_(std::max<uint64_t>(bytes_per_second, 1)),
      capacity_(std::max<uint64_t>(rate_ / 20, 1)),
      tokens_(capacity_),
      last_(now) {}

void TokenBucket::refill(MonotonicTime now) {
  if (now <= last_) {
    return;
  }
  auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(now - last_);
  last_ = now;
  // The bucket is full after 50 ms; longer gaps add nothing and would only risk overflow.
  uint64_t us = std::min<uint64_t>(static_cast<uint64_t>(elapsed.count()), 1'000'000);
  uint64_t credit = us * rate_ + remainder_;  // in 1e-6 bytes; rate < 2^42, so < 2^62
  tokens_ += credit / 1'000'000;
  remainder_ = credit % 1'000'000;
  if (tokens_ >= capacity_) {
    tokens_ = capacity_;
    remainder_ = 0;
  }
}

uint64_t TokenBucket::available(MonotonicTime now) {
  refill(now);
  return tokens_;
}

uint64_t TokenBucket::consume(uint64_t wanted, MonotonicTime now) {
  refill(now);
  uint64_t granted = std::min(wanted, tokens_);
  tokens_ -= granted;
  return granted;
}

std::chrono::milliseconds TokenBucket::timeUntil(uint64_t bytes, MonotonicTime now) {
  refill(now);
  bytes = std::min(bytes, capacity_);
  if (tokens_ >= bytes) {
    return std::chrono::milliseconds(0);
  }
  // Micro-bytes still missing, divided by the rate, rounded up to whole milliseconds.
  uint64_t missing = (bytes - tokens_) * 1'000'000 - remainder_;
  uint64_t us = (missing + rate_ - 1) / rate_;
  return std::chrono::milliseconds((us + 999) / 1000);
}

}  // namespace strait::filters::fault
