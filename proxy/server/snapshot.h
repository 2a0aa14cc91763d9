#pragma once

// One immutable config snapshot (ARCHITECTURE.md, "Configuration"): the validated Bootstrap and
// everything derived from it that workers read on the data path — route tables, clusters with
// resolved hosts, stats handles. Built and validated on the main thread, then posted to every
// worker as a shared_ptr<const Snapshot>; a stream keeps the snapshot it started with.

#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/canonical.h"
#include "config/types.h"
#include "proxy/tls/context.h"
#include "proxy/upstream/cluster.h"
#include "strait/http/filter.h"
#include "strait/http/http1_codec.h"
#include "strait/router/route_table.h"
#include "strait/stats/stats.h"
#include "strait/stats/stats_list.h"

namespace strait::server {

// Every single-series stat of a listener, sorted by field (strait/stats/stats_list.h); all
// labelled `listener`.
#define STRAIT_LISTENER_STATS(COUNTER, GAUGE, HISTOGRAM)                                      \
  GAUGE(cx_active, "strait_dp_downstream_cx_active", "Open downstream connections.")         \
  COUNTER(cx_rx_bytes, "strait_dp_downstream_cx_rx_bytes_total",                             \
          "Bytes received from downstream clients.")                                         \
  COUNTER(cx_total, "strait_dp_downstream_cx_total", "Downstream connections accepted.")     \
  COUNTER(cx_tx_bytes, "strait_dp_downstream_cx_tx_bytes_total",                             \
          "Bytes sent to downstream clients.")                                               \
  GAUGE(rq_active, "strait_dp_downstream_rq_active", "Downstream requests in flight.")       \
  COUNTER(rq_no_route, "strait_dp_downstream_rq_no_route_total",                             \
          "Requests that matched no route (404).")                                           \
  HISTOGRAM(rq_time, "strait_dp_downstream_rq_time_seconds",                                 \
            "Time from the first byte of a request to the last byte of its response.")       \
  COUNTER(rq_upstream_unavailable, "strait_dp_downstream_rq_upstream_unavailable_total",     \
          "Requests answered 503 because no upstream connection could be had.")

struct ListenerStats {
  STRAIT_STATS_FIELDS(STRAIT_LISTENER_STATS)
  upstream::CodeClassCounters rq_by_class;  // strait_dp_downstream_rq_total{code_class}
  // Requests refused by the codec, by the status they got (400, 408, 413, 414, 431, 501):
  // strait_dp_downstream_rq_rejected_total{status}.
  std::unordered_map<uint16_t, stats::Counter> rq_rejected;
};


struct RouteStats {
  upstream::CodeClassCounters rq_by_class;
  stats::Histogram rq_time;
};

// Everything a listener's streams read, built from its config block. A snapshot whose listener
// block is unchanged (same canonical text, same TLS files) shares the previous one's runtime:
// a cluster or endpoint change rebuilds no route table and no filter factory.
struct ListenerRuntime {
  const config::Listener& config;
  // The Bootstrap `config` and the route table point into, kept alive while a snapshot shares
  // this runtime.
  config::BootstrapSharedPtr bootstrap;
  std::string tls_fingerprint;  // of the TLS files as loaded (tls::filesFingerprint)
  router::RouteTablePtr routes;
  http::http1::CodecLimits limits;
  ListenerStats stats;
  std::unordered_map<const config::Route*, RouteStats> route_stats;
  // One per `http.filters` entry, in order (strait/http/filter.h).
  std::vector<http::FilterFactoryPtr> filter_factories;
  // The factories' hooks on accepted connections (FilterFactory::acceptHook()), in filter
  // order; they live as long as filter_factories.
  std::vector<const http::AcceptHook*> accept_hooks;
  // TLS termination (listener `tls`): certificates loaded when the snapshot was built. A
  // certificate file change builds a new snapshot, so new handshakes use the new files.
  tls::ServerContextSharedPtr tls;

  const RouteStats* routeStats(const config::Route* route) const {
    auto it = route_stats.find(route);
    return it == route_stats.end() ? nullptr : &it->second;
  }
};

// What made a snapshot: Server::publish() is the one way to the workers, whatever the trigger.
enum class ConfigSource {
  Startup,
  FileChange,           // the config file's content changed (watch)
  Signal,               // SIGHUP
  AdminReload,          // POST /reload
  CertificateRotation,  // a TLS file in force changed
  DnsRefresh,           // a DNS cluster's addresses changed
};
// "startup", "file_change", ...: the `source` label of the publish counters and /config_dump.
const char* configSourceName(ConfigSource source);

struct SnapshotSource {
  ConfigSource kind = ConfigSource::Startup;
  std::string detail;  // e.g. the DNS cluster refreshed; may be empty
};

struct Snapshot {
  config::BootstrapSharedPtr config;
  uint64_t version = 0;
  SnapshotSource source;
  // A content hash per resource kind (config/canonical.h); endpoints include the addresses DNS
  // clusters resolved to.
  config::ResourceVersions versions;
  std::chrono::system_clock::time_point applied_at;
  std::vector<std::shared_ptr<const ListenerRuntime>> listeners;
  upstream::ClusterSnapshots clusters;

  const ListenerRuntime* findListener(const std::string& name) const {
    for (const auto& l : listeners) {
      if (l->config.name == name) {
        return l.get();
      }
    }
    return nullptr;
  }
};

using SnapshotSharedPtr = std::shared_ptr<const Snapshot>;

// Keys the config schema accepts whose feature is not built yet (the control plane). A config that uses one is refused at start, on reload and by --validate rather than
// silently served without it. One message per use, as "path: what is missing".
std::vector<std::string> unbuiltFeatures(const config::Bootstrap& config);

// Builds a snapshot from a validated config. `previous` (may be null) lends its ClusterInfo to
// clusters whose shape did not change, so their connection pools, circuit-breaker counts and
// outlier state survive a reload, its hosts to endpoints that stay, and its ListenerRuntime to
// listeners whose block did not change. Returns nullptr with
// `error` set when something the validator cannot see fails (a regex, a name that does not
// resolve). Building changes nothing in force: activateSnapshot() does, once it is published.
//
// `dns_override` (may be null): a DNS cluster's freshly resolved addresses (DnsResolver); that
// cluster gets a new host set on these addresses (same ClusterInfo), every other cluster is
// built as usual.
struct DnsOverride {
  std::string cluster;
  std::vector<sockaddr_storage> addresses;
};
SnapshotSharedPtr buildSnapshot(config::BootstrapSharedPtr config, const Snapshot* previous,
                                stats::Store& store, const http::ProcessContext& process,
                                uint64_t version, SnapshotSource source,
                                std::string& error, const DnsOverride* dns_override = nullptr);

// Main thread, as `snapshot` is published: its host sets take effect (weights of hosts that
// stayed, the outlier detectors' host lists).
void activateSnapshot(const Snapshot& snapshot);

}  // namespace strait::server
