#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/filter_registry.h"
#include "config/loader.h"
#include "config/raw_config.h"
#include "config/yaml_reader.h"

namespace strait::config {
namespace {

using ::testing::ElementsAre;

// Filter configs are validated by each filter's registered parser (config/filter_registry.h).
// The config tests register stand-ins for the documented filter names: they accept any block,
// so these tests exercise the loader's side of the contract; each filter's own tests cover its
// parser. `probe` is strict, to check that a parser's errors come out with their positions.
struct AnyFilterSettings : FilterSettings {};
struct ProbeSettings : FilterSettings {
  uint32_t value = 0;
};

class StandInFilters : public ::testing::Environment {
 public:
  void SetUp() override {
    for (const char* name : {"fault", "bulkhead", "mtls_authz"}) {
      registerFilterParser(name, [](const internal::Value&) {
        return std::make_shared<AnyFilterSettings>();
      });
    }
    registerFilterParser("probe", [](const internal::Value& config) {
      auto settings = std::make_shared<ProbeSettings>();
      internal::MapReader map(config, {"mode", "value"});
      readFilterMode(map, *settings);
      map.readUint32("value", settings->value, 1, 10);
      return settings;
    });
  }
};

const auto* const kStandInFilters = ::testing::AddGlobalTestEnvironment(new StandInFilters);

// The example of CONFIG.md, verbatim, plus the two clusters its routes name but the document
// leaves out (api-canary, api-v2): without them the example fails its own reference check.
constexpr const char* kConfigMdExample = R"yaml(
node:                                   # who this proxy is (sidecar: from the downward API)
  id: edge-1
  cluster: edge                         # proxy group: the control plane serves one snapshot per group
  locality: {region: eu-west, zone: eu-west-1a}

admin: {address: 127.0.0.1, port: 9901} # /ready /live /stats /config_dump /clusters, POST /drain
workers: 2                              # default: number of CPU cores
access_log: {path: /dev/stdout, format: json}
drain: {delay: 0s, timeout: 30s}        # on SIGTERM: fail /ready, wait delay, drain, exit when idle or at timeout

control_plane:                          # optional: when present, listeners/clusters come from strait-cp
  address: 127.0.0.1:18000
  tls: {ca: certs/ca.pem, cert: certs/node.pem, key: certs/node.key}

listeners:
  - name: edge
    address: 0.0.0.0
    port: 8080
    tls:                                # optional: TLS termination
      certificates:
        - {cert: certs/api.pem, key: certs/api.key, server_names: [api.example.com, "*.example.com"]}
        - {cert: certs/default.pem, key: certs/default.key}          # no server_names: the fallback
      alpn: [h2, http/1.1]
      client_validation:                # optional: mTLS
        require_client_certificate: true
        trust_bundles:
          - {trust_domain: example.org, ca: certs/example-org-ca.pem}
    http:
      max_request_headers_kb: 60        # over it: 431
      max_headers: 100                  # over it: 431
      max_request_body_kb: 0            # 0: unlimited (streamed); over it: 413
      request_headers_timeout: 10s      # over it: 408
      idle_timeout: 1h
      use_remote_address: true          # edge: append the peer to x-forwarded-for, do not trust it blindly
      filters:                          # in this order on requests, reversed on responses; the router is last
        - name: fault
          config: {abort: {status: 503, percent: 1}}
    virtual_hosts:
      - name: api
        domains: [api.example.com, "*.example.com", "*"]
        routes:
          - match: {path: /healthz}
            direct_response: {status: 200, body: "ok\n"}
          - match: {prefix: /v1/, headers: [{name: x-canary, exact: "1"}]}
            route: {cluster: api-canary}
          - match: {prefix: /}
            route:
              weighted_clusters: [{cluster: api-v1, weight: 90}, {cluster: api-v2, weight: 10}]
              timeout: 15s              # covers all attempts
              retry: {on: [5xx, connect-failure, reset], attempts: 2, per_try_timeout: 2s}
              request_headers_to_add: [{name: x-served-by, value: strait}]

clusters:
  - name: api-v1
    endpoints:
      - {address: 127.0.0.1, port: 18080, weight: 1, locality: {region: eu-west, zone: eu-west-1a}}
    # or instead of endpoints:  dns: {name: api.internal, port: 8080, refresh: 5s}
    lb: round_robin                     # round_robin | least_request | random | ring_hash
    protocol: http1                     # http1 | http2
    connect_timeout: 1s
    tls: {sni: api.internal, ca: certs/ca.pem, cert: certs/node.pem, key: certs/node.key}  # optional
    health_check: {path: /healthz, interval: 5s, timeout: 1s, healthy_threshold: 2, unhealthy_threshold: 3}
    circuit_breakers:
      max_connections: 1024
      max_pending_requests: 1024
      max_requests: 1024
      retry_budget: {percent: 20, min_concurrency: 3}
    outlier_detection:
      consecutive_5xx: 5
      interval: 10s
      base_ejection_time: 30s
      max_ejection_percent: 10
  - name: api-v2
    dns: {name: api-v2.internal, port: 8080, refresh: 5s}
  - name: api-canary
    endpoints: [{address: 10.0.0.7, port: 8080}]
)yaml";

// Loads YAML that must be valid; prints the errors otherwise.
BootstrapSharedPtr loadValid(const std::string& yaml) {
  LoadResult result = loadString(yaml, "t.yaml");
  for (const ConfigError& error : result.errors) {
    ADD_FAILURE() << error.toString();
  }
  EXPECT_TRUE(result.ok());
  return result.bootstrap;
}

// Loads YAML that must be invalid and returns every error as text.
std::vector<std::string> errorsOf(const std::string& yaml) {
  LoadResult result = loadString(yaml, "t.yaml");
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.bootstrap, nullptr);
  std::vector<std::string> out;
  for (const ConfigError& error : result.errors) {
    out.push_back(error.toString());
  }
  return out;
}

// A valid listener + cluster around one route, so that a test changes only what it is about.
std::string withRoute(const std::string& route) {
  return "listeners:\n"
         "  - name: l\n"
         "    virtual_hosts:\n"
         "      - domains: [\"*\"]\n"
         "        routes:\n"
         "          - " +
         route +
         "\n"
         "clusters:\n"
         "  - {name: c, endpoints: [{address: 10.0.0.1, port: 80}]}\n";
}

// ---- the documented examples ------------------------------------------------------------------

