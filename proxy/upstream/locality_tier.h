#pragma once

// The locality tier of a carbon-aware cluster (cluster `carbon_aware`, docs/config.md): which
// share of the cluster's requests each locality gets, in front of the load balancer that then
// picks a host within the locality; and what the request path measures per locality for the
// policy that sets those shares (proxy/carbon/policy.h, run by the server on the main thread):
// the latency to the response head, and the outcomes (for the SLO burn-rate kill switch).
//
// Scope: one LocalityTier PER CLUSTER PER PROCESS, owned by the ClusterInfo (so it lives while
// the cluster's shape is unchanged, across endpoint changes). Localities take one of kMaxSlots
// slots, by (region, zone), on the main thread when a host set is built (slotFor()), and keep it;
// a worker maps its host set's localities to slots once per host set (slotOf()), never per
// request. Thread-safety: slot assignment and setShares() on the main thread; pick(), record*()
// from any worker, lock-free; the slot names are written before the host set that uses them is
// published to the workers, and never change after.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/types.h"
#include "proxy/upstream/hedge_controller.h"

namespace strait::upstream {

class LocalityTier {
 public:
  static constexpr size_t kMaxSlots = 8;
  static constexpr uint32_t kShareScale = 1'000'000;  // shares are published in millionths

  explicit LocalityTier(const config::CarbonAware& config) : config_(config) {}
  LocalityTier(const LocalityTier&) = delete;
  LocalityTier& operator=(const LocalityTier&) = delete;

  const config::CarbonAware& config() const { return config_; }

  // Main thread: the slot of `locality`, assigned on first sight; nullopt when every slot is taken
  // (that locality then only gets requests through the carbon-blind balancer).
  std::optional<size_t> slotFor(const config::Locality& locality);
  // Any thread: the slot of `locality` if it has one.
  std::optional<size_t> slotOf(const config::Locality& locality) const;
  size_t slots() const { return used_.load(std::memory_order_acquire); }
  const config::Locality& locality(size_t slot) const { return names_[slot]; }

  // Main thread: the shares in force per slot (0..1; slots not listed get 0), for interactive and
  // deferrable routes. `active`: false publishes nothing to pick from (carbon-blind: the caller's
  // balancer over every host).
  void setShares(const std::vector<double>& interactive, const std::vector<double>& deferrable,
                 bool active);
  bool active() const { return active_.load(std::memory_order_relaxed); }
  double share(size_t slot, bool deferrable) const;

  // Any worker: a slot among `candidates` (the slots of the worker's host set), drawn by the
  // shares in force with `draw` uniform in [0, 1); nullopt when the tier is not active or no
  // candidate has a share.
  std::optional<size_t> pick(const std::vector<size_t>& candidates, bool deferrable,
                             double draw) const;

  // Any worker: an attempt to a host of `slot` got its response head after `latency`, and a
  // request routed there ended well or not.
  void recordLatency(size_t slot, std::chrono::microseconds latency);
  // `energy_wh`: what the upstream reported for it (the energy header), else the configured
  // wh_per_request counts.
  void recordOutcome(size_t slot, bool good, std::optional<double> energy_wh = std::nullopt);

  // Main thread, once per policy update: `latency_percentile` of the latencies recorded in `slot`
  // since the previous call (nullopt without samples), which starts a new window.
  std::optional<double> takeLatencyMs(size_t slot, double percentile);
  // Main thread: requests and bad outcomes of `slot` since the process started.
  uint64_t requests(size_t slot) const;
  uint64_t failures(size_t slot) const;
  // Main thread: the energy (Wh) of the requests of `slot` since the process started.
  double energyWh(size_t slot) const;

 private:
  struct Slot {
    std::atomic<uint32_t> interactive{0};
    std::atomic<uint32_t> deferrable{0};
    std::atomic<uint32_t> window{0};  // latencies_[window & 1] takes the samples
    std::array<LatencyHistogram, 2> latencies;
    std::atomic<uint64_t> requests{0};
    std::atomic<uint64_t> failures{0};
    std::atomic<uint64_t> energy_nwh{0};  // nanowatt-hours, so that a sum stays an integer
  };

  const config::CarbonAware config_;
  std::array<config::Locality, kMaxSlots> names_;
  std::atomic<size_t> used_{0};
  std::atomic<bool> active_{false};
  std::array<Slot, kMaxSlots> slots_;
};

}  // namespace strait::upstream
