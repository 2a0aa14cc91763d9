#pragma once

// The carbon-aware weight policy of one cluster (cluster `carbon_aware`, config::CarbonAware):
// from what the locality tier knows about each locality (healthy capacity, measured latency,
// fresh carbon intensity), the share of the cluster's traffic each locality gets, for interactive
// traffic and, separately, for deferrable traffic (routes marked `carbon: deferrable`).
//
// The computation, in this order (each rule is the product's semantics, not a detail):
//
//  1. Carbon-blind shares: share_i ∝ capacity_i over the localities with capacity > 0. This is
//     what the plain locality tier would do, and the counterfactual every carbon saving is
//     measured against. A locality with capacity 0 gets share 0, always, in every mode. When no
//     locality has capacity, every share is 0 (the shares then sum to 0, not 1: there is nowhere
//     to route, and the load balancer's own panic handling takes over).
//  2. Mode. KillSwitch while the kill switch holds (rule 6); else CarbonBlindStale when any
//     locality WITH capacity has no fresh intensity (a zero-capacity locality's signal does not
//     matter: it gets nothing anyway); else CarbonAware. In KillSwitch and CarbonBlindStale, and
//     whenever the alpha in force is 0 (configured alpha <= 0), the shares are exactly the
//     carbon-blind shares: no latency eligibility, no min/max clamping. Never route towards a
//     locality because its data is missing.
//  3. Eligibility (latency): a locality with capacity is eligible when its latency is at most
//     best + latency_budget, best being the lowest latency among the localities with capacity and
//     latency samples. A locality with capacity but no samples yet is NOT eligible while another
//     locality has samples: it is held at the warm-up share (rule 4) until the proxy has measured
//     it, so no traffic is shifted onto a locality of unknown latency. When no locality has
//     samples (start-up), every locality with capacity is eligible: there is nothing to compare
//     against, and carbon-blind routing would know no more.
//  4. Shares. A non-eligible locality with capacity gets min(min_share, its blind share): enough
//     to keep its pools and latency estimate warm, never more than carbon-blind routing would give
//     it (with min_share 0 it gets nothing and therefore is never measured again). The eligible
//     localities split the rest in proportion to their raw weights
//         w_i = capacity_i × (reference / max(intensity_i, kIntensityFloor))^alpha,
//     with reference = reference_intensity, or when that is 0 the capacity-weighted mean intensity
//     of the eligible localities. The reference scales every w_i by the same factor, so it does
//     not move the shares; it is reported (Weights::reference) for the status page. Each eligible
//     share is clamped into [min_share, max_share] and the rest renormalised (water-filling:
//     share_i = clamp(μ·w_i, min_share, max_share) for the μ that makes them sum to what the
//     non-eligible localities leave, so that all shares sum to 1). When the
//     bounds cannot all hold (one eligible locality, min_share × n > 1, max_share × n < 1), they
//     widen to the equal share of what the eligible localities split: a single locality takes
//     everything; too many localities for min_share get equal shares.
//  5. Hysteresis and dwell. The computed weights replace those in force only when some share
//     differs by more than `hysteresis` (absolute) AND min_dwell has passed since the last change.
//     Except, applied at once (safety over stability): the first update; a change of the list of
//     localities (added, removed, reordered); a locality with a share in force losing all
//     capacity; a locality leaving eligibility; a change into a carbon-blind mode
//     (CarbonBlindStale, KillSwitch). Carbon-blind weights follow capacity at once (as the plain
//     tier does: only carbon shifts are damped). Leaving a carbon-blind mode for CarbonAware is a
//     change like any other and waits for min_dwell since the last change (so a signal flapping
//     between fresh and stale flaps the weights at most once per min_dwell); until then the
//     weights in force, mode included, stay carbon-blind (so interactive().mode may still read
//     KillSwitch after killSwitchActive() turned false, when min_dwell exceeds `recovery`).
//  6. Kill switch. The burn rate is errors / requests over the last burn_window (kBurnBuckets
//     buckets, so to a tenth of the window) divided by the error budget (1 - slo_target). It trips
//     when the burn rate exceeds burn_rate_threshold with at least kMinBurnRequests requests in
//     the window (so a handful of errors on a quiet cluster does not trip it); the trip applies at
//     once, inside recordOutcome(), to both traffic classes (no dwell: safety first). It is
//     released once the burn rate stayed at or below the threshold for `recovery`, observed at
//     recordOutcome() and update(); the minimum request count does not apply to the release, so a
//     quiet cluster that still fails stays carbon-blind, while a quiet window without errors
//     counts as calm. The release shows in the weights at the next update().
//  7. dry_run: all of the above is computed as if enforced (computed()), but the weights in force
//     are the carbon-blind ones with Mode::DryRun.
//  8. Deferrable traffic: the same computation with deferrable_alpha and deferrable_latency_budget
//     (min/max share, hysteresis and min_dwell are the cluster's), with its own hysteresis and
//     dwell state; the kill switch and staleness are the cluster's, shared.
//
// The caller chooses what goes in: signals of carbon_signals' type and this emission_factor, not
// older than their ttl (else nullopt), and latencies at latency_percentile of its own
// measurements; the policy only reads the numbers.
//
// Scope: one CarbonPolicy per cluster with `carbon_aware`, owned by the server next to the
// cluster's locality tier (proxy/server/server_carbon.cc), which it feeds once a second.
// Thread-safety: none; the owner serialises every call (outcomes from several workers are posted
// to it or taken under its lock). Time comes from the caller (a simulated clock in tests); nothing
// here reads a clock.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "config/types.h"
#include "strait/common/time.h"

