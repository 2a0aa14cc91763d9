#include "control/divergence.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

namespace strait::cp {

namespace {

using config::ResourceType;

std::string endpointAddress(const std::string& address, uint64_t port) {
  bool v6 = address.find(':') != std::string::npos;
  return (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

std::string localityOf(const nlohmann::json& endpoint) {
  const nlohmann::json locality = endpoint.value("locality", nlohmann::json::object());
  if (!locality.is_object()) {
    return "";
  }
  std::string region = locality.value("region", "");
  std::string zone = locality.value("zone", "");
  return region.empty() && zone.empty() ? "" : region + "/" + zone;
}

// The cluster's endpoints in `snapshot` as its endpoints resource lists them; null if none.
const config::Resource* endpointsOf(const GroupSnapshot& snapshot, const std::string& cluster) {
  const std::vector<config::Resource>& list = snapshot.of(ResourceType::Endpoints);
  auto it = std::lower_bound(list.begin(), list.end(), cluster,
                             [](const config::Resource& r, const std::string& name) {
                               return r.name < name;
                             });
  return it != list.end() && it->name == cluster ? &*it : nullptr;
}

using IntendedEndpoint = DivergenceDetector::IntendedEndpoint;

DivergenceDetector::IntendedEndpoints parseEndpoints(const GroupSnapshot& snapshot,
                                                     const std::string& cluster) {
  DivergenceDetector::IntendedEndpoints out;
  const config::Resource* resource = endpointsOf(snapshot, cluster);
  if (resource == nullptr) {
    return out;
  }
  nlohmann::json body = nlohmann::json::parse(resource->body, nullptr, false);
  if (!body.is_object() || !body.contains("endpoints") || !body["endpoints"].is_array()) {
    return out;
  }
  for (const nlohmann::json& endpoint : body["endpoints"]) {
    if (!endpoint.is_object() || !endpoint.contains("address") || !endpoint["address"].is_string()) {
      continue;
    }
    uint64_t port = endpoint.value("port", uint64_t{0});
    uint64_t weight = endpoint.contains("weight") && endpoint["weight"].is_number_unsigned()
                          ? endpoint["weight"].get<uint64_t>()
                          : 1;
    out[endpointAddress(endpoint["address"].get<std::string>(), port)] =
        IntendedEndpoint{localityOf(endpoint), weight == 0 ? 1 : weight};
  }
  return out;
}

std::string percent(double fraction) {
  char text[16];
  std::snprintf(text, sizeof(text), "%.0f%%", fraction * 100);
  return text;
}

std::string shareText(const std::map<std::string, double>& share) {
  std::string out;
  for (const auto& [locality, fraction] : share) {
    out += (out.empty() ? "" : " ") + (locality.empty() ? std::string("(none)") : locality) + "=" +
           percent(fraction);
  }
  return out.empty() ? "none" : out;
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) {
    out += (out.empty() ? "" : ", ") + name;
  }
  return out;
}

std::map<std::string, double> observedShare(const config::ClusterReport& cluster,
                                            uint64_t& total) {
  std::map<std::string, double> share;
  total = 0;
  for (const config::EndpointReport& endpoint : cluster.endpoints) {
    total += endpoint.requests;
    share[endpoint.locality] += static_cast<double>(endpoint.requests);
  }
  for (auto& [locality, value] : share) {
    value = total == 0 ? 0 : value / static_cast<double>(total);
  }
  return share;
}

std::map<std::string, double> shareOf(const DivergenceDetector::IntendedEndpoints& endpoints) {
  std::map<std::string, double> share;
  double total = 0;
  for (const auto& [address, endpoint] : endpoints) {
    share[endpoint.locality] += static_cast<double>(endpoint.weight);
    total += static_cast<double>(endpoint.weight);
  }
  for (auto& [locality, value] : share) {
    value /= total;
  }
  return share;
}

}  // namespace

std::map<std::string, double> intendedShare(const GroupSnapshot& snapshot,
                                            const std::string& cluster) {
  return shareOf(parseEndpoints(snapshot, cluster));
}

double shareDistance(const std::map<std::string, double>& a,
                     const std::map<std::string, double>& b) {
  std::set<std::string> localities;
  for (const auto& [locality, value] : a) {
    localities.insert(locality);
  }
  for (const auto& [locality, value] : b) {
    localities.insert(locality);
  }
  double distance = 0;
  for (const std::string& locality : localities) {
    auto x = a.find(locality);
    auto y = b.find(locality);
    distance += std::fabs((x == a.end() ? 0 : x->second) - (y == b.end() ? 0 : y->second));
  }
  return distance;
}

void DivergenceDetector::onReport(const std::string& node, const std::string& group,
                                  config::ProxyReport report, SteadyTime now,
                                  const IntendedFn& intended) {
  const GroupSnapshot* snapshot = intended(group, node);
  std::set<std::string> reported;
  for (const config::ClusterReport& cluster : report.clusters) {
    std::string key = node + "\n" + cluster.name;
    reported.insert(key);
    std::map<std::string, double> want;
    if (snapshot != nullptr) {
      want = shareOf(intendedEndpoints(*snapshot, cluster.name));
    }
    uint64_t total = 0;
    std::map<std::string, double> got = observedShare(cluster, total);
    if (want.empty()) {
      share_over_since_.erase(key);
      share_distance_.erase(key);
      continue;
    }
    if (total < options_.share_min_requests) {
      continue;  // too few requests to tell: neither confirms nor clears
    }
    double distance = shareDistance(want, got);
    share_distance_[key] = distance;
    if (distance > options_.share_l1_threshold) {
      share_over_since_.emplace(key, now);
    } else {
      share_over_since_.erase(key);
    }
  }
  // Clusters the node no longer reports.
  for (auto it = share_over_since_.begin(); it != share_over_since_.end();) {
    bool mine = it->first.compare(0, node.size() + 1, node + "\n") == 0;
    it = mine && reported.count(it->first) == 0 ? share_over_since_.erase(it) : std::next(it);
  }
  uint64_t count = reports_.count(node) != 0 ? reports_[node].count : 0;
  reports_[node] = Entry{group, std::move(report), now, count + 1};
}

void DivergenceDetector::onDisconnect(const std::string& node) {
  reports_.erase(node);
  for (auto it = share_over_since_.begin(); it != share_over_since_.end();) {
    it = it->first.compare(0, node.size() + 1, node + "\n") == 0 ? share_over_since_.erase(it)
                                                                  : std::next(it);
  }
}

const DivergenceDetector::IntendedEndpoints& DivergenceDetector::intendedEndpoints(
    const GroupSnapshot& snapshot, const std::string& cluster) {
  std::string key = snapshot.version(ResourceType::Endpoints) + "\n" + cluster;
  auto it = endpoints_cache_.find(key);
  if (it != endpoints_cache_.end()) {
    return it->second;
  }
  if (endpoints_cache_.size() >= 100000) {
    endpoints_cache_.clear();  // old versions' entries: start again
  }
  return endpoints_cache_.emplace(key, parseEndpoints(snapshot, cluster)).first->second;
}

const DivergenceDetector::Entry* DivergenceDetector::report(const std::string& node) const {
  auto it = reports_.find(node);
  return it == reports_.end() ? nullptr : &it->second;
}

bool DivergenceDetector::fresh(const Entry& entry, SteadyTime now) const {
  if (entry.report.interval_ms == 0) {
    return true;
  }
  auto limit = std::chrono::milliseconds(entry.report.interval_ms * options_.stale_intervals);
  return now - entry.at <= limit;
}

std::vector<Finding> DivergenceDetector::findings(SteadyTime now, const IntendedFn& intended) {
  std::vector<Finding> out;
  // Gray failures and concurrency floors, per group and cluster over the fresh reports.
  struct Tally {
    size_t reporting = 0;
    std::vector<std::string> ejecting;
  };
  std::map<std::string, std::map<std::string, std::map<std::string, Tally>>> endpoints;
  struct Limit {
    std::string node;
    config::ConcurrencyReport concurrency;
  };
  std::map<std::string, std::map<std::string, std::vector<Limit>>> limits;
  for (const auto& [node, entry] : reports_) {
    if (!fresh(entry, now)) {
      continue;
    }
    const GroupSnapshot* snapshot = intended(entry.group, node);
    for (const config::ClusterReport& cluster : entry.report.clusters) {
      if (cluster.concurrency.has_value()) {
        limits[entry.group][cluster.name].push_back(Limit{node, *cluster.concurrency});
      }
      if (snapshot == nullptr) {
        continue;
      }
      const IntendedEndpoints& listed = intendedEndpoints(*snapshot, cluster.name);
      for (const config::EndpointReport& endpoint : cluster.endpoints) {
        if (listed.count(endpoint.address) == 0) {
          continue;  // not one the source lists (resolved from a name, or not intended)
        }
        Tally& tally = endpoints[entry.group][cluster.name][endpoint.address];
        tally.reporting++;
        if (endpoint.ejected || !endpoint.healthy) {
          tally.ejecting.push_back(node);
        }
      }
    }
  }
  for (const auto& [group, clusters] : endpoints) {
    for (const auto& [cluster, addresses] : clusters) {
      for (const auto& [address, tally] : addresses) {
        if (tally.ejecting.empty() || tally.ejecting.size() * 2 <= tally.reporting) {
          continue;
        }
        Finding f;
        f.kind = "ejected_intended_healthy";
        f.group = group;
        f.cluster = cluster;
        f.subject = address;
        f.nodes = tally.ejecting;
        f.value = static_cast<double>(tally.ejecting.size()) / static_cast<double>(tally.reporting);
        f.detail = "endpoint " + address + " of cluster " + cluster + " is listed healthy in the " +
                   "source but ejected or unhealthy on " + std::to_string(tally.ejecting.size()) +
                   " of " + std::to_string(tally.reporting) + " proxies (" + joined(f.nodes) + ")";
        out.push_back(std::move(f));
      }
    }
  }
  for (const auto& [group, clusters] : limits) {
    for (const auto& [cluster, list] : clusters) {
      bool someone_above = false;
      for (const Limit& l : list) {
        someone_above = someone_above || l.concurrency.limit > l.concurrency.floor;
      }
      if (!someone_above) {
        continue;  // every proxy at its floor: the upstream is slow for all, not one proxy
      }
      for (const Limit& l : list) {
        if (l.concurrency.limit > l.concurrency.floor) {
          continue;
        }
        Finding f;
        f.kind = "concurrency_at_floor";
        f.group = group;
        f.cluster = cluster;
        f.subject = l.node;
        f.nodes = {l.node};
        f.value = static_cast<double>(l.concurrency.limit);
        f.detail = "proxy " + l.node + " holds cluster " + cluster + " at its concurrency floor (" +
                   std::to_string(l.concurrency.limit) + ") while other proxies of group " + group +
                   " are above theirs";
        out.push_back(std::move(f));
      }
    }
  }
  for (const auto& [key, since] : share_over_since_) {
    std::string node = key.substr(0, key.find('\n'));
    std::string cluster = key.substr(key.find('\n') + 1);
    auto entry = reports_.find(node);
    if (entry == reports_.end() || !fresh(entry->second, now) ||
        now - since < options_.share_hold) {
      continue;
    }
    const GroupSnapshot* snapshot = intended(entry->second.group, node);
    Finding f;
    f.kind = "locality_share";
    f.group = entry->second.group;
    f.cluster = cluster;
    f.subject = node;
    f.nodes = {node};
    f.value = share_distance_[key];
    f.since = since;
    std::map<std::string, double> got;
    for (const config::ClusterReport& c : entry->second.report.clusters) {
      if (c.name == cluster) {
        uint64_t total = 0;
        got = observedShare(c, total);
      }
    }
    char distance[16];
    std::snprintf(distance, sizeof(distance), "%.2f", f.value);
    f.detail = "proxy " + node + " sends cluster " + cluster + " traffic by locality " +
               shareText(got) + ", intended " +
               shareText(snapshot != nullptr ? intendedShare(*snapshot, cluster)
                                             : std::map<std::string, double>{}) +
               " (L1 distance " + distance + ")";
    out.push_back(std::move(f));
  }
  // When each was first seen; forget the ones that cleared.
  std::map<std::string, SteadyTime> seen;
  for (Finding& f : out) {
    std::sort(f.nodes.begin(), f.nodes.end());
    std::string key = f.kind + "\n" + f.group + "\n" + f.cluster + "\n" + f.subject;
    auto it = first_seen_.find(key);
    SteadyTime since = it != first_seen_.end() ? it->second : now;
    if (f.kind == "locality_share") {
      since = f.since;
    }
    f.since = since;
    seen[key] = since;
  }
  first_seen_ = std::move(seen);
  std::sort(out.begin(), out.end(), [](const Finding& a, const Finding& b) {
    return std::tie(a.kind, a.group, a.cluster, a.subject) <
           std::tie(b.kind, b.group, b.cluster, b.subject);
  });
  return out;
}

}  // namespace strait::cp
