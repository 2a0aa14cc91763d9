#pragma once

// An upstream endpoint as load balancers, pools and health checking see it. Hosts are shared by
// every worker of the process (the active-request count, health and ejection are process-wide
// atomics, written with relaxed ordering: they steer choices, they do not guard memory).
//
// Two independent verdicts take a host out of load balancing: active health checking
// (healthy(), written by the health checker) and outlier detection (ejected(), written by the
// cluster's OutlierDetector). Load balancers pick among available() hosts: healthy and not
// ejected. Each writer owns its own flag, so neither can undo the other's verdict.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/types.h"

namespace strait::upstream {

class Host {
 public:
  Host(std::string address, uint16_t port, uint32_t weight, config::Locality locality)
      : address_(std::move(address)),
        port_(port),
        weight_(weight == 0 ? 1 : weight),
        locality_(std::move(locality)) {}

  const std::string& address() const { return address_; }
  uint16_t port() const { return port_; }
  uint32_t weight() const { return weight_; }
  const config::Locality& locality() const { return locality_; }
  std::string addressString() const { return address_ + ":" + std::to_string(port_); }

  bool healthy() const { return healthy_.load(std::memory_order_relaxed); }
  void setHealthy(bool healthy) { healthy_.store(healthy, std::memory_order_relaxed); }
  bool ejected() const { return ejected_.load(std::memory_order_relaxed); }
  void setEjected(bool ejected) { ejected_.store(ejected, std::memory_order_relaxed); }
  // What load balancers pick among (when no host is available they use every host: panic mode).
  bool available() const { return healthy() && !ejected(); }
  uint32_t activeRequests() const { return active_requests_.load(std::memory_order_relaxed); }
  void requestStarted() { active_requests_.fetch_add(1, std::memory_order_relaxed); }
  void requestFinished() { active_requests_.fetch_sub(1, std::memory_order_relaxed); }

 private:
  const std::string address_;
  const uint16_t port_;
  const uint32_t weight_;
  const config::Locality locality_;
  std::atomic<bool> healthy_{true};
  std::atomic<bool> ejected_{false};
  std::atomic<uint32_t> active_requests_{0};
};

using HostSharedPtr = std::shared_ptr<Host>;
using HostVector = std::vector<HostSharedPtr>;

}  // namespace strait::upstream
