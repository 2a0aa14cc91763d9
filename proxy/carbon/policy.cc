#include "proxy/carbon/policy.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

namespace strait::carbon {

namespace {

// A capacity that is not a positive number (a caller's bug, or no healthy endpoint) is none.
double capacityOf(const LocalityInput& input) {
  return std::isfinite(input.capacity) && input.capacity > 0 ? input.capacity : 0;
}

double intensityOf(const LocalityInput& input) {
  const double intensity = input.intensity.value_or(CarbonPolicy::kIntensityFloor);
  // Written so that NaN also lands on the floor.
  return intensity >= CarbonPolicy::kIntensityFloor ? intensity : CarbonPolicy::kIntensityFloor;
}

std::vector<double> blindShares(const std::vector<LocalityInput>& inputs) {
  double total = 0;
  for (const auto& input : inputs) {
    total += capacityOf(input);
  }
  std::vector<double> shares(inputs.size(), 0.0);
  if (total > 0) {
    for (size_t i = 0; i < inputs.size(); i++) {
      shares[i] = capacityOf(inputs[i]) / total;
    }
  }
  return shares;
}

std::vector<bool> eligibility(const std::vector<LocalityInput>& inputs, double budget_ms) {
  std::optional<double> best;
  for (const auto& input : inputs) {
    if (capacityOf(input) > 0 && input.latency_ms.has_value()) {
      best = std::min(best.value_or(*input.latency_ms), *input.latency_ms);
    }
  }
  std::vector<bool> eligible(inputs.size(), false);
  for (size_t i = 0; i < inputs.size(); i++) {
    if (capacityOf(inputs[i]) <= 0) {
      continue;
    }
    if (!best.has_value()) {
      eligible[i] = true;  // nobody measured yet: nothing to compare against
    } else if (inputs[i].latency_ms.has_value()) {
      eligible[i] = *inputs[i].latency_ms <= *best + budget_ms;
    }
  }
  return eligible;
}

bool anyStale(const std::vector<LocalityInput>& inputs) {
  return std::any_of(inputs.begin(), inputs.end(), [](const LocalityInput& input) {
    return capacityOf(input) > 0 && !input.intensity.has_value();
  });
}

// The shares clamp(μ·w_i, lo, hi) summing to `total`, for weights w_i > 0 and
// n·lo <= total <= n·hi. g(μ) = Σ clamp(μ·w_i, lo, hi) is continuous, nondecreasing and linear
// between the breakpoints lo/w_i and hi/w_i, so μ is found exactly on the segment where g
// crosses `total`. (Clamping one side's violators, then renormalising, is not enough when both
// sides are violated at once.)
std::vector<double> waterFill(const std::vector<double>& weights, double lo, double hi,
                              double total) {
  auto sum = [&](double mu) {
    double s = 0;
    for (double w : weights) {
      s += std::clamp(mu * w, lo, hi);
    }
    return s;
  };
  std::vector<double> breakpoints;
  breakpoints.reserve(2 * weights.size());
  for (double w : weights) {
    breakpoints.push_back(lo / w);
    breakpoints.push_back(hi / w);
  }
  std::sort(breakpoints.begin(), breakpoints.end());
  double mu = breakpoints.empty() ? 0 : breakpoints.back();  // everything at hi, if not found
  double a = 0;
  double g_a = sum(0);
  if (g_a >= total) {
    mu = 0;  // everything at lo
  } else {
    for (double b : breakpoints) {
      const double g_b = sum(b);
      if (g_b >= total) {
        mu = a + (total - g_a) * (b - a) / (g_b - g_a);
        break;
      }
      a = b;
      g_a = g_b;
    }
  }
  std::vector<double> shares;
  shares.reserve(weights.size());
  for (double w : weights) {
    shares.push_back(std::clamp(mu * w, lo, hi));
  }
  return shares;
}

bool sameLocalities(const std::vector<config::Locality>& known,
                    const std::vector<LocalityInput>& inputs) {
  if (known.size() != inputs.size()) {
    return false;
  }
  for (size_t i = 0; i < known.size(); i++) {
    if (known[i].region != inputs[i].locality.region || known[i].zone != inputs[i].locality.zone) {
      return false;
    }
  }
  return true;
}

std::vector<config::Locality> identities(const std::vector<LocalityInput>& inputs) {
  std::vector<config::Locality> out;
  out.reserve(inputs.size());
  for (const auto& input : inputs) {
    out.push_back(input.locality);
  }
  return out;
}

double maxDifference(const std::vector<double>& a, const std::vector<double>& b) {
  double diff = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); i++) {
    diff = std::max(diff, std::abs(a[i] - b[i]));
  }
  return diff;
}

