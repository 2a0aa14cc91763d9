#pragma once

// The process-wide, immutable part of a cluster: its shape (config, TLS context, circuit
// breakers, outlier detector) and its stats handles. Built on the main thread as part of a
// config snapshot; shared read-only by every worker. Its hosts are apart, in a HostSet
// (host_set.h) that an endpoint change replaces without touching the ClusterInfo.

#include <sys/socket.h>

#include <array>
#include <iterator>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/types.h"
#include "proxy/tls/context.h"
#include "proxy/upstream/host_set.h"
#include "proxy/upstream/locality_tier.h"
#include "proxy/upstream/outlier_detector.h"
#include "proxy/upstream/resource_manager.h"
#include "strait/stats/stats.h"
#include "strait/stats/stats_list.h"
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

// Every stat of a cluster, sorted by field (strait/stats/stats_list.h); all labelled `cluster`.
#define STRAIT_CLUSTER_STATS(COUNTER, GAUGE, HISTOGRAM)                                          \
  COUNTER(cx_connect_fail, "strait_dp_upstream_cx_connect_fail_total",                          \
          "Upstream connection attempts that failed.")                                          \
  COUNTER(cx_connect_timeout, "strait_dp_upstream_cx_connect_timeout_total",                    \
          "Upstream connection attempts over connect_timeout.")                                 \
  GAUGE(cx_active, "strait_dp_upstream_cx_active", "Open upstream connections.")                \
  COUNTER(cx_destroy_remote, "strait_dp_upstream_cx_destroy_remote_total",                      \
          "Upstream connections closed by the upstream.")                                       \
  COUNTER(cx_overflow, "strait_dp_upstream_cx_overflow_total",                                  \
          "Upstream connections wanted over max_connections (per process): the request "        \
          "waited for a pooled one, or, in a pool with none, the connection was opened anyway.") \
  COUNTER(cx_total, "strait_dp_upstream_cx_total", "Upstream connections opened.")              \
  COUNTER(hedge_budget_exhausted, "strait_dp_upstream_hedge_budget_exhausted_total",            \
          "Hedges due but not sent: the route's max_extra_load or the cluster's retry budget "   \
          "was used up.")                                                                       \
  COUNTER(hedge_suppressed, "strait_dp_upstream_hedge_suppressed_total",                        \
          "Hedges due but not sent because the cluster or the listener was overloaded "         \
          "(max_requests reached or requests queued, adaptive limit at its floor, shedding).")  \
  COUNTER(hedges_cancelled, "strait_dp_upstream_hedges_cancelled_total",                        \
          "Attempts of hedged requests cancelled because another attempt answered first.")      \
  COUNTER(hedges_sent, "strait_dp_upstream_hedges_sent_total",                                  \
          "Hedges (backup attempts started while an earlier one was in flight).")               \
  COUNTER(hedges_won, "strait_dp_upstream_hedges_won_total",                                    \
          "Hedged requests whose response came from a hedge, not the first attempt.")           \
  COUNTER(lb_healthy_panic, "strait_dp_upstream_lb_healthy_panic_total",                        \
          "Picks made while no host was healthy (panic mode).")                                 \
  COUNTER(outlier_reports, "strait_dp_upstream_outlier_reports_total",                          \
          "Attempt results fed to the outlier detector.")                                       \
  COUNTER(rq_overflow, "strait_dp_upstream_rq_overflow_total",                                  \
          "Requests answered 503 UO by the cluster's circuit breakers (max_requests reached, "   \
          "and queueing off, the pending queue full, or queue_timeout over).")                  \
  COUNTER(rq_pending_overflow, "strait_dp_upstream_rq_pending_overflow_total",                  \
          "Requests refused because max_pending_requests (per process) was reached.")           \
  COUNTER(rq_queue_timeout, "strait_dp_upstream_rq_pending_timeout_total",                      \
          "Requests answered 503 UO after waiting queue_timeout in the pending queue.")         \
  COUNTER(rq_queued, "strait_dp_upstream_rq_pending_total",                                     \
          "Requests that waited in the pending queue because max_requests was reached.")        \
  GAUGE(rq_active, "strait_dp_upstream_rq_active", "Upstream requests in flight.")              \
  COUNTER(rq_reset, "strait_dp_upstream_rq_reset_total",                                        \
          "Requests whose upstream connection closed or reset before a complete response.")     \
  COUNTER(rq_retry, "strait_dp_upstream_rq_retry_total", "Retried upstream attempts.")          \
  COUNTER(rq_retry_overflow, "strait_dp_upstream_rq_retry_overflow_total",                      \
          "Retries not made because the cluster's retry budget (per process) was used up.")     \
  HISTOGRAM(rq_time, "strait_dp_upstream_rq_time_seconds",                                      \
            "Time from sending the request upstream to the last byte of the response.")         \
  COUNTER(rq_timeout, "strait_dp_upstream_rq_timeout_total",                                    \
          "Requests that hit the route timeout.")                                               \
  COUNTER(rx_bytes, "strait_dp_upstream_cx_rx_bytes_total", "Bytes received from upstream hosts.") \
  COUNTER(tx_bytes, "strait_dp_upstream_cx_tx_bytes_total", "Bytes sent to upstream hosts.")

