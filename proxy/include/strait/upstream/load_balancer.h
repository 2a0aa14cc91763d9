#pragma once

// Load balancers pick one host of a cluster for one upstream attempt. One instance per worker
// per cluster (round-robin position is per worker); not thread-safe.

#include <cstdint>
#include <memory>
#include <string_view>

#include "config/types.h"
#include "strait/common/random.h"
#include "strait/upstream/host.h"

namespace strait::upstream {

struct LbContext {
  // A host to avoid, e.g. the one the previous attempt of a retried request used. It is still
  // chosen when it is the only candidate.
  const Host* excluded = nullptr;
  // For hashing balancers (ring_hash): the request's hash key, when it has one.
  bool has_hash = false;
  uint64_t hash = 0;
  // The route's carbon opt-in: a carbon-aware cluster's locality tier picks the locality first.
  config::RouteAction::Carbon carbon = config::RouteAction::Carbon::Off;
};

class LoadBalancer {
 public:
  virtual ~LoadBalancer() = default;
  // Picks among available hosts (healthy and not ejected by outlier detection); when none is
  // available, among all of them (panic mode: better to try than to black-hole). nullptr only when the cluster has no hosts.
  virtual Host* choose(const LbContext& context) = 0;
};

using LoadBalancerPtr = std::unique_ptr<LoadBalancer>;

// The 64-bit hash ring_hash places its points with (FNV-1a, then murmur3's fmix64). Request
// hash keys (route hash_policy) use it too; any well-mixed hash would do for those.
uint64_t hashKey(std::string_view key);

// `hosts` must outlive the balancer. `random` is the worker's generator.
LoadBalancerPtr createLoadBalancer(config::LbPolicy policy, const HostVector& hosts,
                                   RandomGenerator& random);

}  // namespace strait::upstream
