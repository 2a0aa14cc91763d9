// Carbon-aware clusters (cluster `carbon_aware`, docs/config.md): the signals a standalone gateway
// reads itself (top-level `carbon_signals`, a file re-read when its content changes), and, once a
// second, each carbon-aware cluster's policy (proxy/carbon/policy.h) fed with what its locality
// tier measured (proxy/upstream/locality_tier.h) and the signals, its shares published back to
// the tier for the workers, and its gauges. Main thread only.

#include <fstream>
#include <sstream>

#include "proxy/server/files.h"
#include "proxy/tls/context.h"
#include "proxy/server/server.h"
#include "strait/common/log.h"

namespace strait::server {

namespace {

constexpr std::chrono::milliseconds kCarbonTick{1000};

const char* modeName(carbon::Mode mode) {
  switch (mode) {
    case carbon::Mode::CarbonAware:
      return "carbon_aware";
    case carbon::Mode::CarbonBlindStale:
      return "carbon_blind_stale";
    case carbon::Mode::KillSwitch:
      return "kill_switch";
    case carbon::Mode::DryRun:
      return "dry_run";
  }
  return "unknown";
}

std::string localityLabel(const config::Locality& locality) {
  return locality.zone.empty() ? locality.region : locality.region + "/" + locality.zone;
}

}  // namespace

void Server::registerCarbonStats() {
  carbon_signal_loads_ = store_->counter("strait_dp_carbon_signal_loads_total",
                                         "Carbon signal file contents loaded (changed and valid).");
  carbon_signal_errors_ = store_->counter(
      "strait_dp_carbon_signal_errors_total",
      "Carbon signal file contents refused (the last good signals stay in force).");
  carbon_signals_gauge_ =
      store_->gauge("strait_dp_carbon_signals", "Carbon signals in force (fresh or not).");
}

// After every publish: one policy per carbon-aware cluster, in step with its ClusterInfo (a
// reshaped cluster gets a new tier and a new policy); the tick runs while there is one.
void Server::syncCarbonClusters() {
  for (auto it = carbon_clusters_.begin(); it != carbon_clusters_.end();) {
    auto found = snapshot_->clusters.find(it->first);
    if (found == snapshot_->clusters.end() ||
        found->second.info->locality_tier != it->second.tier) {
      it = carbon_clusters_.erase(it);
    } else {
      ++it;
    }
  }
  const MonotonicTime now = time_source_.monotonicTime();
  for (const auto& [name, cluster] : snapshot_->clusters) {
    const std::shared_ptr<upstream::LocalityTier>& tier = cluster.info->locality_tier;
    if (tier == nullptr || carbon_clusters_.count(name) != 0) {
      continue;
    }
    CarbonCluster& entry = carbon_clusters_[name];
    entry.tier = tier;
    entry.policy = std::make_unique<carbon::CarbonPolicy>(tier->config(), now);
  }
  if (carbon_clusters_.empty()) {
    return;
  }
  if (carbon_timer_ == nullptr) {
    carbon_timer_ = dispatcher_.createTimer([this]() { onCarbonTick(); });
  }
  if (!carbon_timer_->enabled()) {
    carbon_timer_->enableTimer(std::chrono::milliseconds(0));
  }
}

void Server::loadCarbonSignals() {
  const config::Bootstrap& bootstrap = *snapshot_->config;
  if (!bootstrap.carbon_signals) {
    return;
  }
  std::string path = bootstrap.carbon_signals->path;
  if (!path.empty() && path.front() != '/') {
    path = tls::directoryOf(bootstrap.source_path) + "/" + path;
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  if (in) {
    text << in.rdbuf();
  }
  const std::string content = in ? text.str() : std::string();
  if (path == carbon_signals_path_ && content == carbon_signals_text_) {
    return;  // unchanged (or still unreadable)
  }
  carbon_signals_path_ = path;
  carbon_signals_text_ = content;
  stats::Shard& main = store_->mainShard();
  if (!in) {
    main.inc(carbon_signal_errors_);
    STRAIT_LOG(Warn, "carbon_signals: cannot read %s; the signals in force stay (%zu)",
               path.c_str(), carbon_signals_.size());
    return;
  }
  carbon::ParseResult parsed = carbon::parseSignalFile(
      content, std::chrono::duration_cast<std::chrono::seconds>(
                   bootstrap.carbon_signals->default_ttl));
  if (!parsed.ok()) {
    main.inc(carbon_signal_errors_);
    STRAIT_LOG(Warn, "carbon_signals: %s:%s; the signals in force stay (%zu)", path.c_str(),
               parsed.error.c_str(), carbon_signals_.size());
    return;
  }
  carbon_signals_ = std::move(parsed.signals);
  main.inc(carbon_signal_loads_);
  main.set(carbon_signals_gauge_, static_cast<int64_t>(carbon_signals_.size()));
  STRAIT_LOG(Info, "carbon_signals: %zu signals loaded from %s", carbon_signals_.size(),
             path.c_str());
}

// The signal for `locality`: the one for its zone, else the one for its region (a signal without
// a zone covers the whole region). Only fresh signals of the policy's type and emission factor.
const carbon::CarbonSignal* Server::carbonSignalFor(const config::Locality& locality,
                                                    const config::CarbonAware& config,
                                                    SystemTime now) const {
  const config::Bootstrap& bootstrap = *snapshot_->config;
  const config::CarbonSignalType type = bootstrap.carbon_signals
                                            ? bootstrap.carbon_signals->signal
                                            : config::CarbonSignalType::Average;
  const carbon::CarbonSignal* region_wide = nullptr;
  for (const carbon::CarbonSignal& signal : carbon_signals_) {
    if (signal.locality.region != locality.region || signal.type != type ||
        signal.factor != config.emission_factor || !signal.fresh(now) ||
        now - signal.observed_at > config.stale_after) {
      continue;
    }
    if (!locality.zone.empty() && signal.locality.zone == locality.zone) {
      return &signal;
    }
    if (signal.locality.zone.empty()) {
      region_wide = &signal;
    }
  }
  return region_wide;
}

namespace {

double pueOf(const config::Cluster& cluster, const config::Locality& locality) {
  double region_wide = 1.0;
  for (const config::LocalityFacts& facts : cluster.localities) {
    if (facts.locality.region != locality.region) {
      continue;
    }
    if (facts.locality.zone == locality.zone) {
      return facts.pue;
    }
    if (facts.locality.zone.empty()) {
      region_wide = facts.pue;
    }
  }
  return region_wide;
}

}  // namespace

// Grams of CO2eq per locality since the last tick: the energy its requests took (the upstream's
// energy header, else energy.wh_per_request) x PUE x the intensity in force; and the same energy
// spread by the carbon-blind shares (the counterfactual), so that what carbon-aware routing saved
// is measured, not asserted. A locality without a signal in force is not accounted (and, having
// none, made the cluster carbon-blind anyway).
void Server::accountCarbon(const std::string& name, CarbonCluster& entry,
                           const config::Cluster& cluster,
                           const std::vector<carbon::LocalityInput>& inputs,
                           const std::vector<size_t>& slots) {
  upstream::LocalityTier& tier = *entry.tier;
  stats::Shard& main = store_->mainShard();
  const config::Bootstrap& bootstrap = *snapshot_->config;
  const std::string type(carbon::signalTypeName(
      bootstrap.carbon_signals ? bootstrap.carbon_signals->signal : config::CarbonSignalType::Average));
  const std::string factor(carbon::emissionFactorName(tier.config().emission_factor));
  const carbon::Weights& interactive = entry.policy->interactive();
  double energy_total = 0;
  double blind_g_per_wh = 0;  // sum of blind share x intensity x PUE / 1000
  bool all_known = true;
  for (size_t i = 0; i < slots.size(); i++) {
    const size_t slot = slots[i];
    if (entry.seen_energy_wh.size() <= slot) {
      entry.seen_energy_wh.resize(slot + 1, 0);
      entry.emissions_mg.resize(slot + 1, 0);
    }
    const double energy = tier.energyWh(slot);
    const double delta = energy - entry.seen_energy_wh[slot];
    entry.seen_energy_wh[slot] = energy;
    energy_total += delta;
    const double pue = pueOf(cluster, inputs[i].locality);
    const std::string label = localityLabel(inputs[i].locality);
    main.setTotal(store_->counter("strait_dp_carbon_requests_total",
                                  "Requests of carbon-aware routes answered per locality.",
                                  {{"cluster", name}, {"locality", label}}),
                  tier.requests(slot));
    main.setTotal(store_->counter("strait_dp_carbon_energy_microwatt_hours_total",
                                  "Estimated energy of the requests per locality (before PUE).",
                                  {{"cluster", name}, {"locality", label}}),
                  static_cast<uint64_t>(energy * 1e6 + 0.5));
    const double blind_share =
        i < interactive.blind_shares.size() ? interactive.blind_shares[i] : 0.0;
    if (!inputs[i].intensity.has_value()) {
      all_known = all_known && blind_share == 0;
      continue;
    }
    // Wh x PUE x g/kWh / 1000 = g; x 1000 = mg.
    entry.emissions_mg[slot] += delta * pue * *inputs[i].intensity;
    blind_g_per_wh += blind_share * pue * *inputs[i].intensity / 1000;
    main.setTotal(store_->counter("strait_dp_carbon_emissions_milligrams_total",
                                  "Estimated emissions of the requests per locality (mg CO2eq).",
                                  {{"cluster", name},
                                   {"locality", label},
                                   {"signal_type", type},
                                   {"emission_factor", factor}}),
                  static_cast<uint64_t>(entry.emissions_mg[slot] + 0.5));
  }
  if (all_known) {
    entry.blind_emissions_mg += energy_total * blind_g_per_wh * 1000;
  }
  main.setTotal(store_->counter("strait_dp_carbon_blind_emissions_milligrams_total",
                                "The same requests' emissions under carbon-blind shares (mg "
                                "CO2eq): the counterfactual of the savings.",
                                {{"cluster", name}, {"signal_type", type}, {"emission_factor", factor}}),
                static_cast<uint64_t>(entry.blind_emissions_mg + 0.5));
}

void Server::onCarbonTick() {
  if (stopping_) {
    return;
  }
  loadCarbonSignals();
  const MonotonicTime now = time_source_.monotonicTime();
  const SystemTime wall = time_source_.systemTime();
  stats::Shard& main = store_->mainShard();
  for (auto& [name, entry] : carbon_clusters_) {
    auto found = snapshot_->clusters.find(name);
    if (found == snapshot_->clusters.end()) {
      continue;
    }
    upstream::LocalityTier& tier = *entry.tier;
    const config::CarbonAware& config = tier.config();
    // The outcomes since the last tick feed the kill switch's burn rate.
    for (size_t slot = 0; slot < tier.slots(); slot++) {
      if (entry.seen_requests.size() <= slot) {
        entry.seen_requests.resize(slot + 1, 0);
        entry.seen_failures.resize(slot + 1, 0);
      }
      const uint64_t requests = tier.requests(slot);
      const uint64_t failures = tier.failures(slot);
      entry.policy->recordOutcomes(requests - entry.seen_requests[slot],
                                   failures - entry.seen_failures[slot], now);
      entry.seen_requests[slot] = requests;
      entry.seen_failures[slot] = failures;
    }
    // One input per locality of the host set in force that has a slot.
    std::vector<carbon::LocalityInput> inputs;
    std::vector<size_t> slots;
    for (const upstream::HostSet::LocalityHosts& group : found->second.hosts->localities()) {
      std::optional<size_t> slot = tier.slotOf(group.locality);
      if (!slot.has_value()) {
        continue;
      }
      carbon::LocalityInput input;
      input.locality = group.locality;
      for (const auto& host : group.hosts) {
        if (host->available()) {
          input.capacity += host->weight();
        }
      }
      // The latest window with samples stands until a newer one: a locality held at its minimum
      // share may see no request in a tick, and is not "unmeasured" for that.
      if (entry.last_latency.size() <= *slot) {
        entry.last_latency.resize(*slot + 1);
      }
      if (std::optional<double> measured = tier.takeLatencyMs(*slot, config.latency_percentile)) {
        entry.last_latency[*slot] = measured;
      }
      input.latency_ms = entry.last_latency[*slot];
      if (const carbon::CarbonSignal* signal = carbonSignalFor(group.locality, config, wall)) {
        input.intensity = signal->intensity;
        const std::string label = localityLabel(group.locality);
        const stats::Labels labels{{"cluster", name},
                                   {"locality", label},
                                   {"signal_type", std::string(carbon::signalTypeName(signal->type))},
                                   {"emission_factor", std::string(carbon::emissionFactorName(signal->factor))}};
        main.set(store_->gauge("strait_dp_carbon_intensity_gco2_per_kwh",
                               "The carbon intensity in force per locality (gCO2eq/kWh).", labels),
                 static_cast<int64_t>(signal->intensity + 0.5));
        main.set(store_->gauge("strait_dp_carbon_signal_age_seconds",
                               "Age of the signal in force per locality.", labels),
                 std::chrono::duration_cast<std::chrono::seconds>(wall - signal->observed_at)
                     .count());
      }
      inputs.push_back(std::move(input));
      slots.push_back(*slot);
    }
    if (inputs.empty()) {
      continue;
    }
    entry.policy->update(inputs, now);
    accountCarbon(name, entry, found->second.info->config, inputs, slots);
    const carbon::Weights& interactive = entry.policy->interactive();
    const carbon::Weights& deferrable = entry.policy->deferrable();
    std::vector<double> by_slot(upstream::LocalityTier::kMaxSlots, 0.0);
    std::vector<double> deferrable_by_slot(upstream::LocalityTier::kMaxSlots, 0.0);
    for (size_t i = 0; i < slots.size(); i++) {
      by_slot[slots[i]] = i < interactive.shares.size() ? interactive.shares[i] : 0.0;
      deferrable_by_slot[slots[i]] = i < deferrable.shares.size() ? deferrable.shares[i] : 0.0;
    }
    // Carbon-blind modes leave the tier inactive: the workers' plain balancer over every host.
    tier.setShares(by_slot, deferrable_by_slot, interactive.mode == carbon::Mode::CarbonAware);
    for (size_t i = 0; i < slots.size(); i++) {
      const std::string label = localityLabel(inputs[i].locality);
      for (const auto& [traffic, weights] :
           {std::pair<const char*, const carbon::Weights*>{"interactive", &interactive},
            std::pair<const char*, const carbon::Weights*>{"deferrable", &deferrable}}) {
        const stats::Labels labels{{"cluster", name}, {"locality", label}, {"traffic", traffic}};
        main.set(store_->gauge("strait_dp_carbon_share_permille",
                               "The share of the cluster's requests per locality the policy "
                               "computed, in permille (carbon-blind modes route by the balancer).",
                               labels),
                 static_cast<int64_t>(
                     (i < weights->shares.size() ? weights->shares[i] : 0.0) * 1000 + 0.5));
        main.set(store_->gauge("strait_dp_carbon_blind_share_permille",
                               "The carbon-blind share per locality (by capacity), in permille: "
                               "the counterfactual.",
                               labels),
                 static_cast<int64_t>(
                     (i < weights->blind_shares.size() ? weights->blind_shares[i] : 0.0) * 1000 +
                     0.5));
      }
    }
    for (carbon::Mode mode : {carbon::Mode::CarbonAware, carbon::Mode::CarbonBlindStale,
                              carbon::Mode::KillSwitch, carbon::Mode::DryRun}) {
      main.set(store_->gauge("strait_dp_carbon_mode",
                             "The carbon-aware policy's mode per cluster: 1 for the mode in force, "
                             "0 otherwise.",
                             {{"cluster", name}, {"mode", modeName(mode)}}),
               mode == interactive.mode ? 1 : 0);
    }
    if (interactive.mode != entry.last_mode) {
      STRAIT_LOG(Info, "carbon_aware %s: %s -> %s", name.c_str(), modeName(entry.last_mode),
                 modeName(interactive.mode));
      entry.last_mode = interactive.mode;
    }
  }
  if (!carbon_clusters_.empty()) {
    carbon_timer_->enableTimer(kCarbonTick);
  }
}

}  // namespace strait::server
