#pragma once

// The load balancing policies of config::LbPolicy. All of them read host health live on every
// pick (health checks and outlier detection flip it at any time), so nothing caches a healthy
// set; instead each pick walks the host vector with skips, which allocates nothing. Picks are
// O(number of hosts) in the worst case and O(1) for round robin in the common case.
//
// Candidates, the same for every policy: the healthy hosts, or every host when none is healthy
// (panic mode); LbContext::excluded is then dropped from the candidates unless it is the only one.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "strait/common/random.h"
#include "strait/upstream/host.h"
#include "strait/upstream/load_balancer.h"

namespace strait::upstream {

// Host filtering and indexing shared by the policies.
class LoadBalancerBase : public LoadBalancer {
 protected:
  // Which hosts are candidates for one pick, in order of preference.
  enum class Filter { HealthyNotExcluded, Healthy, NotExcluded, All };

  struct Candidates {
    Filter filter = Filter::All;
    size_t count = 0;
  };

  LoadBalancerBase(const HostVector& hosts, RandomGenerator& random);

  static bool accepts(const Host& host, Filter filter, const Host* excluded);
  // One pass over the hosts to decide the filter and count its candidates. count is 0 only when
  // there are no hosts.
  Candidates candidates(const Host* excluded) const;
  // The n-th candidate (0-based) in host order; n < candidates.count.
  Host* nthCandidate(const Candidates& candidates, size_t n, const Host* excluded) const;
  // True when the hosts' weights differ. Weights are fixed per host, so this is recomputed only
  // when the number of hosts changes; a cluster whose membership changes should create a new
  // balancer anyway (round-robin state is per host position).
  bool weighted();

  const HostVector& hosts_;
  RandomGenerator& random_;

 private:
  size_t weights_checked_for_ = SIZE_MAX;
  bool weighted_ = false;
};

// Equal weights: plain rotation, starting at a random position so that the workers (and the
// proxies of a mesh) do not all send their first request to the same host. Unequal weights:
// smooth weighted round robin (as in nginx): every candidate's current weight grows by its
// weight, the largest is picked and lowered by the candidates' total weight. It is deterministic
// and, while the candidates stay the same, exact over every cycle of total-weight picks, with the
// heavy hosts' picks interleaved rather than bunched.
class RoundRobinLoadBalancer : public LoadBalancerBase {
 public:
  RoundRobinLoadBalancer(const HostVector& hosts, RandomGenerator& random);

  // LoadBalancer
  Host* choose(const LbContext& context) override;

 private:
  Host* chooseRotation(const Host* excluded);
  Host* chooseSmoothWeighted(const Host* excluded);

  size_t next_ = 0;
  std::vector<int64_t> current_weights_;  // by host index; resized only when the hosts change
};

// Power of two choices: two distinct candidates drawn uniformly at random, the one with fewer
// active requests wins (ties to the first drawn). Host weights are ignored: the active-request
// comparison already steers load away from slow or small hosts.
class LeastRequestLoadBalancer : public LoadBalancerBase {
 public:
  LeastRequestLoadBalancer(const HostVector& hosts, RandomGenerator& random)
      : LoadBalancerBase(hosts, random) {}

  // LoadBalancer
  Host* choose(const LbContext& context) override;
};

// Uniform among candidates, or in proportion to the hosts' weights when they differ.
class RandomLoadBalancer : public LoadBalancerBase {
 public:
  RandomLoadBalancer(const HostVector& hosts, RandomGenerator& random)
      : LoadBalancerBase(hosts, random) {}

  // LoadBalancer
  Host* choose(const LbContext& context) override;
};

}  // namespace strait::upstream
