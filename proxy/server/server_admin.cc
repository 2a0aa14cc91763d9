// The admin endpoints of the proxy (ARCHITECTURE.md, "Telemetry"): readiness, liveness,
// stats, the config in force, clusters and listeners, drain and reload.

#include <algorithm>
#include <nlohmann/json.hpp>

#include "config/canonical.h"
#include "proxy/server/files.h"
#include "proxy/server/server.h"

namespace strait::server {

namespace {

const char* lbName(config::LbPolicy lb) {
  switch (lb) {
    case config::LbPolicy::RoundRobin:
      return "round_robin";
    case config::LbPolicy::LeastRequest:
      return "least_request";
    case config::LbPolicy::Random:
      return "random";
    case config::LbPolicy::RingHash:
      return "ring_hash";
  }
  return "unknown";
}

}  // namespace

void Server::registerAdminHandlers() {
  admin_->addHandler("GET", "/ready", "200 once serving, 503 while draining",
                     [this](const http::RequestHeaders&) {
                       if (draining_) {
                         return admin::AdminResponse{503, "text/plain; charset=utf-8",
                                                     "DRAINING\n"};
                       }
                       if (!config_ready_) {
                         return admin::AdminResponse{
                             503, "text/plain; charset=utf-8",
                             "NO CONFIG: waiting for the first config from strait-cp\n"};
                       }
                       return admin::AdminResponse{200, "text/plain; charset=utf-8", "LIVE\n"};
                     });
  admin_->addHandler("GET", "/live", "200 while the process runs",
                     [](const http::RequestHeaders&) {
                       return admin::AdminResponse{200, "text/plain; charset=utf-8", "OK\n"};
                     });
  admin_->addHandler("GET", "/stats", "Prometheus text format", [this](const http::RequestHeaders&) {
    publishAccessLogStats();
    publishResilienceStats();
    return admin::AdminResponse{200, "text/plain; version=0.0.4; charset=utf-8",
                                store_->renderPrometheus()};
  });
  admin_->addHandler("GET", "/config_dump", "the config in force (secrets redacted)",
                     [this](const http::RequestHeaders&) {
                       return admin::AdminResponse{200, "application/json", configDumpJson()};
                     });
  admin_->addHandler("GET", "/clusters", "clusters, endpoints, health and counters",
                     [this](const http::RequestHeaders&) {
                       return admin::AdminResponse{200, "application/json", clustersJson()};
                     });
  admin_->addHandler("GET", "/listeners", "listeners and their bound ports",
                     [this](const http::RequestHeaders&) {
                       return admin::AdminResponse{200, "application/json", listenersJson()};
                     });
  admin_->addHandler("POST", "/drain", "start a graceful drain (like SIGTERM)",
                     [this](const http::RequestHeaders&) {
                       startDrain("POST /drain");
                       return admin::AdminResponse{200, "text/plain; charset=utf-8",
                                                   "draining\n"};
                     });
  admin_->addHandler("POST", "/reload", "reload the config file (like SIGHUP)",
                     [this](const http::RequestHeaders&) {
                       bool applied = reloadFile(ConfigSource::AdminReload);
                       return admin::AdminResponse{
                           static_cast<uint16_t>(applied ? 200 : 400), "text/plain; charset=utf-8",
                           applied ? "applied\n" : "rejected (see the log)\n"};
                     });
}

std::string Server::listenersJson() const {
  nlohmann::json out;
  out["listeners"] = nlohmann::json::array();
  for (const auto& b : bound_) {
    out["listeners"].push_back({{"name", b.name}, {"address", b.address}, {"port", b.port}});
  }
  return out.dump(2) + "\n";
}

std::string Server::clustersJson() const {
  nlohmann::json out;
  out["clusters"] = nlohmann::json::array();
  std::vector<std::string> names;
  for (const auto& [name, entry] : snapshot_->clusters) {
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    const upstream::ClusterSnapshot& entry = snapshot_->clusters.at(name);
    const upstream::ClusterInfo& info = *entry.info;
    nlohmann::json cluster{{"name", name}, {"lb", lbName(info.config.lb)}};
    cluster["endpoints"] = nlohmann::json::array();
    auto checker = health_checkers_.find(name);
    uint32_t healthy_hosts = 0;
    for (const auto& h : entry.hosts->hosts()) {
      const auto& host = static_cast<const upstream::HostImpl&>(*h);
      healthy_hosts += host.healthy() ? 1 : 0;
      const upstream::HostHealthStatus* check =
          checker == health_checkers_.end() ? nullptr : checker->second->status(host);
      cluster["endpoints"].push_back({
          {"address", host.addressString()},
          {"weight", host.weight()},
          {"locality", {{"region", host.locality().region}, {"zone", host.locality().zone}}},
          {"health", host.healthy() ? "healthy" : "unhealthy"},
          {"outlier_ejected", host.ejected()},
          {"health_reason", check == nullptr  ? "no health check configured"
                            : !check->checked ? "not checked yet"
                                              : check->reason},
          {"last_check", check != nullptr && check->checked
                             ? nlohmann::json(isoTime(check->last_check))
                             : nlohmann::json(nullptr)},
          {"cx_active", host.cx_active.load()},
          {"cx_connect_fail", host.cx_connect_fail.load()},
          {"rq_active", host.activeRequests()},
          {"rq_total", host.requestsTotal()},
          {"rq_error", host.requestErrors()},
      });
    }
    cluster["healthy_hosts"] = healthy_hosts;
    // Load balancers fall back to every host when none is healthy (panic mode).
    cluster["panic"] = !entry.hosts->empty() && healthy_hosts == 0;
    out["clusters"].push_back(std::move(cluster));
  }
  return out.dump(2) + "\n";
}

std::string Server::configDumpJson() const {
  nlohmann::json out;
  out["version"] = snapshot_->version;
  out["source"] = snapshot_->config->source_path;
  out["applied_at"] = isoTime(snapshot_->applied_at);
  out["applied_by"] = configSourceName(snapshot_->source.kind);
  const config::ResourceVersions& v = snapshot_->versions;
  out["resource_versions"] = {{"listeners", v.listeners},
                              {"routes", v.routes},
                              {"clusters", v.clusters},
                              {"endpoints", v.endpoints}};
  if (discovery_ != nullptr) {
    // Whether strait-cp is there, and the versions it gave that are in force.
    nlohmann::json versions = nlohmann::json::object();
    for (config::ResourceType type : config::kPushOrder) {
      if (!discovered_.version(type).empty()) {
        versions[std::string(config::typeName(type))] = discovered_.version(type);
      }
    }
    out["control_plane"] = {
        {"address", snapshot_->config->control_plane->address},
        {"connected", discovery_->connected()},
        {"last_error", discovery_->lastError()},
        {"serving", !config_ready_             ? "no config yet"
                    : discovery_->connected() ? "the control plane's config"
                                              : "the last good config (strait-cp is away)"},
        {"versions", versions}};
  }
  nlohmann::json config = nlohmann::json::parse(snapshot_->config->canonical, nullptr, false);
  out["config"] =
      config.is_discarded() ? nlohmann::json(nullptr) : config::redactSecrets(std::move(config));
  return out.dump(2) + "\n";
}

}  // namespace strait::server
