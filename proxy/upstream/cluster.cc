#include "proxy/upstream/cluster.h"


namespace strait::upstream {

void CodeClassCounters::registerAll(stats::Store& store, std::string_view name,
                                    std::string_view help, const stats::Labels& labels) {
  for (size_t i = 0; i < by_class.size(); i++) {
    stats::Labels with_class = labels;
    with_class.emplace_back("code_class", std::to_string(i + 1) + "xx");
    by_class[i] = store.counter(name, help, with_class);
  }
}

ClusterInfoSharedPtr createClusterInfo(const config::Cluster& cluster,
                                       config::BootstrapSharedPtr bootstrap, stats::Store& store,
                                       std::string& error) {
  auto info = std::make_shared<ClusterInfo>(
      ClusterInfo{std::move(bootstrap), cluster, {}, nullptr, {}, nullptr, nullptr});
  if (cluster.tls) {
    info->tls_fingerprint = tls::filesFingerprint(tls::directoryOf(info->bootstrap->source_path),
                                                  tls::clusterTlsFiles(*cluster.tls));
    info->tls = tls::ClientContext::create(*cluster.tls, tls::directoryOf(info->bootstrap->source_path),
                                           error,
                                           cluster.protocol == config::UpstreamProtocol::Http2);
    if (info->tls == nullptr) {
      error = "cluster " + cluster.name + ": tls: " + error;
      return nullptr;
    }
  }
  const stats::Labels labels{{"cluster", cluster.name}};
  auto& s = info->stats;
  s.rq_by_class.registerAll(store, "strait_dp_upstream_rq_total",
                            "Upstream responses by status class.", labels);
  s.rq_time = store.histogram("strait_dp_upstream_rq_time_seconds",
                              "Time from sending the request upstream to the last byte of the "
                              "response.",
                              labels);
  s.rq_timeout = store.counter("strait_dp_upstream_rq_timeout_total",
                               "Requests that hit the route timeout.", labels);
  s.rq_reset = store.counter("strait_dp_upstream_rq_reset_total",
                             "Requests whose upstream connection closed or reset before a "
                             "complete response.",
                             labels);
  s.rq_retry = store.counter("strait_dp_upstream_rq_retry_total", "Retried upstream attempts.",
                             labels);
  s.rq_active = store.gauge("strait_dp_upstream_rq_active", "Upstream requests in flight.", labels);
  s.cx_total = store.counter("strait_dp_upstream_cx_total", "Upstream connections opened.", labels);
  s.cx_active = store.gauge("strait_dp_upstream_cx_active", "Open upstream connections.", labels);
  s.cx_connect_fail = store.counter("strait_dp_upstream_cx_connect_fail_total",
                                    "Upstream connection attempts that failed.", labels);
  s.cx_connect_timeout = store.counter("strait_dp_upstream_cx_connect_timeout_total",
                                       "Upstream connection attempts over connect_timeout.",
                                       labels);
  s.cx_destroy_remote = store.counter("strait_dp_upstream_cx_destroy_remote_total",
                                      "Upstream connections closed by the upstream.", labels);
  s.tx_bytes = store.counter("strait_dp_upstream_cx_tx_bytes_total",
                             "Bytes sent to upstream hosts.", labels);
  s.rx_bytes = store.counter("strait_dp_upstream_cx_rx_bytes_total",
                             "Bytes received from upstream hosts.", labels);
  s.lb_healthy_panic = store.counter("strait_dp_upstream_lb_healthy_panic_total",
                                     "Picks made while no host was healthy (panic mode).",
                                     labels);
  s.rq_overflow = store.counter(
      "strait_dp_upstream_rq_overflow_total",
      "Requests answered 503 UO by the cluster's circuit breakers (max_requests reached, and "
      "queueing off, the pending queue full, or queue_timeout over).",
      labels);
  s.rq_queued = store.counter(
      "strait_dp_upstream_rq_pending_total",
      "Requests that waited in the pending queue because max_requests was reached.", labels);
  s.rq_queue_timeout = store.counter(
      "strait_dp_upstream_rq_pending_timeout_total",
      "Requests answered 503 UO after waiting queue_timeout in the pending queue.", labels);
  s.rq_pending_overflow = store.counter(
      "strait_dp_upstream_rq_pending_overflow_total",
      "Requests refused because max_pending_requests (per process) was reached.", labels);
  s.cx_overflow = store.counter(
      "strait_dp_upstream_cx_overflow_total",
      "Upstream connections wanted over max_connections (per process): the request waited for "
      "a pooled one, or, in a pool with none, the connection was opened anyway.",
      labels);
  s.rq_retry_overflow = store.counter(
      "strait_dp_upstream_rq_retry_overflow_total",
      "Retries not made because the cluster's retry budget (per process) was used up.", labels);
  s.outlier_reports = store.counter("strait_dp_upstream_outlier_reports_total",
                                    "Attempt results fed to the outlier detector.", labels);
  info->resources = std::make_shared<ResourceManager>(cluster.circuit_breakers);
  if (cluster.outlier_detection) {
    // The detector reads time through a TimeSource like the rest of the data path; its tests
    // drive a simulated one.
    static RealTimeSource time_source;
    info->outlier =
        std::make_shared<OutlierDetector>(*cluster.outlier_detection, HostVector{}, time_source);
  }
  return info;
}

void activateClusterSnapshot(const ClusterSnapshot& cluster) {
  cluster.hosts->activate();
  if (cluster.info->outlier != nullptr) {
    cluster.info->outlier->updateHosts(cluster.hosts->hosts());
  }
}

}  // namespace strait::upstream
