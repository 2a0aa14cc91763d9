// clusters[]: membership (static endpoints or DNS), load balancing, upstream TLS and the
// resilience settings (health checks, circuit breakers, outlier detection).

#include "config/sections.h"

namespace strait::config::internal {
namespace {

Endpoint parseEndpoint(const Value& value) {
  Endpoint endpoint;
  MapReader map(value, {"address", "port", "weight", "locality"});
  if (std::optional<Value> address = map.require("address")) {
    endpoint.address = address->nonEmptyString().value_or("");
  }
  // Unlike a listener, an endpoint cannot "pick any" port: 0 is never a real destination.
  if (map.require("port").has_value()) {
    map.readUint16("port", endpoint.port, 1, 65535);
  }
  map.readUint32("weight", endpoint.weight, 1, UINT32_MAX);
  if (std::optional<Value> locality = map.get("locality")) {
    endpoint.locality = parseLocality(*locality);
  }
  return endpoint;
}

DnsDiscovery parseDns(const Value& value) {
  DnsDiscovery dns;
  MapReader map(value, {"name", "port", "refresh"});
  if (std::optional<Value> name = map.require("name")) {
    dns.name = name->nonEmptyString().value_or("");
  }
  if (map.require("port").has_value()) {
    map.readUint16("port", dns.port, 1, 65535);
  }
  map.readDuration("refresh", dns.refresh, false);
  return dns;
}

ClusterTls parseClusterTls(const Value& value) {
  ClusterTls tls;
  MapReader map(value, {"sni", "ca", "cert", "key", "alpn"});
  map.readString("sni", tls.sni);
  map.readString("ca", tls.ca);
  map.readString("cert", tls.cert);
  map.readString("key", tls.key);
  map.readStringList("alpn", tls.alpn);
  // A client certificate is useless without its key and the other way round.
  if (map.has("cert") != map.has("key")) {
    map.error("cert and key go together: give both or neither");
  }
  return tls;
}

HealthCheck parseHealthCheck(const Value& value) {
  HealthCheck check;
  MapReader map(value, {"path", "interval", "timeout", "healthy_threshold", "unhealthy_threshold"});
  if (std::optional<Value> path = map.get("path")) {
    check.path = path->string().value_or(check.path);
    if (path->node().IsScalar() && !check.path.starts_with('/')) {
      path->error("expected a path starting with \"/\", got " + quote(check.path));
    }
  }
  map.readDuration("interval", check.interval, false);
  map.readDuration("timeout", check.timeout, false);
  map.readUint32("healthy_threshold", check.healthy_threshold, 1, UINT32_MAX);
  map.readUint32("unhealthy_threshold", check.unhealthy_threshold, 1, UINT32_MAX);
  return check;
}

CircuitBreakers parseCircuitBreakers(const Value& value) {
  CircuitBreakers breakers;
  MapReader map(value, {"max_connections", "max_pending_requests", "max_requests", "retry_budget"});
  map.readUint32("max_connections", breakers.max_connections, 1, UINT32_MAX);
  map.readUint32("max_pending_requests", breakers.max_pending_requests, 0, UINT32_MAX);
  map.readUint32("max_requests", breakers.max_requests, 1, UINT32_MAX);
  if (std::optional<Value> budget = map.get("retry_budget")) {
    MapReader budget_map(*budget, {"percent", "min_concurrency"});
    if (std::optional<Value> percent = budget_map.get("percent")) {
      breakers.retry_budget.percent =
          percent->number(0, 100).value_or(breakers.retry_budget.percent);
    }
    budget_map.readUint32("min_concurrency", breakers.retry_budget.min_concurrency, 0, UINT32_MAX);
  }
  return breakers;
}

OutlierDetection parseOutlierDetection(const Value& value) {
  OutlierDetection outlier;
  MapReader map(value,
                {"consecutive_5xx", "interval", "base_ejection_time", "max_ejection_percent"});
  map.readUint32("consecutive_5xx", outlier.consecutive_5xx, 1, UINT32_MAX);
  map.readDuration("interval", outlier.interval, false);
  map.readDuration("base_ejection_time", outlier.base_ejection_time, false);
  map.readUint32("max_ejection_percent", outlier.max_ejection_percent, 0, 100);
  return outlier;
}

}  // namespace

Locality parseLocality(const Value& value) {
  Locality locality;
  MapReader map(value, {"region", "zone"});
  map.readString("region", locality.region);
  map.readString("zone", locality.zone);
  return locality;
}

Cluster parseCluster(const Value& value, ParseContext& context) {
  Cluster cluster;
  MapReader map(value, {"name", "endpoints", "dns", "lb", "protocol", "connect_timeout",
                        "idle_timeout", "max_requests_per_connection", "tls", "health_check",
                        "circuit_breakers", "outlier_detection"});
  if (std::optional<Value> name = map.require("name")) {
    if (std::optional<std::string> text = name->nonEmptyString()) {
      cluster.name = *text;
      context.cluster_names.push_back(NameAt{*text, *name});
    }
  }
  if (map.isMap() && map.has("endpoints") == map.has("dns")) {
    map.error(std::string("expected exactly one of endpoints, dns, got ") +
              (map.has("dns") ? "both" : "none"));
  }
  if (std::optional<Value> endpoints = map.get("endpoints")) {
    std::vector<Value> items = endpoints->items();
    if (items.empty() && endpoints->node().IsSequence()) {
      endpoints->error("expected at least one endpoint (or use dns instead)");
    }
    for (const Value& item : items) {
      cluster.endpoints.push_back(parseEndpoint(item));
    }
  }
  if (std::optional<Value> dns = map.get("dns")) {
    cluster.dns = parseDns(*dns);
  }
  if (std::optional<Value> lb = map.get("lb")) {
    cluster.lb = lb->oneOf<LbPolicy>({{"round_robin", LbPolicy::RoundRobin},
                                      {"least_request", LbPolicy::LeastRequest},
                                      {"random", LbPolicy::Random},
                                      {"ring_hash", LbPolicy::RingHash}})
                     .value_or(cluster.lb);
  }
  if (std::optional<Value> protocol = map.get("protocol")) {
    cluster.protocol = protocol
                           ->oneOf<UpstreamProtocol>({{"http1", UpstreamProtocol::Http1},
                                                      {"http2", UpstreamProtocol::Http2}})
                           .value_or(cluster.protocol);
  }
  map.readDuration("connect_timeout", cluster.connect_timeout, false);
  map.readDuration("idle_timeout", cluster.idle_timeout);
  map.readUint32("max_requests_per_connection", cluster.max_requests_per_connection, 0, UINT32_MAX);
  if (std::optional<Value> tls = map.get("tls")) {
    cluster.tls = parseClusterTls(*tls);
  }
  if (std::optional<Value> check = map.get("health_check")) {
    cluster.health_check = parseHealthCheck(*check);
  }
  if (std::optional<Value> breakers = map.get("circuit_breakers")) {
    cluster.circuit_breakers = parseCircuitBreakers(*breakers);
  }
  if (std::optional<Value> outlier = map.get("outlier_detection")) {
    cluster.outlier_detection = parseOutlierDetection(*outlier);
  }
  return cluster;
}

}  // namespace strait::config::internal