TEST(ConfigLoaderTest, ConfigMdExampleLoadsIntoTheRightFields) {
  BootstrapSharedPtr config = loadValid(kConfigMdExample);
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->node.id, "edge-1");
  EXPECT_EQ(config->node.cluster, "edge");
  EXPECT_EQ(config->node.locality.region, "eu-west");
  EXPECT_EQ(config->node.locality.zone, "eu-west-1a");
  EXPECT_EQ(config->admin.address, "127.0.0.1");
  EXPECT_EQ(config->admin.port, 9901);
  EXPECT_EQ(config->workers, 2u);
  ASSERT_TRUE(config->access_log.has_value());
  EXPECT_EQ(config->access_log->path, "/dev/stdout");
  EXPECT_EQ(config->access_log->format, AccessLogFormat::Json);
  EXPECT_EQ(config->drain.delay, Duration(0));
  EXPECT_EQ(config->drain.timeout, Duration(30000));
  ASSERT_TRUE(config->control_plane.has_value());
  EXPECT_EQ(config->control_plane->address, "127.0.0.1:18000");
  ASSERT_TRUE(config->control_plane->tls.has_value());
  EXPECT_EQ(config->control_plane->tls->ca, "certs/ca.pem");
  EXPECT_EQ(config->control_plane->tls->cert, "certs/node.pem");
  EXPECT_EQ(config->control_plane->tls->key, "certs/node.key");

  ASSERT_EQ(config->listeners.size(), 1u);
  const Listener& listener = config->listeners[0];
  EXPECT_EQ(listener.name, "edge");
  EXPECT_EQ(listener.address, "0.0.0.0");
  EXPECT_EQ(listener.port, 8080);
  ASSERT_TRUE(listener.tls.has_value());
  ASSERT_EQ(listener.tls->certificates.size(), 2u);
  EXPECT_EQ(listener.tls->certificates[0].cert, "certs/api.pem");
  EXPECT_EQ(listener.tls->certificates[0].key, "certs/api.key");
  EXPECT_THAT(listener.tls->certificates[0].server_names,
              ElementsAre("api.example.com", "*.example.com"));
  EXPECT_TRUE(listener.tls->certificates[1].server_names.empty());
  EXPECT_THAT(listener.tls->alpn, ElementsAre("h2", "http/1.1"));
  ASSERT_TRUE(listener.tls->client_validation.has_value());
  EXPECT_TRUE(listener.tls->client_validation->require_client_certificate);
  ASSERT_EQ(listener.tls->client_validation->trust_bundles.size(), 1u);
  EXPECT_EQ(listener.tls->client_validation->trust_bundles[0].trust_domain, "example.org");
  EXPECT_EQ(listener.tls->client_validation->trust_bundles[0].ca, "certs/example-org-ca.pem");

  const HttpOptions& http = listener.http;
  EXPECT_EQ(http.max_request_headers_kb, 60u);
  EXPECT_EQ(http.max_headers, 100u);
  EXPECT_EQ(http.max_request_body_kb, 0u);
  EXPECT_EQ(http.request_headers_timeout, Duration(10000));
  EXPECT_EQ(http.idle_timeout, Duration(3600000));
  EXPECT_TRUE(http.use_remote_address);
  ASSERT_EQ(http.filters.size(), 1u);
  EXPECT_EQ(http.filters[0].name, "fault");
  EXPECT_EQ(http.filters[0].config_path, "listeners[0].http.filters[0].config");
  EXPECT_EQ(http.filters[0].raw->node.find("abort")->find("status")->text(), "503");
  EXPECT_EQ(http.filters[0].raw->node.find("abort")->find("percent")->text(), "1");

  ASSERT_EQ(listener.virtual_hosts.size(), 1u);
  const VirtualHost& host = listener.virtual_hosts[0];
  EXPECT_EQ(host.name, "api");
  EXPECT_THAT(host.domains, ElementsAre("api.example.com", "*.example.com", "*"));
  ASSERT_EQ(host.routes.size(), 3u);

  const Route& health = host.routes[0];
  EXPECT_EQ(health.match.kind, PathMatchKind::Path);
  EXPECT_EQ(health.match.value, "/healthz");
  ASSERT_TRUE(health.direct_response.has_value());
  EXPECT_FALSE(health.route.has_value());
  EXPECT_EQ(health.direct_response->status, 200);
  EXPECT_EQ(health.direct_response->body, "ok\n");
  EXPECT_EQ(health.direct_response->content_type, "text/plain");

  const Route& canary = host.routes[1];
  EXPECT_EQ(canary.match.kind, PathMatchKind::Prefix);
  EXPECT_EQ(canary.match.value, "/v1/");
  ASSERT_EQ(canary.match.headers.size(), 1u);
  EXPECT_EQ(canary.match.headers[0].name, "x-canary");
  EXPECT_EQ(canary.match.headers[0].kind, StringMatchKind::Exact);
  EXPECT_EQ(canary.match.headers[0].value, "1");
  EXPECT_FALSE(canary.match.headers[0].invert);
  ASSERT_TRUE(canary.route.has_value());
  EXPECT_EQ(canary.route->cluster, "api-canary");
  EXPECT_EQ(canary.route->timeout, Duration(15000));

  const Route& main = host.routes[2];
  ASSERT_TRUE(main.route.has_value());
  EXPECT_TRUE(main.route->cluster.empty());
  ASSERT_EQ(main.route->weighted_clusters.size(), 2u);
  EXPECT_EQ(main.route->weighted_clusters[0].cluster, "api-v1");
  EXPECT_EQ(main.route->weighted_clusters[0].weight, 90u);
  EXPECT_EQ(main.route->weighted_clusters[1].cluster, "api-v2");
  EXPECT_EQ(main.route->weighted_clusters[1].weight, 10u);
  EXPECT_EQ(main.route->timeout, Duration(15000));
  ASSERT_TRUE(main.route->retry.has_value());
  EXPECT_THAT(main.route->retry->on,
              ElementsAre(RetryOn::FiveXx, RetryOn::ConnectFailure, RetryOn::Reset));
  EXPECT_EQ(main.route->retry->attempts, 2u);
  EXPECT_EQ(main.route->retry->per_try_timeout, Duration(2000));
  ASSERT_EQ(main.request_headers_to_add.size(), 1u);
  EXPECT_EQ(main.request_headers_to_add[0].name, "x-served-by");
  EXPECT_EQ(main.request_headers_to_add[0].value, "strait");
  EXPECT_TRUE(main.request_headers_to_add[0].append);

  ASSERT_EQ(config->clusters.size(), 3u);
  const Cluster& v1 = config->clusters[0];
  EXPECT_EQ(v1.name, "api-v1");
  ASSERT_EQ(v1.endpoints.size(), 1u);
  EXPECT_EQ(v1.endpoints[0].address, "127.0.0.1");
  EXPECT_EQ(v1.endpoints[0].port, 18080);
  EXPECT_EQ(v1.endpoints[0].weight, 1u);
  EXPECT_EQ(v1.endpoints[0].locality.zone, "eu-west-1a");
  EXPECT_FALSE(v1.dns.has_value());
  EXPECT_EQ(v1.lb, LbPolicy::RoundRobin);
  EXPECT_EQ(v1.protocol, UpstreamProtocol::Http1);
  EXPECT_EQ(v1.connect_timeout, Duration(1000));
  ASSERT_TRUE(v1.tls.has_value());
  EXPECT_EQ(v1.tls->sni, "api.internal");
  EXPECT_EQ(v1.tls->key, "certs/node.key");
  ASSERT_TRUE(v1.health_check.has_value());
  EXPECT_EQ(v1.health_check->path, "/healthz");
  EXPECT_EQ(v1.health_check->interval, Duration(5000));
  EXPECT_EQ(v1.health_check->timeout, Duration(1000));
  EXPECT_EQ(v1.health_check->healthy_threshold, 2u);
  EXPECT_EQ(v1.health_check->unhealthy_threshold, 3u);
  EXPECT_EQ(v1.circuit_breakers.max_connections, 1024u);
  EXPECT_EQ(v1.circuit_breakers.max_pending_requests, 1024u);
  EXPECT_EQ(v1.circuit_breakers.max_requests, 1024u);
  EXPECT_DOUBLE_EQ(v1.circuit_breakers.retry_budget.percent, 20.0);
  EXPECT_EQ(v1.circuit_breakers.retry_budget.min_concurrency, 3u);
  ASSERT_TRUE(v1.outlier_detection.has_value());
  EXPECT_EQ(v1.outlier_detection->consecutive_5xx, 5u);
  EXPECT_EQ(v1.outlier_detection->interval, Duration(10000));
  EXPECT_EQ(v1.outlier_detection->base_ejection_time, Duration(30000));
  EXPECT_EQ(v1.outlier_detection->max_ejection_percent, 10u);

  const Cluster& v2 = config->clusters[1];
  ASSERT_TRUE(v2.dns.has_value());
  EXPECT_TRUE(v2.endpoints.empty());
  EXPECT_EQ(v2.dns->name, "api-v2.internal");
  EXPECT_EQ(v2.dns->port, 8080);
  EXPECT_EQ(v2.dns->refresh, Duration(5000));
  EXPECT_NE(config->findCluster("api-canary"), nullptr);
}

TEST(ConfigLoaderTest, EdgeExampleLoads) {
  const std::string path = std::string(STRAIT_SOURCE_DIR) + "/config/examples/edge.yaml";
  LoadResult result = loadFile(path);
  for (const ConfigError& error : result.errors) {
    ADD_FAILURE() << error.toString();
  }
  ASSERT_TRUE(result.ok());
  const Bootstrap& config = *result.bootstrap;
  EXPECT_EQ(config.source_path, path);
  EXPECT_EQ(config.admin.address, "127.0.0.1");
  EXPECT_EQ(config.admin.port, 9901);
  EXPECT_EQ(config.workers, 2u);
  ASSERT_EQ(config.listeners.size(), 1u);
  EXPECT_EQ(config.listeners[0].name, "edge");
  EXPECT_EQ(config.listeners[0].address, "0.0.0.0");
  EXPECT_EQ(config.listeners[0].port, 8080);
  EXPECT_FALSE(config.listeners[0].tls.has_value());
  ASSERT_EQ(config.listeners[0].virtual_hosts.size(), 1u);
  const auto& routes = config.listeners[0].virtual_hosts[0].routes;
  ASSERT_EQ(routes.size(), 2u);
  EXPECT_EQ(routes[0].match.value, "/healthz");
  ASSERT_TRUE(routes[0].direct_response.has_value());
  ASSERT_TRUE(routes[1].route.has_value());
  EXPECT_EQ(routes[1].route->cluster, "demo");
  EXPECT_EQ(routes[1].route->timeout, Duration(15000));
  ASSERT_EQ(routes[1].request_headers_to_add.size(), 1u);
  EXPECT_EQ(routes[1].request_headers_to_add[0].name, "x-served-by");
  const Cluster* demo = config.findCluster("demo");
  ASSERT_NE(demo, nullptr);
  ASSERT_EQ(demo->endpoints.size(), 1u);
  EXPECT_EQ(demo->endpoints[0].address, "127.0.0.1");
  EXPECT_EQ(demo->endpoints[0].port, 18080);
  EXPECT_EQ(demo->lb, LbPolicy::RoundRobin);
  EXPECT_EQ(demo->connect_timeout, Duration(1000));
}

