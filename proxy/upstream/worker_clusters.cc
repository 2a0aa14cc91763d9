#include "proxy/upstream/worker_clusters.h"

#include <algorithm>

#include "proxy/upstream/http2_pool.h"

namespace strait::upstream {

WorkerCluster::WorkerCluster(const ClusterSnapshot& cluster, event::DispatcherImpl& dispatcher,
                             RandomGenerator& random, stats::Shard& shard)
    : info_(cluster.info),
      hosts_(cluster.hosts),
      dispatcher_(dispatcher),
      random_(random),
      shard_(shard),
      lb_(createLoadBalancer(info_->config.lb, hosts_->hosts(), random)) {
  for (const auto& host : hosts_->hosts()) {
    pools_.emplace(host.get(), createPool(host));
  }
  buildLocalityBalancers();
}

void WorkerCluster::buildLocalityBalancers() {
  locality_slots_.clear();
  locality_lbs_.clear();
  host_slot_.clear();
  const LocalityTier* tier = info_->locality_tier.get();
  if (tier == nullptr) {
    return;
  }
  for (const HostSet::LocalityHosts& group : hosts_->localities()) {
    std::optional<size_t> slot = tier->slotOf(group.locality);
    if (!slot.has_value()) {
      continue;  // more localities than slots: only the carbon-blind balancer reaches it
    }
    for (const auto& host : group.hosts) {
      host_slot_.emplace(host.get(), *slot);
    }
    if (hosts_->localities().size() > 1) {
      locality_slots_.push_back(*slot);
      // (a balancer refers to the host vector it was built over: the set's, alive with hosts_)
      locality_lbs_.push_back(createLoadBalancer(info_->config.lb, group.hosts, random_));
    }
  }
}

void WorkerCluster::onHostResult(const Host& host,
                                 std::optional<std::chrono::microseconds> latency, bool good,
                                 std::optional<double> energy_wh) {
  auto it = host_slot_.find(&host);
  if (it == host_slot_.end()) {
    return;
  }
  LocalityTier& tier = *info_->locality_tier;
  if (latency.has_value()) {
    tier.recordLatency(it->second, *latency);
  }
  tier.recordOutcome(it->second, good, energy_wh);
}

std::unique_ptr<ConnPool> WorkerCluster::createPool(const HostSharedPtr& host) {
  auto& impl = static_cast<HostImpl&>(*host);
  if (info_->config.protocol == config::UpstreamProtocol::Http2) {
    return std::make_unique<Http2Pool>(dispatcher_, impl, *info_, shard_);
  }
  return std::make_unique<Http1Pool>(dispatcher_, impl, *info_, shard_);
}

ConnPool* WorkerCluster::choosePool(const LbContext& context) {
  Host* host = nullptr;
  if (context.carbon != config::RouteAction::Carbon::Off && !locality_lbs_.empty()) {
    // The locality tier first: a locality by the shares in force, then a host within it.
    const double draw = static_cast<double>(random_.random() >> 11) * 0x1.0p-53;
    std::optional<size_t> slot = info_->locality_tier->pick(
        locality_slots_, context.carbon == config::RouteAction::Carbon::Deferrable, draw);
    if (slot.has_value()) {
      for (size_t i = 0; i < locality_slots_.size(); i++) {
        if (locality_slots_[i] == *slot) {
          host = locality_lbs_[i]->choose(context);
          break;
        }
      }
    }
  }
  if (host == nullptr) {
    host = lb_->choose(context);
  }
  if (host == nullptr) {
    return nullptr;
  }
  auto it = pools_.find(host);
  return it == pools_.end() ? nullptr : it->second.get();
}

void WorkerCluster::updateHosts(HostSetSharedPtr hosts) {
  std::unordered_map<const Host*, std::unique_ptr<ConnPool>> next;
  for (const auto& host : hosts->hosts()) {
    auto it = pools_.find(host.get());
    if (it != pools_.end()) {
      next.emplace(host.get(), std::move(it->second));
      pools_.erase(it);
    } else {
      next.emplace(host.get(), createPool(host));
    }
  }
  // What is left belongs to hosts that left the set.
  for (const auto& host : hosts_->hosts()) {
    auto it = pools_.find(host.get());
    if (it != pools_.end()) {
      it->second->drain();
      draining_pools_.push_back(DrainingPool{host, std::move(it->second)});
    }
  }
  pools_ = std::move(next);
  // The balancer refers to the host vector it was built over: build the new one before the
  // old set may go.
  lb_ = createLoadBalancer(info_->config.lb, hosts->hosts(), random_);
  hosts_ = std::move(hosts);
  buildLocalityBalancers();
  collectDrainedPools();
}

void WorkerCluster::drain() {
  for (auto& [host, pool] : pools_) {
    pool->drain();
  }
}

bool WorkerCluster::idle() const {
  auto pool_idle = [](const auto& entry) { return entry.second->idle(); };
  return streams_ == 0 && std::all_of(pools_.begin(), pools_.end(), pool_idle) &&
         std::all_of(draining_pools_.begin(), draining_pools_.end(),
                     [](const DrainingPool& d) { return d.pool->idle(); });
}

void WorkerCluster::collectDrainedPools() {
  std::erase_if(draining_pools_, [](const DrainingPool& d) { return d.pool->idle(); });
}

void WorkerClusters::update(const ClusterSnapshots& clusters) {
  std::unordered_map<std::string, std::unique_ptr<WorkerCluster>> next;
  for (const auto& [name, cluster] : clusters) {
    auto it = active_.find(name);
    if (it != active_.end() && &it->second->info() == cluster.info.get()) {
      if (&it->second->hosts() != cluster.hosts.get()) {
        it->second->updateHosts(cluster.hosts);
      }
      next.emplace(name, std::move(it->second));
      active_.erase(it);
      continue;
    }
    next.emplace(name, std::make_unique<WorkerCluster>(cluster, dispatcher_, random_, shard_));
  }
  for (auto& [name, cluster] : active_) {
    cluster->drain();
    draining_.push_back(std::move(cluster));
  }
  active_ = std::move(next);
  collectDrained();
}

WorkerCluster* WorkerClusters::get(const std::string& name) {
  auto it = active_.find(name);
  return it == active_.end() ? nullptr : it->second.get();
}

void WorkerClusters::collectDrained() {
  for (auto& [name, cluster] : active_) {
    cluster->collectDrainedPools();
  }
  std::erase_if(draining_, [](const auto& cluster) { return cluster->idle(); });
}

}  // namespace strait::upstream
