#include "proxy/router/route_table_impl.h"

#include <algorithm>
#include <utility>

namespace strait::router {
namespace {

char lowerAscii(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (lowerAscii(a[i]) != lowerAscii(b[i])) {
      return false;
    }
  }
  return true;
}

bool startsWith(std::string_view s, std::string_view prefix, bool case_sensitive) {
  if (s.size() < prefix.size()) {
    return false;
  }
  std::string_view head = s.substr(0, prefix.size());
  return case_sensitive ? head == prefix : equalsIgnoreCase(head, prefix);
}

bool endsWithIgnoreCase(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && equalsIgnoreCase(s.substr(s.size() - suffix.size()), suffix);
}

std::string toLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = lowerAscii(c);
  }
  return out;
}

// The request-target without its query string; fragments never reach a server.
std::string_view pathWithoutQuery(std::string_view path) {
  size_t q = path.find('?');
  return q == std::string_view::npos ? path : path.substr(0, q);
}

bool isDefaultPort(std::string_view scheme, std::string_view port) {
  return (port == "80" && equalsIgnoreCase(scheme, "http")) ||
         (port == "443" && equalsIgnoreCase(scheme, "https"));
}

// RE2 logs parse errors to stderr unless told to be quiet; the error is reported to the caller.
std::unique_ptr<re2::RE2> compileRegex(const std::string& pattern, bool case_sensitive,
                                       const std::string& where, std::string* error) {
  re2::RE2::Options options(re2::RE2::Quiet);
  options.set_case_sensitive(case_sensitive);
  auto regex = std::make_unique<re2::RE2>(pattern, options);
  if (!regex->ok()) {
    if (error != nullptr) {
      *error = where + ": invalid regex '" + pattern + "': " + regex->error() +
               " (RE2 syntax: https://github.com/google/re2/wiki/Syntax)";
    }
    return nullptr;
  }
  return regex;
}

const std::string kNoCluster;

}  // namespace

// ---- authority helpers ------------------------------------------------------------------------

size_t CaseInsensitiveHash::operator()(std::string_view s) const {
  // FNV-1a over lower-cased bytes: short keys (domain names), so a simple byte hash is enough.
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : s) {
    h ^= static_cast<unsigned char>(lowerAscii(c));
    h *= 0x100000001b3ULL;
  }
  return static_cast<size_t>(h);
}

bool CaseInsensitiveEqual::operator()(std::string_view a, std::string_view b) const {
  return equalsIgnoreCase(a, b);
}

std::string_view hostOfAuthority(std::string_view authority) {
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    return close == std::string_view::npos ? authority : authority.substr(0, close + 1);
  }
  size_t colon = authority.rfind(':');
  if (colon == std::string_view::npos) {
    return authority;
  }
  // More than one colon without brackets is a bare IPv6 address, not host:port.
  if (authority.find(':') != colon) {
    return authority;
  }
  return authority.substr(0, colon);
}

std::string_view portOfAuthority(std::string_view authority) {
  std::string_view host = hostOfAuthority(authority);
  if (host.size() + 1 < authority.size() && authority[host.size()] == ':') {
    return authority.substr(host.size() + 1);
  }
  return {};
}

// ---- header matchers --------------------------------------------------------------------------

HeaderMatcherImpl::HeaderMatcherImpl(const config::HeaderMatcher& config) : config_(config) {
  // The Host header is not in RequestHeaders::headers (it is `authority`); HTTP/2 pseudo-headers
  // are request fields too. Resolving this once keeps the per-request path a plain switch.
  if (config.name == "host" || config.name == ":authority") {
    source_ = Source::Authority;
  } else if (config.name == ":method") {
    source_ = Source::Method;
  } else if (config.name == ":path") {
    source_ = Source::Path;
  } else if (config.name == ":scheme") {
    source_ = Source::Scheme;
  }
}

bool HeaderMatcherImpl::init(const std::string& path, std::string* error) {
  if (config_.kind == config::StringMatchKind::Regex) {
    regex_ = compileRegex(config_.value, true, path, error);
    return regex_ != nullptr;
  }
  return true;
}

