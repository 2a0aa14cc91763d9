#include "proxy/upstream/dns_resolver.h"

#include <netdb.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "strait/common/log.h"

namespace strait::upstream {

namespace {

size_t addressLength(const sockaddr_storage& a) {
  return a.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
}

int compareAddresses(const sockaddr_storage& a, const sockaddr_storage& b) {
  if (a.ss_family != b.ss_family) {
    return a.ss_family < b.ss_family ? -1 : 1;
  }
  return std::memcmp(&a, &b, addressLength(a));
}

}  // namespace

void normalizeAddresses(AddressList& addresses) {
  std::sort(addresses.begin(), addresses.end(),
            [](const auto& a, const auto& b) { return compareAddresses(a, b) < 0; });
  addresses.erase(std::unique(addresses.begin(), addresses.end(),
                              [](const auto& a, const auto& b) {
                                return compareAddresses(a, b) == 0;
                              }),
                  addresses.end());
}

bool sameAddresses(const AddressList& a, const AddressList& b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); i++) {
    if (compareAddresses(a[i], b[i]) != 0) {
      return false;
    }
  }
  return true;
}

AddressList addressesFromAddrinfo(const addrinfo* result, uint16_t port) {
  AddressList v4;
  AddressList v6;
  for (const addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
    sockaddr_storage addr{};
    if (ai->ai_family == AF_INET && ai->ai_addrlen >= sizeof(sockaddr_in)) {
      std::memcpy(&addr, ai->ai_addr, sizeof(sockaddr_in));
      reinterpret_cast<sockaddr_in*>(&addr)->sin_port = htons(port);
      v4.push_back(addr);
    } else if (ai->ai_family == AF_INET6 && ai->ai_addrlen >= sizeof(sockaddr_in6)) {
      std::memcpy(&addr, ai->ai_addr, sizeof(sockaddr_in6));
      reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port = htons(port);
      v6.push_back(addr);
    }
  }
  AddressList out = v4.empty() ? std::move(v6) : std::move(v4);
  normalizeAddresses(out);
  return out;
}

bool resolveBlocking(const std::string& name, uint16_t port, AddressList& out,
                     std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  int rc = getaddrinfo(name.c_str(), nullptr, &hints, &result);
  if (rc != 0 || result == nullptr) {
    error = "cannot resolve " + name + ": " + gai_strerror(rc);
    return false;
  }
  out = addressesFromAddrinfo(result, port);
  freeaddrinfo(result);
  if (out.empty()) {
    error = "cannot resolve " + name + ": no IPv4 or IPv6 address";
    return false;
  }
  return true;
}

struct DnsResolver::Request {
  uv_getaddrinfo_t req;
  DnsResolver* owner;  // null once the resolver is gone: the callback only frees the request
};

DnsResolver::DnsResolver(event::DispatcherImpl& dispatcher, std::string cluster,
                         const config::DnsDiscovery& dns, AddressList known, stats::Store& store,
                         DnsChangeCb on_change, DnsLookup lookup)
    : dispatcher_(dispatcher),
      cluster_(std::move(cluster)),
      dns_(dns),
      known_(std::move(known)),
      store_(store),
      on_change_(std::move(on_change)),
      lookup_(std::move(lookup)) {
  const stats::Labels labels{{"cluster", cluster_}};
  failures_ = store.counter("strait_dp_dns_resolution_failures_total",
                            "DNS refreshes that failed (the last good addresses kept serving).",
                            labels);
  resolutions_ = store.counter("strait_dp_dns_resolutions_total", "DNS refreshes started.",
                               labels);
  normalizeAddresses(known_);
  refresh_timer_ = dispatcher_.createTimer([this]() { startLookup(); });
  refresh_timer_->enableTimer(dns_.refresh);
}

DnsResolver::~DnsResolver() {
  *alive_ = false;
  if (in_flight_ != nullptr) {
    in_flight_->owner = nullptr;
    uv_cancel(reinterpret_cast<uv_req_t*>(&in_flight_->req));
  }
}

void DnsResolver::startLookup() {
  store_.mainShard().inc(resolutions_);
  if (lookup_) {
    lookup_(dns_.name, dns_.port, [this, alive = alive_](int status, AddressList addresses) {
      if (*alive) {
        onLookup(status, std::move(addresses));
      }
    });
    return;
  }
  auto* request = new Request{};
  request->owner = this;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int rc = uv_getaddrinfo(
      dispatcher_.loop(), &request->req,
      [](uv_getaddrinfo_t* req, int status, addrinfo* result) {
        auto* request = reinterpret_cast<Request*>(req);  // req is the first member
        if (request->owner != nullptr) {
          request->owner->in_flight_ = nullptr;
          request->owner->onLookup(
              status, status == 0 ? addressesFromAddrinfo(result, request->owner->dns_.port)
                                  : AddressList());
        }
        uv_freeaddrinfo(result);
        delete request;
      },
      dns_.name.c_str(), nullptr, &hints);
  if (rc != 0) {
    delete request;
    onLookup(rc, AddressList());
    return;
  }
  in_flight_ = request;
}

void DnsResolver::onLookup(int status, AddressList addresses) {
  normalizeAddresses(addresses);
  if (status != 0 || addresses.empty()) {
    store_.mainShard().inc(failures_);
    STRAIT_LOG(Warn, "cluster %s: cannot resolve %s: %s; keeping %zu last good addresses",
               cluster_.c_str(), dns_.name.c_str(),
               status != 0 ? uv_strerror(status) : "no address", known_.size());
  } else if (!sameAddresses(addresses, known_)) {
    STRAIT_LOG(Info, "cluster %s: %s now resolves to %zu addresses (was %zu)", cluster_.c_str(),
               dns_.name.c_str(), addresses.size(), known_.size());
    known_ = addresses;
    // May rebuild the snapshot and so replace this resolver's cluster, never this resolver.
    on_change_(cluster_, std::move(addresses));
  }
  refresh_timer_->enableTimer(dns_.refresh);
}

}  // namespace strait::upstream
