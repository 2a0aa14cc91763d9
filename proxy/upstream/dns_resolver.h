#pragma once

// Periodic re-resolution of a DNS cluster's name (issue 3). Runs on the main loop with
// uv_getaddrinfo (the lookup itself runs on libuv's thread pool) every `refresh`; when the
// sorted, de-duplicated address set differs from the one the cluster was built with, it calls
// `on_change` so that the server publishes a snapshot with the new hosts. A failed lookup keeps
// the last good addresses and is counted in strait_dp_dns_resolution_failures_total{cluster}.
//
// Address family: IPv4 preferred. If the name has any IPv4 address only those are used, else its
// IPv6 ones ("localhost" then means 127.0.0.1, where test upstreams and most sidecar apps listen).
//
// Scope: one per DNS cluster, main thread only.

#include <uv.h>

#include <sys/socket.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/types.h"
#include "proxy/event/dispatcher_impl.h"
#include "strait/stats/stats.h"

namespace strait::upstream {

using AddressList = std::vector<sockaddr_storage>;
using DnsChangeCb = std::function<void(const std::string& cluster, AddressList addresses)>;
// An asynchronous lookup: resolves `name` and calls `done(status, addresses)` later on the same
// loop (status 0, or a libuv error code). The default runs uv_getaddrinfo; tests script one.
using DnsLookupDone = std::function<void(int status, AddressList addresses)>;
using DnsLookup = std::function<void(const std::string& name, uint16_t port, DnsLookupDone done)>;

// Sorts and de-duplicates `addresses` (so that two lists compare with ==) .
void normalizeAddresses(AddressList& addresses);
bool sameAddresses(const AddressList& a, const AddressList& b);
// From getaddrinfo results: IPv4 preferred (see above), `port` set, normalized.
AddressList addressesFromAddrinfo(const addrinfo* result, uint16_t port);
// Blocking lookup for startup and reload (the existing createClusterInfo path).
bool resolveBlocking(const std::string& name, uint16_t port, AddressList& out, std::string& error);

class DnsResolver {
 public:
  DnsResolver(event::DispatcherImpl& dispatcher, std::string cluster,
              const config::DnsDiscovery& dns, AddressList known, stats::Store& store,
              DnsChangeCb on_change, DnsLookup lookup = nullptr);
  ~DnsResolver();

  const config::DnsDiscovery& config() const { return dns_; }
  // The addresses the cluster in force was built with (after a reload rebuilt it).
  void setKnown(AddressList known) { known_ = std::move(known); }

 private:
  struct Request;  // a lookup in flight; outlives this object if destroyed mid-lookup
  void startLookup();
  void onLookup(int status, AddressList addresses);

  event::DispatcherImpl& dispatcher_;
  const std::string cluster_;
  const config::DnsDiscovery dns_;
  AddressList known_;
  stats::Store& store_;
  DnsChangeCb on_change_;
  stats::Counter failures_;
  stats::Counter resolutions_;
  event::TimerPtr refresh_timer_;
  Request* in_flight_ = nullptr;
  DnsLookup lookup_;
  // Shared with a scripted lookup's callback, which may outlive this object.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

using DnsResolverPtr = std::unique_ptr<DnsResolver>;

}  // namespace strait::upstream
