#pragma once

// The routing table of one listener: virtual hosts by domain, then routes in order. Built once
// per config snapshot on the main thread, read by every worker (immutable, so thread-safe).

#include <memory>
#include <string>
#include <string_view>

#include "config/types.h"
#include "strait/http/header_map.h"

namespace strait::router {

// One matched route, with what is needed to act on it.
class RouteEntry {
 public:
  virtual ~RouteEntry() = default;
  virtual const config::Route& route() const = 0;
  virtual const config::VirtualHost& virtualHost() const = 0;
  // The cluster for this request: the route's cluster, or one of its weighted clusters chosen
  // by `random` (any uniformly distributed 64-bit value) in proportion to the weights.
  virtual const std::string& pickCluster(uint64_t random) const = 0;
  // For a redirect route: the Location header value for this request.
  virtual std::string redirectLocation(const http::RequestHeaders& request) const = 0;
  // For a route with prefix_rewrite: the rewritten path (query kept).
  virtual std::string rewritePath(std::string_view path) const = 0;
};

class RouteTable {
 public:
  virtual ~RouteTable() = default;
  // Virtual host by the request's authority (port stripped, case-insensitive): exact domain,
  // then the longest matching "*.suffix", then "*". Then the first route whose path (path and
  // prefix match the path without its query; regex matches it fully) and header matchers all
  // match. nullptr: no route (404).
  virtual const RouteEntry* route(const http::RequestHeaders& request) const = 0;
};

using RouteTablePtr = std::unique_ptr<RouteTable>;

// References into `listener` are kept: the config must outlive the table. Returns nullptr and
// fills `error` if a regex does not compile (RE2 syntax).
RouteTablePtr createRouteTable(const config::Listener& listener, std::string* error);

}  // namespace strait::router
