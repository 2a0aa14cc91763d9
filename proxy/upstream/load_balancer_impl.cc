#include "proxy/upstream/load_balancer_impl.h"

namespace strait::upstream {

// ---- shared filtering -------------------------------------------------------------------------

LoadBalancerBase::LoadBalancerBase(const HostVector& hosts, RandomGenerator& random)
    : hosts_(hosts), random_(random) {}

bool LoadBalancerBase::accepts(const Host& host, Filter filter, const Host* excluded) {
  switch (filter) {
    case Filter::HealthyNotExcluded:
      return &host != excluded && host.healthy();
    case Filter::Healthy:
      return host.healthy();
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
    bool is_healthy = host->healthy();
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
    if (host.healthy()) {
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
      // Placeholder until consistent hashing lands (a later issue): without a ring, a random
      // pick keeps the cluster serving, only without hash affinity.
      return std::make_unique<RandomLoadBalancer>(hosts, random);
  }
  return std::make_unique<RoundRobinLoadBalancer>(hosts, random);
}

}  // namespace strait::upstream
