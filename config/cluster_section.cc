// clusters[]: membership (static endpoints or DNS), load balancing, upstream TLS and the
// resilience settings (health checks, circuit breakers, outlier detection).

#include <cctype>

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

ClusterTls parseClusterTls(const Value& value, ParseContext& context) {
  ClusterTls tls;
  MapReader map(value, {"sni", "ca", "cert", "key", "secret", "alpn"});
  if (std::optional<Value> secret = map.get("secret")) {
    // The secret gives whichever of ca, cert and key it has; the block may not give them too.
    tls.secret = secret->nonEmptyString().value_or("");
    if (!tls.secret.empty()) {
      context.secret_references.push_back({NameAt{tls.secret, *secret}, false, false});
    }
    if (map.has("ca") || map.has("cert") || map.has("key")) {
      map.error("give either secret or ca, cert and key, not both");
    }
  }
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
    if (path->node().isScalar() && !check.path.starts_with('/')) {
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
  MapReader map(value, {"max_connections", "max_pending_requests", "max_requests", "queue_timeout",
                        "retry_budget"});
  map.readUint32("max_connections", breakers.max_connections, 1, UINT32_MAX);
  map.readUint32("max_pending_requests", breakers.max_pending_requests, 0, UINT32_MAX);
  map.readUint32("max_requests", breakers.max_requests, 1, UINT32_MAX);
  map.readDuration("queue_timeout", breakers.queue_timeout);
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

OutlierSuccessRate parseSuccessRate(const Value& value) {
  OutlierSuccessRate rate;
  MapReader map(value, {"minimum_hosts", "request_volume", "stdev_factor"});
  map.readUint32("minimum_hosts", rate.minimum_hosts, 1, UINT32_MAX);
  map.readUint32("request_volume", rate.request_volume, 1, UINT32_MAX);
  // 0 would eject every host below the mean; 100000 (100 deviations) never ejects anything.
  map.readUint32("stdev_factor", rate.stdev_factor, 1, 100000);
  return rate;
}

OutlierFailurePercentage parseFailurePercentage(const Value& value) {
  OutlierFailurePercentage failure;
  MapReader map(value, {"threshold", "minimum_hosts", "request_volume"});
  map.readUint32("threshold", failure.threshold, 0, 100);
  map.readUint32("minimum_hosts", failure.minimum_hosts, 1, UINT32_MAX);
  map.readUint32("request_volume", failure.request_volume, 1, UINT32_MAX);
  return failure;
}

OutlierEnforcing parseEnforcing(const Value& value) {
  OutlierEnforcing enforcing;
  MapReader map(value, {"consecutive_5xx", "consecutive_gateway_failure",
                        "consecutive_local_origin_failure", "success_rate", "failure_percentage"});
  map.readBool("consecutive_5xx", enforcing.consecutive_5xx);
  map.readBool("consecutive_gateway_failure", enforcing.consecutive_gateway_failure);
  map.readBool("consecutive_local_origin_failure", enforcing.consecutive_local_origin_failure);
  map.readBool("success_rate", enforcing.success_rate);
  map.readBool("failure_percentage", enforcing.failure_percentage);
  return enforcing;
}

OutlierDetection parseOutlierDetection(const Value& value) {
  OutlierDetection outlier;
  MapReader map(value, {"consecutive_5xx", "consecutive_gateway_failure",
                        "consecutive_local_origin_failure", "success_rate", "failure_percentage",
                        "enforcing", "interval", "base_ejection_time", "max_ejection_time",
                        "max_ejection_percent"});
  map.readUint32("consecutive_5xx", outlier.consecutive_5xx, 0, UINT32_MAX);
  map.readUint32("consecutive_gateway_failure", outlier.consecutive_gateway_failure, 0,
                 UINT32_MAX);
  map.readUint32("consecutive_local_origin_failure", outlier.consecutive_local_origin_failure, 0,
                 UINT32_MAX);
  if (std::optional<Value> rate = map.get("success_rate")) {
    outlier.success_rate = parseSuccessRate(*rate);
  }
  if (std::optional<Value> failure = map.get("failure_percentage")) {
    outlier.failure_percentage = parseFailurePercentage(*failure);
  }
  if (std::optional<Value> enforcing = map.get("enforcing")) {
    outlier.enforcing = parseEnforcing(*enforcing);
  }
  map.readDuration("interval", outlier.interval, false);
  map.readDuration("base_ejection_time", outlier.base_ejection_time, false);
  map.readDuration("max_ejection_time", outlier.max_ejection_time, false);
  map.readUint32("max_ejection_percent", outlier.max_ejection_percent, 0, 100);
  if (outlier.max_ejection_time < outlier.base_ejection_time) {
    if (std::optional<Value> max = map.get("max_ejection_time")) {
      max->error("max_ejection_time must not be below base_ejection_time (" +
                 std::to_string(outlier.base_ejection_time.count()) + "ms)");
    } else {
      map.error("base_ejection_time is above the default max_ejection_time (300s): raise "
                "max_ejection_time too");
    }
  }
  return outlier;
}

// `carbon_aware: {}` takes every default (docs/config.md lists them).
CarbonAware parseCarbonAware(const Value& value) {
  CarbonAware carbon;
  MapReader map(value, {"mode", "alpha", "reference_intensity", "min_share", "max_share",
                        "latency_budget", "latency_percentile", "hysteresis", "dwell",
                        "stale_after", "emission_factor", "slo_guard", "energy",
                        "deferrable_alpha", "deferrable_latency_budget"});
  auto number = [](const MapReader& m, std::string_view key, double& out, double min, double max) {
    if (std::optional<Value> v = m.get(key)) {
      out = v->number(min, max).value_or(out);
    }
  };
  if (std::optional<Value> mode = map.get("mode")) {
    carbon.dry_run = mode->oneOf<bool>({{"enforce", false}, {"dry_run", true}}).value_or(false);
  }
  number(map, "alpha", carbon.alpha, 0, 10);
  number(map, "reference_intensity", carbon.reference_intensity, 0, 100000);
  number(map, "min_share", carbon.min_share, 0, 1);
  number(map, "max_share", carbon.max_share, 0, 1);
  map.readDuration("latency_budget", carbon.latency_budget);
  number(map, "latency_percentile", carbon.latency_percentile, 1, 99.99);
  number(map, "hysteresis", carbon.hysteresis, 0, 1);
  map.readDuration("dwell", carbon.min_dwell);
  map.readDuration("stale_after", carbon.stale_after, false);
  if (std::optional<Value> factor = map.get("emission_factor")) {
    carbon.emission_factor = factor->oneOf<EmissionFactor>({{"lifecycle", EmissionFactor::Lifecycle},
                                                            {"direct", EmissionFactor::Direct}})
                                 .value_or(carbon.emission_factor);
  }
  if (std::optional<Value> guard = map.get("slo_guard")) {
    MapReader g(*guard, {"max_burn_rate", "window", "slo_target", "recovery"});
    number(g, "max_burn_rate", carbon.burn_rate_threshold, 1, 1000);
    g.readDuration("window", carbon.burn_window, false);
    number(g, "slo_target", carbon.slo_target, 0.5, 0.999999);
    g.readDuration("recovery", carbon.recovery);
  }
  if (std::optional<Value> energy = map.get("energy")) {
    MapReader e(*energy, {"wh_per_request", "from_header"});
    number(e, "wh_per_request", carbon.wh_per_request, 0, 1000);
    if (std::optional<Value> header = e.get("from_header")) {
      std::string name = header->nonEmptyString().value_or("");
      for (char& c : name) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
      carbon.energy_header = name;
    }
  }
  number(map, "deferrable_alpha", carbon.deferrable_alpha, 0, 10);
  map.readDuration("deferrable_latency_budget", carbon.deferrable_latency_budget);
  if (carbon.min_share > carbon.max_share) {
    map.error("min_share must not be above max_share");
  }
  if (map.has("min_share") && carbon.min_share == 0) {
    // A locality outside the latency budget keeps min_share so that its latency is measured
    // again; with 0 it would never get a request, and so never come back.
    map.get("min_share")->error("expected a share above 0 (a locality held at 0 is never measured "
                                "again), got 0");
  }
  return carbon;
}

std::vector<LocalityFacts> parseLocalityFacts(const Value& value) {
  std::vector<LocalityFacts> facts;
  for (const Value& item : value.items()) {
    LocalityFacts fact;
    MapReader map(item, {"region", "zone", "pue"});
    if (std::optional<Value> region = map.require("region")) {
      fact.locality.region = region->nonEmptyString().value_or("");
    }
    map.readString("zone", fact.locality.zone);
    if (std::optional<Value> pue = map.get("pue")) {
      fact.pue = pue->number(1, 10).value_or(fact.pue);
    }
    facts.push_back(std::move(fact));
  }
  return facts;
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
                        "circuit_breakers", "outlier_detection", "carbon_aware", "localities"});
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
    if (items.empty() && endpoints->node().isList()) {
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
    cluster.tls = parseClusterTls(*tls, context);
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
  if (std::optional<Value> carbon = map.get("carbon_aware")) {
    cluster.carbon_aware = parseCarbonAware(*carbon);
  }
  if (std::optional<Value> localities = map.get("localities")) {
    cluster.localities = parseLocalityFacts(*localities);
  }
  return cluster;
}

}  // namespace strait::config::internal
