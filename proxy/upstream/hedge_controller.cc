#include "proxy/upstream/hedge_controller.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace strait::upstream {

namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;

int64_t micros(std::chrono::milliseconds ms) { return ms.count() * 1000; }

}  // namespace

// ---- LatencyHistogram -------------------------------------------------------------------------

uint32_t LatencyHistogram::bucketOf(uint64_t micros) {
  if (micros < kSubBuckets) {
    return static_cast<uint32_t>(micros);
  }
  const uint32_t exponent = static_cast<uint32_t>(std::bit_width(micros)) - 1;  // >= 4
  if (exponent >= kMaxExponent) {
    return kBucketCount - 1;
  }
  const uint32_t sub = static_cast<uint32_t>(micros >> (exponent - 4)) & (kSubBuckets - 1);
  return kSubBuckets + (exponent - 4) * kSubBuckets + sub;
}

uint64_t LatencyHistogram::upperBoundOf(uint32_t bucket) {
  if (bucket < kSubBuckets) {
    return bucket;
  }
  const uint32_t exponent = (bucket - kSubBuckets) / kSubBuckets + 4;
  const uint64_t sub = (bucket - kSubBuckets) % kSubBuckets;
  return ((kSubBuckets + sub + 1) << (exponent - 4)) - 1;
}

void LatencyHistogram::record(uint64_t micros) {
  counts_[bucketOf(micros)].fetch_add(1, kRelaxed);
}

void LatencyHistogram::clear() {
  for (auto& count : counts_) {
    count.store(0, kRelaxed);
  }
}

uint64_t LatencyHistogram::count() const {
  uint64_t total = 0;
  for (const auto& count : counts_) {
    total += count.load(kRelaxed);
  }
  return total;
}

uint64_t LatencyHistogram::percentileMicros(double percentile) const {
  std::array<uint64_t, kBucketCount> snapshot;
  uint64_t total = 0;
  for (uint32_t i = 0; i < kBucketCount; i++) {
    snapshot[i] = counts_[i].load(kRelaxed);
    total += snapshot[i];
  }
  if (total == 0) {
    return 0;
  }
  // The rank of the percentile among the sorted values, 1-based (nearest-rank method).
  const auto rank = static_cast<uint64_t>(
      std::max(1.0, std::ceil(percentile / 100.0 * static_cast<double>(total))));
  uint64_t seen = 0;
  for (uint32_t i = 0; i < kBucketCount; i++) {
    seen += snapshot[i];
    if (seen >= rank) {
      return upperBoundOf(i);
    }
  }
  return upperBoundOf(kBucketCount - 1);
}

uint64_t LatencyHistogram::minSamples(double percentile) {
  const double above = 1.0 - percentile / 100.0;
  return std::max<uint64_t>(20, static_cast<uint64_t>(std::ceil(5.0 / above)));
}

// ---- HedgeController --------------------------------------------------------------------------

HedgeController::HedgeController(const config::HedgePolicy& policy, stats::Gauge delay_gauge)
    : policy_(policy),
      window_us_(std::max<int64_t>(1000, micros(policy.window))),
      delay_gauge_(delay_gauge),
      epoch_(-1),
      delay_us_(policy.percentile.has_value()
                    ? std::max(micros(policy.initial_delay), micros(policy.min_delay))
                    : micros(policy.delay)) {}

int64_t HedgeController::epochOf(MonotonicTime now) const {
  const int64_t us =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
  return us / window_us_;
}

double HedgeController::fraction(MonotonicTime now) const {
  const int64_t us =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
  return static_cast<double>(us % window_us_) / static_cast<double>(window_us_);
}

void HedgeController::publish(int64_t delay_us, stats::Shard& shard) {
  const int64_t old = published_us_.exchange(delay_us, kRelaxed);
  if (old != delay_us) {
    shard.add(delay_gauge_, delay_us - old);
  }
}