const std::string* HeaderMatcherImpl::lookup(const http::RequestHeaders& request) const {
  switch (source_) {
    case Source::Authority:
      return request.authority.empty() ? nullptr : &request.authority;
    case Source::Method:
      return request.method.empty() ? nullptr : &request.method;
    case Source::Path:
      return request.path.empty() ? nullptr : &request.path;
    case Source::Scheme:
      return request.scheme.empty() ? nullptr : &request.scheme;
    case Source::Header:
      break;
  }
  return request.headers.get(config_.name);
}

bool HeaderMatcherImpl::matchValue(std::string_view value) const {
  switch (config_.kind) {
    case config::StringMatchKind::Exact:
      return value == config_.value;
    case config::StringMatchKind::Prefix:
      return value.starts_with(config_.value);
    case config::StringMatchKind::Suffix:
      return value.ends_with(config_.value);
    case config::StringMatchKind::Regex:
      return re2::RE2::FullMatch(value, *regex_);
    case config::StringMatchKind::Present:
      return true;
  }
  return false;
}

// Only the first value of a repeated header is examined. `invert` negates the whole result, so an
// inverted matcher also matches when the header is absent ("not x-canary: 1" holds for a request
// without x-canary).
bool HeaderMatcherImpl::matches(const http::RequestHeaders& request) const {
  const std::string* value = lookup(request);
  bool matched = value != nullptr && matchValue(*value);
  return matched != config_.invert;
}

// ---- route entries ----------------------------------------------------------------------------

RouteEntryImpl::RouteEntryImpl(const config::Route& route, const config::VirtualHost& virtual_host)
    : route_(route), virtual_host_(virtual_host) {}

bool RouteEntryImpl::init(const std::string& path, std::string* error) {
  const config::RouteMatch& match = route_.match;
  if (match.kind == config::PathMatchKind::Regex) {
    path_regex_ = compileRegex(match.value, match.case_sensitive, path + ".match.regex", error);
    if (path_regex_ == nullptr) {
      return false;
    }
  }
  headers_.reserve(match.headers.size());
  for (size_t i = 0; i < match.headers.size(); ++i) {
    headers_.emplace_back(match.headers[i]);
    if (!headers_.back().init(path + ".match.headers[" + std::to_string(i) + "]", error)) {
      return false;
    }
  }
  if (route_.route.has_value()) {
    uint64_t sum = 0;
    for (const auto& weighted : route_.route->weighted_clusters) {
      sum += weighted.weight;
      cumulative_weights_.push_back(sum);
    }
  }
  return true;
}

bool RouteEntryImpl::pathMatches(std::string_view path_only) const {
  const config::RouteMatch& match = route_.match;
  switch (match.kind) {
    case config::PathMatchKind::Path:
      return match.case_sensitive ? path_only == match.value
                                  : equalsIgnoreCase(path_only, match.value);
    case config::PathMatchKind::Prefix:
      return startsWith(path_only, match.value, match.case_sensitive);
    case config::PathMatchKind::Regex:
      return re2::RE2::FullMatch(path_only, *path_regex_);
  }
  return false;
}

bool RouteEntryImpl::matches(const http::RequestHeaders& request,
                             std::string_view path_only) const {
  if (!pathMatches(path_only)) {
    return false;
  }
  for (const auto& header : headers_) {
    if (!header.matches(request)) {
      return false;
    }
  }
  return true;
}

const std::string& RouteEntryImpl::pickCluster(uint64_t random) const {
  if (!route_.route.has_value()) {
    return kNoCluster;
  }
  const config::RouteAction& action = *route_.route;
  if (action.weighted_clusters.empty()) {
    return action.cluster;
  }
  uint64_t total = cumulative_weights_.back();
  if (total == 0) {
    // All weights zero is rejected by validation; the first cluster is a safe answer anyway.
    return action.weighted_clusters.front().cluster;
  }
  uint64_t point = random % total;
  // A handful of clusters at most: a linear scan beats a binary search here.
  for (size_t i = 0; i < cumulative_weights_.size(); ++i) {
    if (point < cumulative_weights_[i]) {
      return action.weighted_clusters[i].cluster;
    }
  }
  return action.weighted_clusters.back().cluster;
}

