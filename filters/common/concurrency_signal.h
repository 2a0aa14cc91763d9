#pragma once

// What an `adaptive_concurrency` controller publishes for the `load_shed` filter of the same
// listener: its limit, the requests it holds, and the queueing delay of the requests it admits
// (CoDel's input). One per listener per process, shared by both filters' factories whatever their
// order in the chain; carried over reloads like the controllers.
//
// Threads: written on the request path and by the controller's timer (relaxed atomics, no lock);
// read by the shedder on its timer and its request path. The values steer decisions; they guard
// no memory.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <string_view>

namespace strait::filters {

class ConcurrencySignal {
 public:
  // Published by the controller whenever it changes. limit 0: no controller publishes (the
  // listener has no adaptive_concurrency filter, or it is in dry_run).
  void publishLimit(uint32_t limit, uint32_t floor) {
    limit_.store(limit, std::memory_order_relaxed);
    floor_.store(floor, std::memory_order_relaxed);
  }
  void setInFlight(uint32_t in_flight) { in_flight_.store(in_flight, std::memory_order_relaxed); }
  // The requests waiting in the controller's queue for a slot.
  void setQueued(uint32_t queued) { queued_.store(queued, std::memory_order_relaxed); }

  uint32_t limit() const { return limit_.load(std::memory_order_relaxed); }
  uint32_t floor() const { return floor_.load(std::memory_order_relaxed); }
  uint32_t inFlight() const { return in_flight_.load(std::memory_order_relaxed); }
  uint32_t queued() const { return queued_.load(std::memory_order_relaxed); }
  // (in flight + queued) / limit: the demand on the limit, 1.0 = exactly at it; above 1 only while
  // requests queue. 0 when no limit is published.
  double demand() const {
    const uint32_t limit = this->limit();
    if (limit == 0) {
      return 0;
    }
    return static_cast<double>(inFlight() + queued()) / static_cast<double>(limit);
  }

  // The time an admitted request waited in the controller's queue (zero when admitted at once).
  // Keeps the minimum since the last takeMinQueueDelay(): a standing queue shows as a minimum
  // that stays above a target (CoDel).
  void recordQueueDelay(std::chrono::microseconds delay) {
    const int64_t us = delay.count();
    samples_.fetch_add(1, std::memory_order_relaxed);
    int64_t seen = min_delay_us_.load(std::memory_order_relaxed);
    while (us < seen &&
           !min_delay_us_.compare_exchange_weak(seen, us, std::memory_order_relaxed)) {
    }
  }
  struct QueueDelayWindow {
    uint64_t samples = 0;                 // requests admitted in the window
    std::chrono::microseconds min{0};     // their smallest queueing delay (0 when no sample)
  };
  // The window since the previous call, and a new one started. One reader (the shedder's timer).
  QueueDelayWindow takeMinQueueDelay() {
    QueueDelayWindow window;
    window.samples = samples_.exchange(0, std::memory_order_relaxed);
    const int64_t min =
        min_delay_us_.exchange(std::numeric_limits<int64_t>::max(), std::memory_order_relaxed);
    if (window.samples > 0 && min != std::numeric_limits<int64_t>::max()) {
      window.min = std::chrono::microseconds(min);
    }
    return window;
  }

 private:
  std::atomic<uint32_t> limit_{0};
  std::atomic<uint32_t> floor_{0};
  std::atomic<uint32_t> in_flight_{0};
  std::atomic<uint32_t> queued_{0};
  std::atomic<uint64_t> samples_{0};
  std::atomic<int64_t> min_delay_us_{std::numeric_limits<int64_t>::max()};
};

// The signal of `listener`, created on first use; the same object for every caller while one of
// them holds it. Called on the main thread when a factory is built (never per request).
std::shared_ptr<ConcurrencySignal> concurrencySignalFor(std::string_view listener);

}  // namespace strait::filters
