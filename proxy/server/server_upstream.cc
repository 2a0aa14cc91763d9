// The main thread's upstream watchers, kept in step with the snapshot in force: health checkers,
// DNS resolvers, outlier-detection timers; and the process-wide resilience gauges at scrape time.

#include <netinet/in.h>

#include <cstring>

#include "proxy/server/server.h"
#include "strait/common/log.h"

namespace strait::server {

// The detectors and resource managers keep process-wide atomics; their main-shard slots are
// written by nobody else, so setting them to the current totals before a scrape is exact.
void Server::publishResilienceStats() {
  stats::Shard& main = store_->mainShard();
  for (const auto& [name, cluster] : snapshot_->clusters) {
    const upstream::ClusterInfo& info = *cluster.info;
    upstream::ResourceManager& resources = *info.resources;
    const upstream::ClusterResilienceStats& rs = info.resilience_stats;
    upstream::ResourceLimit* const counted[] = {&resources.connections(), &resources.pending(),
                                                &resources.requests()};
    for (size_t i = 0; i < rs.circuit_open.size(); i++) {
      bool open = i < std::size(counted) ? counted[i]->openSinceLastScrape()
                                         : resources.retryBudgetOpenSinceLastScrape();
      main.set(rs.circuit_open[i], open ? 1 : 0);
    }
    main.set(rs.rq_in_flight, static_cast<int64_t>(resources.requests().active()));
    main.set(rs.rq_pending_active, static_cast<int64_t>(resources.pending().active()));
    main.set(rs.cx_counted, static_cast<int64_t>(resources.connections().active()));
    if (info.outlier == nullptr) {
      continue;
    }
    const upstream::OutlierDetector& outlier = *info.outlier;
    const upstream::OutlierStats& os = info.outlier_stats;
    main.set(os.ejections_active, static_cast<int64_t>(outlier.ejectionsActive()));
    main.setTotal(os.ejections_overflow, outlier.ejectionsOverflow());
    for (size_t k = 0; k < upstream::kOutlierDetectorKinds; k++) {
      auto kind = static_cast<upstream::OutlierDetectorKind>(k);
      main.setTotal(os.ejections_total[k], outlier.ejectionsTotal(kind));
      main.setTotal(os.detected[k], outlier.detected(kind));
    }
  }
}

// One evaluation timer per cluster with outlier_detection, on the main loop, in step with the
// ClusterInfo in force (a rebuilt cluster gets a new detector and so a new timer).
void Server::syncOutlierTimers() {
  for (auto it = outlier_timers_.begin(); it != outlier_timers_.end();) {
    auto info = snapshot_->clusters.find(it->first);
    if (info == snapshot_->clusters.end() || info->second.info != it->second.cluster) {
      it = outlier_timers_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [name, cluster] : snapshot_->clusters) {
    const upstream::ClusterInfoSharedPtr& info = cluster.info;
    if (info->outlier == nullptr || outlier_timers_.count(name) != 0) {
      continue;
    }
    OutlierTimer& entry = outlier_timers_[name];
    entry.cluster = info;
    std::chrono::milliseconds interval = info->config.outlier_detection->interval;
    upstream::OutlierDetector* detector = info->outlier.get();
    // The map's nodes do not move, so the callback may hold a reference to its own timer.
    entry.timer = dispatcher_.createTimer([detector, interval, &timer_ref = entry.timer]() {
      detector->evaluate();
      timer_ref->enableTimer(interval);
    });
    entry.timer->enableTimer(interval);
  }
}

namespace {

const config::Cluster* findClusterConfig(const config::Bootstrap& bootstrap,
                                         const std::string& name) {
  for (const auto& cluster : bootstrap.clusters) {
    if (cluster.name == name) {
      return &cluster;
    }
  }
  return nullptr;
}

upstream::AddressList hostAddresses(const upstream::HostSet& hosts) {
  upstream::AddressList out;
  for (const auto& h : hosts.hosts()) {
    sockaddr_storage addr{};
    const sockaddr* sa = static_cast<const upstream::HostImpl&>(*h).sockAddr();
    std::memcpy(&addr, sa, sa->sa_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6));
    out.push_back(addr);
  }
  return out;
}

}  // namespace

// Called after every snapshot is published (start, reload, DNS refresh): keeps one health checker
// per cluster with a health_check and one resolver per DNS cluster, in step with the clusters in
// force. A checker whose ClusterInfo or settings changed is replaced (the new hosts start from
// their own health flag, so new hosts start healthy); a checker of a cluster whose host set
// changed keeps checking the hosts that stay, with their state, and starts on new ones; a
// checker that goes away leaves its hosts healthy, since nothing else would clear its verdict.
void Server::syncUpstreamWatchers() {
  syncOutlierTimers();
  syncCarbonClusters();
  const auto& bootstrap = *snapshot_->config;
  for (auto it = health_checkers_.begin(); it != health_checkers_.end();) {
    auto info = snapshot_->clusters.find(it->first);
    const config::Cluster* cluster = findClusterConfig(bootstrap, it->first);
    bool keep = info != snapshot_->clusters.end() && cluster != nullptr &&
                cluster->health_check && info->second.info == it->second->cluster() &&
                upstream::sameHealthCheck(*cluster->health_check, it->second->config());
    if (keep) {
      it->second->updateHosts(info->second.hosts);
      ++it;
      continue;
    }
    for (const auto& host : it->second->hosts()->hosts()) {
      host->setHealthy(true);
    }
    it = health_checkers_.erase(it);
  }
  for (const auto& [name, entry] : snapshot_->clusters) {
    const config::Cluster* cluster = findClusterConfig(bootstrap, name);
    if (cluster == nullptr) {
      continue;
    }
    if (cluster->health_check && health_checkers_.count(name) == 0) {
      health_checkers_.emplace(name, std::make_unique<upstream::HealthChecker>(
                                         dispatcher_, random_, entry.info, entry.hosts,
                                         *cluster->health_check,
                                         *store_));
    } else if (!cluster->health_check) {
      store_->mainShard().set(
          store_->gauge("strait_dp_upstream_healthy_hosts",
                        "Hosts the load balancers may pick as healthy (0: panic, all hosts used).",
                        {{"cluster", name}}),
          static_cast<int64_t>(entry.hosts->size()));
    }
    auto resolver = dns_resolvers_.find(name);
    if (!cluster->dns) {
      if (resolver != dns_resolvers_.end()) {
        dns_resolvers_.erase(resolver);
      }
      continue;
    }
    const auto& dns = *cluster->dns;
    if (resolver != dns_resolvers_.end() && resolver->second->config().name == dns.name &&
        resolver->second->config().port == dns.port &&
        resolver->second->config().refresh == dns.refresh) {
      resolver->second->setKnown(hostAddresses(*entry.hosts));
      continue;
    }
    dns_resolvers_[name] = std::make_unique<upstream::DnsResolver>(
        dispatcher_, name, dns, hostAddresses(*entry.hosts), *store_,
        [this](const std::string& cluster_name, upstream::AddressList addresses) {
          onDnsHostsChanged(cluster_name, std::move(addresses));
        });
  }
  for (auto it = dns_resolvers_.begin(); it != dns_resolvers_.end();) {
    it = snapshot_->clusters.count(it->first) == 0 ? dns_resolvers_.erase(it) : std::next(it);
  }
}

// A DNS cluster's addresses changed: publish a snapshot of the same config with that cluster on
// the new addresses (every other cluster, and so its pools, is carried over).
void Server::onDnsHostsChanged(const std::string& cluster, upstream::AddressList addresses) {
  if (stopping_) {
    return;
  }
  DnsOverride dns_override{cluster, std::move(addresses)};
  std::string error;
  std::string detail = "cluster " + cluster + ": " +
                       std::to_string(dns_override.addresses.size()) + " addresses";
  if (!publish(snapshot_->config, {ConfigSource::DnsRefresh, detail}, error, &dns_override)) {
    STRAIT_LOG(Error, "DNS refresh of cluster %s not applied: %s", cluster.c_str(),
               error.c_str());
  }
}

}  // namespace strait::server