void RouteEntryImpl::appendRewritten(std::string_view path_only, std::string_view replacement,
                                     std::string* out) const {
  const config::RouteMatch& match = route_.match;
  if (match.kind == config::PathMatchKind::Prefix &&
      startsWith(path_only, match.value, match.case_sensitive)) {
    out->append(replacement);
    out->append(path_only.substr(match.value.size()));
    return;
  }
  out->append(replacement);
}

std::string RouteEntryImpl::rewritePath(std::string_view path) const {
  if (!route_.route.has_value() || route_.route->prefix_rewrite.empty()) {
    return std::string(path);
  }
  std::string_view path_only = pathWithoutQuery(path);
  std::string out;
  out.reserve(path.size() + route_.route->prefix_rewrite.size());
  appendRewritten(path_only, route_.route->prefix_rewrite, &out);
  out.append(path.substr(path_only.size()));
  return out;
}

// Location = scheme://host[:port]path[?query]. Each part is the request's unless the redirect
// replaces it. The request's port is kept only while the scheme stays the same (a port of the
// plain-text listener is wrong for https), and a scheme's default port is left out.
std::string RouteEntryImpl::redirectLocation(const http::RequestHeaders& request) const {
  static const config::Redirect kEmptyRedirect;
  const config::Redirect& redirect =
      route_.redirect.has_value() ? *route_.redirect : kEmptyRedirect;

  // Both arms are string_views on purpose: with a literal and a std::string, ?: would make a
  // temporary string and the view would dangle.
  std::string_view request_scheme =
      request.scheme.empty() ? std::string_view("http") : std::string_view(request.scheme);
  std::string_view scheme =
      redirect.scheme.empty() ? request_scheme : std::string_view(redirect.scheme);
  bool scheme_changed = !equalsIgnoreCase(scheme, request_scheme);

  std::string_view host = hostOfAuthority(request.authority);
  std::string_view port = portOfAuthority(request.authority);
  if (!redirect.host.empty()) {
    host = hostOfAuthority(redirect.host);
    std::string_view configured_port = portOfAuthority(redirect.host);
    if (!configured_port.empty()) {
      port = configured_port;
    }
  }
  std::string port_storage;
  if (redirect.port.has_value()) {
    port_storage = std::to_string(*redirect.port);
    port = port_storage;
  } else if (scheme_changed && portOfAuthority(redirect.host).empty()) {
    port = {};
  }

  std::string_view path_only = pathWithoutQuery(request.path);
  std::string_view query = std::string_view(request.path).substr(path_only.size());  // "?..." or ""

  std::string location;
  location.reserve(scheme.size() + host.size() + request.path.size() + redirect.path.size() + 16);
  location.append(scheme).append("://").append(host);
  if (!port.empty() && !isDefaultPort(scheme, port)) {
    location.append(":").append(port);
  }
  if (!redirect.path.empty()) {
    location.append(redirect.path);
    // A configured path with its own query replaces the request's query too.
    if (redirect.path.find('?') != std::string::npos) {
      return location;
    }
  } else if (!redirect.prefix_rewrite.empty()) {
    appendRewritten(path_only, redirect.prefix_rewrite, &location);
  } else {
    location.append(path_only.empty() ? std::string_view("/") : path_only);
  }
  if (!redirect.strip_query) {
    location.append(query);
  }
  return location;
}

// ---- the table --------------------------------------------------------------------------------

RouteTableImpl::RouteTableImpl(const config::Listener& listener) : listener_(listener) {}

