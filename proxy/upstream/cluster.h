#pragma once

// The process-wide, immutable part of a cluster: its shape (config, TLS context, circuit
// breakers, outlier detector) and its stats handles. Built on the main thread as part of a
// config snapshot; shared read-only by every worker. Its hosts are apart, in a HostSet
// (host_set.h) that an endpoint change replaces without touching the ClusterInfo.

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/types.h"
#include "proxy/tls/context.h"
#include "proxy/upstream/host_set.h"
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

struct ClusterInfo {
  // A ClusterInfo can outlive the snapshot that built it (an unchanged cluster is carried into
  // the next snapshot), so it keeps the Bootstrap its `config` points into alive.
  config::BootstrapSharedPtr bootstrap;
  // The config of the snapshot that built it: its shape settings are those in force; its
  // endpoints may be older than the host set's (read hosts from the HostSet).
  const config::Cluster& config;
  ClusterStats stats;
  tls::ClientContextSharedPtr tls;  // set when the cluster has `tls`: connections originate TLS
  std::string tls_fingerprint;      // of the TLS files as loaded (tls::filesFingerprint)
  // Circuit breakers, per process: every worker's streams draw on the same counts.
  std::shared_ptr<ResourceManager> resources;
  // Outlier detection, per process (null without `outlier_detection`): workers report every
  // attempt's result; the server's timer evaluates it every `interval` on the main thread. It
  // follows the host set in force (activateClusterSnapshot()).
  std::shared_ptr<OutlierDetector> outlier;
};

using ClusterInfoSharedPtr = std::shared_ptr<const ClusterInfo>;

// A cluster as one snapshot has it: its shape and its hosts. Workers compare both: a new
// ClusterInfo drains the old pools; a new HostSet of the same ClusterInfo updates them in place.
struct ClusterSnapshot {
  ClusterInfoSharedPtr info;
  HostSetSharedPtr hosts;
};
using ClusterSnapshots = std::unordered_map<std::string, ClusterSnapshot>;

// Builds a cluster's shape: TLS context, stats, circuit breakers, outlier detector. Returns
// nullptr and sets `error` when the TLS files do not load.
ClusterInfoSharedPtr createClusterInfo(const config::Cluster& cluster,
                                       config::BootstrapSharedPtr bootstrap, stats::Store& store,
                                       std::string& error);

// Main thread, when a snapshot is published: the host set's weights take effect and the outlier
// detector judges its hosts from now on.
void activateClusterSnapshot(const ClusterSnapshot& cluster);

}  // namespace strait::upstream