TEST(ConfigLoaderTest, InvalidExampleReportsEveryErrorAtOnce) {
  const std::string path = std::string(STRAIT_SOURCE_DIR) + "/config/examples/invalid.yaml";
  LoadResult result = loadFile(path);
  EXPECT_FALSE(result.ok());
  std::vector<std::string> lines;
  for (const ConfigError& error : result.errors) {
    // Strip the directory so the expectations do not depend on where the tree lives.
    std::string text = error.toString();
    lines.push_back(text.substr(text.find("invalid.yaml")));
  }
  EXPECT_THAT(
      lines,
      ElementsAre(
          R"(invalid.yaml:4:29: admin.prot: unknown key "prot" (did you mean "port"?))",
          R"(invalid.yaml:5:10: workers: expected an integer from 0 to 256, got "1000")",
          R"(invalid.yaml:10:20: listeners[0].http.max_headers: expected a positive integer, got "abc")",
          R"(invalid.yaml:11:21: listeners[0].http.idle_timeout: durations need a unit, got "5" (a number with a unit: ms, s, m or h, e.g. 250ms or 5s))",
          R"(invalid.yaml:15:29: listeners[0].virtual_hosts[0].routes[0].match.prefix: expected a path starting with "/", got "api/")",
          R"(invalid.yaml:16:30: listeners[0].virtual_hosts[0].routes[0].route.cluster: unknown cluster "bakend" (did you mean "backend"?))",
          R"(invalid.yaml:17:20: listeners[0].virtual_hosts[0].routes[1].match: expected exactly one of path, prefix, regex, got path and regex)",
          R"(invalid.yaml:18:39: listeners[0].virtual_hosts[0].routes[1].direct_response.status: expected an integer from 100 to 599, got "700")",
          R"(invalid.yaml:21:44: clusters[0].endpoints[0].port: expected an integer from 1 to 65535, got "0")",
          R"(invalid.yaml:22:9: clusters[0].lb: expected one of round_robin, least_request, random, ring_hash, got "fastest")"));
}

// ---- files and syntax -------------------------------------------------------------------------

TEST(ConfigLoaderTest, MissingFileIsAnErrorWithoutPosition) {
  LoadResult result = loadFile("/nonexistent/strait.yaml");
  EXPECT_FALSE(result.ok());
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].line, 0);
  EXPECT_EQ(result.errors[0].toString(), "/nonexistent/strait.yaml: cannot read the file");
}

TEST(ConfigLoaderTest, YamlSyntaxErrorGivesItsLine) {
  LoadResult result = loadString("admin:\n  port: 9901\n  address: [127.0.0.1\n", "t.yaml");
  EXPECT_FALSE(result.ok());
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].line, 4);
  EXPECT_EQ(result.errors[0].toString(),
            "t.yaml:4:1: invalid YAML: end of sequence flow not found");
}

TEST(ConfigLoaderTest, ControlPlaneReportIntervalAndLocalOverrides) {
  LoadResult result = loadString(
      "control_plane: {address: 127.0.0.1:18000, report_interval: 250ms, local_overrides: [api]}\n"
      "clusters:\n  - name: api\n    endpoints: [{address: 127.0.0.1, port: 9000}]\n",
      "t.yaml");
  ASSERT_TRUE(result.ok()) << result.errors[0].toString();
  EXPECT_EQ(result.bootstrap->control_plane->report_interval, Duration(250));
  EXPECT_THAT(result.bootstrap->control_plane->local_overrides, ElementsAre("api"));
  EXPECT_EQ(loadString("control_plane: {address: 127.0.0.1:18000}\n", "t.yaml")
                .bootstrap->control_plane->report_interval,
            Duration(10000));
  // An override names something of the file; a zero interval is refused.
  EXPECT_THAT(errorsOf("control_plane:\n  address: 127.0.0.1:18000\n"
                       "  local_overrides: [api, web]\n"
                       "clusters:\n  - name: api\n    endpoints: [{address: 127.0.0.1, port: 1}]\n"),
              ElementsAre("t.yaml:3:26: control_plane.local_overrides[1]: no cluster or listener "
                          "named \"web\" in this file to override the control plane's with"));
  EXPECT_EQ(errorsOf("control_plane: {address: 127.0.0.1:18000, report_interval: 0s}\n").size(),
            1u);
}

TEST(ConfigLoaderTest, EmptyFileIsAnError) {
  EXPECT_THAT(
      errorsOf(""),
      ElementsAre("t.yaml: the file is empty (expected a map with listeners, clusters, ...)"));
}

TEST(ConfigLoaderTest, RootMustBeAMap) {
  EXPECT_THAT(errorsOf("- a\n- b\n"), ElementsAre("t.yaml:1:1: expected a map, got a list"));
}

TEST(ConfigLoaderTest, DefaultsWhenSectionsAreAbsent) {
  BootstrapSharedPtr config = loadValid("workers: 0\n");
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->workers, 0u);  // resolved to the CPU count by the server, not here
  EXPECT_EQ(config->admin.port, 9901);
  EXPECT_EQ(config->node.id, "strait");
  EXPECT_FALSE(config->access_log.has_value());
  EXPECT_EQ(config->drain.timeout, Duration(30000));
}

// ---- unknown and duplicate keys ---------------------------------------------------------------

TEST(ConfigLoaderTest, UnknownKeySuggestsTheNearestKnownKey) {
  EXPECT_THAT(errorsOf("admin:\n  prot: 9901\n"),
              ElementsAre(R"(t.yaml:2:3: admin.prot: unknown key "prot" (did you mean "port"?))"));
  EXPECT_THAT(
      errorsOf("listners: []\n"),
      ElementsAre(R"(t.yaml:1:1: listners: unknown key "listners" (did you mean "listeners"?))"));
}

TEST(ConfigLoaderTest, UnknownKeyFarFromAnyListsTheAllowedKeys) {
  EXPECT_THAT(
      errorsOf("drain: {grace_period: 5s}\n"),
      ElementsAre(
          R"(t.yaml:1:9: drain.grace_period: unknown key "grace_period" (allowed: delay, timeout))"));
}

TEST(ConfigLoaderTest, DuplicateKeyIsReported) {
  EXPECT_THAT(errorsOf("workers: 2\nworkers: 3\n"),
              ElementsAre(R"(t.yaml:2:1: workers: duplicate key "workers")"));
}

// ---- scalar types -----------------------------------------------------------------------------

TEST(ConfigLoaderTest, IntegersAreRangeChecked) {
  EXPECT_THAT(
      errorsOf("workers: 257\nadmin: {port: 70000}\n"),
      ElementsAre(R"(t.yaml:1:10: workers: expected an integer from 0 to 256, got "257")",
                  R"(t.yaml:2:15: admin.port: expected an integer from 0 to 65535, got "70000")"));
  EXPECT_THAT(errorsOf("workers: -1\n"),
              ElementsAre(R"(t.yaml:1:10: workers: expected an integer from 0 to 256, got "-1")"));
  EXPECT_THAT(
      errorsOf("workers: 0x10\n"),
      ElementsAre(R"(t.yaml:1:10: workers: expected an integer from 0 to 256, got "0x10")"));
}

TEST(ConfigLoaderTest, PortZeroIsAllowedForListenersAndAdminButNotEndpoints) {
  BootstrapSharedPtr config = loadValid("admin: {port: 0}\nlisteners: [{name: l, port: 0}]\n");
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->admin.port, 0);
  EXPECT_EQ(config->listeners[0].port, 0);
  EXPECT_THAT(
      errorsOf("clusters:\n  - {name: c, endpoints: [{address: 10.0.0.1, port: 0}]}\n"),
      ElementsAre(
          R"(t.yaml:2:53: clusters[0].endpoints[0].port: expected an integer from 1 to 65535, got "0")"));
  EXPECT_THAT(
      errorsOf("clusters:\n  - {name: c, endpoints: [{address: 10.0.0.1}]}\n"),
      ElementsAre(R"(t.yaml:2:27: clusters[0].endpoints[0].port: missing required key "port")"));
}

TEST(ConfigLoaderTest, EndpointWeightMustBePositive) {
  EXPECT_THAT(
      errorsOf("clusters:\n  - {name: c, endpoints: [{address: a, port: 1, weight: 0}]}\n"),
      ElementsAre(
          R"(t.yaml:2:57: clusters[0].endpoints[0].weight: expected a positive integer, got "0")"));
}

TEST(ConfigLoaderTest, PercentagesAreBetweenZeroAndHundred) {
  EXPECT_THAT(
      errorsOf("clusters:\n"
               "  - name: c\n"
               "    endpoints: [{address: a, port: 1}]\n"
               "    outlier_detection: {max_ejection_percent: 101}\n"
               "    circuit_breakers: {retry_budget: {percent: 150}}\n"),
      ElementsAre(
          R"(t.yaml:4:47: clusters[0].outlier_detection.max_ejection_percent: expected an integer from 0 to 100, got "101")",
          R"(t.yaml:5:48: clusters[0].circuit_breakers.retry_budget.percent: expected a number from 0 to 100, got "150")"));
}