bool RouteTableImpl::init(std::string* error) {
  // Reserved up front and never resized afterwards: route() hands out pointers into these.
  virtual_hosts_.reserve(listener_.virtual_hosts.size());
  for (size_t v = 0; v < listener_.virtual_hosts.size(); ++v) {
    const config::VirtualHost& vhost = listener_.virtual_hosts[v];
    VirtualHostImpl& impl = virtual_hosts_.emplace_back();
    impl.config = &vhost;
    impl.routes.reserve(vhost.routes.size());
    std::string vhost_path =
        "listener '" + listener_.name + "': virtual_hosts[" + std::to_string(v) + "]";
    for (size_t r = 0; r < vhost.routes.size(); ++r) {
      RouteEntryImpl& entry = impl.routes.emplace_back(vhost.routes[r], vhost);
      if (!entry.init(vhost_path + ".routes[" + std::to_string(r) + "]", error)) {
        return false;
      }
    }
  }

  // Domains are indexed after every virtual host is in place, so the pointers are stable. On a
  // duplicate domain the first virtual host wins (validation should reject duplicates).
  for (const VirtualHostImpl& impl : virtual_hosts_) {
    for (const std::string& domain : impl.config->domains) {
      if (domain == "*") {
        if (catch_all_ == nullptr) {
          catch_all_ = &impl;
        }
      } else if (domain.starts_with("*.")) {
        dot_wildcards_.emplace(toLower(domain.substr(1)), &impl);
      } else if (domain.starts_with("*")) {
        other_wildcards_.push_back(SuffixWildcard{toLower(domain.substr(1)), &impl});
      } else {
        exact_.emplace(toLower(domain), &impl);
      }
    }
  }
  std::stable_sort(other_wildcards_.begin(), other_wildcards_.end(),
                   [](const SuffixWildcard& a, const SuffixWildcard& b) {
                     return a.suffix.size() > b.suffix.size();
                   });
  return true;
}

const VirtualHostImpl* RouteTableImpl::findVirtualHost(std::string_view authority) const {
  // A domain configured with its port ("example.com:8080") is an exact match on the whole
  // authority; this costs nothing when the authority has no port.
  std::string_view host = hostOfAuthority(authority);
  if (host.size() != authority.size() && !exact_.empty()) {
    if (auto it = exact_.find(authority); it != exact_.end()) {
      return it->second;
    }
  }
  if (!exact_.empty()) {
    if (auto it = exact_.find(host); it != exact_.end()) {
      return it->second;
    }
  }

  const VirtualHostImpl* best = nullptr;
  size_t best_length = 0;
  if (!dot_wildcards_.empty()) {
    // Suffixes starting at each dot, left to right = longest first. The dot must not be the
    // first character: "*.example.com" needs at least one character before ".example.com".
    for (size_t dot = host.find('.', 1); dot != std::string_view::npos;
         dot = host.find('.', dot + 1)) {
      if (auto it = dot_wildcards_.find(host.substr(dot)); it != dot_wildcards_.end()) {
        best = it->second;
        best_length = host.size() - dot;
        break;
      }
    }
  }
  for (const SuffixWildcard& wildcard : other_wildcards_) {
    if (wildcard.suffix.size() <= best_length) {
      break;
    }
    if (host.size() > wildcard.suffix.size() && endsWithIgnoreCase(host, wildcard.suffix)) {
      best = wildcard.virtual_host;
      break;
    }
  }
  return best != nullptr ? best : catch_all_;
}

const RouteEntry* RouteTableImpl::route(const http::RequestHeaders& request) const {
  const VirtualHostImpl* vhost = findVirtualHost(request.authority);
  if (vhost == nullptr) {
    return nullptr;
  }
  std::string_view path_only = pathWithoutQuery(request.path);
  for (const RouteEntryImpl& entry : vhost->routes) {
    if (entry.matches(request, path_only)) {
      return &entry;
    }
  }
  return nullptr;
}

RouteTablePtr createRouteTable(const config::Listener& listener, std::string* error) {
  auto table = std::make_unique<RouteTableImpl>(listener);
  if (!table->init(error)) {
    return nullptr;
  }
  return table;
}

}  // namespace strait::router
