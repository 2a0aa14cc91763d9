#include "proxy/upstream/cluster.h"

#include <netdb.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "proxy/network/listener_impl.h"
#include "proxy/upstream/dns_resolver.h"

namespace strait::upstream {

void CodeClassCounters::registerAll(stats::Store& store, std::string_view name,
                                    std::string_view help, const stats::Labels& labels) {
  for (size_t i = 0; i < by_class.size(); i++) {
    stats::Labels with_class = labels;
    with_class.emplace_back("code_class", std::to_string(i + 1) + "xx");
    by_class[i] = store.counter(name, help, with_class);
  }
}

namespace {

bool resolve(const std::string& address, uint16_t port, sockaddr_storage& out,
             std::string& error) {
  if (network::parseIpAddress(address, port, out)) {
    return true;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  int rc = getaddrinfo(address.c_str(), nullptr, &hints, &result);
  if (rc != 0 || result == nullptr) {
    error = "cannot resolve " + address + ": " + gai_strerror(rc);
    return false;
  }
  std::memset(&out, 0, sizeof(out));
  std::memcpy(&out, result->ai_addr, result->ai_addrlen);
  if (out.ss_family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&out)->sin_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in6*>(&out)->sin6_port = htons(port);
  }
  freeaddrinfo(result);
  return true;
}

// One host per address of a DNS cluster, named by its IP (the name is in the cluster's config).
bool addDnsHosts(const config::DnsDiscovery& dns, const std::vector<sockaddr_storage>* given,
                 HostVector& hosts, std::string& error) {
  AddressList resolved;
  if (given == nullptr) {
    if (!resolveBlocking(dns.name, dns.port, resolved, error)) {
      return false;
    }
    given = &resolved;
  }
  for (const auto& addr : *given) {
    char ip[INET6_ADDRSTRLEN] = {0};
    const void* raw = addr.ss_family == AF_INET
                          ? static_cast<const void*>(
                                &reinterpret_cast<const sockaddr_in*>(&addr)->sin_addr)
                          : static_cast<const void*>(
                                &reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_addr);
    if (inet_ntop(addr.ss_family, raw, ip, sizeof(ip)) == nullptr) {
      continue;
    }
    config::Endpoint endpoint;
    endpoint.address = ip;
    endpoint.port = dns.port;
    hosts.push_back(std::make_shared<HostImpl>(endpoint, addr));
  }
  return true;
}

}  // namespace

ClusterInfoSharedPtr createClusterInfo(const config::Cluster& cluster,
                                       config::BootstrapSharedPtr bootstrap, stats::Store& store,
                                       std::string& error,
                                       const std::vector<sockaddr_storage>* dns_addresses) {
  auto info = std::make_shared<ClusterInfo>(ClusterInfo{std::move(bootstrap), cluster, {}, {}, nullptr, {}, nullptr, nullptr});
  for (const auto& endpoint : cluster.endpoints) {
    sockaddr_storage addr;
    if (!resolve(endpoint.address, endpoint.port, addr, error)) {
      error = "cluster " + cluster.name + ": " + error;
      return nullptr;
    }
    info->hosts.push_back(std::make_shared<HostImpl>(endpoint, addr));
  }
  if (cluster.dns && !addDnsHosts(*cluster.dns, dns_addresses, info->hosts, error)) {
    error = "cluster " + cluster.name + ": " + error;
    return nullptr;
  }
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
    info->outlier = std::make_shared<OutlierDetector>(*cluster.outlier_detection, info->hosts,
                                                      time_source);
  }
  return info;
}

}  // namespace strait::upstream
