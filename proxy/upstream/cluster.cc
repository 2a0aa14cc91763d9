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
      ClusterInfo{std::move(bootstrap), cluster, {}, {}, {}, nullptr, {}, nullptr, nullptr, nullptr});
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
  STRAIT_STATS_REGISTER(STRAIT_CLUSTER_STATS, info->stats, store, labels);
  info->stats.rq_by_class.registerAll(store, "strait_dp_upstream_rq_total",
                                      "Upstream responses by status class.", labels);
  STRAIT_STATS_REGISTER(STRAIT_CLUSTER_RESILIENCE_STATS, info->resilience_stats, store, labels);
  for (size_t i = 0; i < std::size(kCircuitLimits); i++) {
    info->resilience_stats.circuit_open[i] =
        store.gauge("strait_dp_upstream_circuit_open",
                    "1 while a circuit-breaker limit (per process) is at its maximum, or has "
                    "refused something since the previous scrape.",
                    {{"cluster", cluster.name}, {"limit", kCircuitLimits[i]}});
  }
  info->resources = std::make_shared<ResourceManager>(cluster.circuit_breakers);
  if (cluster.carbon_aware) {
    info->locality_tier = std::make_shared<LocalityTier>(*cluster.carbon_aware);
  }
  if (cluster.outlier_detection) {
    // The detector reads time through a TimeSource like the rest of the data path; its tests
    // drive a simulated one.
    static RealTimeSource time_source;
    info->outlier =
        std::make_shared<OutlierDetector>(*cluster.outlier_detection, HostVector{}, time_source);
    OutlierStats& o = info->outlier_stats;
    STRAIT_STATS_REGISTER(STRAIT_OUTLIER_STATS, o, store, labels);
    for (size_t k = 0; k < kOutlierDetectorKinds; k++) {
      const stats::Labels by_detector{
          {"cluster", cluster.name},
          {"detector", outlierDetectorName(static_cast<OutlierDetectorKind>(k))}};
      o.ejections_total[k] =
          store.counter("strait_dp_outlier_ejections_total", "Hosts ejected, by detector.",
                        by_detector);
      o.detected[k] = store.counter("strait_dp_outlier_detected_total",
                                    "Outliers detected (ejected or not: enforcing).", by_detector);
    }
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
