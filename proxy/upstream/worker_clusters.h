#pragma once

// A worker's view of the clusters of the config in force: for each cluster its load balancer
// and one connection pool per host. Per worker, so nothing here is shared or locked; the
// process-wide parts (shape, stats handles, hosts) come from the snapshot's ClusterSnapshot.

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "proxy/upstream/http1_pool.h"
#include "strait/upstream/load_balancer.h"

namespace strait::upstream {

class WorkerCluster : public ThreadLocalCluster {
 public:
  WorkerCluster(const ClusterSnapshot& cluster, event::DispatcherImpl& dispatcher,
                RandomGenerator& random, stats::Shard& shard);

  // ThreadLocalCluster
  const ClusterInfo& info() const override { return *info_; }
  ConnPool* choosePool(const LbContext& context) override;
  void addStream() override { streams_++; }
  void removeStream() override { streams_--; }
  void onHostResult(const Host& host, std::optional<std::chrono::microseconds> latency,
                    bool good, std::optional<double> energy_wh) override;

  const HostSet& hosts() const { return *hosts_; }
  // A new host set of the same cluster: the pools of hosts that stay are kept (their
  // connections too), new hosts get a pool, and the pools of hosts that left drain: their idle
  // connections close now, busy ones after their response. The load balancer is rebuilt over
  // the new set.
  void updateHosts(HostSetSharedPtr hosts);
  void drain();
  // No pool has a connection or a waiting request, and no stream holds the cluster.
  bool idle() const;
  // Releases the pools of removed hosts that became idle.
  void collectDrainedPools();

 private:
  std::unique_ptr<ConnPool> createPool(const HostSharedPtr& host);
  // The locality tier's balancers: one per locality of the host set that has a slot.
  void buildLocalityBalancers();

  // A pool of a host that left the set, kept (with its host) until its connections are gone.
  struct DrainingPool {
    HostSharedPtr host;
    std::unique_ptr<ConnPool> pool;
  };

  ClusterInfoSharedPtr info_;
  HostSetSharedPtr hosts_;
  event::DispatcherImpl& dispatcher_;
  RandomGenerator& random_;
  stats::Shard& shard_;
  uint64_t streams_ = 0;
  LoadBalancerPtr lb_;
  // Carbon-aware clusters with more than one locality: the slots of this host set's localities
  // (in its order), a balancer over each one's hosts, and each host's slot.
  std::vector<size_t> locality_slots_;
  std::vector<LoadBalancerPtr> locality_lbs_;
  std::unordered_map<const Host*, size_t> host_slot_;
  std::unordered_map<const Host*, std::unique_ptr<ConnPool>> pools_;
  std::vector<DrainingPool> draining_pools_;
};

class WorkerClusters final : public ClusterManager {
 public:
  WorkerClusters(event::DispatcherImpl& dispatcher, RandomGenerator& random, stats::Shard& shard)
      : dispatcher_(dispatcher), random_(random), shard_(shard) {}

  // Adopts a new set of clusters. A cluster whose ClusterInfo is unchanged keeps its pools (and
  // takes a new host set in place when its hosts changed); the pools of removed or reshaped
  // clusters drain and are released once idle.
  void update(const ClusterSnapshots& clusters);
  WorkerCluster* get(const std::string& name);
  // ClusterManager
  ThreadLocalCluster* getThreadLocalCluster(const std::string& name) override { return get(name); }
  // Releases drained clusters and pools that became idle.
  void collectDrained();

 private:
  event::DispatcherImpl& dispatcher_;
  RandomGenerator& random_;
  stats::Shard& shard_;
  std::unordered_map<std::string, std::unique_ptr<WorkerCluster>> active_;
  std::vector<std::unique_ptr<WorkerCluster>> draining_;
};

}  // namespace strait::upstream
