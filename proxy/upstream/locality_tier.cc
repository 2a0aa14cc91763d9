#include "proxy/upstream/locality_tier.h"

#include <algorithm>

namespace strait::upstream {

namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;

uint32_t scaled(double share) {
  const double clamped = std::clamp(share, 0.0, 1.0);
  return static_cast<uint32_t>(clamped * LocalityTier::kShareScale + 0.5);
}

bool sameLocality(const config::Locality& a, const config::Locality& b) {
  return a.region == b.region && a.zone == b.zone;
}

}  // namespace

std::optional<size_t> LocalityTier::slotFor(const config::Locality& locality) {
  if (std::optional<size_t> known = slotOf(locality)) {
    return known;
  }
  const size_t used = used_.load(kRelaxed);
  if (used == kMaxSlots) {
    return std::nullopt;
  }
  names_[used] = locality;
  used_.store(used + 1, std::memory_order_release);  // the name is written before it is counted
  return used;
}

std::optional<size_t> LocalityTier::slotOf(const config::Locality& locality) const {
  const size_t used = used_.load(std::memory_order_acquire);
  for (size_t i = 0; i < used; i++) {
    if (sameLocality(names_[i], locality)) {
      return i;
    }
  }
  return std::nullopt;
}

void LocalityTier::setShares(const std::vector<double>& interactive,
                             const std::vector<double>& deferrable, bool active) {
  for (size_t i = 0; i < kMaxSlots; i++) {
    slots_[i].interactive.store(i < interactive.size() ? scaled(interactive[i]) : 0, kRelaxed);
    slots_[i].deferrable.store(i < deferrable.size() ? scaled(deferrable[i]) : 0, kRelaxed);
  }
  active_.store(active, kRelaxed);
}

double LocalityTier::share(size_t slot, bool deferrable) const {
  const Slot& s = slots_[slot];
  return static_cast<double>((deferrable ? s.deferrable : s.interactive).load(kRelaxed)) /
         kShareScale;
}

std::optional<size_t> LocalityTier::pick(const std::vector<size_t>& candidates, bool deferrable,
                                         double draw) const {
  if (!active()) {
    return std::nullopt;
  }
  // The shares are of the localities the policy saw; a worker whose host set differs draws among
  // its own, in proportion.
  uint64_t total = 0;
  for (size_t slot : candidates) {
    const Slot& s = slots_[slot];
    total += (deferrable ? s.deferrable : s.interactive).load(kRelaxed);
  }
  if (total == 0) {
    return std::nullopt;
  }
  const auto target = static_cast<uint64_t>(draw * static_cast<double>(total));
  uint64_t seen = 0;
  for (size_t slot : candidates) {
    const Slot& s = slots_[slot];
    seen += (deferrable ? s.deferrable : s.interactive).load(kRelaxed);
    if (target < seen) {
      return slot;
    }
  }
  return candidates.back();
}

void LocalityTier::recordLatency(size_t slot, std::chrono::microseconds latency) {
  Slot& s = slots_[slot];
  s.latencies[s.window.load(kRelaxed) & 1].record(
      static_cast<uint64_t>(std::max<int64_t>(0, latency.count())));
}

void LocalityTier::recordOutcome(size_t slot, bool good, std::optional<double> energy_wh) {
  Slot& s = slots_[slot];
  s.requests.fetch_add(1, kRelaxed);
  const double wh = energy_wh.has_value() && *energy_wh >= 0 && *energy_wh < 1e6
                        ? *energy_wh
                        : config_.wh_per_request;
  s.energy_nwh.fetch_add(static_cast<uint64_t>(wh * 1e9 + 0.5), kRelaxed);
  if (!good) {
    s.failures.fetch_add(1, kRelaxed);
  }
}

std::optional<double> LocalityTier::takeLatencyMs(size_t slot, double percentile) {
  Slot& s = slots_[slot];
  const uint32_t window = s.window.fetch_add(1, kRelaxed);
  LatencyHistogram& finished = s.latencies[window & 1];
  std::optional<double> result;
  if (finished.count() > 0) {
    result = static_cast<double>(finished.percentileMicros(percentile)) / 1000.0;
  }
  finished.clear();
  return result;
}

uint64_t LocalityTier::requests(size_t slot) const { return slots_[slot].requests.load(kRelaxed); }

uint64_t LocalityTier::failures(size_t slot) const { return slots_[slot].failures.load(kRelaxed); }

double LocalityTier::energyWh(size_t slot) const {
  return static_cast<double>(slots_[slot].energy_nwh.load(kRelaxed)) / 1e9;
}

}  // namespace strait::upstream
