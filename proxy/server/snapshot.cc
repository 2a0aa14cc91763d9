#include "proxy/server/snapshot.h"

#include <algorithm>
#include <stdexcept>

namespace strait::server {

namespace {

bool sameTls(const std::optional<config::ClusterTls>& a,
             const std::optional<config::ClusterTls>& b) {
  if (a.has_value() != b.has_value()) {
    return false;
  }
  return !a || (a->sni == b->sni && a->ca == b->ca && a->cert == b->cert && a->key == b->key &&
                a->alpn == b->alpn);
}

// The settings a connection pool, the circuit breakers or the outlier detector depend on: a
// change rebuilds the cluster (its counts start from zero; requests in flight finish on the old
// one). Endpoints are not part of it: they are the cluster's host set, which changes under
// live pools (upstream/host_set.h).
bool sameClusterShape(const config::Cluster& a, const config::Cluster& b) {
  return a.lb == b.lb && a.protocol == b.protocol &&
         a.connect_timeout == b.connect_timeout && a.idle_timeout == b.idle_timeout &&
         a.max_requests_per_connection == b.max_requests_per_connection &&
         a.circuit_breakers == b.circuit_breakers &&
         sameTls(a.tls, b.tls) && a.dns.has_value() == b.dns.has_value() &&
         a.outlier_detection == b.outlier_detection &&
         (!a.dns || (a.dns->name == b.dns->name && a.dns->port == b.dns->port));
}

std::string routeLabel(const config::VirtualHost& vhost, const config::Route& route,
                       size_t index) {
  std::string name = route.name.empty() ? std::to_string(index) : route.name;
  return (vhost.name.empty() ? std::string("_") : vhost.name) + "/" + name;
}

void registerListenerStats(http::ListenerRuntime& runtime, stats::Store& store) {
  const stats::Labels labels{{"listener", runtime.config.name}};
  auto& s = runtime.stats;
  STRAIT_STATS_REGISTER(STRAIT_LISTENER_STATS, s, store, labels);
  s.rq_by_class.registerAll(store, "strait_dp_downstream_rq_total",
                            "Downstream requests by response status class.", labels);
  for (uint16_t status : {400, 408, 413, 414, 431, 501}) {
    stats::Labels with_status = labels;
    with_status.emplace_back("status", std::to_string(status));
    s.rq_rejected[status] = store.counter("strait_dp_downstream_rq_rejected_total",
                                          "Requests refused as malformed or over a limit.",
                                          with_status);
  }
}

}  // namespace

namespace {

// The listener's filter factories. An entry whose name and config text are those of the same
// entry in the previous snapshot hands its old factory to the builder, so that a process-wide
// controller (bulkhead queues, fault caps) carries over a reload.
bool buildFilterFactories(http::ListenerRuntime& runtime, const Snapshot* previous, stats::Store& store,
                          const http::ProcessContext& process, std::string& error) {
  const http::ListenerRuntime* old = previous == nullptr ? nullptr
                                                   : previous->findListener(runtime.config.name);
  const auto& filters = runtime.config.http.filters;
  for (size_t i = 0; i < filters.size(); i++) {
    const auto& filter = filters[i];
    const http::FilterFactoryBuilder* builder = http::findFilterFactory(filter.name);
    if (builder == nullptr || filter.settings == nullptr) {
      error = filter.config_path + ": filter " + filter.name + " has no factory";
      return false;
    }
    http::FilterFactoryContext context{store, runtime.config.name, filter.name, nullptr, process};
    if (old != nullptr && i < old->filter_factories.size() &&
        i < old->config.http.filters.size() && old->config.http.filters[i].name == filter.name &&
        old->config.http.filters[i].canonical == filter.canonical) {
      context.previous = old->filter_factories[i].get();
    }
    http::FilterFactoryPtr factory = (*builder)(*filter.settings, context);
    if (factory == nullptr) {
      error = filter.config_path + ": filter " + filter.name + " could not be built";
      return false;
    }
    if (const http::AcceptHook* hook = factory->acceptHook()) {
      runtime.accept_hooks.push_back(hook);
    }
    runtime.filter_factories.push_back(std::move(factory));
  }
  return true;
}

// A listener's runtime built anew: its route table, codec limits, stats, TLS context (loaded
// now) and filter factories.
std::shared_ptr<http::ListenerRuntime> buildListenerRuntime(const config::Listener& listener,
                                                      const config::BootstrapSharedPtr& config,
                                                      const Snapshot* previous,
                                                      stats::Store& store,
                                                      const http::ProcessContext& process,
                                                      std::string& error) {
  auto runtime = std::make_shared<http::ListenerRuntime>(
      http::ListenerRuntime{listener, config, {}, nullptr, {}, {}, {}, {}, {}, nullptr});
  std::string route_error;
  runtime->routes = router::createRouteTable(listener, &route_error);
  if (runtime->routes == nullptr) {
    error = route_error;
    return nullptr;
  }
  runtime->limits.max_header_bytes = listener.http.max_request_headers_kb * 1024;
  runtime->limits.max_headers = listener.http.max_headers;
  runtime->limits.max_body_bytes = uint64_t{listener.http.max_request_body_kb} * 1024;
  registerListenerStats(*runtime, store);
  if (listener.tls) {
    std::string tls_error;
    runtime->tls = tls::ServerContext::create(*listener.tls, listener.name,
                                              tls::directoryOf(config->source_path), store,
                                              tls_error);
    if (runtime->tls == nullptr) {
      error = tls_error;
      return nullptr;
    }
  }
  if (!buildFilterFactories(*runtime, previous, store, process, error)) {
    return nullptr;
  }
  for (const auto& vhost : listener.virtual_hosts) {
    for (size_t i = 0; i < vhost.routes.size(); i++) {
      const auto& route = vhost.routes[i];
      http::RouteStats rs;
      const stats::Labels labels{{"listener", listener.name},
                                 {"route", routeLabel(vhost, route, i)}};
      rs.rq_by_class.registerAll(store, "strait_dp_route_rq_total",
                                 "Requests per route by response status class.", labels);
      rs.rq_time = store.histogram("strait_dp_route_rq_time_seconds",
                                   "Request duration per route.", labels);
      if (route.route.has_value() && route.route->hedge.has_value()) {
        rs.hedge = std::make_shared<upstream::HedgeController>(
            *route.route->hedge,
            store.gauge("strait_dp_route_hedge_delay_microseconds",
                        "The delay before a hedge of this route's requests: fixed, or the "
                        "percentile of its recent latency learned per process.",
                        labels));
      }
      runtime->route_stats.emplace(&route, rs);
    }
  }
  return runtime;
}

}  // namespace

std::vector<std::string> unbuiltFeatures(const config::Bootstrap& config) {
  std::vector<std::string> out;
  for (size_t i = 0; i < config.listeners.size(); i++) {
    const auto& listener = config.listeners[i];
    const std::string path = "listeners[" + std::to_string(i) + "]";
    for (const auto& filter : listener.http.filters) {
      if (http::findFilterFactory(filter.name) == nullptr) {
        out.push_back(filter.config_path.substr(0, filter.config_path.rfind('.')) +
                      ": filter " + filter.name + " is not built yet");
      }
    }
  }
  return out;
}

const char* configSourceName(ConfigSource source) {
  switch (source) {
    case ConfigSource::Startup:
      return "startup";
    case ConfigSource::FileChange:
      return "file_change";
    case ConfigSource::Signal:
      return "sighup";
    case ConfigSource::AdminReload:
      return "admin_reload";
    case ConfigSource::CertificateRotation:
      return "certificate_rotation";
    case ConfigSource::DnsRefresh:
      return "dns_refresh";
    case ConfigSource::ControlPlane:
      return "control_plane";
    case ConfigSource::Persisted:
      return "persisted";
  }
  return "unknown";
}

namespace {

SnapshotSharedPtr buildSnapshotOrThrow(config::BootstrapSharedPtr config,
                                       const Snapshot* previous, stats::Store& store,
                                       const http::ProcessContext& process, uint64_t version, SnapshotSource source,
                                       std::string& error, const DnsOverride* dns_override) {
  if (auto unbuilt = unbuiltFeatures(*config); !unbuilt.empty()) {
    error = unbuilt.front();
    for (size_t i = 1; i < unbuilt.size(); i++) {
      error += "; " + unbuilt[i];
    }
    return nullptr;
  }
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->config = config;
  snapshot->version = version;
  snapshot->source = std::move(source);
  snapshot->versions = config::resourceVersions(*config);
  snapshot->applied_at = std::chrono::system_clock::now();

  std::string dns_addresses;  // what DNS clusters resolved to, for the endpoints version
  for (const auto& cluster : config->clusters) {
    const upstream::ClusterSnapshot* old = nullptr;
    if (previous != nullptr) {
      auto it = previous->clusters.find(cluster.name);
      old = it == previous->clusters.end() ? nullptr : &it->second;
    }
    // TLS files that changed since the ClusterInfo loaded them (certificate rotation) need a
    // new one, like any other change of shape.
    bool same_tls_files =
        old == nullptr || !cluster.tls ||
        old->info->tls_fingerprint ==
            tls::filesFingerprint(tls::directoryOf(config->source_path),
                                  tls::clusterTlsFiles(*cluster.tls));
    bool same_shape =
        old != nullptr && same_tls_files && sameClusterShape(old->info->config, cluster);
    upstream::ClusterSnapshot entry;
    if (same_shape) {
      // Same pool settings: keep the ClusterInfo, and so the workers' pools, the circuit-breaker
      // counts and the outlier detector. It keeps the previous Bootstrap it points into alive.
      entry.info = old->info;
    } else {
      entry.info = upstream::createClusterInfo(cluster, config, store, error);
      if (entry.info == nullptr) {
        return nullptr;
      }
    }
    const std::vector<sockaddr_storage>* dns = nullptr;
    if (dns_override != nullptr && cluster.dns && dns_override->cluster == cluster.name) {
      dns = &dns_override->addresses;
    } else if (same_shape && cluster.dns) {
      // Not this cluster's refresh: it keeps the addresses it has (its resolver refreshes it).
      entry.hosts = old->hosts;
    }
    if (entry.hosts == nullptr) {
      // Hosts that stay are reused only within one ClusterInfo: a reshaped cluster starts anew.
      entry.hosts = upstream::buildHostSet(cluster, same_shape ? old->hosts.get() : nullptr, dns,
                                           error);
      if (entry.hosts == nullptr) {
        return nullptr;
      }
      if (same_shape && entry.hosts->sameAs(*old->hosts)) {
        entry.hosts = old->hosts;  // nothing changed: workers see no update
      }
    }
    if (const auto& tier = entry.info->locality_tier) {
      // Before the set reaches a worker: its localities have their slots.
      for (const upstream::HostSet::LocalityHosts& group : entry.hosts->localities()) {
        tier->slotFor(group.locality);
      }
    }
    if (cluster.dns) {
      dns_addresses += cluster.name + ":";
      for (const auto& host : entry.hosts->hosts()) {
        dns_addresses += " " + host->addressString();
      }
      dns_addresses += "\n";
    }
    snapshot->clusters.emplace(cluster.name, std::move(entry));
  }
  if (!dns_addresses.empty()) {
    snapshot->versions.endpoints =
        config::contentHash(snapshot->versions.endpoints + "\n" + dns_addresses);
  }

  const std::string base_dir = tls::directoryOf(config->source_path);
  for (const auto& listener : config->listeners) {
    const std::string tls_fingerprint =
        listener.tls ? tls::filesFingerprint(base_dir, tls::listenerTlsFiles(*listener.tls)) : "";
    const http::ListenerRuntime* old =
        previous == nullptr ? nullptr : previous->findListener(listener.name);
    if (old != nullptr && old->config.canonical == listener.canonical &&
        old->tls_fingerprint == tls_fingerprint) {
      // The same listener block and the same certificates: share the runtime (route table,
      // filter factories, TLS context, stats handles) as it is.
      auto it = std::find_if(previous->listeners.begin(), previous->listeners.end(),
                             [old](const auto& l) { return l.get() == old; });
      snapshot->listeners.push_back(*it);
      continue;
    }
    auto runtime = buildListenerRuntime(listener, config, previous, store, process, error);
    if (runtime == nullptr) {
      return nullptr;
    }
    runtime->tls_fingerprint = tls_fingerprint;
    snapshot->listeners.push_back(std::move(runtime));
  }
  return snapshot;
}

}  // namespace

SnapshotSharedPtr buildSnapshot(config::BootstrapSharedPtr config, const Snapshot* previous,
                                stats::Store& store, const http::ProcessContext& process,
                                uint64_t version, SnapshotSource source,
                                std::string& error, const DnsOverride* dns_override) {
  try {
    return buildSnapshotOrThrow(std::move(config), previous, store, process, version,
                                std::move(source), error, dns_override);
  } catch (const std::logic_error& e) {
    // Stat registration: a metric name taken by another type, or (length_error) a full store.
    // The config is refused like any other; the snapshot in force keeps serving.
    error = std::string("stats: ") + e.what();
  }
  return nullptr;
}

void activateSnapshot(const Snapshot& snapshot) {
  for (const auto& [name, cluster] : snapshot.clusters) {
    upstream::activateClusterSnapshot(cluster);
  }
}

}  // namespace strait::server
