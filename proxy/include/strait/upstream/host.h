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
#include "strait/common/time.h"

namespace strait::upstream {

// What outlier detection (upstream/outlier_detector.h) keeps per host. It lives on the host so
// that it follows the host from one host set to the next: an endpoint update keeps a host's
// streaks, its ejection and its ejection multiplier. The atomics are written by workers without
// a lock; the plain fields only under the cluster's detector's lock. Aligned to a cache line so
// that workers reporting for different hosts do not share one.
struct alignas(64) OutlierHostState {
  std::atomic<uint32_t> consecutive_5xx{0};
  std::atomic<uint32_t> consecutive_gateway{0};
  std::atomic<uint32_t> consecutive_local_origin{0};
  std::atomic<uint64_t> results{0};   // this interval
  std::atomic<uint64_t> failures{0};  // this interval
  std::atomic<bool> ejected{false};
  uint32_t multiplier = 0;
  MonotonicTime ejected_until{};
};

class Host {
 public:
  Host(std::string address, uint16_t port, uint32_t weight, config::Locality locality)
      : address_(std::move(address)),
        port_(port),
        weight_(weight == 0 ? 1 : weight),
        locality_(std::move(locality)) {}

  const std::string& address() const { return address_; }
  uint16_t port() const { return port_; }
  uint32_t weight() const { return weight_.load(std::memory_order_relaxed); }
  // The main thread sets a new weight when a host set that keeps this host is published
  // (upstream/host_set.h); load balancers rebuilt for that set read it.
  void setWeight(uint32_t weight) {
    weight_.store(weight == 0 ? 1 : weight, std::memory_order_relaxed);
  }
  const config::Locality& locality() const { return locality_; }
  std::string addressString() const { return address_ + ":" + std::to_string(port_); }

  bool healthy() const { return healthy_.load(std::memory_order_relaxed); }
  void setHealthy(bool healthy) { healthy_.store(healthy, std::memory_order_relaxed); }
  bool ejected() const { return ejected_.load(std::memory_order_relaxed); }
  void setEjected(bool ejected) { ejected_.store(ejected, std::memory_order_relaxed); }
  // What load balancers pick among (when no host is available they use every host: panic mode).
  bool available() const { return healthy() && !ejected(); }
  // Requests in flight to this host (least_request weighs them), requests sent and requests
  // that failed (5xx, reset, timeout) over the host's life (/clusters). An upstream attempt
  // (proxy/http/upstream_request.h) is the one writer.
  uint32_t activeRequests() const { return active_requests_.load(std::memory_order_relaxed); }
  uint64_t requestsTotal() const { return requests_total_.load(std::memory_order_relaxed); }
  uint64_t requestErrors() const { return request_errors_.load(std::memory_order_relaxed); }
  void requestStarted() {
    active_requests_.fetch_add(1, std::memory_order_relaxed);
    requests_total_.fetch_add(1, std::memory_order_relaxed);
  }
  void requestFinished() { active_requests_.fetch_sub(1, std::memory_order_relaxed); }
  void requestFailed() { request_errors_.fetch_add(1, std::memory_order_relaxed); }
  OutlierHostState& outlierState() const { return outlier_; }

 private:
  const std::string address_;
  const uint16_t port_;
  std::atomic<uint32_t> weight_;
  const config::Locality locality_;
  mutable OutlierHostState outlier_;
  std::atomic<bool> healthy_{true};
  std::atomic<bool> ejected_{false};
  std::atomic<uint32_t> active_requests_{0};
  std::atomic<uint64_t> requests_total_{0};
  std::atomic<uint64_t> request_errors_{0};
};

using HostSharedPtr = std::shared_ptr<Host>;
using HostVector = std::vector<HostSharedPtr>;

}  // namespace strait::upstream
