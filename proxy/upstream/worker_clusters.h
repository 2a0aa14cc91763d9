#pragma once

// A worker's view of the clusters of the config in force: for each cluster its load balancer
// and one connection pool per host. Per worker, so nothing here is shared or locked; the
// process-wide parts (hosts, stats handles) come from the snapshot's ClusterInfo.

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "proxy/upstream/http1_pool.h"
#include "strait/upstream/load_balancer.h"

namespace strait::upstream {

class WorkerCluster {
 public:
  WorkerCluster(ClusterInfoSharedPtr info, event::DispatcherImpl& dispatcher,
                RandomGenerator& random, stats::Shard& shard);

  const ClusterInfo& info() const { return *info_; }
  // Picks a host and returns its pool, or nullptr when the cluster has no hosts.
  ConnPool* choosePool(const LbContext& context);
  void drain();
  // No pool has a connection or a waiting request, and no stream holds the cluster.
  bool idle() const;

  // A stream that routed to this cluster holds it until the stream is destroyed: between
  // attempts (retry backoff) and while queued for a max_requests slot it is in no pool, and a
  // drained cluster must not be released under it.
  void addStream() { streams_++; }
  void removeStream() { streams_--; }

 private:
  ClusterInfoSharedPtr info_;
  uint64_t streams_ = 0;
  LoadBalancerPtr lb_;
  std::unordered_map<const Host*, std::unique_ptr<ConnPool>> pools_;
  stats::Shard& shard_;
};

class WorkerClusters {
 public:
  WorkerClusters(event::DispatcherImpl& dispatcher, RandomGenerator& random, stats::Shard& shard)
      : dispatcher_(dispatcher), random_(random), shard_(shard) {}

  // Adopts a new set of clusters. A cluster whose ClusterInfo is unchanged keeps its pools;
  // the pools of removed or changed clusters drain and are released once idle.
  void update(const std::unordered_map<std::string, ClusterInfoSharedPtr>& clusters);
  WorkerCluster* get(const std::string& name);
  // Releases drained clusters that became idle.
  void collectDrained();

 private:
  event::DispatcherImpl& dispatcher_;
  RandomGenerator& random_;
  stats::Shard& shard_;
  std::unordered_map<std::string, std::unique_ptr<WorkerCluster>> active_;
  std::vector<std::unique_ptr<WorkerCluster>> draining_;
};

}  // namespace strait::upstream
