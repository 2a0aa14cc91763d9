#include "proxy/upstream/host_set.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "proxy/network/listener_impl.h"
#include "proxy/upstream/dns_resolver.h"

namespace strait::upstream {

namespace {

bool resolve(const std::string& address, uint16_t port, sockaddr_storage& out,
             std::string& error) {
  if (network::parseIpAddress(address, port, out)) {
    return true;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  int rc = getaddrinfo(address.c_str(), nullptr, &hints, &result);
  if (rc != 0 || result == nullptr) {
    error = "cannot resolve " + address + ": " + gai_strerror(rc);
    return false;
  }
  std::memset(&out, 0, sizeof(out));
  std::memcpy(&out, result->ai_addr, result->ai_addrlen);
  if (out.ss_family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&out)->sin_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in6*>(&out)->sin6_port = htons(port);
  }
  freeaddrinfo(result);
  return true;
}

// The endpoints of a DNS cluster: one per address, named by its IP (the name is in the
// cluster's config).
bool dnsEndpoints(const config::DnsDiscovery& dns, const std::vector<sockaddr_storage>* given,
                  std::vector<std::pair<config::Endpoint, sockaddr_storage>>& out,
                  std::string& error) {
  AddressList resolved;
  if (given == nullptr) {
    if (!resolveBlocking(dns.name, dns.port, resolved, error)) {
      return false;
    }
    given = &resolved;
  }
  for (const auto& addr : *given) {
    char ip[INET6_ADDRSTRLEN] = {0};
    const void* raw = addr.ss_family == AF_INET
                          ? static_cast<const void*>(
                                &reinterpret_cast<const sockaddr_in*>(&addr)->sin_addr)
                          : static_cast<const void*>(
                                &reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_addr);
    if (inet_ntop(addr.ss_family, raw, ip, sizeof(ip)) == nullptr) {
      continue;
    }
    config::Endpoint endpoint;
    endpoint.address = ip;
    endpoint.port = dns.port;
    out.emplace_back(std::move(endpoint), addr);
  }
  return true;
}

bool sameLocality(const config::Locality& a, const config::Locality& b) {
  return a.region == b.region && a.zone == b.zone;
}

// The host of `previous` that serves `endpoint` at `addr`, or null. A host is the same when its
// address, port and locality are (a host that moves locality is a new host).
// `taken`: hosts already reused by this build (an endpoint listed twice gets two hosts).
HostImplSharedPtr findReusable(const HostSet* previous, const config::Endpoint& endpoint,
                               const sockaddr_storage& addr,
                               const std::vector<HostImplSharedPtr>& taken) {
  if (previous == nullptr) {
    return nullptr;
  }
  socklen_t len = addr.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  for (const HostSharedPtr& host : previous->hosts()) {
    auto impl = std::static_pointer_cast<HostImpl>(host);
    if (std::find(taken.begin(), taken.end(), impl) != taken.end()) {
      continue;
    }
    if (impl->address() == endpoint.address && impl->port() == endpoint.port &&
        sameLocality(impl->locality(), endpoint.locality) &&
        impl->sockAddr()->sa_family == addr.ss_family &&
        std::memcmp(impl->sockAddr(), &addr, len) == 0) {
      return impl;
    }
  }
  return nullptr;
}

}  // namespace

HostSet::HostSet(std::vector<HostImplSharedPtr> hosts, std::vector<uint32_t> weights)
    : weights_(std::move(weights)) {
  hosts_.reserve(hosts.size());
  for (size_t i = 0; i < hosts.size(); i++) {
    const config::Locality& locality = hosts[i]->locality();
    LocalityHosts* group = nullptr;
    for (auto& existing : localities_) {
      if (sameLocality(existing.locality, locality)) {
        group = &existing;
      }
    }
    if (group == nullptr) {
      group = &localities_.emplace_back(LocalityHosts{locality, {}, 0});
    }
    group->hosts.push_back(hosts[i]);
    group->total_weight += weights_[i];
    hosts_.push_back(std::move(hosts[i]));
  }
}

bool HostSet::contains(const Host* host) const {
  for (const HostSharedPtr& h : hosts_) {
    if (h.get() == host) {
      return true;
    }
  }
  return false;
}

bool HostSet::sameAs(const HostSet& other) const {
  if (hosts_.size() != other.hosts_.size() || weights_ != other.weights_) {
    return false;
  }
  for (size_t i = 0; i < hosts_.size(); i++) {
    if (hosts_[i] != other.hosts_[i]) {
      return false;
    }
  }
  return true;
}

void HostSet::activate() const {
  for (size_t i = 0; i < hosts_.size(); i++) {
    hosts_[i]->setWeight(weights_[i]);
  }
}

HostSetSharedPtr buildHostSet(const config::Cluster& cluster, const HostSet* previous,
                              const std::vector<sockaddr_storage>* dns_addresses,
                              std::string& error) {
  std::vector<std::pair<config::Endpoint, sockaddr_storage>> endpoints;
  for (const auto& endpoint : cluster.endpoints) {
    sockaddr_storage addr;
    if (!resolve(endpoint.address, endpoint.port, addr, error)) {
      error = "cluster " + cluster.name + ": " + error;
      return nullptr;
    }
    endpoints.emplace_back(endpoint, addr);
  }
  if (cluster.dns && !dnsEndpoints(*cluster.dns, dns_addresses, endpoints, error)) {
    error = "cluster " + cluster.name + ": " + error;
    return nullptr;
  }
  std::vector<HostImplSharedPtr> hosts;
  std::vector<uint32_t> weights;
  for (const auto& [endpoint, addr] : endpoints) {
    HostImplSharedPtr host = findReusable(previous, endpoint, addr, hosts);
    if (host == nullptr) {
      host = std::make_shared<HostImpl>(endpoint, addr);
    }
    hosts.push_back(std::move(host));
    weights.push_back(endpoint.weight == 0 ? 1 : endpoint.weight);
  }
  return std::make_shared<const HostSet>(std::move(hosts), std::move(weights));
}

}  // namespace strait::upstream
