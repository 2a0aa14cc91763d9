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
}

std::unique_ptr<ConnPool> WorkerCluster::createPool(const HostSharedPtr& host) {
  auto& impl = static_cast<HostImpl&>(*host);
  if (info_->config.protocol == config::UpstreamProtocol::Http2) {
    return std::make_unique<Http2Pool>(dispatcher_, impl, *info_, shard_);
  }
  return std::make_unique<Http1Pool>(dispatcher_, impl, *info_, shard_);
}

ConnPool* WorkerCluster::choosePool(const LbContext& context) {
  Host* host = lb_->choose(context);
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
