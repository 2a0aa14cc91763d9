#pragma once

// A cluster's hosts, apart from its shape (ARCHITECTURE.md, "Publishing a config"). A HostSet is
// immutable and shared by every worker; an endpoint change (address, weight, locality, DNS
// answer) builds a new one that reuses the Host objects of the endpoints that stay, so that
// their per-host counters, health, outlier state and, on each worker, their connection pools
// carry over. The ClusterInfo (protocol, TLS, limits, LB kind, outlier settings) is untouched.

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/types.h"
#include "strait/upstream/host.h"

namespace strait::upstream {

// A host with what the proxy needs beyond load balancing: its socket address and counters.
class HostImpl : public Host {
 public:
  HostImpl(const config::Endpoint& endpoint, const sockaddr_storage& addr)
      : Host(endpoint.address, endpoint.port, endpoint.weight, endpoint.locality), addr_(addr) {}

  const sockaddr* sockAddr() const { return reinterpret_cast<const sockaddr*>(&addr_); }

  // Per-host connection counters for /clusters (process-wide, relaxed); the request counters
  // are the Host's.
  std::atomic<uint64_t> cx_connect_fail{0};
  std::atomic<int64_t> cx_active{0};

 private:
  sockaddr_storage addr_;
};

using HostImplSharedPtr = std::shared_ptr<HostImpl>;

class HostSet {
 public:
  // The hosts of one locality, in the order of the set: what a locality tier in front of the
  // load balancers weighs.
  struct LocalityHosts {
    config::Locality locality;
    HostVector hosts;
    uint64_t total_weight = 0;
  };

  // `weights[i]` is what hosts[i] weighs in this set (applied to the shared host by
  // activate(), when the set is published).
  HostSet(std::vector<HostImplSharedPtr> hosts, std::vector<uint32_t> weights);

  const HostVector& hosts() const { return hosts_; }
  size_t size() const { return hosts_.size(); }
  bool empty() const { return hosts_.empty(); }
  const std::vector<LocalityHosts>& localities() const { return localities_; }
  bool contains(const Host* host) const;
  // The same hosts (the same objects) with the same weights: publishing it would change nothing.
  bool sameAs(const HostSet& other) const;

  // Main thread, when the snapshot holding this set is published: hosts that stayed take their
  // new weights. Before that, a built but refused set has changed nothing.
  void activate() const;

 private:
  HostVector hosts_;
  std::vector<uint32_t> weights_;
  std::vector<LocalityHosts> localities_;
};

using HostSetSharedPtr = std::shared_ptr<const HostSet>;

// Builds the host set of `cluster`: one host per endpoint (IP literals directly, names through
// the system resolver, blocking), or for a DNS cluster one per address (`dns_addresses` when
// given, a refresh by DnsResolver; else resolved now). A host of `previous` (may be null) with
// the same address, port and locality is reused. Returns nullptr with `error` set when an
// endpoint cannot be resolved.
HostSetSharedPtr buildHostSet(const config::Cluster& cluster, const HostSet* previous,
                              const std::vector<sockaddr_storage>* dns_addresses,
                              std::string& error);

}  // namespace strait::upstream