namespace strait::carbon {

// What the locality tier knows about one locality of a cluster at an update.
struct LocalityInput {
  config::Locality locality;         // identity (region, zone)
  double capacity = 0;               // total weight of its healthy endpoints (0: none healthy)
  std::optional<double> latency_ms;  // its recent latency percentile as measured by the proxy;
                                     // nullopt: no samples yet
  std::optional<double> intensity;   // gCO2eq/kWh from a fresh signal of the configured type;
                                     // nullopt: missing or stale
};

enum class Mode : uint8_t {
  CarbonAware,
  CarbonBlindStale,  // a locality with capacity has no fresh signal
  KillSwitch,        // the cluster burns its SLO error budget
  DryRun,            // computed, not enforced (in force only; computed() tells the real mode)
};

enum class Traffic : uint8_t { Interactive, Deferrable };

struct Weights {
  std::vector<double> shares;        // per input locality, in input order, summing to 1 (0 for a
                                     // locality without capacity)
  std::vector<double> blind_shares;  // the carbon-blind shares (∝ capacity among localities with
                                     // capacity): the counterfactual
  std::vector<bool> eligible;        // within the latency budget of the best one
  Mode mode = Mode::CarbonBlindStale;
  double alpha_in_force = 0;  // the alpha the shares were computed with: 0 when carbon-blind
  double reference = 0;       // the reference intensity used (0 when carbon-blind)
};

// The carbon-aware weights of one cluster, with the kill switch that suspends them.
class CarbonPolicy {
 public:
  // Fewer requests than this in the burn window never trip the kill switch.
  static constexpr uint64_t kMinBurnRequests = 20;
  static constexpr size_t kBurnBuckets = 10;
  // gCO2eq/kWh: lower intensities (0 included) count as this, so a weight never divides by 0.
  static constexpr double kIntensityFloor = 1.0;

  // Until the first update() the weights in force are empty, carbon-blind (CarbonBlindStale, or
  // DryRun under dry_run).
  CarbonPolicy(const config::CarbonAware& config, MonotonicTime now);

  // An answered request of the cluster: good (not a 5xx / reset / timeout) or not. Feeds the
  // burn rate; may trip the kill switch, which then applies at once.
  void recordOutcome(bool good, MonotonicTime now) { recordOutcomes(1, good ? 0 : 1, now); }
  // `requests` answered requests at `now`, `errors` of them bad: one update of the burn rate (so
  // the order within a batch cannot trip the switch on a ratio the batch as a whole does not have).
  void recordOutcomes(uint64_t requests, uint64_t errors, MonotonicTime now);
  // Recomputes both traffic classes' weights from `localities`; returns the interactive weights
  // IN FORCE (hysteresis and dwell applied, carbon-blind under dry_run).
  const Weights& update(const std::vector<LocalityInput>& localities, MonotonicTime now);
  // The weights in force.
  const Weights& interactive() const { return interactive_.in_force; }
  const Weights& deferrable() const { return deferrable_.in_force; }
  const Weights& inForce(Traffic traffic) const { return track(traffic).in_force; }
  // The weights the policy decided (hysteresis and dwell applied): those in force, except under
  // dry_run, where they are what would be in force if it were off.
  const Weights& computed(Traffic traffic = Traffic::Interactive) const {
    return track(traffic).decided;
  }

  // Errors/requests over burn_window divided by (1 - slo_target); 0 without errors.
  double burnRate(MonotonicTime now) const;
  // Requests counted in the burn window at `now`.
  uint64_t burnWindowRequests(MonotonicTime now) const;
  bool killSwitchActive() const { return kill_switch_; }

 private:
  // One traffic class's parameters and hysteresis/dwell state.
  struct Track {
    double alpha = 0;
    double latency_budget_ms = 0;
    bool started = false;
    std::vector<config::Locality> localities;  // those `decided` was computed for
    MonotonicTime last_change;
    Weights decided;
    Weights in_force;
  };
  struct BurnBucket {
    int64_t epoch = -1;
    uint64_t requests = 0;
    uint64_t errors = 0;
  };
  struct BurnCounts {
    uint64_t requests = 0;
    uint64_t errors = 0;
  };

  const Track& track(Traffic traffic) const {
    return traffic == Traffic::Interactive ? interactive_ : deferrable_;
  }
  Weights compute(const Track& track) const;
  // Rule 5: whether (and how) `computed` replaces the weights in force.
  void decide(Track& track, const Weights& computed, MonotonicTime now) const;
  void recompute(MonotonicTime now);
  // Trips or releases the kill switch; true when it just tripped.
  bool observeBurn(MonotonicTime now);
  int64_t epochOf(MonotonicTime now) const;
  BurnCounts burnCounts(MonotonicTime now) const;

  const config::CarbonAware config_;
  const MonotonicTime start_;
  const int64_t bucket_us_;
  std::vector<LocalityInput> inputs_;  // the last update's, recomputed when the switch trips
  Track interactive_;
  Track deferrable_;
  std::array<BurnBucket, kBurnBuckets> burn_{};
  bool kill_switch_ = false;
  std::optional<MonotonicTime> calm_since_;  // while tripped: since when the burn rate is calm
};

}  // namespace strait::carbon
