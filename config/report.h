#pragma once

// What a proxy observes, reported to strait-cp on its discovery stream (docs/discovery-protocol.md,
// "Reports"): the versions it really runs, and per cluster each endpoint's health, ejection and
// the requests sent to it over the last window, the circuit breakers open, the locality weights in
// force and its concurrency limit. strait-cp compares it with what it intends (control/divergence.h).
// One JSON line `{"report": {...}}`; parsing never throws and names the field at fault.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/discovery.h"

namespace strait::config {

struct EndpointReport {
  std::string address;   // "10.0.0.1:8080", "[::1]:80": the endpoint as the source names it
  std::string locality;  // "region/zone" ("" for none)
  bool healthy = true;   // by active health checking (true when there is none)
  bool ejected = false;  // by outlier detection
  uint64_t requests = 0;  // sent to it over the window
  uint64_t errors = 0;    // of those, answered 5xx or failed
};

struct ConcurrencyReport {
  uint64_t limit = 0;  // the limit in force
  uint64_t floor = 0;  // the lowest the algorithm goes
};

struct LocalityWeight {
  std::string locality;  // "region/zone"
  uint64_t weight = 0;   // what the load balancer weighs it: its available hosts' weights
};

struct ClusterReport {
  std::string name;
  std::vector<EndpointReport> endpoints;
  std::vector<std::string> breakers_open;  // "max_connections", "max_requests", ...
  std::vector<LocalityWeight> locality_weights;
  std::optional<ConcurrencyReport> concurrency;  // only where a concurrency limit is in force
};

struct ProxyReport {
  DiscoveryNode node;     // optional on a stream (its first request named the node)
  uint64_t interval_ms = 0;  // how often this proxy reports
  uint64_t window_ms = 0;    // the time the request counts cover
  std::string admin;         // the proxy's admin address, "host:port" ("" if unknown)
  // The content hash (config::resourcesVersion) of each type as the proxy runs it: the pushed
  // resources with its local overrides applied. Empty: the type holds nothing pushed.
  std::array<std::string, kResourceTypes> applied;
  std::vector<ClusterReport> clusters;
};

// `{"report": {...}}`, one line without the newline.
std::string serialize(const ProxyReport& report);
// Whether `line` is a report rather than a DiscoveryRequest (a JSON object with a "report" key).
bool isReportLine(std::string_view line);
// Nullopt with `error` ("report.clusters[0].endpoints[1].requests: expected a non-negative
// integer") when `line` is not a report.
std::optional<ProxyReport> parseReport(std::string_view line, std::string& error);

}  // namespace strait::config
