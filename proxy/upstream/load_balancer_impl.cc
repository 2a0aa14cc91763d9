#include "proxy/upstream/load_balancer_impl.h"

#include <algorithm>
#include <string>

namespace strait::upstream {

// ---- shared filtering -------------------------------------------------------------------------

LoadBalancerBase::LoadBalancerBase(const HostVector& hosts, RandomGenerator& random)
    : hosts_(hosts), random_(random) {}

bool LoadBalancerBase::accepts(const Host& host, Filter filter, const Host* excluded) {
  switch (filter) {
    case Filter::HealthyNotExcluded:
      return &host != excluded && host.available();
    case Filter::Healthy:
      return host.available();
    case Filter::NotExcluded:
      return &host != excluded;
    case Filter::All:
      return true;
  }
  return false;
}

LoadBalancerBase::Candidates LoadBalancerBase::candidates(const Host* excluded) const {
  size_t healthy = 0;
  bool excluded_present = false;
  bool excluded_healthy = false;
  for (const HostSharedPtr& host : hosts_) {
    bool is_healthy = host->available();
    healthy += is_healthy ? 1 : 0;
    if (host.get() == excluded) {
      excluded_present = true;
      excluded_healthy = is_healthy;
    }
  }
  if (healthy > 0) {
    if (excluded_healthy && healthy > 1) {
      return {Filter::HealthyNotExcluded, healthy - 1};
    }
    return {Filter::Healthy, healthy};
  }
  if (excluded_present && hosts_.size() > 1) {
    return {Filter::NotExcluded, hosts_.size() - 1};
  }
  return {Filter::All, hosts_.size()};
}

Host* LoadBalancerBase::nthCandidate(const Candidates& candidates, size_t n,
                                     const Host* excluded) const {
  // Every host is a candidate (all healthy, nothing excluded): index directly.
  if (candidates.count == hosts_.size()) {
    return hosts_[n].get();
  }
  for (const HostSharedPtr& host : hosts_) {
    if (accepts(*host, candidates.filter, excluded)) {
      if (n == 0) {
        return host.get();
      }
      --n;
    }
  }
  // Health flipped between counting and indexing (another thread's health check); any host is
  // better than none.
  return hosts_.front().get();
}

bool LoadBalancerBase::weighted() {
  if (weights_checked_for_ != hosts_.size()) {
    weights_checked_for_ = hosts_.size();
    weighted_ = false;
    for (const HostSharedPtr& host : hosts_) {
      if (host->weight() != hosts_.front()->weight()) {
        weighted_ = true;
        break;
      }
    }
  }
  return weighted_;
}

// ---- round robin ------------------------------------------------------------------------------

RoundRobinLoadBalancer::RoundRobinLoadBalancer(const HostVector& hosts, RandomGenerator& random)
    : LoadBalancerBase(hosts, random),
      next_(hosts.empty() ? 0 : static_cast<size_t>(random.bounded(hosts.size()))) {}

Host* RoundRobinLoadBalancer::choose(const LbContext& context) {
  if (hosts_.empty()) {
    return nullptr;
  }
  return weighted() ? chooseSmoothWeighted(context.excluded) : chooseRotation(context.excluded);
}

// One walk from the rotation position. The first healthy, non-excluded host ends it at once (the
// usual case); on the way the first host of each fallback class is remembered, so panic mode and
// the excluded-only case need no second walk.
Host* RoundRobinLoadBalancer::chooseRotation(const Host* excluded) {
  const size_t n = hosts_.size();
  constexpr size_t kNone = SIZE_MAX;
  size_t healthy_excluded = kNone;
  size_t unhealthy = kNone;
  size_t unhealthy_excluded = kNone;
  size_t chosen = kNone;
  size_t start = next_ % n;
  for (size_t k = 0; k < n; ++k) {
    size_t i = start + k < n ? start + k : start + k - n;
    const Host& host = *hosts_[i];
    bool is_excluded = &host == excluded;
    if (host.available()) {
      if (!is_excluded) {
        chosen = i;
        break;
      }
      healthy_excluded = i;
    } else if (!is_excluded) {
      if (unhealthy == kNone) {
        unhealthy = i;
      }
    } else {
      unhealthy_excluded = i;
    }
  }
  if (chosen == kNone) {
    chosen = healthy_excluded != kNone ? healthy_excluded
             : unhealthy != kNone      ? unhealthy
                                       : unhealthy_excluded;
  }
  next_ = chosen + 1;
  return hosts_[chosen].get();
}

Host* RoundRobinLoadBalancer::chooseSmoothWeighted(const Host* excluded) {
  if (current_weights_.size() != hosts_.size()) {
    current_weights_.assign(hosts_.size(), 0);
  }
  Candidates c = candidates(excluded);
  int64_t total = 0;
  size_t best = SIZE_MAX;
  for (size_t i = 0; i < hosts_.size(); ++i) {
    if (!accepts(*hosts_[i], c.filter, excluded)) {
      continue;
    }
    int64_t weight = hosts_[i]->weight();
    current_weights_[i] += weight;
    total += weight;
    if (best == SIZE_MAX || current_weights_[i] > current_weights_[best]) {
      best = i;
    }
  }
  if (best == SIZE_MAX) {
    // Health flipped between counting and picking; fall back to the plain rotation.
    return chooseRotation(excluded);
  }
  current_weights_[best] -= total;
  return hosts_[best].get();
}

// ---- least request ----------------------------------------------------------------------------

Host* LeastRequestLoadBalancer::choose(const LbContext& context) {
  if (hosts_.empty()) {
    return nullptr;
  }
  Candidates c = candidates(context.excluded);
  if (c.count == 1) {
    return nthCandidate(c, 0, context.excluded);
  }
  // Two distinct indexes, each uniform: the second is drawn among the other count - 1.
  size_t first = static_cast<size_t>(random_.bounded(c.count));
  size_t second = static_cast<size_t>(random_.bounded(c.count - 1));
  if (second >= first) {
    ++second;
  }
  Host* a = nthCandidate(c, first, context.excluded);
  Host* b = nthCandidate(c, second, context.excluded);
  return b->activeRequests() < a->activeRequests() ? b : a;
}

// ---- random -----------------------------------------------------------------------------------

Host* RandomLoadBalancer::choose(const LbContext& context) {
  if (hosts_.empty()) {
    return nullptr;
  }
  Candidates c = candidates(context.excluded);
  if (!weighted()) {
    return nthCandidate(c, static_cast<size_t>(random_.bounded(c.count)), context.excluded);
  }
  uint64_t total = 0;
  for (const HostSharedPtr& host : hosts_) {
    if (accepts(*host, c.filter, context.excluded)) {
      total += host->weight();
    }
  }
  uint64_t point = random_.bounded(total);
  for (const HostSharedPtr& host : hosts_) {
    if (accepts(*host, c.filter, context.excluded)) {
      if (point < host->weight()) {
        return host.get();
      }
      point -= host->weight();
    }
  }
  // Health flipped between the two walks; any candidate will do.
  return nthCandidate(c, 0, context.excluded);
}

// ---- ring hash --------------------------------------------------------------------------------

RingHashLoadBalancer::RingHashLoadBalancer(const HostVector& hosts, RandomGenerator& random)
    : LoadBalancerBase(hosts, random) {
  buildRing();
}

void RingHashLoadBalancer::buildRing() {
  ring_built_for_ = hosts_.size();
  ring_.clear();
  if (hosts_.empty()) {
    return;
  }
  uint64_t total_weight = 0;
  for (const HostSharedPtr& host : hosts_) {
    total_weight += host->weight();
  }
  // A fixed number of points per unit of weight keeps every host's points the same whichever
  // other hosts are in the ring, so a ring rebuilt without (or with) a host moves only that host's
  // keys. Small clusters get more points to reach the minimum ring size; a membership change
  // there moves a few more keys, which is cheap at that size.
  uint64_t replicas =
      std::max<uint64_t>(kPointsPerWeight, (kMinRingSize + total_weight - 1) / total_weight);
  // Weights go up to 2^32 - 1: past the maximum ring size, points are shared out in proportion
  // to weight instead (at least one each). weight * kMaxRingSize stays below 2^54.
  const bool capped = total_weight * replicas > kMaxRingSize;
  auto pointsOf = [&](const Host& host) -> uint64_t {
    return capped ? std::max<uint64_t>(1, host.weight() * kMaxRingSize / total_weight)
                  : host.weight() * replicas;
  };
  size_t ring_size = 0;
  for (const HostSharedPtr& host : hosts_) {
    ring_size += static_cast<size_t>(pointsOf(*host));
  }
  ring_.reserve(ring_size);
  std::string key;
  for (size_t i = 0; i < hosts_.size(); ++i) {
    const std::string prefix = hosts_[i]->addressString() + "_";
    const uint64_t points = pointsOf(*hosts_[i]);
    for (uint64_t k = 0; k < points; ++k) {
      key = prefix;
      key += std::to_string(k);
      ring_.push_back({hashKey(key), static_cast<uint32_t>(i)});
    }
  }
  // Ties (two keys hashing alike) are ordered by host index so the ring does not depend on the
  // sort's stability.
  std::sort(ring_.begin(), ring_.end(), [](const Point& a, const Point& b) {
    return a.hash != b.hash ? a.hash < b.hash : a.host < b.host;
  });
}

Host* RingHashLoadBalancer::choose(const LbContext& context) {
  if (ring_built_for_ != hosts_.size()) {
    // Membership changed under the balancer (it should have been recreated): rebuild once rather
    // than index past the end.
    buildRing();
  }
  if (hosts_.empty()) {
    return nullptr;
  }
  Candidates c = candidates(context.excluded);
  uint64_t hash = context.has_hash ? context.hash : random_.random();
  auto it = std::lower_bound(ring_.begin(), ring_.end(), hash,
                             [](const Point& point, uint64_t h) { return point.hash < h; });
  size_t start = it == ring_.end() ? 0 : static_cast<size_t>(it - ring_.begin());
  const size_t n = ring_.size();
  for (size_t k = 0; k < n; ++k) {
    size_t i = start + k < n ? start + k : start + k - n;
    Host& host = *hosts_[ring_[i].host];
    if (accepts(host, c.filter, context.excluded)) {
      return &host;
    }
  }
  // Health flipped between counting and walking; the key's own host is better than none.
  return hosts_[ring_[start].host].get();
}

// ---- hashing ------------------------------------------------------------------------------------

// FNV-1a over the bytes, then murmur3's fmix64: FNV alone mixes the last bytes poorly (keys that
// differ only in the replica suffix land close together); the finaliser spreads every input bit
// over the whole word.
uint64_t hashKey(std::string_view key) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : key) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

// ---- factory ----------------------------------------------------------------------------------

LoadBalancerPtr createLoadBalancer(config::LbPolicy policy, const HostVector& hosts,
                                   RandomGenerator& random) {
  switch (policy) {
    case config::LbPolicy::RoundRobin:
      return std::make_unique<RoundRobinLoadBalancer>(hosts, random);
    case config::LbPolicy::LeastRequest:
      return std::make_unique<LeastRequestLoadBalancer>(hosts, random);
    case config::LbPolicy::Random:
      return std::make_unique<RandomLoadBalancer>(hosts, random);
    case config::LbPolicy::RingHash:
      return std::make_unique<RingHashLoadBalancer>(hosts, random);
  }
  return std::make_unique<RoundRobinLoadBalancer>(hosts, random);
}

}  // namespace strait::upstream
