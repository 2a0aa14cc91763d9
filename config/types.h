#pragma once

// Typed, immutable configuration of one Strait proxy: the keys of strait.yaml (docs/config.md).
// The parser (config/loader.h) produces these from YAML; everything else only reads them.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/filter_registry.h"

namespace strait::config {

using Duration = std::chrono::milliseconds;

struct Locality {
  std::string region;
  std::string zone;
};

struct Node {
  std::string id = "strait";
  std::string cluster = "default";
  Locality locality;
};

struct Admin {
  std::string address = "127.0.0.1";
  uint16_t port = 9901;
};

enum class AccessLogFormat { Json, Text };

struct AccessLog {
  std::string path;
  AccessLogFormat format = AccessLogFormat::Json;
};

struct Drain {
  Duration delay{0};
  Duration timeout{30000};
};

struct TlsFiles {
  std::string ca;
  std::string cert;
  std::string key;
};

struct ControlPlane {
  std::string address;  // host:port
  std::optional<TlsFiles> tls;
  // The last config applied from the control plane, written atomically after each update;
  // relative to the config file's folder.
  std::string persist = "last-good.json";
  // How often the proxy reports what it observes on the discovery stream (config/report.h).
  Duration report_interval{10000};
  // Names of clusters and listeners of this file that replace the control plane's of the same
  // name: a local override (break glass). The proxy reports the versions it really runs, so
  // strait-cp shows it DRIFTED while one is in force.
  std::vector<std::string> local_overrides;
};

// ---- listeners ------------------------------------------------------------------------------

// A named certificate (chain and key) and/or trust bundle (CA certificates), PEM files. The TLS
// blocks may name one (`secret: NAME`) instead of giving the files; the loader then fills their
// cert, key and ca from it, so the TLS code only ever sees files. strait-cp pushes secrets as a
// resource type; the proxy writes what it receives to files of its own (docs/config.md).
struct Secret {
  std::string name;
  std::string cert;
  std::string key;
  std::string ca;
};

struct TlsCertificate {
  std::string cert;
  std::string key;
  std::string secret;  // the secret cert and key came from, or empty
  std::vector<std::string> server_names;  // empty: the fallback certificate
};

struct TrustBundle {
  std::string trust_domain;
  std::string ca;
  std::string secret;  // the secret ca came from, or empty
};

struct ClientValidation {
  bool require_client_certificate = true;
  std::vector<TrustBundle> trust_bundles;
};

struct ListenerTls {
  std::vector<TlsCertificate> certificates;
  std::vector<std::string> alpn{"h2", "http/1.1"};
  std::optional<ClientValidation> client_validation;
};

// The parsed `config` block of a filter entry (config/raw_config.h), opaque here.
struct RawConfig;

// A filter entry in a listener's chain, with its settings parsed and validated by the filter's
// own parser (config/filter_registry.h) at load time.
struct FilterConfig {
  std::string name;
  std::shared_ptr<const RawConfig> raw;  // the block as parsed, for config code
  std::string config_path;  // e.g. "listeners[0].http.filters[1].config"
  std::string canonical;    // the block re-serialized: equal text, equal settings (reload reuse)
  FilterSettingsPtr settings;
  std::string from;  // the filter_configs entry it came from (`filter_config: NAME`), or empty
};

// An entry of `filter_configs`: a filter's config by name, which listeners' filter chains take
// with `filter_config: NAME`, so that strait-cp can change it without resending the listeners.
struct NamedFilterConfig {
  std::string name;
  FilterConfig filter;  // filter.name is the filter it configures
};

enum class StringMatchKind { Exact, Prefix, Suffix, Regex, Present };

struct HeaderMatcher {
  std::string name;  // lower-cased
  StringMatchKind kind = StringMatchKind::Exact;
  std::string value;  // unused for Present
  bool invert = false;
};

enum class PathMatchKind { Path, Prefix, Regex };

struct RouteMatch {
  PathMatchKind kind = PathMatchKind::Prefix;
  std::string value = "/";
  bool case_sensitive = true;
  std::vector<HeaderMatcher> headers;
};

struct HeaderValue {
  std::string name;  // lower-cased
  std::string value;
  bool append = true;  // false: replace an existing value
};

struct WeightedCluster {
  std::string cluster;
  uint32_t weight = 0;
};

enum class RetryOn { FiveXx, GatewayError, Reset, ConnectFailure, RetriableStatusCodes };

struct RetryPolicy {
  std::vector<RetryOn> on;
  uint32_t attempts = 1;  // retries after the first try
  std::optional<Duration> per_try_timeout;
  std::vector<uint16_t> retriable_status_codes;
  Duration backoff_base{25};
  Duration backoff_max{250};
  bool non_idempotent = false;      // true: retry POST/PATCH/CONNECT/... too
  uint32_t max_body_bytes = 65536;  // a request body larger than this is not replayed
};

// Route `hedge`: backup requests sent while the first is still waiting (docs/config.md).
struct HedgePolicy {
  // The delay before each hedge: fixed (`delay: 20ms`), or a percentile of the route's own
  // recent latency (`delay: p95`), learned per process over `window`.
  Duration delay{0};
  std::optional<double> percentile;  // in (0, 100), e.g. 95.0; set for `delay: pNN`
  Duration initial_delay{50};         // a percentile delay until one window has enough samples
  Duration min_delay{1};              // a learned delay is never below this
  Duration window{10000};             // the latency histogram's and the extra-load budget's window
  uint32_t max_attempts = 2;          // the original plus hedges, 2..5
  double max_extra_load = 0.05;       // hedges at most this share of the route's requests
  bool non_idempotent = false;        // true: hedge POST/PATCH/... too
  uint32_t max_body_bytes = 65536;    // a request body larger than this is not hedged
};

// Where a route takes the request's hash key for ring_hash clusters.
struct HashPolicy {
  enum class Kind { Header, SourceIp, Cookie };
  Kind kind = Kind::Header;
  std::string name;  // Header: lower-cased header name; Cookie: cookie name; SourceIp: empty
};

struct RouteAction {
  std::string cluster;                       // either this ...
  std::vector<WeightedCluster> weighted_clusters;  // ... or these
  Duration timeout{15000};                   // covers all attempts; 0 = none
  std::optional<RetryPolicy> retry;
  std::optional<HedgePolicy> hedge;
  // Cluster `carbon_aware` applies to this route's requests (opt-in): interactive or deferrable
  // (background traffic, which takes a larger shift).
  enum class Carbon : uint8_t { Off, Interactive, Deferrable };
  Carbon carbon = Carbon::Off;
  // The load_shed class of this route's requests: critical, important or nice_to_have; empty:
  // the filter's own rules decide.
  std::string priority;
  std::string prefix_rewrite;                // replaces the matched prefix when non-empty
  std::string host_rewrite;                  // replaces :authority/Host when non-empty
  std::vector<HashPolicy> hash_policy;       // the first that yields a value gives the hash
};

struct DirectResponse {
  uint16_t status = 200;
  std::string body;
  std::string content_type = "text/plain";
};

struct Redirect {
  uint16_t status = 301;            // 301, 302, 303, 307, 308
  std::string scheme;               // empty: keep
  std::string host;                 // empty: keep
  std::optional<uint16_t> port;     // empty: keep
  std::string path;                 // empty: keep (path_redirect)
  std::string prefix_rewrite;       // replaces the matched prefix when non-empty
  bool strip_query = false;
};

struct Route {
  std::string name;
  RouteMatch match;
  // Exactly one of these three is set.
  std::optional<RouteAction> route;
  std::optional<DirectResponse> direct_response;
  std::optional<Redirect> redirect;
  std::vector<HeaderValue> request_headers_to_add;
  std::vector<std::string> request_headers_to_remove;  // lower-cased
  std::vector<HeaderValue> response_headers_to_add;
  std::vector<std::string> response_headers_to_remove;  // lower-cased
};

struct VirtualHost {
  std::string name;
  std::vector<std::string> domains;  // lower-cased; "example.com", "*.example.com", "*"
  std::vector<Route> routes;
  std::vector<HeaderValue> request_headers_to_add;
  std::vector<HeaderValue> response_headers_to_add;
};

// HTTP/2 settings of a listener (h2c by preface today; h2 by ALPN with TLS).
struct Http2Options {
  uint32_t max_concurrent_streams = 100;        // SETTINGS_MAX_CONCURRENT_STREAMS
  uint32_t initial_stream_window_kb = 64;       // SETTINGS_INITIAL_WINDOW_SIZE
  uint32_t initial_connection_window_kb = 1024; // the connection's receive window
};

struct HttpOptions {
  uint32_t max_request_headers_kb = 60;
  uint32_t max_headers = 100;
  uint32_t max_request_body_kb = 0;  // 0: unlimited (streamed)
  Duration request_headers_timeout{10000};
  Duration idle_timeout{3600000};
  bool use_remote_address = true;
  bool generate_request_id = true;
  Http2Options http2;
  std::vector<FilterConfig> filters;
};

// What the listener does with x-forwarded-client-cert on requests it forwards.
enum class ForwardClientCert {
  Sanitize,       // drop the incoming header; set ours when the client presented a certificate
  AppendForward,  // with a client certificate, append ours to the incoming header; else drop it
};

struct Listener {
  std::string name;
  std::string address = "0.0.0.0";
  uint16_t port = 0;
  std::optional<ListenerTls> tls;
  ForwardClientCert forward_client_cert = ForwardClientCert::Sanitize;
  HttpOptions http;
  std::vector<VirtualHost> virtual_hosts;
  // The listener's block in canonical form (config/canonical.h), followed by the config of each
  // filter it takes from filter_configs: equal text, equal listener, so a reload that changes
  // only clusters or endpoints keeps its route table and filter factories.
  std::string canonical;
};

// ---- clusters -------------------------------------------------------------------------------

struct Endpoint {
  std::string address;
  uint16_t port = 0;
  uint32_t weight = 1;
  Locality locality;
};

struct DnsDiscovery {
  std::string name;
  uint16_t port = 0;
  Duration refresh{5000};
};

enum class LbPolicy { RoundRobin, LeastRequest, Random, RingHash };
enum class UpstreamProtocol { Http1, Http2 };

struct ClusterTls {
  std::string sni;
  std::string ca;
  std::string cert;
  std::string key;
  std::string secret;  // the secret ca, cert and key came from, or empty
  std::vector<std::string> alpn;
};

struct HealthCheck {
  std::string path = "/healthz";
  Duration interval{5000};
  Duration timeout{1000};
  uint32_t healthy_threshold = 2;
  uint32_t unhealthy_threshold = 3;
};

struct RetryBudget {
  double percent = 20.0;
  uint32_t min_concurrency = 3;
  bool operator==(const RetryBudget&) const = default;
};

// Every limit is per process (all workers share one count).
struct CircuitBreakers {
  uint32_t max_connections = 1024;
  uint32_t max_pending_requests = 1024;  // waiting for a max_requests slot or a connection
  uint32_t max_requests = 1024;
  // How long a request over max_requests waits in the pending queue for a slot; 0: no queue
  // (503 at once).
  Duration queue_timeout{1000};
  RetryBudget retry_budget;
  bool operator==(const CircuitBreakers&) const = default;
};

// Success-rate outlier detection: over the hosts with at least `request_volume` results in the
// last interval (and only when at least `minimum_hosts` have), a host whose success rate is below
// mean - (stdev_factor / 1000) * stdev is ejected.
struct OutlierSuccessRate {
  uint32_t minimum_hosts = 5;
  uint32_t request_volume = 100;
  uint32_t stdev_factor = 1900;  // thousandths, as in Envoy: 1900 is 1.9 standard deviations
  bool operator==(const OutlierSuccessRate&) const = default;
};

// Failure-percentage outlier detection: a host with at least `request_volume` results in the
// last interval whose failures are at least `threshold` percent of them is ejected (only when at
// least `minimum_hosts` hosts have the volume).
struct OutlierFailurePercentage {
  uint32_t threshold = 85;
  uint32_t minimum_hosts = 5;
  uint32_t request_volume = 50;
  bool operator==(const OutlierFailurePercentage&) const = default;
};

// Per detector: false makes that detector count what it would eject without ejecting.
struct OutlierEnforcing {
  bool consecutive_5xx = true;
  bool consecutive_gateway_failure = true;
  bool consecutive_local_origin_failure = true;
  bool success_rate = true;
  bool failure_percentage = true;
  bool operator==(const OutlierEnforcing&) const = default;
};

struct OutlierDetection {
  uint32_t consecutive_5xx = 5;                   // 0: detector off
  uint32_t consecutive_gateway_failure = 0;       // 502/503/504, resets, timeouts; 0: off
  uint32_t consecutive_local_origin_failure = 5;  // connect failures; 0: off
  std::optional<OutlierSuccessRate> success_rate;              // absent: off
  std::optional<OutlierFailurePercentage> failure_percentage;  // absent: off
  OutlierEnforcing enforcing;
  Duration interval{10000};
  Duration base_ejection_time{30000};
  Duration max_ejection_time{300000};
  uint32_t max_ejection_percent = 10;
  bool operator==(const OutlierDetection&) const = default;
};

// ---- carbon-aware routing (docs/config.md, cluster `carbon_aware`; proxy/carbon/) ------------

enum class CarbonSignalType { Average, Marginal };
enum class EmissionFactor { Lifecycle, Direct };

// Cluster `carbon_aware`: how the locality tier weighs the cluster's localities by the carbon
// intensity of their electricity, never at the cost of the latency SLO.
struct CarbonAware {
  // weight of a locality ∝ capacity × (reference / intensity)^alpha; 0 = carbon-blind.
  double alpha = 1.0;
  // gCO2eq/kWh; 0: the capacity-weighted mean of the fresh signals of the eligible localities.
  double reference_intensity = 0;
  // Every eligible locality keeps at least min_share and at most max_share of the traffic (so its
  // pools and latency estimates stay warm).
  double min_share = 0.05;
  double max_share = 0.90;
  // A locality is eligible while its recent latency (latency_percentile of the proxy's own
  // measurements per locality) is within latency_budget of the best locality's.
  Duration latency_budget{50};
  double latency_percentile = 99;
  // Weights change only when some share moves by more than `hysteresis` (absolute, 0..1), and
  // then at most once per `min_dwell`.
  double hysteresis = 0.05;
  Duration min_dwell{30000};
  // Only signals of carbon_signals' `signal` type and of this emission factor count; a signal
  // older than its ttl or than stale_after (or missing) makes the whole cluster carbon-blind
  // (never route towards a locality because its data is missing).
  EmissionFactor emission_factor = EmissionFactor::Lifecycle;
  Duration stale_after{7200000};
  // Energy per request, for the accounting: a fixed figure, or the upstream's own report in a
  // response header (Wh), falling back to the fixed figure when absent.
  double wh_per_request = 0.0002;
  std::string energy_header;  // lower-cased; empty: none
  // The kill switch: while the cluster burns its SLO error budget (1 - slo_target) faster than
  // burn_rate_threshold over burn_window, alpha is 0; restored after `recovery` below it.
  double slo_target = 0.999;
  Duration burn_window{60000};
  double burn_rate_threshold = 10;
  Duration recovery{60000};
  // Routes marked `carbon: deferrable` (background traffic) use these instead: a larger shift.
  double deferrable_alpha = 2.0;
  Duration deferrable_latency_budget{500};
  // Compute and export the weights, route carbon-blind.
  bool dry_run = false;
  bool operator==(const CarbonAware&) const = default;
};

// Top-level `carbon_signals`: where a standalone gateway reads carbon intensity from (a file,
// watched; proxy/carbon/providers.h has its format).
struct CarbonSignals {
  std::string provider = "file";  // file (built); electricity_maps, carbon_aware_sdk,
                                  // uk_carbon_intensity (payload adapters only, no poller yet)
  std::string path;               // file provider; relative to the config file
  Duration refresh{300000};       // how often a polling provider asks (the file is watched)
  CarbonSignalType signal = CarbonSignalType::Average;  // never mixed in one decision
  Duration default_ttl{3600000};  // for signals that carry none
};

// Cluster `localities`: facts per locality (the accounting's power usage effectiveness).
struct LocalityFacts {
  Locality locality;
  double pue = 1.0;
};

struct Cluster {
  std::string name;
  std::vector<Endpoint> endpoints;
  std::optional<DnsDiscovery> dns;
  LbPolicy lb = LbPolicy::RoundRobin;
  UpstreamProtocol protocol = UpstreamProtocol::Http1;
  Duration connect_timeout{1000};
  Duration idle_timeout{60000};  // pooled upstream connection unused this long is closed
  uint32_t max_requests_per_connection = 0;  // 0: unlimited
  std::optional<ClusterTls> tls;
  std::optional<HealthCheck> health_check;
  CircuitBreakers circuit_breakers;
  std::optional<OutlierDetection> outlier_detection;
  std::optional<CarbonAware> carbon_aware;
  std::vector<LocalityFacts> localities;
};

// ---- the whole file -------------------------------------------------------------------------

struct Bootstrap {
  std::string source_path;  // the file it came from
  Node node;
  Admin admin;
  uint32_t workers = 0;  // 0: number of CPU cores
  std::optional<AccessLog> access_log;
  Drain drain;
  std::optional<ControlPlane> control_plane;
  std::optional<CarbonSignals> carbon_signals;
  std::vector<Secret> secrets;
  std::vector<NamedFilterConfig> filter_configs;
  std::vector<Listener> listeners;
  std::vector<Cluster> clusters;
  // The document in canonical form (config/canonical.h): /config_dump renders it (secrets
  // redacted) and resource versions hash it; nothing keeps the file's text.
  std::string canonical;

  const Cluster* findCluster(const std::string& name) const {
    for (const auto& c : clusters) {
      if (c.name == name) {
        return &c;
      }
    }
    return nullptr;
  }
};

using BootstrapSharedPtr = std::shared_ptr<const Bootstrap>;

}  // namespace strait::config
