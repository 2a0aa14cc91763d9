// The control plane as a source of snapshots (docs/discovery-protocol.md): the discovery client
// hands over what strait-cp pushed, it is assembled with the config file's own part, validated
// by the file loader and published like a reload; the result is persisted so that a restart
// while strait-cp is away serves it.

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "filters/common/concurrency_signal.h"
#include "proxy/discovery/secret_files.h"
#include "proxy/server/files.h"
#include "proxy/server/server.h"
#include "strait/common/log.h"

namespace strait::server {

namespace {

// "clusters 07b4cebf, endpoints 9663..." for the log and the publish's detail.
std::string versionsText(const discovery::ResourceSets& sets,
                         const std::vector<config::DiscoveryResponse>& responses) {
  std::string out;
  for (const auto& response : responses) {
    if (!out.empty()) {
      out += ", ";
    }
    out += std::string(config::typeName(response.type)) + " " +
           sets.version(response.type).substr(0, 8);
  }
  return out;
}

}  // namespace

std::string Server::persistPath(const config::Bootstrap& config) const {
  const std::string& file = config.control_plane->persist;
  if (!file.empty() && file[0] == '/') {
    return file;
  }
  size_t slash = options_.config_path.find_last_of('/');
  return slash == std::string::npos ? file : options_.config_path.substr(0, slash + 1) + file;
}

discovery::Assembled Server::assembleDiscovered(const std::string& static_canonical,
                                                const discovery::ResourceSets& sets) {
  discovery::SecretFiles secrets = discovery::writeSecretFiles(sets, secrets_dir_);
  if (!secrets.error.empty()) {
    discovery::Assembled failed;
    failed.error = secrets.error;
    return failed;
  }
  return discovery::assemble(static_canonical, sets, &secrets.secrets);
}

config::BootstrapSharedPtr Server::withSourcePath(config::BootstrapSharedPtr config) const {
  auto copy = std::make_shared<config::Bootstrap>(*config);
  copy->source_path = options_.config_path;
  return copy;
}

config::BootstrapSharedPtr Server::restorePersisted(const config::Bootstrap& file_config) {
  std::string path = persistPath(file_config);
  std::string text = readFile(path);
  if (text.empty()) {
    STRAIT_LOG(Info, "discovery: no persisted config at %s; /ready waits for strait-cp",
               path.c_str());
    return nullptr;
  }
  std::string error;
  std::optional<discovery::ResourceSets> sets = discovery::parsePersisted(text, error);
  if (!sets.has_value()) {
    STRAIT_LOG(Warn, "discovery: ignoring %s: %s", path.c_str(), error.c_str());
    return nullptr;
  }
  discovery::Assembled assembled = assembleDiscovered(file_config.canonical, *sets);
  if (!assembled.loaded.ok()) {
    STRAIT_LOG(Warn, "discovery: ignoring %s: %s", path.c_str(), assembled.error.c_str());
    return nullptr;
  }
  discovered_ = std::move(*sets);
  STRAIT_LOG(Info, "discovery: serving the config last applied from strait-cp (%s) until it "
                   "answers", path.c_str());
  return withSourcePath(assembled.loaded.bootstrap);
}

void Server::persistDiscovered() {
  std::string path = persistPath(*snapshot_->config);
  std::string tmp = path + ".tmp";
  {
    // It holds the pushed secrets' private keys: readable by the proxy's user only.
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    ::chmod(tmp.c_str(), 0600);
    out << discovery::persistText(discovered_);
    out.flush();
    if (!out) {
      STRAIT_LOG(Warn, "discovery: cannot write %s", tmp.c_str());
      return;
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    STRAIT_LOG(Warn, "discovery: cannot rename %s to %s", tmp.c_str(), path.c_str());
  }
}

bool Server::startDiscovery(const config::Bootstrap& file_config, std::string& error) {
  const config::ControlPlane& cp = *file_config.control_plane;
  discovery::ClientOptions options;
  if (cp.tls.has_value()) {
    config::ClusterTls tls;
    tls.ca = cp.tls->ca;
    tls.cert = cp.tls->cert;
    tls.key = cp.tls->key;
    tls.alpn = {"h2"};
    options.tls = tls::ClientContext::create(tls, tls::directoryOf(options_.config_path), error,
                                             /*http2=*/true);
    if (options.tls == nullptr) {
      error = "control_plane.tls: " + error;
      return false;
    }
  }
  size_t colon = cp.address.rfind(':');
  options.host = cp.address.substr(0, colon);
  if (options.host.size() >= 2 && options.host.front() == '[') {
    options.host = options.host.substr(1, options.host.size() - 2);
  }
  options.port = static_cast<uint16_t>(std::stoi(cp.address.substr(colon + 1)));
  options.node = {file_config.node.id, file_config.node.cluster, file_config.node.locality.region,
                  file_config.node.locality.zone};
  discovery_connected_ =
      store_->gauge("strait_dp_discovery_connected", "1 while the discovery stream is up.");
  for (config::ResourceType type : config::kPushOrder) {
    const stats::Labels labels{{"type", std::string(config::typeName(type))}};
    size_t i = static_cast<size_t>(type);
    discovery_updates_[i] = store_->counter(
        "strait_dp_discovery_update_attempts_total", "Responses from strait-cp, per type.", labels);
    discovery_applied_[i] = store_->counter("strait_dp_discovery_update_successes_total",
                                            "Responses applied and ACKed, per type.", labels);
    discovery_rejected_[i] = store_->counter("strait_dp_discovery_update_rejections_total",
                                             "Responses rejected and NACKed, per type.", labels);
    discovery_version_[i] = store_->gauge(
        "strait_dp_discovery_version",
        "The version applied per type, as the number its first 13 hex digits spell (0: none); "
        "the control plane's version_info is the content hash.",
        labels);
    setDiscoveryVersion(type);
  }
  options.on_answered = [this](config::ResourceType type, const std::string& error) {
    onDiscoveryAnswered(type, error);
  };
  options.on_connected = [this](bool up) {
    store_->mainShard().set(discovery_connected_, up ? 1 : 0);
  };
  discovery_ = std::make_unique<discovery::DiscoveryClient>(
      dispatcher_.loop(), std::move(options), discovery_random_,
      [this](const std::vector<config::DiscoveryResponse>& responses) {
        return applyDiscovered(responses);
      },
      [this](config::ResourceType type) { return discovered_.version(type); });
  discovery_->start();
  report_interval_ = cp.report_interval;
  report_timer_ = dispatcher_.createTimer([this]() { sendDiscoveryReport(); });
  report_timer_->enableTimer(report_interval_);
  return true;
}

config::ProxyReport Server::buildDiscoveryReport() {
  config::ProxyReport report;
  auto now = std::chrono::steady_clock::now();
  report.interval_ms = static_cast<uint64_t>(report_interval_.count());
  report.window_ms =
      last_report_at_ == std::chrono::steady_clock::time_point{}
          ? 0
          : static_cast<uint64_t>(
                std::chrono::duration_cast<std::chrono::milliseconds>(now - last_report_at_)
                    .count());
  last_report_at_ = now;
  if (admin_ != nullptr) {
    std::string host = admin_->address();
    report.admin = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
                   std::to_string(admin_->port());
  }
  report.applied = discovery::appliedVersions(static_canonical_, discovered_);
  // The adaptive concurrency limit in force, per cluster: each listener whose
  // adaptive_concurrency filter enforces a limit gives it to the clusters its routes name (the
  // lowest where several listeners route to one cluster).
  std::unordered_map<std::string, config::ConcurrencyReport> concurrency;
  for (const auto& runtime : snapshot_->listeners) {
    const config::Listener& listener = runtime->config;
    std::shared_ptr<filters::ConcurrencySignal> signal =
        filters::concurrencySignalFor(listener.name);
    if (signal->limit() == 0) {
      continue;
    }
    auto give = [&](const std::string& cluster_name) {
      auto [it, fresh] = concurrency.try_emplace(cluster_name);
      if (fresh || signal->limit() < it->second.limit) {
        it->second.limit = signal->limit();
        it->second.floor = signal->floor();
      }
    };
    for (const config::VirtualHost& vhost : listener.virtual_hosts) {
      for (const config::Route& route : vhost.routes) {
        if (!route.route.has_value()) {
          continue;
        }
        if (!route.route->cluster.empty()) {
          give(route.route->cluster);
        }
        for (const config::WeightedCluster& w : route.route->weighted_clusters) {
          give(w.cluster);
        }
      }
    }
  }
  std::unordered_map<std::string, std::pair<uint64_t, uint64_t>> counts;
  std::vector<std::string> names;
  for (const auto& [name, entry] : snapshot_->clusters) {
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    const upstream::ClusterSnapshot& entry = snapshot_->clusters.at(name);
    config::ClusterReport cluster;
    cluster.name = name;
    for (const auto& h : entry.hosts->hosts()) {
      config::EndpointReport endpoint;
      const std::string& address = h->address();
      endpoint.address = (address.find(':') != std::string::npos ? "[" + address + "]" : address) +
                         ":" + std::to_string(h->port());
      const config::Locality& locality = h->locality();
      endpoint.locality = locality.region.empty() && locality.zone.empty()
                              ? ""
                              : locality.region + "/" + locality.zone;
      endpoint.healthy = h->healthy();
      endpoint.ejected = h->ejected();
      // A host is shared by the snapshots that keep it, so its counts run on over reloads.
      std::string key = name + "\n" + endpoint.address;
      std::pair<uint64_t, uint64_t> total{h->requestsTotal(), h->requestErrors()};
      auto before = reported_counts_.find(key);
      if (before != reported_counts_.end() && before->second.first <= total.first &&
          before->second.second <= total.second) {
        endpoint.requests = total.first - before->second.first;
        endpoint.errors = total.second - before->second.second;
      } else if (before == reported_counts_.end() && report.window_ms != 0) {
        endpoint.requests = total.first;  // new since the last report
        endpoint.errors = total.second;
      }
      counts[key] = total;
      cluster.endpoints.push_back(std::move(endpoint));
    }
    for (const upstream::HostSet::LocalityHosts& group : entry.hosts->localities()) {
      uint64_t weight = 0;
      for (const auto& h : group.hosts) {
        weight += h->available() ? h->weight() : 0;
      }
      const config::Locality& locality = group.locality;
      cluster.locality_weights.push_back(
          {locality.region.empty() && locality.zone.empty() ? ""
                                                            : locality.region + "/" + locality.zone,
           weight});
    }
    upstream::ResourceManager& breakers = *entry.info->resources;
    for (auto [limit, label] :
         {std::pair<upstream::ResourceLimit*, const char*>{&breakers.connections(),
                                                           "max_connections"},
          {&breakers.pending(), "max_pending_requests"},
          {&breakers.requests(), "max_requests"},
          {&breakers.retries(), "max_retries"}}) {
      if (limit->open()) {
        cluster.breakers_open.push_back(label);
      }
    }
    if (auto it = concurrency.find(name); it != concurrency.end()) {
      cluster.concurrency = it->second;
    }
    report.clusters.push_back(std::move(cluster));
  }
  reported_counts_ = std::move(counts);
  return report;
}

void Server::sendDiscoveryReport() {
  if (discovery_ != nullptr && !stopping_) {
    // Built even while the stream is down, so that the next window starts now.
    config::ProxyReport report = buildDiscoveryReport();
    discovery_->sendReport(config::serialize(report));
  }
  if (report_timer_ != nullptr && !stopping_) {
    report_timer_->enableTimer(report_interval_);
  }
}

std::vector<std::string> Server::applyDiscovered(
    const std::vector<config::DiscoveryResponse>& responses) {
  std::vector<std::string> errors(responses.size());
  std::string error = applyDiscoveredSet(responses);
  if (error.empty() || responses.size() == 1) {
    errors.assign(responses.size(), error);
    return errors;
  }
  // Greedy, in push order: a response that does not apply alone (a cluster before its
  // endpoints) waits and is tried again with the next one; a bad one stays behind alone while
  // the ones after it that do not need it apply.
  std::vector<size_t> waiting;
  for (size_t i = 0; i < responses.size(); i++) {
    std::vector<config::DiscoveryResponse> set;
    for (size_t w : waiting) {
      set.push_back(responses[w]);
    }
    set.push_back(responses[i]);
    error = applyDiscoveredSet(set);
    if (error.empty()) {
      waiting.clear();
    } else if (applyDiscoveredSet({responses[i]}).empty()) {
      continue;  // it applies alone: the waiting ones stay waiting
    } else {
      waiting.push_back(i);
    }
  }
  // What the later ones brought may have made a waiting one apply alone now.
  for (size_t w : waiting) {
    errors[w] = applyDiscoveredSet({responses[w]});
  }
  return errors;
}

void Server::setDiscoveryVersion(config::ResourceType type) {
  // 13 hex digits are 52 bits: exact in a Prometheus sample (a double).
  const std::string& version = discovered_.version(type);
  int64_t value = 0;
  for (size_t i = 0; i < version.size() && i < 13; i++) {
    char c = version[i];
    int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (digit < 0) {
      value = 0;
      break;
    }
    value = value * 16 + digit;
  }
  store_->mainShard().set(discovery_version_[static_cast<size_t>(type)], value);
}

void Server::onDiscoveryAnswered(config::ResourceType type, const std::string& error) {
  stats::Shard& main = store_->mainShard();
  size_t i = static_cast<size_t>(type);
  main.inc(discovery_updates_[i]);
  if (error.empty()) {
    main.inc(discovery_applied_[i]);
    setDiscoveryVersion(type);
    return;
  }
  main.inc(discovery_rejected_[i]);
  STRAIT_LOG(Error, "discovery: %s update rejected (the config in force keeps serving): %s",
             std::string(config::typeName(type)).c_str(), error.c_str());
}

std::string Server::applyDiscoveredSet(const std::vector<config::DiscoveryResponse>& responses) {
  if (draining_) {
    return "the proxy is draining";
  }
  discovery::ResourceSets candidate = discovered_;
  for (const auto& response : responses) {
    candidate = candidate.with(response);
  }
  auto started = std::chrono::steady_clock::now();
  discovery::Assembled assembled = assembleDiscovered(static_canonical_, candidate);
  if (!assembled.loaded.ok()) {
    return assembled.error;
  }
  STRAIT_LOG(Info, "discovery: assembled and validated in %.1f ms",
             std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
                 .count());
  std::string error;
  if (!publish(withSourcePath(assembled.loaded.bootstrap),
               {ConfigSource::ControlPlane, versionsText(candidate, responses)}, error)) {
    return error;
  }
  discovered_ = std::move(candidate);
  config_ready_ = true;
  persistDiscovered();
  discovery::pruneSecretFiles(discovered_, secrets_dir_);
  // The applied versions changed: strait-cp hears of them with the next report (DRIFTED shows
  // a local override), which comes right after this update's ACK.
  if (report_timer_ != nullptr) {
    report_timer_->enableTimer(std::chrono::milliseconds(0));
  }
  return "";
}

}  // namespace strait::server