TEST(ConfigLoaderTest, BooleansStringsListsAndMapsAreTypeChecked) {
  EXPECT_THAT(
      errorsOf("admin: 5\n"
               "listeners:\n"
               "  - name: {a: b}\n"
               "    http: {use_remote_address: yes}\n"
               "    virtual_hosts: [{domains: \"*\"}]\n"),
      ElementsAre(
          R"(t.yaml:1:8: admin: expected a map, got "5")",
          R"(t.yaml:3:11: listeners[0].name: expected a non-empty string, got a map)",
          R"(t.yaml:4:32: listeners[0].http.use_remote_address: expected true or false, got "yes")",
          R"(t.yaml:5:31: listeners[0].virtual_hosts[0].domains: expected a list, got "*")"));
}

TEST(ConfigLoaderTest, DurationsNeedAUnit) {
  BootstrapSharedPtr config = loadValid("drain: {delay: 0, timeout: 1m}\n");
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->drain.delay, Duration(0));
  EXPECT_EQ(config->drain.timeout, Duration(60000));
  EXPECT_THAT(
      errorsOf("drain: {delay: 5, timeout: 5x}\n"),
      ElementsAre(
          R"(t.yaml:1:16: drain.delay: durations need a unit, got "5" (a number with a unit: ms, s, m or h, e.g. 250ms or 5s))",
          R"(t.yaml:1:28: drain.timeout: unknown duration unit "x", got "5x" (a number with a unit: ms, s, m or h, e.g. 250ms or 5s))"));
  EXPECT_THAT(
      errorsOf("drain: {delay: -1s}\n"),
      ElementsAre(
          R"(t.yaml:1:16: drain.delay: durations cannot be negative, got "-1s" (a number with a unit: ms, s, m or h, e.g. 250ms or 5s))"));
}

// ---- top-level sections -----------------------------------------------------------------------

TEST(ConfigLoaderTest, AccessLogFormatIsJsonOrText) {
  BootstrapSharedPtr config = loadValid("access_log: {path: /tmp/a.log, format: text}\n");
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->access_log->format, AccessLogFormat::Text);
  EXPECT_THAT(
      errorsOf("access_log: {path: /tmp/a.log, format: xml}\n"),
      ElementsAre(R"(t.yaml:1:40: access_log.format: expected one of json, text, got "xml")"));
}

TEST(ConfigLoaderTest, ControlPlaneAddressIsHostPort) {
  EXPECT_THAT(
      errorsOf("control_plane: {address: cp.local}\n"),
      ElementsAre(
          R"(t.yaml:1:26: control_plane.address: expected host:port (e.g. 127.0.0.1:18000), got "cp.local")"));
  BootstrapSharedPtr config = loadValid("control_plane: {address: \"[::1]:18000\"}\n");
  ASSERT_NE(config, nullptr);
  EXPECT_FALSE(config->control_plane->tls.has_value());
}

// ---- listeners --------------------------------------------------------------------------------

TEST(ConfigLoaderTest, ListenerNamesAreUniqueAndNonEmpty) {
  EXPECT_THAT(
      errorsOf("listeners:\n  - {name: a, port: 1}\n  - {name: a, port: 2}\n  - {name: \"\"}\n"
               "  - {port: 3}\n"),
      ElementsAre(
          R"(t.yaml:3:12: listeners[1].name: duplicate listener name "a" (first defined at line 2, listeners[0].name))",
          R"(t.yaml:4:12: listeners[2].name: expected a non-empty string, got "")",
          R"(t.yaml:5:5: listeners[3].name: missing required key "name")"));
}

TEST(ConfigLoaderTest, ListenerTlsNeedsCertificates) {
  EXPECT_THAT(
      errorsOf("listeners:\n  - name: l\n    tls: {certificates: []}\n"),
      ElementsAre(
          R"(t.yaml:3:25: listeners[0].tls.certificates: expected at least one certificate (a {cert, key} or {secret} map))"));
  EXPECT_THAT(
      errorsOf("listeners:\n  - name: l\n    tls: {alpn: [h2]}\n"),
      ElementsAre(
          R"(t.yaml:3:10: listeners[0].tls.certificates: missing required key "certificates")"));
}

TEST(ConfigLoaderTest, FiltersKeepTheirRawConfig) {
  BootstrapSharedPtr config = loadValid(
      "listeners:\n"
      "  - name: l\n"
      "    http:\n"
      "      generate_request_id: false\n"
      "      filters:\n"
      "        - {name: bulkhead}\n"
      "        - name: fault\n"
      "          config: {delay: {fixed: 100ms, percent: 10}, anything: [1, 2]}\n");
  ASSERT_NE(config, nullptr);
  const HttpOptions& http = config->listeners[0].http;
  EXPECT_FALSE(http.generate_request_id);
  ASSERT_EQ(http.filters.size(), 2u);
  EXPECT_EQ(http.filters[0].name, "bulkhead");
  EXPECT_FALSE(http.filters[0].raw->node.isDefined());
  EXPECT_NE(http.filters[0].settings, nullptr);  // parsed from an empty block
  EXPECT_EQ(http.filters[1].config_path, "listeners[0].http.filters[1].config");
  EXPECT_EQ(http.filters[1].raw->node.find("delay")->find("fixed")->text(), "100ms");
  EXPECT_EQ(http.filters[1].raw->node.find("anything")->size(), 2u);
  // The raw node keeps its position, so filter factories can report line and column too.
  EXPECT_EQ(http.filters[1].raw->node.mark().line + 1, 8);

  EXPECT_THAT(
      errorsOf("listeners:\n  - name: l\n    http: {filters: [{name: \"\"}, {config: {}}]}\n"),
      ElementsAre(
          R"(t.yaml:3:29: listeners[0].http.filters[0].name: expected a non-empty string, got "")",
          R"(t.yaml:3:34: listeners[0].http.filters[1].name: missing required key "name")"));
}

TEST(ConfigLoaderTest, FilterConfigIsParsedByTheFilterWithPositions) {
  BootstrapSharedPtr config = loadValid(
      "listeners:\n"
      "  - name: l\n"
      "    http:\n"
      "      filters:\n"
      "        - {name: probe, config: {mode: dry_run, value: 7}}\n");
  ASSERT_NE(config, nullptr);
  const auto& filter = config->listeners[0].http.filters[0];
  const auto* settings = dynamic_cast<const ProbeSettings*>(filter.settings.get());
  ASSERT_NE(settings, nullptr);
  EXPECT_EQ(settings->value, 7u);
  EXPECT_EQ(settings->mode, FilterMode::DryRun);

  EXPECT_THAT(
      errorsOf("listeners:\n"
               "  - name: l\n"
               "    http:\n"
               "      filters:\n"
               "        - {name: probe, config: {mode: maybe, value: 70, vlue: 1}}\n"),
      ElementsAre(
          R"(t.yaml:5:40: listeners[0].http.filters[0].config.mode: expected one of enforce, dry_run, got "maybe")",
          R"(t.yaml:5:54: listeners[0].http.filters[0].config.value: expected an integer from 1 to 10, got "70")",
          R"(t.yaml:5:58: listeners[0].http.filters[0].config.vlue: unknown key "vlue" (did you mean "value"?))"));
}

TEST(ConfigLoaderTest, UnknownFilterNameIsAnErrorWithTheKnownNames) {
  EXPECT_THAT(errorsOf("listeners:\n  - name: l\n    http: {filters: [{name: faults}]}\n"),
              ElementsAre(R"(t.yaml:3:29: listeners[0].http.filters[0].name: unknown filter "faults" (did you mean "fault"?); known filters: bulkhead, fault, mtls_authz, probe)"));
}

TEST(ConfigLoaderTest, ForwardClientCertDefaultsToSanitizeAndIsChecked) {
  BootstrapSharedPtr config = loadValid("listeners:\n  - name: a\n  - name: b\n"
                                        "    forward_client_cert: append_forward\n"
                                        "  - name: c\n    forward_client_cert: sanitize\n");
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->listeners[0].forward_client_cert, ForwardClientCert::Sanitize);
  EXPECT_EQ(config->listeners[1].forward_client_cert, ForwardClientCert::AppendForward);
  EXPECT_EQ(config->listeners[2].forward_client_cert, ForwardClientCert::Sanitize);
  EXPECT_THAT(
      errorsOf("listeners:\n  - name: l\n    forward_client_cert: forward_only\n"),
      ElementsAre(R"(t.yaml:3:26: listeners[0].forward_client_cert: expected one of sanitize, append_forward, got "forward_only")"));
}

// ---- virtual hosts and routes -----------------------------------------------------------------

