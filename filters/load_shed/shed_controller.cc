#include "filters/load_shed/shed_controller.h"

#include <algorithm>

namespace strait::filters::load_shed {

namespace {

// Below this an empty window's decayed queue pressure is dropped to 0.
constexpr double kNegligiblePressure = 0.05;
// Draws are compared at this resolution.
constexpr uint64_t kDrawScale = 1'000'000;

double ratio(std::chrono::microseconds value, std::chrono::microseconds target) {
  if (target.count() <= 0) {
    return 0;
  }
  return static_cast<double>(value.count()) / static_cast<double>(target.count());
}

}  // namespace

const char* signalName(Signal signal) {
  switch (signal) {
    case Signal::QueueDelay:
      return "queue_delay";
    case Signal::Concurrency:
      return "concurrency";
    case Signal::EventLoopLag:
      return "event_loop_lag";
    case Signal::Cpu:
      return "cpu";
  }
  return "unknown";
}

ShedController::ShedController(const LoadShedConfig& config) : config_(config) {
  for (auto& p : pressures_) {
    p.store(0, std::memory_order_relaxed);
  }
}

double ShedController::queuePressure(const SignalSample& sample) const {
  if (sample.queue_samples == 0) {
    const double decayed = pressure(Signal::QueueDelay) / 2;
    return decayed < kNegligiblePressure ? 0 : decayed;
  }
  const std::chrono::microseconds target = config_.queue_delay_target;
  if (sample.queue_min <= target) {
    return 0;  // one request of the window did not wait long: no standing queue
  }
  return ratio(sample.queue_min, target);
}

double ShedController::lagPressure(std::chrono::microseconds lag) const {
  if (!config_.event_loop_lag_enabled) {
    return 0;
  }
  return ratio(lag, config_.event_loop_lag_threshold);
}

void ShedController::update(const SignalSample& sample) {
  std::array<double, kSignalCount> p{};
  if (config_.queue_delay_enabled) {
    p[static_cast<size_t>(Signal::QueueDelay)] = queuePressure(sample);
  }
  if (config_.concurrency_enabled && sample.limit > 0) {
    p[static_cast<size_t>(Signal::Concurrency)] =
        static_cast<double>(sample.in_flight + sample.queued) / static_cast<double>(sample.limit);
  }
  p[static_cast<size_t>(Signal::EventLoopLag)] = lagPressure(sample.max_event_loop_lag);
  if (config_.cpu_enabled && sample.cpu.has_value() && config_.cpu_threshold > 0) {
    p[static_cast<size_t>(Signal::Cpu)] = *sample.cpu / config_.cpu_threshold;
  }
  double overload = 0;
  Signal cause = Signal::QueueDelay;
  for (size_t i = 0; i < kSignalCount; ++i) {
    pressures_[i].store(p[i], std::memory_order_relaxed);
    // A worker's lag sheds only that worker's requests (decide()): not part of the overload.
    if (static_cast<Signal>(i) != Signal::EventLoopLag && p[i] > overload) {
      overload = p[i];
      cause = static_cast<Signal>(i);
    }
  }
  cause_.store(static_cast<uint8_t>(cause), std::memory_order_relaxed);
  overload_.store(overload, std::memory_order_relaxed);
}

double ShedController::curveProbability(const ShedCurve& curve, double overload) {
  if (overload < curve.start) {
    return 0;
  }
  if (overload >= curve.full) {
    return 1;
  }
  return (overload - curve.start) / (curve.full - curve.start);
}

double ShedController::probability(Priority priority) const {
  return curveProbability(config_.curves[static_cast<size_t>(priority)], overload());
}

Decision ShedController::decide(Priority priority, std::chrono::microseconds worker_lag,
                                double concurrency_demand, RandomGenerator& random) const {
  Decision decision;
  double overload = this->overload();
  decision.cause = cause();
  if (config_.concurrency_enabled && concurrency_demand > overload) {
    overload = concurrency_demand;
    decision.cause = Signal::Concurrency;
  }
  const double lag = lagPressure(worker_lag);
  if (lag > overload) {
    overload = lag;
    decision.cause = Signal::EventLoopLag;
  }
  decision.probability = curveProbability(config_.curves[static_cast<size_t>(priority)], overload);
  if (decision.probability <= 0) {
    return decision;
  }
  if (decision.probability >= 1) {
    decision.shed = true;
    return decision;
  }
  const auto threshold = static_cast<uint64_t>(decision.probability * kDrawScale);
  decision.shed = random.bounded(kDrawScale) < threshold;
  return decision;
}

}  // namespace strait::filters::load_shed
