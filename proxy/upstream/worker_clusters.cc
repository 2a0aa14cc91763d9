#include "proxy/upstream/worker_clusters.h"

#include <algorithm>

#include "proxy/upstream/http2_pool.h"

namespace strait::upstream {

WorkerCluster::WorkerCluster(ClusterInfoSharedPtr info, event::DispatcherImpl& dispatcher,
                             RandomGenerator& random, stats::Shard& shard)
    : info_(std::move(info)),
      lb_(createLoadBalancer(info_->config.lb, info_->hosts, random)),
      shard_(shard) {
  for (const auto& host : info_->hosts) {
    auto& impl = static_cast<HostImpl&>(*host);
    std::unique_ptr<ConnPool> pool;
    if (info_->config.protocol == config::UpstreamProtocol::Http2) {
      pool = std::make_unique<Http2Pool>(dispatcher, impl, *info_, shard);
    } else {
      pool = std::make_unique<Http1Pool>(dispatcher, impl, *info_, shard);
    }
    pools_.emplace(host.get(), std::move(pool));
  }
}

ConnPool* WorkerCluster::choosePool(const LbContext& context) {
  Host* host = lb_->choose(context);
  if (host == nullptr) {
    return nullptr;
  }
  auto it = pools_.find(host);
  return it == pools_.end() ? nullptr : it->second.get();
}

void WorkerCluster::drain() {
  for (auto& [host, pool] : pools_) {
    pool->drain();
  }
}

bool WorkerCluster::idle() const {
  return streams_ == 0 && std::all_of(pools_.begin(), pools_.end(),
                     [](const auto& entry) { return entry.second->idle(); });
}

void WorkerClusters::update(const std::unordered_map<std::string, ClusterInfoSharedPtr>& clusters) {
  std::unordered_map<std::string, std::unique_ptr<WorkerCluster>> next;
  for (const auto& [name, info] : clusters) {
    auto it = active_.find(name);
    if (it != active_.end() && &it->second->info() == info.get()) {
      next.emplace(name, std::move(it->second));
      active_.erase(it);
      continue;
    }
    next.emplace(name, std::make_unique<WorkerCluster>(info, dispatcher_, random_, shard_));
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
  std::erase_if(draining_, [](const auto& cluster) { return cluster->idle(); });
}

}  // namespace strait::upstream