void HedgeController::maybeRotate(MonotonicTime now, stats::Shard& shard) {
  const int64_t epoch = epochOf(now);
  int64_t current = epoch_.load(kRelaxed);
  if (epoch <= current) {
    return;
  }
  if (!epoch_.compare_exchange_strong(current, epoch, kRelaxed)) {
    return;  // another worker rotates
  }
  if (current < 0) {
    // The first request: no window finished yet; every histogram and count starts empty.
    publish(delay_us_.load(kRelaxed), shard);
    return;
  }
  const bool adjacent = epoch == current + 1;
  if (policy_.percentile.has_value() && adjacent) {
    const LatencyHistogram& finished = windows_[static_cast<size_t>(current % 3)];
    if (finished.count() >= LatencyHistogram::minSamples(*policy_.percentile)) {
      const auto learned = static_cast<int64_t>(finished.percentileMicros(*policy_.percentile));
      delay_us_.store(std::max(learned, micros(policy_.min_delay)), kRelaxed);
    }
  }
  // The next window's histogram, and this one's when windows went by without a request (it
  // still holds what an older window recorded).
  windows_[static_cast<size_t>((epoch + 1) % 3)].clear();
  if (!adjacent) {
    windows_[static_cast<size_t>(epoch % 3)].clear();
  }
  WindowCounts& fresh = counts_[static_cast<size_t>(epoch % 2)];
  fresh.requests.store(0, kRelaxed);
  fresh.hedges.store(0, kRelaxed);
  if (!adjacent) {
    WindowCounts& previous = counts_[static_cast<size_t>((epoch + 1) % 2)];
    previous.requests.store(0, kRelaxed);
    previous.hedges.store(0, kRelaxed);
  }
  publish(delay_us_.load(kRelaxed), shard);
}

std::chrono::microseconds HedgeController::onRequest(MonotonicTime now, stats::Shard& shard) {
  maybeRotate(now, shard);
  counts_[static_cast<size_t>(epochOf(now) % 2)].requests.fetch_add(1, kRelaxed);
  return delay();
}

std::chrono::microseconds HedgeController::delay() const {
  return std::chrono::microseconds(delay_us_.load(kRelaxed));
}

void HedgeController::recordLatency(MonotonicTime now, std::chrono::microseconds latency,
                                    stats::Shard& shard) {
  if (!policy_.percentile.has_value()) {
    return;
  }
  maybeRotate(now, shard);
  windows_[static_cast<size_t>(epochOf(now) % 3)].record(
      static_cast<uint64_t>(std::max<int64_t>(0, latency.count())));
}

double HedgeController::weighted(MonotonicTime now, bool hedges) const {
  const int64_t epoch = epochOf(now);
  const int64_t current = epoch_.load(kRelaxed);
  if (current < 0 || epoch > current + 1) {
    return 0;  // nothing counted in the sliding window yet
  }
  auto value = [&](const WindowCounts& counts) {
    return static_cast<double>((hedges ? counts.hedges : counts.requests).load(kRelaxed));
  };
  const WindowCounts& now_counts = counts_[static_cast<size_t>(current % 2)];
  const WindowCounts& before = counts_[static_cast<size_t>((current + 1) % 2)];
  if (epoch == current + 1) {
    // `now` is in a window not rotated to yet: the current counts are its previous window's.
    return value(now_counts) * (1.0 - fraction(now));
  }
  return value(now_counts) + value(before) * (1.0 - fraction(now));
}

double HedgeController::windowRequests(MonotonicTime now) const { return weighted(now, false); }

double HedgeController::windowHedges(MonotonicTime now) const { return weighted(now, true); }

bool HedgeController::tryAcquireHedge(MonotonicTime now, stats::Shard& shard) {
  maybeRotate(now, shard);
  const double allowed = policy_.max_extra_load * windowRequests(now);
  if (windowHedges(now) + 1.0 > allowed) {
    return false;
  }
  counts_[static_cast<size_t>(epochOf(now) % 2)].hedges.fetch_add(1, kRelaxed);
  return true;
}

}  // namespace strait::upstream