bool carbonBlind(const Weights& weights) {
  return weights.alpha_in_force <= 0;
}

int64_t microsOf(std::chrono::nanoseconds d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

}  // namespace

CarbonPolicy::CarbonPolicy(const config::CarbonAware& config, MonotonicTime now)
    : config_(config),
      start_(now),
      bucket_us_(
          std::max<int64_t>(1, microsOf(config.burn_window) / static_cast<int64_t>(kBurnBuckets))) {
  interactive_.alpha = config.alpha;
  interactive_.latency_budget_ms = static_cast<double>(config.latency_budget.count());
  deferrable_.alpha = config.deferrable_alpha;
  deferrable_.latency_budget_ms = static_cast<double>(config.deferrable_latency_budget.count());
  for (Track* track : {&interactive_, &deferrable_}) {
    track->last_change = now;
    track->in_force.mode = config.dry_run ? Mode::DryRun : Mode::CarbonBlindStale;
  }
}

// ---- the weights ------------------------------------------------------------------------------

Weights CarbonPolicy::compute(const Track& track) const {
  const size_t n = inputs_.size();
  Weights out;
  out.blind_shares = blindShares(inputs_);
  out.eligible = eligibility(inputs_, track.latency_budget_ms);
  out.mode = kill_switch_        ? Mode::KillSwitch
             : anyStale(inputs_) ? Mode::CarbonBlindStale
                                 : Mode::CarbonAware;
  const bool any_capacity =
      std::any_of(out.blind_shares.begin(), out.blind_shares.end(), [](double s) { return s > 0; });
  if (out.mode != Mode::CarbonAware || !(track.alpha > 0) || !any_capacity) {
    out.shares = out.blind_shares;
    out.alpha_in_force = 0;
    return out;
  }
  out.alpha_in_force = track.alpha;

  double eligible_capacity = 0;
  double weighted_intensity = 0;
  for (size_t i = 0; i < n; i++) {
    if (out.eligible[i]) {
      eligible_capacity += capacityOf(inputs_[i]);
      weighted_intensity += capacityOf(inputs_[i]) * intensityOf(inputs_[i]);
    }
  }
  out.reference = config_.reference_intensity > 0 ? config_.reference_intensity
                                                  : weighted_intensity / eligible_capacity;

  // Non-eligible localities first: held at the warm-up share, the eligible ones split the rest.
  const double min_share = std::clamp(config_.min_share, 0.0, 1.0);
  const double max_share = std::clamp(config_.max_share, 0.0, 1.0);
  out.shares.assign(n, 0.0);
  double rest = 1.0;
  std::vector<size_t> eligible;
  std::vector<double> log_weights;
  for (size_t i = 0; i < n; i++) {
    if (out.eligible[i]) {
      eligible.push_back(i);
      log_weights.push_back(std::log(capacityOf(inputs_[i])) +
                            track.alpha *
                                (std::log(out.reference) - std::log(intensityOf(inputs_[i]))));
    } else if (out.blind_shares[i] > 0) {
      out.shares[i] = std::min(min_share, out.blind_shares[i]);
      rest -= out.shares[i];
    }
  }
  // In logarithms, relative to the largest: a large alpha cannot overflow, and every weight is in
  // (0, 1] (floored at the smallest normal double, so that water-filling never divides by 0: such
  // a locality simply sits at the lower bound). The common factor does not change the shares.
  const double top = *std::max_element(log_weights.begin(), log_weights.end());
  std::vector<double> weights;
  weights.reserve(log_weights.size());
  for (double l : log_weights) {
    weights.push_back(std::max(std::exp(l - top), std::numeric_limits<double>::min()));
  }
  const double equal = rest / static_cast<double>(eligible.size());
  const std::vector<double> filled =
      waterFill(weights, std::min(min_share, equal), std::max(max_share, equal), rest);
  for (size_t k = 0; k < eligible.size(); k++) {
    out.shares[eligible[k]] = filled[k];
  }
  return out;
}

