#pragma once

// strait-cp's admin endpoints, on their own port: /ready, /live, /metrics (strait_cp_*,
// Prometheus text), /status (JSON: groups, their versions and refusals, source errors, and per
// node and type what was sent, ACKed and NACKed and the sync state), GET /intended/<node>
// (the resources the node is meant to run, secret-looking values redacted; straitctl diff
// compares them with the proxy's /config_dump), POST /force/<group> (publish a refused
// snapshot).

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/loader.h"
#include "control/discovery_server.h"
#include "control/histogram.h"
#include "control/http_server.h"
#include "control/snapshot_store.h"

namespace strait::cp {

struct ControlPlaneState {
  SnapshotStore& store;
  DiscoveryServer& discovery;
  // The source errors of the last read, per group; empty when every file is valid.
  const std::map<std::string, std::vector<config::ConfigError>>& source_errors;
  bool source_read = false;  // /ready: the source was read once
  uint64_t source_reads = 0;
  uint64_t source_errors_total = 0;
  Histogram snapshot_build{};  // a source read: parse, validate and cut every group
};

void serveAdmin(const ExchangePtr& exchange, ControlPlaneState& state);

// The bodies, apart from the transport (unit tests check them). `now`: the time the sync
// states' ages are measured at.
std::string metricsText(const ControlPlaneState& state, SteadyTime now);
std::string statusJson(const ControlPlaneState& state, SteadyTime now);
// /intended/<node>: {"node", "group", "types": {TYPE: {"version", "resources": [{"name",
// "resource"}]}}} for every type in push order, the node's override if it has one. `group`:
// "" for the one the node gave when it connected. Nullopt with `error` (the 404's text) for a
// node this replica never saw and no `group`, or a group without a snapshot.
std::optional<std::string> intendedJson(const ControlPlaneState& state, const std::string& node,
                                        std::string group, std::string& error);

}  // namespace strait::cp