TEST(ConfigLoaderTest, DomainsAreLowerCasedAndChecked) {
  BootstrapSharedPtr config = loadValid(
      "listeners:\n  - name: l\n    virtual_hosts:\n"
      "      - {domains: [API.Example.COM, \"*.Example.com\", \"*-api.example.com\"]}\n"
      "      - {domains: [\"*\", \"example.com:8080\"]}\n");
  ASSERT_NE(config, nullptr);
  EXPECT_THAT(config->listeners[0].virtual_hosts[0].domains,
              ElementsAre("api.example.com", "*.example.com", "*-api.example.com"));
  EXPECT_THAT(
      errorsOf("listeners:\n  - name: l\n    virtual_hosts:\n"
               "      - {domains: [\"a*b.com\", x.com]}\n"
               "      - {domains: [X.com]}\n"
               "      - {domains: []}\n"),
      ElementsAre(
          R"(t.yaml:4:20: listeners[0].virtual_hosts[0].domains[0]: invalid domain "a*b.com" (allowed: "example.com", "*.example.com", "*-suffix.example.com", "*"))",
          R"(t.yaml:5:20: listeners[0].virtual_hosts[1].domains[0]: domain "x.com" is already used at line 4 (listeners[0].virtual_hosts[0].domains[1]))",
          R"(t.yaml:6:19: listeners[0].virtual_hosts[2].domains: expected at least one domain ("*" matches every host))"));
}

TEST(ConfigLoaderTest, RouteNeedsExactlyOneAction) {
  EXPECT_THAT(
      errorsOf(withRoute("{match: {prefix: /}}")),
      ElementsAre(
          R"(t.yaml:6:13: listeners[0].virtual_hosts[0].routes[0]: expected exactly one of route, direct_response, redirect, got none)"));
  EXPECT_THAT(
      errorsOf(withRoute("{match: {prefix: /}, route: {cluster: c}, redirect: {host: x}}")),
      ElementsAre(
          R"(t.yaml:6:13: listeners[0].virtual_hosts[0].routes[0]: expected exactly one of route, direct_response, redirect, got route and redirect)"));
  EXPECT_THAT(
      errorsOf(withRoute("{route: {cluster: c}}")),
      ElementsAre(
          R"(t.yaml:6:13: listeners[0].virtual_hosts[0].routes[0].match: missing required key "match")"));
}

TEST(ConfigLoaderTest, RouteActionNeedsExactlyOneOfClusterAndWeightedClusters) {
  EXPECT_THAT(
      errorsOf(withRoute("{match: {prefix: /}, route: {timeout: 1s}}")),
      ElementsAre(
          R"(t.yaml:6:41: listeners[0].virtual_hosts[0].routes[0].route: expected exactly one of cluster, weighted_clusters, got none)"));
  EXPECT_THAT(
      errorsOf(withRoute("{match: {prefix: /}, route: {cluster: c, weighted_clusters: [{cluster: "
                         "c, weight: 1}]}}")),
      ElementsAre(
          R"(t.yaml:6:41: listeners[0].virtual_hosts[0].routes[0].route: expected exactly one of cluster, weighted_clusters, got cluster and weighted_clusters)"));
}

TEST(ConfigLoaderTest, ClusterReferencesMustExist) {
  EXPECT_THAT(
      errorsOf(withRoute("{match: {prefix: /}, route: {cluster: nope}}")),
      ElementsAre(
          R"(t.yaml:6:51: listeners[0].virtual_hosts[0].routes[0].route.cluster: unknown cluster "nope" (defined: c))"));
  EXPECT_THAT(
      errorsOf(withRoute("{match: {prefix: /}, route: {weighted_clusters: "
                         "[{cluster: c, weight: 1}, {cluster: d, weight: 1}]}}")),
      ElementsAre(
          R"(t.yaml:6:97: listeners[0].virtual_hosts[0].routes[0].route.weighted_clusters[1].cluster: unknown cluster "d" (defined: c))"));
  EXPECT_THAT(
      errorsOf("listeners:\n  - name: l\n    virtual_hosts:\n      - domains: [\"*\"]\n"
               "        routes: [{match: {prefix: /}, route: {cluster: api-v3}}]\n"
               "clusters:\n  - {name: api-v1, dns: {name: a, port: 80}}\n"),
      ElementsAre(
          R"(t.yaml:5:56: listeners[0].virtual_hosts[0].routes[0].route.cluster: unknown cluster "api-v3" (did you mean "api-v1"?))"));
}

// TLS blocks may name a secret instead of giving files; the loader fills the files in.
TEST(ConfigLoaderTest, TlsBlocksTakeTheirFilesFromNamedSecrets) {
  BootstrapSharedPtr config = loadValid(
      "secrets:\n"
      "  - {name: edge, cert: certs/edge.crt, key: certs/edge.key}\n"
      "  - {name: mesh-ca, ca: certs/ca.pem}\n"
      "  - {name: client, cert: c.crt, key: c.key, ca: ca2.pem}\n"
      "listeners:\n"
      "  - name: l\n"
      "    tls:\n"
      "      certificates: [{secret: edge}]\n"
      "      client_validation: {trust_bundles: [{trust_domain: example.org, secret: mesh-ca}]}\n"
      "clusters:\n"
      "  - {name: c, tls: {secret: client, sni: api}, endpoints: [{address: 127.0.0.1, port: 1}]}\n");
  ASSERT_NE(config, nullptr);
  ASSERT_EQ(config->secrets.size(), 3u);
  const TlsCertificate& certificate = config->listeners[0].tls->certificates[0];
  EXPECT_EQ(certificate.secret, "edge");
  EXPECT_EQ(certificate.cert, "certs/edge.crt");
  EXPECT_EQ(certificate.key, "certs/edge.key");
  EXPECT_EQ(config->listeners[0].tls->client_validation->trust_bundles[0].ca, "certs/ca.pem");
  const ClusterTls& tls = *config->clusters[0].tls;
  EXPECT_EQ(tls.ca, "ca2.pem");
  EXPECT_EQ(tls.cert, "c.crt");
  EXPECT_EQ(tls.key, "c.key");
  EXPECT_EQ(tls.sni, "api");
}

TEST(ConfigLoaderTest, SecretReferencesMustExistAndHoldWhatTheBlockNeeds) {
  EXPECT_THAT(
      errorsOf("secrets: [{name: mesh-ca, ca: ca.pem}, {name: edge, cert: e.crt, key: e.key}]\n"
               "listeners:\n"
               "  - name: l\n"
               "    tls: {certificates: [{secret: mesh-ca}, {secret: edg}],\n"
               "          client_validation: {trust_bundles: [{trust_domain: a, secret: edge}]}}\n"),
      ElementsAre(
          R"(t.yaml:4:35: listeners[0].tls.certificates[0].secret: secret "mesh-ca" has no cert and key (a certificate is needed here))",
          R"(t.yaml:4:54: listeners[0].tls.certificates[1].secret: unknown secret "edg" (did you mean "edge"?))",
          R"(t.yaml:5:73: listeners[0].tls.client_validation.trust_bundles[0].secret: secret "edge" has no ca (a trust bundle is needed here))"));
  EXPECT_THAT(
      errorsOf("secrets:\n  - {name: a, cert: x.crt}\n  - {name: b}\n  - {name: a, ca: c.pem}\n"
               "clusters:\n  - {name: c, tls: {secret: a, ca: y.pem}, endpoints: "
               "[{address: 127.0.0.1, port: 1}]}\n"),
      ElementsAre(R"(t.yaml:2:5: secrets[0]: cert and key go together: give both or neither)",
                  R"(t.yaml:3:5: secrets[1]: a secret holds cert and key, ca, or all three)",
                  R"(t.yaml:4:5: secrets[2]: duplicate secret name "a" (first defined at line 2, secrets[0]))",
                  R"(t.yaml:6:20: clusters[0].tls: give either secret or ca, cert and key, not both)"));
  EXPECT_THAT(errorsOf("listeners:\n  - name: l\n    tls: {certificates: [{secret: x, cert: a}]}\n"),
              ElementsAre(
                  R"(t.yaml:3:26: listeners[0].tls.certificates[0]: give either secret or cert and key, not both)",
                  R"(t.yaml:3:35: listeners[0].tls.certificates[0].secret: unknown secret "x" (no secrets are defined))"));
}

