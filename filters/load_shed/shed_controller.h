#pragma once

// The load_shed filter's controller: turns the overload signals into a shedding probability per
// priority class.
//
// Algorithm. Every signal is normalised to a pressure, 1.0 = at its target:
//  - queue_delay (CoDel): the minimum queueing delay of the requests adaptive_concurrency
//    admitted during one interval, over `queue_delay_target`, when that minimum is above the
//    target (every request of the window waited longer than the target: a standing queue, not a
//    burst); 0 as soon as one request of the window waited less. A window without any sample
//    carries no information: the previous pressure is halved (so shedding fades out over a few
//    intervals instead of stopping at once when traffic pauses).
//  - concurrency: in_flight / limit of the adaptive_concurrency limit, when one is published.
//  - event_loop_lag: the lag of the request's own worker over its threshold (per worker: a
//    stalled worker sheds its own requests, not the others').
//  - cpu: the process's CPU utilisation over its threshold.
// The overload o is the largest pressure; its signal is the cause. A class's probability is 0 up
// to its curve's `start`, rises linearly to 1 at `full` (ShedCurve); the defaults shed
// nice_to_have from o = 1.0, important from 1.25 and critical only past the hard limit 3.0.
//
// Sampling: update() runs on one thread (the main thread's timer, every interval) with what the
// factory read from the signals; decide() runs on every worker per request.
//
// Thread-safety: update() has one caller at a time; decide() and the readers may run on any
// thread concurrently with it. The state is a handful of relaxed atomics (no lock, no
// allocation): a decision may mix the overload of one interval with the cause of the next, which
// only mislabels a shed request at the instant the cause changes.
//
// Scope: one controller per load_shed entry per process, carried over a reload when the entry is
// unchanged.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>

#include "filters/load_shed/config.h"
#include "strait/common/random.h"

namespace strait::filters::load_shed {

enum class Signal : uint8_t { QueueDelay = 0, Concurrency = 1, EventLoopLag = 2, Cpu = 3 };
inline constexpr size_t kSignalCount = 4;
const char* signalName(Signal signal);

// What the factory's timer read from the signals for one interval.
struct SignalSample {
  uint64_t queue_samples = 0;              // requests admitted in the window
  std::chrono::microseconds queue_min{0};  // their smallest queueing delay
  uint32_t limit = 0;                      // adaptive_concurrency limit; 0: none published
  uint32_t in_flight = 0;
  uint32_t queued = 0;                     // waiting in adaptive_concurrency's queue
  std::chrono::microseconds max_event_loop_lag{0};  // the worst worker (for the gauge only)
  std::optional<double> cpu;                        // utilisation; nullopt: unknown
};

struct Decision {
  bool shed = false;
  Signal cause = Signal::QueueDelay;  // the largest pressure (meaningful when probability > 0)
  double probability = 0;
};

class ShedController {
 public:
  explicit ShedController(const LoadShedConfig& config);

  // One interval's signals (one caller at a time).
  void update(const SignalSample& sample);

  // Whether to shed a request of `priority` on a worker whose event loop lags by `worker_lag`,
  // when adaptive_concurrency's demand ((in flight + queued) / limit, ConcurrencySignal::demand())
  // is `concurrency_demand` now: the concurrency signal is read per request, not per interval, so
  // the lower classes are shed before the limit's queue fills and refuses every class alike.
  // Draws from `random` only when the probability is strictly between 0 and 1.
  Decision decide(Priority priority, std::chrono::microseconds worker_lag,
                  double concurrency_demand, RandomGenerator& random) const;

  // The overload without any worker's lag, its cause, and each signal's last pressure
  // (event_loop_lag: the worst worker's).
  double overload() const { return overload_.load(std::memory_order_relaxed); }
  Signal cause() const { return static_cast<Signal>(cause_.load(std::memory_order_relaxed)); }
  double pressure(Signal signal) const {
    return pressures_[static_cast<size_t>(signal)].load(std::memory_order_relaxed);
  }
  // The probability of `priority` at overload().
  double probability(Priority priority) const;

  static double curveProbability(const ShedCurve& curve, double overload);
  double lagPressure(std::chrono::microseconds lag) const;
  const LoadShedConfig& config() const { return config_; }

 private:
  double queuePressure(const SignalSample& sample) const;

  const LoadShedConfig config_;
  std::atomic<double> overload_{0};
  std::atomic<uint8_t> cause_{0};
  std::array<std::atomic<double>, kSignalCount> pressures_{};
};

static_assert(std::atomic<double>::is_always_lock_free, "the request path takes no lock");

}  // namespace strait::filters::load_shed
