#pragma once

// The compiled routing table: every domain, path and header matcher is prepared when the table
// is built (lower-cased keys, compiled RE2 programs, cumulative cluster weights), so that
// route() neither allocates nor parses anything per request.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <re2/re2.h>

#include "config/types.h"
#include "strait/http/header_map.h"
#include "strait/router/route_table.h"

namespace strait::router {

// Hashing and equality that ignore ASCII case, with heterogeneous lookup so a request's host
// (a string_view into the authority, in whatever case the client sent) needs no lower-cased copy.
struct CaseInsensitiveHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const;
};

struct CaseInsensitiveEqual {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const;
};

// The host part of an authority: the port is stripped, and an IPv6 literal keeps its brackets
// ("[::1]:8080" -> "[::1]"). A bare IPv6 address without brackets is returned whole.
std::string_view hostOfAuthority(std::string_view authority);
// The port of an authority, or an empty view.
std::string_view portOfAuthority(std::string_view authority);

// One header matcher of a route, with the header it reads resolved at build time.
class HeaderMatcherImpl {
 public:
  explicit HeaderMatcherImpl(const config::HeaderMatcher& config);
  // False (with `error` filled) when a regex does not compile.
  bool init(const std::string& path, std::string* error);
  bool matches(const http::RequestHeaders& request) const;

 private:
  // Where the value comes from: pseudo-headers and Host live outside the header map.
  enum class Source { Header, Authority, Method, Path, Scheme };

  const std::string* lookup(const http::RequestHeaders& request) const;
  bool matchValue(std::string_view value) const;

  const config::HeaderMatcher& config_;
  Source source_ = Source::Header;
  std::unique_ptr<re2::RE2> regex_;
};

// One route of a virtual host, compiled.
class RouteEntryImpl : public RouteEntry {
 public:
  RouteEntryImpl(const config::Route& route, const config::VirtualHost& virtual_host);
  // False (with `error` filled, prefixed by `path`) when a regex does not compile.
  bool init(const std::string& path, std::string* error);
  bool matches(const http::RequestHeaders& request, std::string_view path_only) const;

  // RouteEntry
  const config::Route& route() const override { return route_; }
  const config::VirtualHost& virtualHost() const override { return virtual_host_; }
  const std::string& pickCluster(uint64_t random) const override;
  std::string redirectLocation(const http::RequestHeaders& request) const override;
  std::string rewritePath(std::string_view path) const override;

 private:
  bool pathMatches(std::string_view path_only) const;
  // `path_only` with the route's matched part replaced by `replacement`: the prefix for a prefix
  // route, the whole path for path and regex routes (their match covers all of it).
  void appendRewritten(std::string_view path_only, std::string_view replacement,
                       std::string* out) const;

  const config::Route& route_;
  const config::VirtualHost& virtual_host_;
  std::unique_ptr<re2::RE2> path_regex_;
  std::vector<HeaderMatcherImpl> headers_;
  // Running sums of weighted_clusters' weights; pickCluster() finds the first sum above
  // random % total.
  std::vector<uint64_t> cumulative_weights_;
};

// The routes of one virtual host, in config order.
struct VirtualHostImpl {
  const config::VirtualHost* config = nullptr;
  std::vector<RouteEntryImpl> routes;
};

class RouteTableImpl : public RouteTable {
 public:
  explicit RouteTableImpl(const config::Listener& listener);
  bool init(std::string* error);

  // RouteTable
  const RouteEntry* route(const http::RequestHeaders& request) const override;

  const VirtualHostImpl* findVirtualHost(std::string_view authority) const;

 private:
  // A wildcard that is not of the form "*.suffix" (e.g. "*-api.example.com"), matched by a scan.
  struct SuffixWildcard {
    std::string suffix;  // without the "*"
    const VirtualHostImpl* virtual_host;
  };

  const config::Listener& listener_;
  std::vector<VirtualHostImpl> virtual_hosts_;
  std::unordered_map<std::string, const VirtualHostImpl*, CaseInsensitiveHash, CaseInsensitiveEqual>
      exact_;
  // "*.example.com" is stored as ".example.com": a host is tried against each of its own
  // suffixes that start at a dot, longest first, so the first hit is the longest wildcard.
  std::unordered_map<std::string, const VirtualHostImpl*, CaseInsensitiveHash, CaseInsensitiveEqual>
      dot_wildcards_;
  std::vector<SuffixWildcard> other_wildcards_;  // longest suffix first
  const VirtualHostImpl* catch_all_ = nullptr;
};

}  // namespace strait::router