// A filter chain entry may take a named filter config: its filter, its block, its settings.
TEST(ConfigLoaderTest, FilterChainsTakeNamedFilterConfigs) {
  BootstrapSharedPtr config = loadValid(
      "filter_configs:\n"
      "  - name: chaos\n"
      "    filter: fault\n"
      "    config: {abort: {status: 503, percent: 100}}\n"
      "listeners:\n"
      "  - name: l\n"
      "    http:\n"
      "      filters: [{filter_config: chaos}, {name: fault, filter_config: chaos}]\n");
  ASSERT_NE(config, nullptr);
  ASSERT_EQ(config->filter_configs.size(), 1u);
  const std::vector<FilterConfig>& filters = config->listeners[0].http.filters;
  ASSERT_EQ(filters.size(), 2u);
  EXPECT_EQ(filters[0].name, "fault");
  EXPECT_EQ(filters[0].from, "chaos");
  EXPECT_NE(filters[0].settings, nullptr);
  EXPECT_EQ(filters[0].canonical, config->filter_configs[0].filter.canonical);
  EXPECT_EQ(filters[0].config_path, "filter_configs[0].config");

  EXPECT_THAT(
      errorsOf("filter_configs:\n"
               "  - {name: chaos, filter: fault, config: {abort: {status: 503, percent: 1}}}\n"
               "  - {name: chaos, filter: faults}\n"
               "listeners:\n"
               "  - name: l\n"
               "    http: {filters: [{filter_config: choas}, {name: bulkhead, filter_config: chaos},\n"
               "                     {filter_config: chaos, config: {}}]}\n"),
      ElementsAre(
          R"(t.yaml:3:5: filter_configs[1]: duplicate filter config name "chaos" (first defined at line 2, filter_configs[0]))",
          R"(t.yaml:3:27: filter_configs[1].filter: unknown filter "faults" (did you mean "fault"?); known filters: bulkhead, fault, mtls_authz, probe)",
          R"(t.yaml:6:38: listeners[0].http.filters[0].filter_config: unknown filter config "choas" (did you mean "chaos"?))",
          R"(t.yaml:6:53: listeners[0].http.filters[1].name: filter config "chaos" is for filter "fault", not "bulkhead")",
          R"(t.yaml:7:22: listeners[0].http.filters[2]: give either config or filter_config, not both)"));
}

TEST(ConfigLoaderTest, WeightedClusterWeightsMustAddUp) {
  EXPECT_THAT(
      errorsOf(
          withRoute("{match: {prefix: /}, route: {weighted_clusters: [{cluster: c, weight: 0}]}}")),
      ElementsAre(
          R"(t.yaml:6:61: listeners[0].virtual_hosts[0].routes[0].route.weighted_clusters: weights must add up to more than 0)"));
}

TEST(ConfigLoaderTest, MatchNeedsExactlyOnePathKindStartingWithSlash) {
  EXPECT_THAT(
      errorsOf(withRoute("{match: {headers: []}, direct_response: {}}")),
      ElementsAre(
          R"(t.yaml:6:21: listeners[0].virtual_hosts[0].routes[0].match: expected exactly one of path, prefix, regex, got none)"));
  EXPECT_THAT(
      errorsOf(withRoute("{match: {path: healthz}, direct_response: {}}")),
      ElementsAre(
          R"(t.yaml:6:28: listeners[0].virtual_hosts[0].routes[0].match.path: expected a path starting with "/", got "healthz")"));
}

