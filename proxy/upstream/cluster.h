#pragma once

// The process-wide, immutable part of a cluster: its config, its hosts (with resolved
// addresses and per-host counters) and its stats handles. Built on the main thread as part of a
// config snapshot; shared read-only by every worker (host counters are relaxed atomics).

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/types.h"
#include "proxy/tls/context.h"
#include "proxy/upstream/outlier_detector.h"
#include "proxy/upstream/resource_manager.h"
#include "strait/stats/stats.h"
#include "strait/upstream/host.h"

namespace strait::upstream {

// Counters by status class: index 0 for 1xx ... 4 for 5xx.
struct CodeClassCounters {
  std::array<stats::Counter, 5> by_class;

  void registerAll(stats::Store& store, std::string_view name, std::string_view help,
                   const stats::Labels& labels);
  void inc(stats::Shard& shard, uint16_t status) const {
    size_t index = status >= 100 && status < 600 ? status / 100 - 1 : 4;
    shard.inc(by_class[index]);
  }
};

struct ClusterStats {
  CodeClassCounters rq_by_class;
  stats::Histogram rq_time;
  stats::Counter rq_timeout;
  stats::Counter rq_reset;          // upstream reset or closed before a complete response
  stats::Counter rq_retry;
  stats::Gauge rq_active;
  stats::Counter cx_total;
  stats::Gauge cx_active;
  stats::Counter cx_connect_fail;
  stats::Counter cx_connect_timeout;
  stats::Counter cx_destroy_remote;  // closed by the upstream (idle or after a response)
  stats::Counter tx_bytes;
  stats::Counter rx_bytes;
  stats::Counter lb_healthy_panic;
  stats::Counter rq_overflow;        // 503 UO: max_requests reached (at once or after queueing)
  stats::Counter rq_queued;          // waited in the pending queue for a max_requests slot
  stats::Counter rq_queue_timeout;   // gave up after queue_timeout (also in rq_overflow)
  stats::Counter rq_pending_overflow;  // pending queue full (max_pending_requests)
  stats::Counter cx_overflow;        // connections over max_connections (refused or forced)
  stats::Counter rq_retry_overflow;  // retries the retry budget refused
  stats::Counter outlier_reports;    // attempt results fed to the outlier detector
};

// A host with what the proxy needs beyond load balancing: its socket address and counters.
class HostImpl : public Host {
 public:
  HostImpl(const config::Endpoint& endpoint, const sockaddr_storage& addr)
      : Host(endpoint.address, endpoint.port, endpoint.weight, endpoint.locality), addr_(addr) {}

  const sockaddr* sockAddr() const { return reinterpret_cast<const sockaddr*>(&addr_); }

  // Per-host counters for /clusters (process-wide, relaxed).
  std::atomic<uint64_t> rq_total{0};
  std::atomic<uint64_t> rq_error{0};  // 5xx, resets, timeouts
  std::atomic<uint64_t> cx_connect_fail{0};
  std::atomic<int64_t> cx_active{0};

 private:
  sockaddr_storage addr_;
};

struct ClusterInfo {
  // A ClusterInfo can outlive the snapshot that built it (an unchanged cluster is carried into
  // the next snapshot), so it keeps the Bootstrap its `config` points into alive.
  config::BootstrapSharedPtr bootstrap;
  const config::Cluster& config;
  HostVector hosts;               // each a HostImpl
  ClusterStats stats;
  tls::ClientContextSharedPtr tls;  // set when the cluster has `tls`: connections originate TLS
  std::string tls_fingerprint;      // of the TLS files as loaded (tls::filesFingerprint)
  // Circuit breakers, per process: every worker's streams draw on the same counts.
  std::shared_ptr<ResourceManager> resources;
  // Outlier detection, per process (null without `outlier_detection`): workers report every
  // attempt's result; the server's timer evaluates it every `interval` on the main thread.
  std::shared_ptr<OutlierDetector> outlier;

  // The index of `host` in `hosts` (the detector's host index), or SIZE_MAX.
  size_t hostIndex(const Host* host) const {
    for (size_t i = 0; i < hosts.size(); i++) {
      if (hosts[i].get() == host) {
        return i;
      }
    }
    return SIZE_MAX;
  }
};

using ClusterInfoSharedPtr = std::shared_ptr<const ClusterInfo>;

// Builds a cluster: resolves each endpoint (IP literals directly, names once through the
// system resolver). Returns nullptr and sets `error` if an endpoint cannot be resolved.
// A DNS cluster (`dns`, no endpoints) gets one host per address: `dns_addresses` when given
// (a refresh by DnsResolver), else the name resolved now, blocking (startup and reload).
ClusterInfoSharedPtr createClusterInfo(const config::Cluster& cluster,
                                       config::BootstrapSharedPtr bootstrap, stats::Store& store,
                                       std::string& error,
                                       const std::vector<sockaddr_storage>* dns_addresses = nullptr);

}  // namespace strait::upstream
