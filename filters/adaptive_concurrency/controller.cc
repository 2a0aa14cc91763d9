#include "filters/adaptive_concurrency/controller.h"

#include <algorithm>
#include <cmath>

namespace strait::filters::adaptive_concurrency {

namespace {

MonotonicTime earlier(MonotonicTime a, MonotonicTime b) { return a < b ? a : b; }

}  // namespace

ConcurrencyController::ConcurrencyController(AdaptiveConcurrencyConfig config, MonotonicTime now,
                                             uint64_t seed,
                                             std::shared_ptr<ConcurrencySignal> signal)
    : config_(std::move(config)),
      signal_(std::move(signal)),
      limit_(config_.initial_limit),
      estimate_(config_.initial_limit),
      steady_limit_(config_.initial_limit),
      rng_(seed == 0 ? 0x9e3779b97f4a7c15ull : seed) {
  // The first probe runs at the initial limit: there is no estimate to lower it by yet.
  window_end_ = now + config_.sample_window;
  probe_end_ = now + config_.min_rtt.max_duration;
  next_probe_ = probe_end_;
  probes_.store(1, std::memory_order_relaxed);
  setDue(probe_end_);
  publishLimit(config_.initial_limit);
}

void ConcurrencyController::setPublisher(std::function<void(const ControllerState&)> publisher) {
  publisher_ = std::move(publisher);
}

void ConcurrencyController::publishLimit(uint32_t limit) {
  limit_.store(limit, std::memory_order_seq_cst);
  if (signal_ != nullptr && config_.mode == FilterMode::Enforce) {
    signal_->publishLimit(limit, config_.min_limit);
  }
}

bool ConcurrencyController::tryTakeSlot() {
  uint32_t current = in_flight_.load(std::memory_order_seq_cst);
  while (current < limit_.load(std::memory_order_seq_cst)) {
    if (in_flight_.compare_exchange_weak(current, current + 1, std::memory_order_seq_cst)) {
      uint64_t peak = peak_in_flight_.load(std::memory_order_relaxed);
      while (current + 1 > peak &&
             !peak_in_flight_.compare_exchange_weak(peak, current + 1, std::memory_order_relaxed)) {
      }
      if (signal_ != nullptr) {
        signal_->setInFlight(current + 1);
      }
      return true;
    }
  }
  return false;
}

uint32_t ConcurrencyController::queueCapacity() const {
  return config_.queue.max + probe_extra_.load(std::memory_order_relaxed);
}

Admission ConcurrencyController::admit(MonotonicTime now, WaiterSource& source) {
  tick(now);
  Admission admission;
  admission.probing = probing_.load(std::memory_order_relaxed);
  if (config_.mode == FilterMode::DryRun) {
    const uint32_t before = in_flight_.fetch_add(1, std::memory_order_seq_cst);
    uint64_t peak = peak_in_flight_.load(std::memory_order_relaxed);
    while (before + 1 > peak &&
           !peak_in_flight_.compare_exchange_weak(peak, before + 1, std::memory_order_relaxed)) {
    }
    admission.dry_run_would_refuse = before >= limit_.load(std::memory_order_relaxed);
    admission.epoch = epoch_.load(std::memory_order_seq_cst);
    return admission;
  }
  if (tryTakeSlot()) {
    admission.epoch = epoch_.load(std::memory_order_seq_cst);
    return admission;
  }
  const uint32_t capacity = queueCapacity();
  if (capacity == 0) {
    admission.kind = Admission::Kind::Refused;
    admission.refusal = Refusal::OverLimit;
    return admission;
  }
  {
    std::lock_guard<std::mutex> guard(queue_lock_);
    if (tryTakeSlot()) {
      admission.epoch = epoch_.load(std::memory_order_seq_cst);
      return admission;
    }
    if (queued_.load(std::memory_order_seq_cst) >= capacity) {
      admission.kind = Admission::Kind::Refused;
      admission.refusal = Refusal::QueueFull;
      return admission;
    }
    if (queue_.size() > 2 * static_cast<size_t>(capacity) + 32) {  // drop cancelled entries
      std::erase_if(queue_, [](const std::shared_ptr<QueueWaiter>& w) {
        return w->state_.load(std::memory_order_relaxed) == QueueWaiter::kCancelled;
      });
    }
    queue_.push_back(source.makeWaiter());
    publishQueued(queued_.fetch_add(1, std::memory_order_seq_cst) + 1);
  }
  admission.kind = Admission::Kind::Queued;
  admission.queue_timeout = admission.probing
                                ? std::max(config_.min_rtt.queue_timeout, config_.queue.timeout)
                                : config_.queue.timeout;
  // A slot may have freed between our look and the enqueue: its releaser may not have seen us.
  drainQueue();
  return admission;
}

bool ConcurrencyController::complete(uint64_t epoch, std::chrono::microseconds rtt,
                                     MonotonicTime now) {
  const bool fresh = epoch == epoch_.load(std::memory_order_seq_cst);
  if (fresh) {
    RttHistogram& window = histograms_[window_.load(std::memory_order_relaxed) & 1];
    window.add(rtt);
    if (probing_.load(std::memory_order_relaxed) && window.count() >= config_.min_rtt.requests) {
      due_ns_.store(0, std::memory_order_relaxed);  // the probe has what it needs
    }
  }
  release();
  tick(now);
  return fresh;
}

void ConcurrencyController::release() {
  const uint32_t before = in_flight_.fetch_sub(1, std::memory_order_seq_cst);
  if (signal_ != nullptr) {
    signal_->setInFlight(before - 1);
  }
  if (queued_.load(std::memory_order_seq_cst) > 0) {
    drainQueue();
  }
}

bool ConcurrencyController::cancel(QueueWaiter& waiter) {
  int expected = QueueWaiter::kQueued;
  if (waiter.state_.compare_exchange_strong(expected, QueueWaiter::kCancelled,
                                            std::memory_order_seq_cst)) {
    publishQueued(queued_.fetch_sub(1, std::memory_order_seq_cst) - 1);
    return true;
  }
  return false;
}

void ConcurrencyController::drainQueue() {
  std::vector<std::shared_ptr<QueueWaiter>> admitted;
  {
    std::lock_guard<std::mutex> guard(queue_lock_);
    const bool lifo = config_.queue.order == QueueOrder::Lifo;
    auto served = [&]() -> std::shared_ptr<QueueWaiter>& {
      return lifo ? queue_.back() : queue_.front();
    };
    auto pop = [&] { lifo ? queue_.pop_back() : queue_.pop_front(); };
    while (true) {
      while (!queue_.empty() &&
             served()->state_.load(std::memory_order_seq_cst) == QueueWaiter::kCancelled) {
        pop();
      }
      if (queue_.empty() || !tryTakeSlot()) {
        break;
      }
      std::shared_ptr<QueueWaiter> waiter = std::move(served());
      pop();
      int expected = QueueWaiter::kQueued;
      if (waiter->state_.compare_exchange_strong(expected, QueueWaiter::kAdmitted,
                                                 std::memory_order_seq_cst)) {
        publishQueued(queued_.fetch_sub(1, std::memory_order_seq_cst) - 1);
        admitted.push_back(std::move(waiter));
      } else {
        const uint32_t before = in_flight_.fetch_sub(1, std::memory_order_seq_cst);  // cancelled
        if (signal_ != nullptr) {
          signal_->setInFlight(before - 1);
        }
      }
    }
  }
  const uint64_t epoch = epoch_.load(std::memory_order_seq_cst);
  for (const auto& waiter : admitted) {
    waiter->onAdmitted(epoch);
  }
}

void ConcurrencyController::tick(MonotonicTime now) {
  if (now.time_since_epoch().count() < due_ns_.load(std::memory_order_relaxed)) {
    return;
  }
  bool expected = false;
  if (!busy_.compare_exchange_strong(expected, true, std::memory_order_acquire)) {
    return;  // another thread is recalculating
  }
  recalculate(now);
  busy_.store(false, std::memory_order_release);
}

void ConcurrencyController::publishQueued(uint32_t queued) {
  if (signal_ != nullptr) {
    signal_->setQueued(queued);
  }
}

void ConcurrencyController::newEpoch() { epoch_.fetch_add(1, std::memory_order_seq_cst); }

MonotonicTime ConcurrencyController::nextProbeTime(MonotonicTime now) {
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 7;
  rng_ ^= rng_ << 17;
  const double u = static_cast<double>(rng_ >> 11) / static_cast<double>(uint64_t{1} << 53);
  const auto interval = std::chrono::duration_cast<std::chrono::nanoseconds>(
      config_.min_rtt.interval * (1.0 - config_.min_rtt.jitter * u));
  return now + interval;
}

void ConcurrencyController::recalculate(MonotonicTime now) {
  const uint64_t window = window_.load(std::memory_order_relaxed);
  RttHistogram& samples = histograms_[window & 1];
  auto nextWindow = [&] {
    histograms_[(window + 1) & 1].clear();
    window_.store(window + 1, std::memory_order_relaxed);
    peak_in_flight_.store(in_flight_.load(std::memory_order_relaxed), std::memory_order_relaxed);
  };
  if (phase_ == Phase::Probing) {
    if (samples.count() < config_.min_rtt.requests && now < probe_end_) {
      setDue(probe_end_);
      return;
    }
    if (samples.count() > 0) {
      min_rtt_us_.store(samples.percentile(config_.sample_percentile).count(),
                        std::memory_order_relaxed);
    }
    nextWindow();
    phase_ = Phase::Steady;
    estimate_ = steady_limit_;
    probe_extra_.store(0, std::memory_order_relaxed);
    probing_.store(false, std::memory_order_relaxed);
    newEpoch();
    publishLimit(static_cast<uint32_t>(std::lround(estimate_)));
    window_end_ = now + config_.sample_window;
    next_probe_ = nextProbeTime(now);
    setDue(earlier(window_end_, next_probe_));
    recalculations_.fetch_add(1, std::memory_order_relaxed);
    if (publisher_) {
      publisher_(state());
    }
    drainQueue();  // the limit is back up: queued requests get in
    return;
  }
  if (now >= next_probe_) {
    startProbe(now);
    nextWindow();
    if (publisher_) {
      publisher_(state());
    }
    return;
  }
  if (now < window_end_) {
    setDue(earlier(window_end_, next_probe_));
    return;
  }
  window_end_ = now + config_.sample_window;
  setDue(earlier(window_end_, next_probe_));
  if (samples.count() == 0) {
    return;  // nothing to learn from; the window is extended
  }
  const uint32_t before = limit_.load(std::memory_order_relaxed);
  steadyWindow(samples, peak_in_flight_.load(std::memory_order_relaxed));
  nextWindow();
  const uint32_t after = static_cast<uint32_t>(std::lround(estimate_));
  if (after != before) {
    newEpoch();
    publishLimit(after);
  }
  recalculations_.fetch_add(1, std::memory_order_relaxed);
  if (publisher_) {
    publisher_(state());
  }
  if (after > before) {
    drainQueue();
  }
}

void ConcurrencyController::startProbe(MonotonicTime now) {
  steady_limit_ = estimate_;
  double probe = estimate_;
  const int64_t min_rtt = min_rtt_us_.load(std::memory_order_relaxed);
  const int64_t sample_rtt = sample_rtt_us_.load(std::memory_order_relaxed);
  if (min_rtt > 0 && sample_rtt > min_rtt) {
    // Little's law: of the requests in flight, this many are served; the rest queue upstream.
    probe = std::ceil(estimate_ * static_cast<double>(min_rtt) / static_cast<double>(sample_rtt));
  }
  probe = std::clamp(probe, static_cast<double>(config_.min_limit), estimate_);
  const auto probe_limit = static_cast<uint32_t>(std::lround(probe));
  const auto steady = static_cast<uint32_t>(std::lround(steady_limit_));
  probe_extra_.store(steady > probe_limit ? steady - probe_limit : 0, std::memory_order_relaxed);
  phase_ = Phase::Probing;
  probing_.store(true, std::memory_order_relaxed);
  probe_end_ = now + config_.min_rtt.max_duration;
  probes_.fetch_add(1, std::memory_order_relaxed);
  newEpoch();
  publishLimit(probe_limit);
  setDue(probe_end_);
}

void ConcurrencyController::steadyWindow(const RttHistogram& window, uint64_t peak_in_flight) {
  const int64_t sample = std::max<int64_t>(1, window.percentile(config_.sample_percentile).count());
  sample_rtt_us_.store(sample, std::memory_order_relaxed);
  int64_t min_rtt = min_rtt_us_.load(std::memory_order_relaxed);
  if (min_rtt <= 0 || sample < min_rtt) {
    min_rtt = sample;  // the upstream got faster (or no probe finished yet)
    min_rtt_us_.store(min_rtt, std::memory_order_relaxed);
  }
  const double limit = estimate_;
  const double ratio = static_cast<double>(min_rtt) / static_cast<double>(sample);
  double next = limit;
  if (config_.algorithm == Algorithm::Gradient) {
    const double gradient = std::clamp(ratio * (1.0 + config_.gradient.buffer), 0.5, 2.0);
    gradient_milli_.store(std::lround(gradient * 1000), std::memory_order_relaxed);
    next = gradient * limit;
    next += std::sqrt(next);
  } else {
    gradient_milli_.store(std::lround(ratio * 1000), std::memory_order_relaxed);
    const double queue = limit * (1.0 - ratio);
    const double step = std::max(1.0, std::log10(limit));
    if (queue <= step) {
      next = limit + config_.vegas.beta * step;
    } else if (queue < config_.vegas.alpha * step) {
      next = limit + step;
    } else if (queue > config_.vegas.beta * step) {
      next = limit - step;
    }
    next = (1.0 - config_.vegas.smoothing) * limit + config_.vegas.smoothing * next;
  }
  if (next > limit && static_cast<double>(peak_in_flight) * 2 < limit) {
    next = limit;  // app-limited: this window never came near the limit
  }
  estimate_ = std::clamp(next, static_cast<double>(config_.min_limit),
                         static_cast<double>(config_.max_limit));
}

ControllerState ConcurrencyController::state() const {
  ControllerState s;
  s.limit = limit_.load(std::memory_order_relaxed);
  s.min_limit = config_.min_limit;
  s.in_flight = in_flight_.load(std::memory_order_relaxed);
  s.queued = queued_.load(std::memory_order_relaxed);
  s.min_rtt = std::chrono::microseconds(min_rtt_us_.load(std::memory_order_relaxed));
  s.sample_rtt = std::chrono::microseconds(sample_rtt_us_.load(std::memory_order_relaxed));
  s.gradient = static_cast<double>(gradient_milli_.load(std::memory_order_relaxed)) / 1000.0;
  s.probing = probing_.load(std::memory_order_relaxed);
  s.recalculations = recalculations_.load(std::memory_order_relaxed);
  s.probes = probes_.load(std::memory_order_relaxed);
  s.epoch = epoch_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace strait::filters::adaptive_concurrency