TEST(ConfigLoaderTest, RegexesMustCompile) {
  std::vector<std::string> errors = errorsOf(withRoute(
      "{match: {regex: \"/a(\", headers: [{name: x, regex: \"[z\"}]}, direct_response: {}}"));
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(
      errors[0],
      R"(t.yaml:6:29: listeners[0].virtual_hosts[0].routes[0].match.regex: invalid regular expression "/a(": missing ): /a( (RE2 syntax))");
  EXPECT_EQ(
      errors[1],
      R"(t.yaml:6:63: listeners[0].virtual_hosts[0].routes[0].match.headers[0].regex: invalid regular expression "[z": missing ]: [z (RE2 syntax))");
  BootstrapSharedPtr config =
      loadValid(withRoute("{match: {regex: \"/v[0-9]+/.*\", case_sensitive: false}, "
                          "direct_response: {}}"));
  ASSERT_NE(config, nullptr);
  const RouteMatch& match = config->listeners[0].virtual_hosts[0].routes[0].match;
  EXPECT_EQ(match.kind, PathMatchKind::Regex);
  EXPECT_EQ(match.value, "/v[0-9]+/.*");
  EXPECT_FALSE(match.case_sensitive);
}

TEST(ConfigLoaderTest, HeaderMatchersTakeOneKindAndLowerCaseNames) {
  BootstrapSharedPtr config = loadValid(
      withRoute("{match: {prefix: /, headers: [{name: X-Canary, prefix: a}, {name: x-b, suffix: z, "
                "invert: true}, {name: x-c, present: true}, {name: x-d, present: false}, "
                "{name: \":method\", exact: GET}]}, direct_response: {}}"));
  ASSERT_NE(config, nullptr);
  const auto& headers = config->listeners[0].virtual_hosts[0].routes[0].match.headers;
  ASSERT_EQ(headers.size(), 5u);
  EXPECT_EQ(headers[0].name, "x-canary");
  EXPECT_EQ(headers[0].kind, StringMatchKind::Prefix);
  EXPECT_EQ(headers[0].value, "a");
  EXPECT_EQ(headers[1].kind, StringMatchKind::Suffix);
  EXPECT_TRUE(headers[1].invert);
  EXPECT_EQ(headers[2].kind, StringMatchKind::Present);
  EXPECT_FALSE(headers[2].invert);
  // present: false means "absent": a presence match, inverted.
  EXPECT_EQ(headers[3].kind, StringMatchKind::Present);
  EXPECT_TRUE(headers[3].invert);
  EXPECT_EQ(headers[4].name, ":method");

  EXPECT_THAT(
      errorsOf(
          withRoute("{match: {prefix: /, headers: [{name: x, exact: a, prefix: b}, "
                    "{exact: c}, {name: \"bad name\", present: true}]}, direct_response: {}}")),
      ElementsAre(
          R"(t.yaml:6:43: listeners[0].virtual_hosts[0].routes[0].match.headers[0]: expected exactly one of exact, prefix, suffix, regex, present, got exact and prefix)",
          R"(t.yaml:6:75: listeners[0].virtual_hosts[0].routes[0].match.headers[1].name: missing required key "name")",
          R"(t.yaml:6:94: listeners[0].virtual_hosts[0].routes[0].match.headers[2].name: invalid header name "bad name" (letters, digits and !#$%&'*+-.^_`|~ only))"));
}

TEST(ConfigLoaderTest, HeaderEditsAreAcceptedOnTheRouteAndInTheAction) {
  BootstrapSharedPtr config = loadValid(withRoute(
      "{match: {prefix: /}, route: {cluster: c, request_headers_to_add: [{name: X-A, value: "
      "\"1\"}]}, request_headers_to_add: [{name: x-b, value: \"2\", append: false}], "
      "request_headers_to_remove: [X-Secret], response_headers_to_add: [{name: x-c, value: v}], "
      "response_headers_to_remove: [server]}"));
  ASSERT_NE(config, nullptr);
  const Route& route = config->listeners[0].virtual_hosts[0].routes[0];
  ASSERT_EQ(route.request_headers_to_add.size(), 2u);
  EXPECT_EQ(route.request_headers_to_add[0].name, "x-a");
  EXPECT_EQ(route.request_headers_to_add[0].value, "1");
  EXPECT_TRUE(route.request_headers_to_add[0].append);
  EXPECT_EQ(route.request_headers_to_add[1].name, "x-b");
  EXPECT_FALSE(route.request_headers_to_add[1].append);
  EXPECT_THAT(route.request_headers_to_remove, ElementsAre("x-secret"));
  ASSERT_EQ(route.response_headers_to_add.size(), 1u);
  EXPECT_EQ(route.response_headers_to_add[0].name, "x-c");
  EXPECT_THAT(route.response_headers_to_remove, ElementsAre("server"));
}

TEST(ConfigLoaderTest, RetryPolicyIsParsedAndChecked) {
  BootstrapSharedPtr config = loadValid(withRoute(
      "{match: {prefix: /}, route: {cluster: c, prefix_rewrite: /x/, host_rewrite: h, "
      "retry: {on: [gateway-error, retriable-status-codes], retriable_status_codes: [503, 429], "
      "backoff: {base: 10ms, max: 1s}}}}"));
  ASSERT_NE(config, nullptr);
  const RouteAction& action = *config->listeners[0].virtual_hosts[0].routes[0].route;
  EXPECT_EQ(action.prefix_rewrite, "/x/");
  EXPECT_EQ(action.host_rewrite, "h");
  ASSERT_TRUE(action.retry.has_value());
  EXPECT_THAT(action.retry->on, ElementsAre(RetryOn::GatewayError, RetryOn::RetriableStatusCodes));
  EXPECT_THAT(action.retry->retriable_status_codes, ElementsAre(503, 429));
  EXPECT_EQ(action.retry->attempts, 1u);
  EXPECT_FALSE(action.retry->per_try_timeout.has_value());
  EXPECT_EQ(action.retry->backoff_base, Duration(10));
  EXPECT_EQ(action.retry->backoff_max, Duration(1000));

  EXPECT_THAT(
      errorsOf(withRoute("{match: {prefix: /}, route: {cluster: c, retry: {on: [5xx, 4xx]}}}")),
      ElementsAre(
          R"(t.yaml:6:72: listeners[0].virtual_hosts[0].routes[0].route.retry.on[1]: expected one of 5xx, gateway-error, reset, connect-failure, retriable-status-codes, got "4xx")"));
}

TEST(ConfigLoaderTest, HedgePolicyIsParsedWithDefaults) {
  BootstrapSharedPtr fixed = loadValid(
      withRoute("{match: {prefix: /}, route: {cluster: c, hedge: {delay: 20ms}}}"));
  ASSERT_NE(fixed, nullptr);
  const RouteAction& a = *fixed->listeners[0].virtual_hosts[0].routes[0].route;
  ASSERT_TRUE(a.hedge.has_value());
  EXPECT_EQ(a.hedge->delay, Duration(20));
  EXPECT_FALSE(a.hedge->percentile.has_value());
  EXPECT_EQ(a.hedge->max_attempts, 2u);
  EXPECT_DOUBLE_EQ(a.hedge->max_extra_load, 0.05);
  EXPECT_EQ(a.hedge->window, Duration(10000));
  EXPECT_FALSE(a.hedge->non_idempotent);
  EXPECT_EQ(a.hedge->max_body_bytes, 65536u);

  BootstrapSharedPtr learned = loadValid(withRoute(
      "{match: {prefix: /}, route: {cluster: c, hedge: {delay: p99.9, max_attempts: 3, "
      "max_extra_load: 2.5%, window: 2s, initial_delay: 30ms, min_delay: 2ms, "
      "non_idempotent: true, max_body_bytes: 100}}}"));
  ASSERT_NE(learned, nullptr);
  const RouteAction& b = *learned->listeners[0].virtual_hosts[0].routes[0].route;
  ASSERT_TRUE(b.hedge->percentile.has_value());
  EXPECT_DOUBLE_EQ(*b.hedge->percentile, 99.9);
  EXPECT_EQ(b.hedge->max_attempts, 3u);
  EXPECT_DOUBLE_EQ(b.hedge->max_extra_load, 0.025);
  EXPECT_EQ(b.hedge->window, Duration(2000));
  EXPECT_EQ(b.hedge->initial_delay, Duration(30));
  EXPECT_EQ(b.hedge->min_delay, Duration(2));
  EXPECT_TRUE(b.hedge->non_idempotent);
  EXPECT_EQ(b.hedge->max_body_bytes, 100u);

  BootstrapSharedPtr number = loadValid(
      withRoute("{match: {prefix: /}, route: {cluster: c, hedge: {delay: p50, max_extra_load: 10}}}"));
  ASSERT_NE(number, nullptr);
  EXPECT_DOUBLE_EQ(number->listeners[0].virtual_hosts[0].routes[0].route->hedge->max_extra_load,
                   0.10);
}

TEST(ConfigLoaderTest, HedgePolicyErrorsNameTheField) {
  EXPECT_THAT(
      errorsOf(withRoute("{match: {prefix: /}, route: {cluster: c, hedge: {delay: p100}}}")),
      ElementsAre(::testing::HasSubstr(
          "routes[0].route.hedge.delay: expected a duration (\"20ms\") or a percentile")));
  EXPECT_THAT(
      errorsOf(withRoute("{match: {prefix: /}, route: {cluster: c, hedge: {delay: pfast}}}")),
      ElementsAre(::testing::HasSubstr("routes[0].route.hedge.delay: expected a duration")));
  EXPECT_THAT(errorsOf(withRoute("{match: {prefix: /}, route: {cluster: c, hedge: {}}}")),
              ElementsAre(::testing::HasSubstr("routes[0].route.hedge")));
  EXPECT_THAT(
      errorsOf(withRoute(
          "{match: {prefix: /}, route: {cluster: c, hedge: {delay: 5ms, max_attempts: 6}}}")),
      ElementsAre(::testing::HasSubstr("routes[0].route.hedge.max_attempts")));
  EXPECT_THAT(
      errorsOf(withRoute(
          "{match: {prefix: /}, route: {cluster: c, hedge: {delay: 5ms, max_extra_load: 500%}}}")),
      ElementsAre(::testing::HasSubstr(
          "routes[0].route.hedge.max_extra_load: expected a percentage above 0 and at most 400")));
  EXPECT_THAT(
      errorsOf(withRoute(
          "{match: {prefix: /}, route: {cluster: c, hedge: {delay: 5ms, max_extra_load: 0}}}")),
      ElementsAre(::testing::HasSubstr("0 sends no hedge")));
  EXPECT_THAT(
      errorsOf(withRoute("{match: {prefix: /}, route: {cluster: c, hedge: {delay: 0s}}}")),
      ElementsAre(::testing::HasSubstr("routes[0].route.hedge.delay")));
}

TEST(ConfigLoaderTest, CarbonAwareClusterRouteAndSignalsAreParsed) {
  const std::string text =
      "carbon_signals: {provider: file, path: signals.yaml, refresh: 1m, signal: marginal, "
      "default_ttl: 30m}\n"
      "listeners:\n"
      "  - name: l\n"
      "    address: 127.0.0.1\n"
      "    port: 0\n"
      "    virtual_hosts:\n"
      "      - name: v\n"
      "        domains: [\"*\"]\n"
      "        routes:\n"
      "          - {match: {prefix: /}, route: {cluster: c, carbon: deferrable}}\n"
      "clusters:\n"
      "  - name: c\n"
      "    endpoints: [{address: 127.0.0.1, port: 1, locality: {region: r}}]\n"
      "    localities: [{region: r, pue: 1.3}, {region: s, zone: s1}]\n"
      "    carbon_aware: {mode: dry_run, alpha: 2, min_share: 0.1, max_share: 0.8, "
      "latency_budget: 20ms, dwell: 5m, stale_after: 2h, emission_factor: direct, "
      "slo_guard: {max_burn_rate: 2.0, window: 5m}, energy: {from_header: X-Energy-Wh}}\n";
  BootstrapSharedPtr loaded = loadValid(text);
  ASSERT_NE(loaded, nullptr);
  const Bootstrap& config = *loaded;
  ASSERT_TRUE(config.carbon_signals.has_value());
  EXPECT_EQ(config.carbon_signals->provider, "file");
  EXPECT_EQ(config.carbon_signals->path, "signals.yaml");
  EXPECT_EQ(config.carbon_signals->refresh, Duration(60000));
  EXPECT_EQ(config.carbon_signals->signal, CarbonSignalType::Marginal);
  EXPECT_EQ(config.carbon_signals->default_ttl, Duration(1800000));
  ASSERT_EQ(config.clusters[0].localities.size(), 2u);
  EXPECT_EQ(config.clusters[0].localities[0].locality.region, "r");
  EXPECT_DOUBLE_EQ(config.clusters[0].localities[0].pue, 1.3);
  EXPECT_EQ(config.clusters[0].localities[1].locality.zone, "s1");
  EXPECT_DOUBLE_EQ(config.clusters[0].localities[1].pue, 1.0);
  EXPECT_EQ(config.listeners[0].virtual_hosts[0].routes[0].route->carbon,
            RouteAction::Carbon::Deferrable);
  ASSERT_TRUE(config.clusters[0].carbon_aware.has_value());
  const CarbonAware& carbon = *config.clusters[0].carbon_aware;
  EXPECT_DOUBLE_EQ(carbon.alpha, 2);
  EXPECT_DOUBLE_EQ(carbon.min_share, 0.1);
  EXPECT_DOUBLE_EQ(carbon.max_share, 0.8);
  EXPECT_EQ(carbon.latency_budget, Duration(20));
  EXPECT_EQ(carbon.emission_factor, EmissionFactor::Direct);
  EXPECT_TRUE(carbon.dry_run);
  EXPECT_EQ(carbon.min_dwell, Duration(300000));
  EXPECT_EQ(carbon.stale_after, Duration(7200000));
  EXPECT_DOUBLE_EQ(carbon.burn_rate_threshold, 2.0);
  EXPECT_EQ(carbon.burn_window, Duration(300000));
  EXPECT_EQ(carbon.energy_header, "x-energy-wh");
  EXPECT_DOUBLE_EQ(carbon.latency_percentile, 99);  // a default: the fastest one's p99

  BootstrapSharedPtr prioritised = loadValid(
      withRoute("{match: {prefix: /}, route: {cluster: c, priority: nice_to_have}}"));
  ASSERT_NE(prioritised, nullptr);
  EXPECT_EQ(prioritised->listeners[0].virtual_hosts[0].routes[0].route->priority, "nice_to_have");
  EXPECT_THAT(errorsOf(withRoute("{match: {prefix: /}, route: {cluster: c, priority: vip}}")),
              ElementsAre(::testing::HasSubstr(
                  "route.priority: expected one of critical, important, nice_to_have")));
  EXPECT_THAT(errorsOf(withRoute("{match: {prefix: /}, route: {cluster: c, carbon: green}}")),
              ElementsAre(::testing::HasSubstr(
                  "route.carbon: expected one of off, interactive, deferrable")));
}

TEST(ConfigLoaderTest, HashPolicyIsParsedInOrder) {
  BootstrapSharedPtr config = loadValid(
      withRoute("{match: {prefix: /}, route: {cluster: c, hash_policy: [{header: X-User}, "
                "{source_ip: true}, {cookie: session}, {source_ip: false}]}}"));
  ASSERT_NE(config, nullptr);
  const RouteAction& action = *config->listeners[0].virtual_hosts[0].routes[0].route;
  ASSERT_EQ(action.hash_policy.size(), 3u);
  EXPECT_EQ(action.hash_policy[0].kind, HashPolicy::Kind::Header);
  EXPECT_EQ(action.hash_policy[0].name, "x-user");
  EXPECT_EQ(action.hash_policy[1].kind, HashPolicy::Kind::SourceIp);
  EXPECT_EQ(action.hash_policy[2].kind, HashPolicy::Kind::Cookie);
  EXPECT_EQ(action.hash_policy[2].name, "session");
}

TEST(ConfigLoaderTest, HashPolicyItemsAreChecked) {
  EXPECT_THAT(
      errorsOf(withRoute("{match: {prefix: /}, route: {cluster: c, hash_policy: [{header: x, "
                         "cookie: y}, {heder: x}, {header: \":path\"}, {cookie: \"a b\"}]}}")),
      ElementsAre(
          R"(t.yaml:6:68: listeners[0].virtual_hosts[0].routes[0].route.hash_policy[0]: expected exactly one of header, source_ip, cookie, got header and cookie)",
          R"(t.yaml:6:92: listeners[0].virtual_hosts[0].routes[0].route.hash_policy[1]: expected exactly one of header, source_ip, cookie, got none)",
          R"(t.yaml:6:93: listeners[0].virtual_hosts[0].routes[0].route.hash_policy[1].heder: unknown key "heder" (did you mean "header"?))",
          R"(t.yaml:6:113: listeners[0].virtual_hosts[0].routes[0].route.hash_policy[2].header: pseudo-header ":path" cannot be hashed)",
          R"(t.yaml:6:132: listeners[0].virtual_hosts[0].routes[0].route.hash_policy[3].cookie: invalid cookie name "a b" (letters, digits and !#$%&'*+-.^_`|~ only))"));
}

TEST(ConfigLoaderTest, DirectResponseAndRedirectStatusesAreChecked) {
  EXPECT_THAT(
      errorsOf(withRoute("{match: {prefix: /}, direct_response: {status: 99}}")),
      ElementsAre(
          R"(t.yaml:6:60: listeners[0].virtual_hosts[0].routes[0].direct_response.status: expected an integer from 100 to 599, got "99")"));
  EXPECT_THAT(
      errorsOf(withRoute("{match: {prefix: /}, redirect: {status: 200}}")),
      ElementsAre(
          R"(t.yaml:6:53: listeners[0].virtual_hosts[0].routes[0].redirect.status: expected one of 301, 302, 303, 307, 308, got "200")"));
  BootstrapSharedPtr config = loadValid(withRoute(
      "{match: {prefix: /old/}, redirect: {status: 308, scheme: https, host: new.example.com, "
      "port: 8443, prefix_rewrite: /new/, strip_query: true}}"));
  ASSERT_NE(config, nullptr);
  const Redirect& redirect = *config->listeners[0].virtual_hosts[0].routes[0].redirect;
  EXPECT_EQ(redirect.status, 308);
  EXPECT_EQ(redirect.scheme, "https");
  EXPECT_EQ(redirect.host, "new.example.com");
  EXPECT_EQ(redirect.port, 8443);
  EXPECT_EQ(redirect.prefix_rewrite, "/new/");
  EXPECT_TRUE(redirect.strip_query);
}

// ---- clusters ---------------------------------------------------------------------------------

TEST(ConfigLoaderTest, ClusterNeedsExactlyOneOfEndpointsAndDns) {
  EXPECT_THAT(
      errorsOf("clusters:\n"
               "  - {name: a}\n"
               "  - {name: b, endpoints: [], dns: {name: b.internal, port: 80}}\n"
               "  - {name: c, endpoints: []}\n"),
      ElementsAre(
          R"(t.yaml:2:5: clusters[0]: expected exactly one of endpoints, dns, got none)",
          R"(t.yaml:3:5: clusters[1]: expected exactly one of endpoints, dns, got both)",
          R"(t.yaml:3:26: clusters[1].endpoints: expected at least one endpoint (or use dns instead))",
          R"(t.yaml:4:26: clusters[2].endpoints: expected at least one endpoint (or use dns instead))"));
}

TEST(ConfigLoaderTest, ClusterNamesAreUniqueAndEnumsChecked) {
  EXPECT_THAT(
      errorsOf("clusters:\n"
               "  - {name: a, dns: {name: a, port: 80}, protocol: http3}\n"
               "  - {name: a, dns: {name: a, port: 80}, lb: maglev}\n"),
      ElementsAre(
          R"(t.yaml:2:51: clusters[0].protocol: expected one of http1, http2, got "http3")",
          R"(t.yaml:3:12: clusters[1].name: duplicate cluster name "a" (first defined at line 2, clusters[0].name))",
          R"(t.yaml:3:45: clusters[1].lb: expected one of round_robin, least_request, random, ring_hash, got "maglev")"));
}

TEST(ConfigLoaderTest, ClusterExtrasAreParsed) {
  BootstrapSharedPtr config = loadValid(
      "clusters:\n"
      "  - name: a\n"
      "    dns: {name: a.internal, port: 443}\n"
      "    lb: ring_hash\n"
      "    protocol: http2\n"
      "    idle_timeout: 90s\n"
      "    max_requests_per_connection: 1000\n"
      "    tls: {sni: a.internal, alpn: [h2]}\n");
  ASSERT_NE(config, nullptr);
  const Cluster& cluster = config->clusters[0];
  EXPECT_EQ(cluster.lb, LbPolicy::RingHash);
  EXPECT_EQ(cluster.protocol, UpstreamProtocol::Http2);
  EXPECT_EQ(cluster.idle_timeout, Duration(90000));
  EXPECT_EQ(cluster.max_requests_per_connection, 1000u);
  EXPECT_THAT(cluster.tls->alpn, ElementsAre("h2"));
  EXPECT_FALSE(cluster.health_check.has_value());
}

TEST(ConfigLoaderTest, ListenerHttp2Settings) {
  BootstrapSharedPtr defaults = loadValid("listeners:\n  - name: l\n");
  ASSERT_NE(defaults, nullptr);
  const Http2Options& d = defaults->listeners[0].http.http2;
  EXPECT_EQ(d.max_concurrent_streams, 100u);
  EXPECT_EQ(d.initial_stream_window_kb, 64u);
  EXPECT_EQ(d.initial_connection_window_kb, 1024u);

  BootstrapSharedPtr config = loadValid(
      "listeners:\n"
      "  - name: l\n"
      "    http:\n"
      "      http2: {max_concurrent_streams: 7, initial_stream_window_kb: 16,\n"
      "              initial_connection_window_kb: 4096}\n");
  ASSERT_NE(config, nullptr);
  const Http2Options& h = config->listeners[0].http.http2;
  EXPECT_EQ(h.max_concurrent_streams, 7u);
  EXPECT_EQ(h.initial_stream_window_kb, 16u);
  EXPECT_EQ(h.initial_connection_window_kb, 4096u);

  std::vector<std::string> errors = errorsOf(
      "listeners:\n"
      "  - name: l\n"
      "    http:\n"
      "      http2: {max_concurrent_streams: 0, initial_connection_window_kb: 8, max_streams: 1}\n");
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_NE(errors[0].find("listeners[0].http.http2"), std::string::npos) << errors[0];
  bool unknown = false;
  bool window = false;
  bool streams = false;
  for (const std::string& e : errors) {
    unknown = unknown || e.find("max_streams") != std::string::npos;
    window = window || e.find("initial_connection_window_kb") != std::string::npos;
    streams = streams || e.find("max_concurrent_streams") != std::string::npos;
  }
  EXPECT_TRUE(unknown && window && streams) << errors[0] << "\n" << errors[1] << "\n" << errors[2];
}

}  // namespace
}  // namespace strait::config

namespace strait::config {
namespace {

TEST(ListPathTest, SplitsTheTopLevelListAndItsIndex) {
  std::optional<ListPath> at = splitListPath("clusters[3].endpoints[0].port");
  ASSERT_TRUE(at.has_value());
  EXPECT_EQ(at->list, "clusters");
  EXPECT_EQ(at->index, 3u);
  EXPECT_EQ(at->rest, ".endpoints[0].port");
  EXPECT_FALSE(splitListPath("admin.port").has_value());
  EXPECT_FALSE(splitListPath("clusters[x].lb").has_value());
}

}  // namespace
}  // namespace strait::config
