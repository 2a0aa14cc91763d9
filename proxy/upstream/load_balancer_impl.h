#pragma once

// The load balancing policies of config::LbPolicy. All of them read host availability
// (Host::available(): healthy and not ejected) live on every pick (health checks and outlier
// detection flip it at any time), so nothing caches a healthy set; instead each pick walks the host vector with skips, which allocates nothing. Picks are
// O(number of hosts) in the worst case and O(1) for round robin in the common case.
//
// Candidates, the same for every policy: the available hosts (healthy and not ejected), or every
// host when none is available (panic mode); LbContext::excluded is then dropped from the candidates unless it is the only one.

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
  // Which hosts are candidates for one pick, in order of preference. "Healthy" here means
  // Host::available(): healthy and not ejected by outlier detection.
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

// Consistent hashing (Ketama style). The ring is built once, when the balancer is created (once
// per worker and cluster): every host gets weight * replicas points, each the 64-bit hash of
// "address:port_i"; replicas is kPointsPerWeight, or more when the ring would otherwise hold
// fewer than kMinRingSize points. A pick binary-searches the first point at or after the request's
// hash (wrapping past the end) and walks forward from there to the first candidate, so a host going
// unhealthy or being excluded moves only its own keys, to the next host on the ring, and nothing
// is rebuilt when health changes. Removing a host (a new ring) likewise moves only its keys.
// A request without a hash (LbContext::has_hash false, e.g. no hash_policy matched) gets a random
// point, which is a random pick in proportion to the weights.
class RingHashLoadBalancer : public LoadBalancerBase {
 public:
  static constexpr size_t kPointsPerWeight = 160;  // as in Ketama
  static constexpr size_t kMinRingSize = 1024;
  // Keeps a cluster of heavy weights from building a huge ring (16 MiB per worker).
  static constexpr size_t kMaxRingSize = size_t{1} << 20;

  RingHashLoadBalancer(const HostVector& hosts, RandomGenerator& random);

  // LoadBalancer
  Host* choose(const LbContext& context) override;

  size_t ringSize() const { return ring_.size(); }

 private:
  struct Point {
    uint64_t hash;
    uint32_t host;  // index into hosts_
  };

  void buildRing();

  std::vector<Point> ring_;  // sorted by hash
  size_t ring_built_for_ = SIZE_MAX;
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
