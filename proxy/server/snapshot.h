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
#include "proxy/http/listener_runtime.h"
#include "proxy/upstream/cluster.h"
#include "strait/http/filter.h"
#include "strait/http/worker_context.h"
#include "strait/stats/stats.h"

namespace strait::server {

// What made a snapshot: Server::publish() is the one way to the workers, whatever the trigger.
enum class ConfigSource {
  Startup,
  FileChange,           // the config file's content changed (watch)
  Signal,               // SIGHUP
  AdminReload,          // POST /reload
  CertificateRotation,  // a TLS file in force changed
  DnsRefresh,           // a DNS cluster's addresses changed
  ControlPlane,         // strait-cp pushed resources (proxy/discovery/)
  Persisted,            // at startup: the last config applied from strait-cp, read from disk
};
// "startup", "file_change", ...: the `source` label of the publish counters and /config_dump.
const char* configSourceName(ConfigSource source);

struct SnapshotSource {
  ConfigSource kind = ConfigSource::Startup;
  std::string detail;  // e.g. the DNS cluster refreshed; may be empty
};

struct Snapshot final : http::SnapshotView {
  config::BootstrapSharedPtr config;
  uint64_t version = 0;
  SnapshotSource source;
  // A content hash per resource kind (config/canonical.h); endpoints include the addresses DNS
  // clusters resolved to.
  config::ResourceVersions versions;
  std::chrono::system_clock::time_point applied_at;
  std::vector<std::shared_ptr<const http::ListenerRuntime>> listeners;
  upstream::ClusterSnapshots clusters;

  // http::SnapshotView
  const http::ListenerRuntime* findListener(const std::string& name) const override {
    for (const auto& l : listeners) {
      if (l->config.name == name) {
        return l.get();
      }
    }
    return nullptr;
  }
  const config::AccessLog* accessLog() const override {
    return config->access_log.has_value() ? &*config->access_log : nullptr;
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