void CarbonPolicy::decide(Track& track, const Weights& computed, MonotonicTime now) const {
  auto apply = [&] {
    track.decided = computed;
    track.localities = identities(inputs_);
    track.last_change = now;
    track.started = true;
  };
  const bool dwelt = now - track.last_change >= config_.min_dwell;
  if (!track.started || !sameLocalities(track.localities, inputs_)) {
    apply();
  } else if (carbonBlind(computed)) {
    // Carbon-blind weights follow capacity at once, as the plain tier does; entering a blind mode
    // is the safety change that restarts the dwell.
    if (computed.mode != track.decided.mode) {
      track.last_change = now;
    }
    track.decided = computed;
  } else if (carbonBlind(track.decided)) {
    // Leaving a carbon-blind mode: a carbon shift, at most once per min_dwell. Meanwhile the
    // blind weights still follow capacity.
    if (dwelt) {
      apply();
    } else {
      track.decided.shares = computed.blind_shares;
      track.decided.blind_shares = computed.blind_shares;
      track.decided.eligible = computed.eligible;
    }
  } else {
    bool safety = false;
    for (size_t i = 0; i < inputs_.size(); i++) {
      const bool lost_capacity = capacityOf(inputs_[i]) <= 0 && track.decided.shares[i] > 0;
      const bool left_eligibility = track.decided.eligible[i] && !computed.eligible[i];
      safety = safety || lost_capacity || left_eligibility;
    }
    if (safety ||
        (dwelt && maxDifference(computed.shares, track.decided.shares) > config_.hysteresis)) {
      apply();
    }
  }
  if (config_.dry_run) {
    track.in_force = computed;
    track.in_force.shares = computed.blind_shares;
    track.in_force.mode = Mode::DryRun;
    track.in_force.alpha_in_force = 0;
    track.in_force.reference = 0;
  } else {
    track.in_force = track.decided;
  }
}

void CarbonPolicy::recompute(MonotonicTime now) {
  for (Track* track : {&interactive_, &deferrable_}) {
    decide(*track, compute(*track), now);
  }
}

const Weights& CarbonPolicy::update(const std::vector<LocalityInput>& localities,
                                    MonotonicTime now) {
  observeBurn(now);
  inputs_ = localities;
  recompute(now);
  return interactive_.in_force;
}

// ---- the kill switch --------------------------------------------------------------------------

int64_t CarbonPolicy::epochOf(MonotonicTime now) const {
  return std::max<int64_t>(0, microsOf(now - start_)) / bucket_us_;
}

CarbonPolicy::BurnCounts CarbonPolicy::burnCounts(MonotonicTime now) const {
  const int64_t epoch = epochOf(now);
  BurnCounts counts;
  for (const auto& bucket : burn_) {
    if (bucket.epoch >= 0 && bucket.epoch <= epoch &&
        bucket.epoch > epoch - static_cast<int64_t>(kBurnBuckets)) {
      counts.requests += bucket.requests;
      counts.errors += bucket.errors;
    }
  }
  return counts;
}

uint64_t CarbonPolicy::burnWindowRequests(MonotonicTime now) const {
  return burnCounts(now).requests;
}

double CarbonPolicy::burnRate(MonotonicTime now) const {
  const BurnCounts counts = burnCounts(now);
  if (counts.errors == 0) {
    return 0;
  }
  const double budget = 1.0 - config_.slo_target;
  if (!(budget > 0)) {
    return std::numeric_limits<double>::infinity();  // no error budget: any error burns it
  }
  return static_cast<double>(counts.errors) / static_cast<double>(counts.requests) / budget;
}

bool CarbonPolicy::observeBurn(MonotonicTime now) {
  const bool burning = burnRate(now) > config_.burn_rate_threshold;
  if (!kill_switch_) {
    if (burning && burnCounts(now).requests >= kMinBurnRequests) {
      kill_switch_ = true;
      calm_since_.reset();
      return true;
    }
    return false;
  }
  if (burning) {
    calm_since_.reset();
    return false;
  }
  if (!calm_since_.has_value()) {
    calm_since_ = now;
  }
  if (now - *calm_since_ >= config_.recovery) {
    kill_switch_ = false;
    calm_since_.reset();
  }
  return false;
}

void CarbonPolicy::recordOutcomes(uint64_t requests, uint64_t errors, MonotonicTime now) {
  if (requests == 0) {
    return;
  }
  const int64_t epoch = epochOf(now);
  BurnBucket& bucket = burn_[static_cast<size_t>(epoch) % kBurnBuckets];
  if (bucket.epoch != epoch) {
    bucket = BurnBucket{epoch, 0, 0};
  }
  bucket.requests += requests;
  bucket.errors += std::min(errors, requests);
  if (observeBurn(now)) {
    recompute(now);  // the trip applies at once, on the last localities known
  }
}

}  // namespace strait::carbon
