#pragma once

// Active health checking of one cluster's hosts (issue 3). Runs on the main dispatcher: for each
// host, every `interval` (±10% jitter from the injected RandomGenerator) it opens a fresh
// connection, sends `GET <path>` with `host: <cluster name>` and `user-agent:
// strait-health-check`, and expects a 2xx response within `timeout`. The per-host HealthState
// decides when a run of results crosses a threshold; a transition is published to every worker
// through Host::setHealthy() (a relaxed atomic the load balancers read).
//
// Hosts start healthy ("healthy until proven otherwise", unlike Envoy): a fresh proxy serves at
// once, and a dead host costs at most `unhealthy_threshold` intervals of failed requests.
//
// Scope: one checker per cluster per process, created and destroyed by the server on the main
// thread; its per-host status is read by /clusters on the same thread, so it needs no locking.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/types.h"
#include "proxy/event/dispatcher_impl.h"
#include "proxy/upstream/cluster.h"
#include "proxy/upstream/health_state.h"
#include "strait/common/random.h"
#include "strait/stats/stats.h"

namespace strait::upstream {

// What /clusters shows of one host's checks.
struct HostHealthStatus {
  bool checked = false;            // false until the first check finishes
  bool last_ok = false;
  std::string reason;              // "ok", "connect refused", "timeout", "status 503", ...
  uint32_t consecutive_successes = 0;
  uint32_t consecutive_failures = 0;
  SystemTime last_check;
};

struct HealthCheckStats {
  stats::Counter attempts;
  stats::Counter failures;
  stats::Gauge healthy_hosts;           // strait_dp_health_check_healthy_hosts
  stats::Gauge upstream_healthy_hosts;  // strait_dp_upstream_healthy_hosts
};

class HealthChecker {
 public:
  // `hosts` are checked (the checker keeps them alive); `check` is copied. Checks start at once
  // (the first after one jittered interval).
  HealthChecker(event::DispatcherImpl& dispatcher, RandomGenerator& random,
                ClusterInfoSharedPtr cluster, HostSetSharedPtr hosts,
                const config::HealthCheck& check, stats::Store& store);
  ~HealthChecker();

  const ClusterInfoSharedPtr& cluster() const { return cluster_; }
  const HostSetSharedPtr& hosts() const { return host_set_; }
  // A new host set of the same cluster: hosts that stay keep their checks and state, new hosts
  // are checked from now on (starting healthy), checks of hosts that left stop.
  void updateHosts(HostSetSharedPtr hosts);
  const config::HealthCheck& config() const { return check_; }
  // Null for a host this checker does not know.
  const HostHealthStatus* status(const Host& host) const;
  uint32_t healthyHosts() const;

  class HostCheck;  // one host's timers, connection and state (health_checker.cc)

 private:
  friend class HostCheck;
  void onResult(HostCheck& check, HealthTransition transition, bool ok);
  std::chrono::milliseconds jitteredInterval();
  void updateGauges();

  event::DispatcherImpl& dispatcher_;
  RandomGenerator& random_;
  ClusterInfoSharedPtr cluster_;
  HostSetSharedPtr host_set_;
  const config::HealthCheck check_;
  stats::Store& store_;
  HealthCheckStats stats_;
  std::vector<std::unique_ptr<HostCheck>> hosts_;
};

using HealthCheckerPtr = std::unique_ptr<HealthChecker>;

bool sameHealthCheck(const config::HealthCheck& a, const config::HealthCheck& b);

}  // namespace strait::upstream
