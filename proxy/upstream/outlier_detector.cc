#include "proxy/upstream/outlier_detector.h"

#include <algorithm>
#include <cmath>

namespace strait::upstream {

namespace {

size_t computeMaxEjected(size_t hosts, uint32_t percent) {
  if (percent == 0 || hosts <= 1) {
    return 0;
  }
  // Envoy users with 3 hosts and 10% found that floor(0.3) = 0 disabled ejection entirely; a
  // non-zero percentage allows at least one ejection here, but never all of the hosts.
  size_t by_percent = hosts * percent / 100;
  return std::min(std::max<size_t>(by_percent, 1), hosts - 1);
}

bool isGatewayStatus(uint16_t status) { return status == 502 || status == 503 || status == 504; }

}  // namespace

const char* outlierDetectorName(OutlierDetectorKind kind) {
  switch (kind) {
    case OutlierDetectorKind::Consecutive5xx:
      return "consecutive_5xx";
    case OutlierDetectorKind::ConsecutiveGatewayFailure:
      return "consecutive_gateway_failure";
    case OutlierDetectorKind::ConsecutiveLocalOriginFailure:
      return "consecutive_local_origin_failure";
    case OutlierDetectorKind::SuccessRate:
      return "success_rate";
    case OutlierDetectorKind::FailurePercentage:
      return "failure_percentage";
  }
  return "unknown";
}

OutlierDetector::OutlierDetector(const config::OutlierDetection& config, const HostVector& hosts,
                                 const TimeSource& time_source)
    : config_(config), time_source_(time_source) {
  updateHosts(hosts);
}

OutlierDetector::~OutlierDetector() {
  // The hosts may outlive the detector (a cluster rebuilt with new settings): hand them back.
  for (const HostSharedPtr& host : hosts_) {
    OutlierHostState& state = host->outlierState();
    if (state.ejected.load(std::memory_order_relaxed)) {
      state.ejected.store(false, std::memory_order_relaxed);
      host->setEjected(false);
    }
  }
}

void OutlierDetector::updateHosts(const HostVector& hosts) {
  std::lock_guard<std::mutex> guard(lock_);
  for (const HostSharedPtr& old : hosts_) {
    bool stays = std::any_of(hosts.begin(), hosts.end(),
                             [&](const HostSharedPtr& h) { return h.get() == old.get(); });
    OutlierHostState& state = old->outlierState();
    if (!stays && state.ejected.load(std::memory_order_relaxed)) {
      state.ejected.store(false, std::memory_order_relaxed);
      old->setEjected(false);
      active_.fetch_sub(1, std::memory_order_relaxed);
    }
  }
  hosts_ = hosts;
  max_ejected_.store(computeMaxEjected(hosts_.size(), config_.max_ejection_percent),
                     std::memory_order_relaxed);
  volumes_.reserve(hosts_.size());
}

Host* OutlierDetector::memberLocked(const Host& host) const {
  for (const HostSharedPtr& h : hosts_) {
    if (h.get() == &host) {
      return h.get();
    }
  }
  return nullptr;
}

// ---- reports (workers) --------------------------------------------------------------------------

void OutlierDetector::countResult(OutlierHostState& state, bool failure) {
  // Late answers from an ejected host would be judged in the interval it comes back.
  if (state.ejected.load(std::memory_order_relaxed)) {
    return;
  }
  state.results.fetch_add(1, std::memory_order_relaxed);
  if (failure) {
    state.failures.fetch_add(1, std::memory_order_relaxed);
  }
}

void OutlierDetector::bumpStreak(std::atomic<uint32_t>& streak, uint32_t threshold,
                                 const Host& host, OutlierDetectorKind kind, bool enforcing) {
  if (threshold == 0) {
    return;
  }
  // Exactly one reporter sees the streak reach the threshold; it restarts the streak, so a
  // prevented ejection gets another chance after `threshold` more failures and a host that keeps
  // failing does not take the lock on every result.
  if (streak.fetch_add(1, std::memory_order_relaxed) + 1 == threshold) {
    streak.store(0, std::memory_order_relaxed);
    onStreak(host, kind, enforcing);
  }
}

void OutlierDetector::reportStatus(const Host& host, uint16_t status) {
  OutlierHostState& slot = host.outlierState();
  bool is_5xx = status >= 500 && status <= 599;
  countResult(slot, is_5xx);
  // A response proves the connection works.
  slot.consecutive_local_origin.store(0, std::memory_order_relaxed);
  if (slot.ejected.load(std::memory_order_relaxed)) {
    return;  // a late answer from an ejected host extends no streak
  }
  if (!is_5xx) {
    slot.consecutive_5xx.store(0, std::memory_order_relaxed);
    slot.consecutive_gateway.store(0, std::memory_order_relaxed);
    return;
  }
  bumpStreak(slot.consecutive_5xx, config_.consecutive_5xx, host,
             OutlierDetectorKind::Consecutive5xx, config_.enforcing.consecutive_5xx);
  if (isGatewayStatus(status)) {
    bumpStreak(slot.consecutive_gateway, config_.consecutive_gateway_failure, host,
               OutlierDetectorKind::ConsecutiveGatewayFailure,
               config_.enforcing.consecutive_gateway_failure);
  } else {
    slot.consecutive_gateway.store(0, std::memory_order_relaxed);
  }
}

void OutlierDetector::reportReset(const Host& host) {
  OutlierHostState& slot = host.outlierState();
  countResult(slot, true);
  if (slot.ejected.load(std::memory_order_relaxed)) {
    return;
  }
  bumpStreak(slot.consecutive_5xx, config_.consecutive_5xx, host,
             OutlierDetectorKind::Consecutive5xx, config_.enforcing.consecutive_5xx);
  bumpStreak(slot.consecutive_gateway, config_.consecutive_gateway_failure, host,
             OutlierDetectorKind::ConsecutiveGatewayFailure,
             config_.enforcing.consecutive_gateway_failure);
}

void OutlierDetector::reportTimeout(const Host& host) { reportReset(host); }

void OutlierDetector::reportConnectFailure(const Host& host) {
  OutlierHostState& slot = host.outlierState();
  countResult(slot, true);
  if (slot.ejected.load(std::memory_order_relaxed)) {
    return;
  }
  bumpStreak(slot.consecutive_local_origin, config_.consecutive_local_origin_failure, host,
             OutlierDetectorKind::ConsecutiveLocalOriginFailure,
             config_.enforcing.consecutive_local_origin_failure);
}

void OutlierDetector::onStreak(const Host& host, OutlierDetectorKind kind, bool enforcing) {
  std::lock_guard<std::mutex> guard(lock_);
  // A late report for a host an endpoint update removed judges nothing.
  if (Host* member = memberLocked(host)) {
    ejectLocked(*member, kind, enforcing, time_source_.monotonicTime());
  }
}

// ---- ejection -----------------------------------------------------------------------------------

void OutlierDetector::ejectLocked(Host& host, OutlierDetectorKind kind, bool enforcing,
                                  MonotonicTime now) {
  OutlierHostState& slot = host.outlierState();
  if (slot.ejected.load(std::memory_order_relaxed)) {
    return;  // two detectors agreeing is one ejection
  }
  detected_[static_cast<size_t>(kind)].fetch_add(1, std::memory_order_relaxed);
  if (!enforcing) {
    return;
  }
  // Checked against the count after this ejection; max_ejected_ < hosts keeps one host in.
  if (active_.load(std::memory_order_relaxed) + 1 > max_ejected_.load(std::memory_order_relaxed)) {
    overflow_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  slot.multiplier++;
  auto base = std::chrono::duration_cast<std::chrono::milliseconds>(config_.base_ejection_time);
  auto time = std::min<std::chrono::milliseconds>(base * slot.multiplier,
                                                  config_.max_ejection_time);
  slot.ejected_until = now + time;
  slot.ejected.store(true, std::memory_order_relaxed);
  host.setEjected(true);
  active_.fetch_add(1, std::memory_order_relaxed);
  ejections_[static_cast<size_t>(kind)].fetch_add(1, std::memory_order_relaxed);
}

// ---- interval evaluation (main thread) ----------------------------------------------------------

void OutlierDetector::evaluate() {
  std::lock_guard<std::mutex> guard(lock_);
  const MonotonicTime now = time_source_.monotonicTime();
  for (size_t i = 0; i < hosts_.size(); ++i) {
    OutlierHostState& slot = hosts_[i]->outlierState();
    if (slot.ejected.load(std::memory_order_relaxed)) {
      if (now >= slot.ejected_until) {
        slot.ejected.store(false, std::memory_order_relaxed);
        hosts_[i]->setEjected(false);
        active_.fetch_sub(1, std::memory_order_relaxed);
        // Streaks restart: failures from before the ejection say nothing about the host now.
        slot.consecutive_5xx.store(0, std::memory_order_relaxed);
        slot.consecutive_gateway.store(0, std::memory_order_relaxed);
        slot.consecutive_local_origin.store(0, std::memory_order_relaxed);
      }
    } else if (slot.multiplier > 0) {
      slot.multiplier--;  // a whole interval in service: the next ejection is shorter
    }
  }
  volumes_.clear();
  for (size_t i = 0; i < hosts_.size(); ++i) {
    OutlierHostState& slot = hosts_[i]->outlierState();
    uint64_t results = slot.results.exchange(0, std::memory_order_relaxed);
    uint64_t failures = slot.failures.exchange(0, std::memory_order_relaxed);
    if (!slot.ejected.load(std::memory_order_relaxed)) {
      volumes_.push_back({i, results, std::min(failures, results)});
    }
  }
  if (config_.success_rate) {
    evaluateSuccessRate(now);
  }
  if (config_.failure_percentage) {
    evaluateFailurePercentage(now);
  }
}

void OutlierDetector::evaluateSuccessRate(MonotonicTime now) {
  const config::OutlierSuccessRate& rule = *config_.success_rate;
  double sum = 0;
  size_t n = 0;
  for (const Volume& v : volumes_) {
    if (v.results >= rule.request_volume) {
      sum += 100.0 * static_cast<double>(v.results - v.failures) / static_cast<double>(v.results);
      ++n;
    }
  }
  if (n == 0 || n < rule.minimum_hosts) {
    return;
  }
  const double mean = sum / static_cast<double>(n);
  double variance = 0;
  for (const Volume& v : volumes_) {
    if (v.results >= rule.request_volume) {
      double rate =
          100.0 * static_cast<double>(v.results - v.failures) / static_cast<double>(v.results);
      variance += (rate - mean) * (rate - mean);
    }
  }
  const double stdev = std::sqrt(variance / static_cast<double>(n));
  const double threshold = mean - (static_cast<double>(rule.stdev_factor) / 1000.0) * stdev;
  // Worst first, so that when max_ejection_percent stops the ejections the worst hosts are out.
  auto rate = [](const Volume& v) {
    return static_cast<double>(v.results - v.failures) / static_cast<double>(v.results);
  };
  std::vector<Volume> below;
  for (const Volume& v : volumes_) {
    if (v.results >= rule.request_volume &&
        100.0 * rate(v) < threshold) {
      below.push_back(v);
    }
  }
  std::stable_sort(below.begin(), below.end(),
                   [&](const Volume& a, const Volume& b) { return rate(a) < rate(b); });
  for (const Volume& v : below) {
    ejectLocked(*hosts_[v.host], OutlierDetectorKind::SuccessRate, config_.enforcing.success_rate, now);
  }
}

void OutlierDetector::evaluateFailurePercentage(MonotonicTime now) {
  const config::OutlierFailurePercentage& rule = *config_.failure_percentage;
  size_t n = 0;
  for (const Volume& v : volumes_) {
    n += v.results >= rule.request_volume ? 1 : 0;
  }
  if (n == 0 || n < rule.minimum_hosts) {
    return;
  }
  // Highest failure share first (integer cross-multiplication: exact).
  std::vector<Volume> over;
  for (const Volume& v : volumes_) {
    if (v.results >= rule.request_volume && v.failures * 100 >= rule.threshold * v.results) {
      over.push_back(v);
    }
  }
  std::stable_sort(over.begin(), over.end(), [](const Volume& a, const Volume& b) {
    return a.failures * b.results > b.failures * a.results;
  });
  for (const Volume& v : over) {
    ejectLocked(*hosts_[v.host], OutlierDetectorKind::FailurePercentage,
                config_.enforcing.failure_percentage, now);
  }
}

// ---- stats --------------------------------------------------------------------------------------

bool OutlierDetector::ejected(const Host& host) const {
  return host.outlierState().ejected.load(std::memory_order_relaxed);
}

uint32_t OutlierDetector::multiplier(const Host& host) const {
  std::lock_guard<std::mutex> guard(lock_);
  return host.outlierState().multiplier;
}

MonotonicTime OutlierDetector::ejectedUntil(const Host& host) const {
  std::lock_guard<std::mutex> guard(lock_);
  return host.outlierState().ejected_until;
}

uint64_t OutlierDetector::ejectionsTotal(OutlierDetectorKind kind) const {
  return ejections_[static_cast<size_t>(kind)].load(std::memory_order_relaxed);
}

uint64_t OutlierDetector::detected(OutlierDetectorKind kind) const {
  return detected_[static_cast<size_t>(kind)].load(std::memory_order_relaxed);
}

}  // namespace strait::upstream