struct ClusterStats {
  STRAIT_STATS_FIELDS(STRAIT_CLUSTER_STATS)
  CodeClassCounters rq_by_class;  // strait_dp_upstream_rq_total{code_class}
};

// The process-wide counts of the circuit breakers and the outlier detector, which keep them in
// their own atomics: the main thread mirrors them into these (its shard alone) before a scrape
// (publishResilienceStats()). Sorted by field; all labelled `cluster`.
#define STRAIT_CLUSTER_RESILIENCE_STATS(COUNTER, GAUGE, HISTOGRAM)                            \
  GAUGE(cx_counted, "strait_dp_upstream_cx_counted",                                         \
        "Upstream connections counted against max_connections, all workers together.")      \
  GAUGE(rq_in_flight, "strait_dp_upstream_rq_in_flight",                                     \
        "Requests holding a max_requests slot, all workers together.")                       \
  GAUGE(rq_pending_active, "strait_dp_upstream_rq_pending_active",                           \
        "Requests waiting for a max_requests slot or a connection, all workers together "    \
        "(max_pending_requests).")
#define STRAIT_OUTLIER_STATS(COUNTER, GAUGE, HISTOGRAM)                                       \
  GAUGE(ejections_active, "strait_dp_outlier_ejections_active", "Hosts ejected now.")        \
  COUNTER(ejections_overflow, "strait_dp_outlier_ejections_overflow_total",                  \
          "Ejections not made: max_ejection_percent.")

// The circuit-breaker limits, in the order of ClusterResilienceStats::circuit_open.
inline constexpr const char* kCircuitLimits[] = {"max_connections", "max_pending_requests",
                                                 "max_requests", "retry_budget"};

struct ClusterResilienceStats {
  STRAIT_STATS_FIELDS(STRAIT_CLUSTER_RESILIENCE_STATS)
  // strait_dp_upstream_circuit_open{limit}, by kCircuitLimits.
  std::array<stats::Gauge, std::size(kCircuitLimits)> circuit_open;
};

// Registered only for a cluster with outlier_detection.
struct OutlierStats {
  STRAIT_STATS_FIELDS(STRAIT_OUTLIER_STATS)
  // By detector kind (outlierDetectorName()): strait_dp_outlier_ejections_total{detector} and
  // strait_dp_outlier_detected_total{detector}.
  std::array<stats::Counter, kOutlierDetectorKinds> ejections_total;
  std::array<stats::Counter, kOutlierDetectorKinds> detected;
};


struct ClusterInfo {
  // A ClusterInfo can outlive the snapshot that built it (an unchanged cluster is carried into
  // the next snapshot), so it keeps the Bootstrap its `config` points into alive.
  config::BootstrapSharedPtr bootstrap;
  // The config of the snapshot that built it: its shape settings are those in force; its
  // endpoints may be older than the host set's (read hosts from the HostSet).
  const config::Cluster& config;
  ClusterStats stats;
  ClusterResilienceStats resilience_stats;
  OutlierStats outlier_stats;  // registered only with `outlier`
  tls::ClientContextSharedPtr tls;  // set when the cluster has `tls`: connections originate TLS
  std::string tls_fingerprint;      // of the TLS files as loaded (tls::filesFingerprint)
  // Circuit breakers, per process: every worker's streams draw on the same counts.
  std::shared_ptr<ResourceManager> resources;
  // Outlier detection, per process (null without `outlier_detection`): workers report every
  // attempt's result; the server's timer evaluates it every `interval` on the main thread. It
  // follows the host set in force (activateClusterSnapshot()).
  std::shared_ptr<OutlierDetector> outlier;
  // Carbon-aware routing, per process (null without `carbon_aware`): the shares per locality
  // the server's policy sets, and what the workers measure per locality (locality_tier.h).
  std::shared_ptr<LocalityTier> locality_tier;
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
