#include <atomic>
#include <cstdlib>
#include <map>
#include <new>
#include <string>

#include <gtest/gtest.h>

#include "proxy/router/route_table_impl.h"
#include "strait/router/route_table.h"

// Counts heap allocations so tests can assert that the per-request path allocates nothing. The
// replacements live at global scope. noinline keeps GCC from seeing malloc() paired with operator
// delete at inlined call sites (-Wmismatched-new-delete). AddressSanitizer replaces every
// operator new itself, so there the count is not kept and the allocation tests are skipped.
namespace {
std::atomic<size_t> g_allocations{0};
}  // namespace

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kCountsAllocations = false;
#else
constexpr bool kCountsAllocations = true;

__attribute__((noinline)) void* operator new(size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) {
    return p;
  }
  throw std::bad_alloc();
}
__attribute__((noinline)) void operator delete(void* p) noexcept {
  std::free(p);
}
__attribute__((noinline)) void operator delete(void* p, size_t) noexcept {
  std::free(p);
}
#endif

namespace strait::router {
namespace {

config::Route prefixRoute(const std::string& prefix, const std::string& cluster) {
  config::Route route;
  route.name = cluster;
  route.match.kind = config::PathMatchKind::Prefix;
  route.match.value = prefix;
  route.route.emplace();
  route.route->cluster = cluster;
  return route;
}

config::Route matchRoute(config::PathMatchKind kind, const std::string& value,
                         const std::string& cluster) {
  config::Route route = prefixRoute("/", cluster);
  route.match.kind = kind;
  route.match.value = value;
  return route;
}

config::VirtualHost vhost(const std::string& name, std::vector<std::string> domains,
                          std::vector<config::Route> routes = {}) {
  config::VirtualHost v;
  v.name = name;
  v.domains = std::move(domains);
  if (routes.empty()) {
    routes.push_back(prefixRoute("/", name));
  }
  v.routes = std::move(routes);
  return v;
}

http::RequestHeaders request(const std::string& authority, const std::string& path = "/") {
  http::RequestHeaders r;
  r.method = "GET";
  r.authority = authority;
  r.path = path;
  r.scheme = "http";
  return r;
}

class RouteTableTest : public testing::Test {
 protected:
  void build() {
    std::string error;
    table_ = createRouteTable(listener_, &error);
    ASSERT_NE(table_, nullptr) << error;
  }
  // The virtual host name chosen for `authority`, or "" for no route.
  std::string vhostFor(const std::string& authority) {
    const RouteEntry* entry = table_->route(request(authority));
    return entry == nullptr ? "" : entry->virtualHost().name;
  }
  std::string clusterFor(const http::RequestHeaders& r) {
    const RouteEntry* entry = table_->route(r);
    return entry == nullptr ? "" : entry->pickCluster(0);
  }

  config::Listener listener_;
  RouteTablePtr table_;
};

// ---- virtual host selection ---------------------------------------------------------------------

TEST_F(RouteTableTest, ExactBeatsWildcardBeatsCatchAll) {
  listener_.virtual_hosts = {vhost("any", {"*"}), vhost("wild", {"*.example.com"}),
                             vhost("exact", {"api.example.com"})};
  build();
  EXPECT_EQ(vhostFor("api.example.com"), "exact");
  EXPECT_EQ(vhostFor("web.example.com"), "wild");
  EXPECT_EQ(vhostFor("other.org"), "any");
  EXPECT_EQ(vhostFor(""), "any");
}

TEST_F(RouteTableTest, LongestWildcardSuffixWins) {
  listener_.virtual_hosts = {vhost("short", {"*.com"}), vhost("long", {"*.b.example.com"}),
                             vhost("mid", {"*.example.com"})};
  build();
  EXPECT_EQ(vhostFor("a.b.example.com"), "long");
  EXPECT_EQ(vhostFor("x.a.b.example.com"), "long");
  EXPECT_EQ(vhostFor("a.example.com"), "mid");
  EXPECT_EQ(vhostFor("b.example.com"), "mid");
  EXPECT_EQ(vhostFor("a.org.com"), "short");
}

TEST_F(RouteTableTest, WildcardNeedsALabelBeforeTheSuffix) {
  listener_.virtual_hosts = {vhost("wild", {"*.example.com"})};
  build();
  EXPECT_EQ(vhostFor("a.example.com"), "wild");
  EXPECT_EQ(vhostFor("a.b.example.com"), "wild");
  EXPECT_EQ(vhostFor("example.com"), "");
  EXPECT_EQ(vhostFor(".example.com"), "");
  EXPECT_EQ(vhostFor("aexample.com"), "");
}

TEST_F(RouteTableTest, NonDotSuffixWildcardAndLongestAcrossKinds) {
  listener_.virtual_hosts = {vhost("dash", {"*-api.example.com"}), vhost("dot", {"*.example.com"})};
  build();
  EXPECT_EQ(vhostFor("eu-api.example.com"), "dash");
  EXPECT_EQ(vhostFor("eu.example.com"), "dot");
}

TEST_F(RouteTableTest, PortIsStrippedIncludingIpv6) {
  listener_.virtual_hosts = {vhost("name", {"api.example.com"}), vhost("v6", {"[::1]"}),
                             vhost("v4", {"127.0.0.1"}), vhost("withport", {"x.org:8443"})};
  build();
  EXPECT_EQ(vhostFor("api.example.com:8080"), "name");
  EXPECT_EQ(vhostFor("[::1]:8080"), "v6");
  EXPECT_EQ(vhostFor("[::1]"), "v6");
  EXPECT_EQ(vhostFor("127.0.0.1:80"), "v4");
  EXPECT_EQ(vhostFor("x.org:8443"), "withport");
  EXPECT_EQ(vhostFor("x.org:80"), "");
}

TEST(AuthorityTest, HostAndPort) {
  EXPECT_EQ(hostOfAuthority("a.com:80"), "a.com");
  EXPECT_EQ(portOfAuthority("a.com:80"), "80");
  EXPECT_EQ(hostOfAuthority("a.com"), "a.com");
  EXPECT_EQ(portOfAuthority("a.com"), "");
  EXPECT_EQ(hostOfAuthority("[2001:db8::1]:443"), "[2001:db8::1]");
  EXPECT_EQ(portOfAuthority("[2001:db8::1]:443"), "443");
  EXPECT_EQ(hostOfAuthority("[2001:db8::1]"), "[2001:db8::1]");
  EXPECT_EQ(portOfAuthority("[2001:db8::1]"), "");
  EXPECT_EQ(hostOfAuthority("2001:db8::1"), "2001:db8::1");
}

TEST_F(RouteTableTest, HostsAreCaseInsensitive) {
  listener_.virtual_hosts = {vhost("exact", {"api.example.com"}), vhost("wild", {"*.example.com"})};
  build();
  EXPECT_EQ(vhostFor("API.Example.COM"), "exact");
  EXPECT_EQ(vhostFor("Web.EXAMPLE.com:8080"), "wild");
}

TEST_F(RouteTableTest, NoVirtualHostIsNoRoute) {
  listener_.virtual_hosts = {vhost("exact", {"api.example.com"})};
  build();
  EXPECT_EQ(table_->route(request("other.example.com")), nullptr);
}

// ---- path matching ------------------------------------------------------------------------------

TEST_F(RouteTableTest, PathPrefixAndRegex) {
  listener_.virtual_hosts = {
      vhost("v", {"*"},
            {matchRoute(config::PathMatchKind::Path, "/healthz", "health"),
             matchRoute(config::PathMatchKind::Regex, "/users/[0-9]+", "users"),
             matchRoute(config::PathMatchKind::Prefix, "/v1/", "v1")})};
  build();
  EXPECT_EQ(clusterFor(request("h", "/healthz")), "health");
  EXPECT_EQ(clusterFor(request("h", "/healthz/")), "");
  EXPECT_EQ(clusterFor(request("h", "/healthzz")), "");
  EXPECT_EQ(clusterFor(request("h", "/users/42")), "users");
  EXPECT_EQ(clusterFor(request("h", "/users/42/x")), "");  // regex matches the whole path
  EXPECT_EQ(clusterFor(request("h", "/v1/things")), "v1");
  EXPECT_EQ(clusterFor(request("h", "/v1")), "");
}

TEST_F(RouteTableTest, QueryStringIsIgnored) {
  listener_.virtual_hosts = {
      vhost("v", {"*"},
            {matchRoute(config::PathMatchKind::Path, "/healthz", "health"),
             matchRoute(config::PathMatchKind::Regex, "/users/[0-9]+", "users"),
             matchRoute(config::PathMatchKind::Prefix, "/v1/", "v1")})};
  build();
  EXPECT_EQ(clusterFor(request("h", "/healthz?verbose=1")), "health");
  EXPECT_EQ(clusterFor(request("h", "/users/42?x=/v1/")), "users");
  EXPECT_EQ(clusterFor(request("h", "/x?/v1/")), "");
}

TEST_F(RouteTableTest, CaseInsensitivePaths) {
  config::Route exact = matchRoute(config::PathMatchKind::Path, "/Healthz", "health");
  exact.match.case_sensitive = false;
  config::Route prefix = matchRoute(config::PathMatchKind::Prefix, "/API/", "api");
  prefix.match.case_sensitive = false;
  config::Route regex = matchRoute(config::PathMatchKind::Regex, "/img/[a-z]+", "img");
  regex.match.case_sensitive = false;
  config::Route sensitive = matchRoute(config::PathMatchKind::Prefix, "/Docs", "docs");
  listener_.virtual_hosts = {vhost("v", {"*"}, {exact, prefix, regex, sensitive})};
  build();
  EXPECT_EQ(clusterFor(request("h", "/HEALTHZ")), "health");
  EXPECT_EQ(clusterFor(request("h", "/api/x")), "api");
  EXPECT_EQ(clusterFor(request("h", "/IMG/Logo")), "img");
  EXPECT_EQ(clusterFor(request("h", "/Docs/a")), "docs");
  EXPECT_EQ(clusterFor(request("h", "/docs/a")), "");
}

TEST_F(RouteTableTest, FirstMatchingRouteWins) {
  listener_.virtual_hosts = {vhost("v", {"*"},
                                   {prefixRoute("/api/", "first"), prefixRoute("/api/v2/", "never"),
                                    prefixRoute("/", "fallback")})};
  build();
  EXPECT_EQ(clusterFor(request("h", "/api/v2/x")), "first");
  EXPECT_EQ(clusterFor(request("h", "/other")), "fallback");
  const RouteEntry* entry = table_->route(request("h", "/api/v2/x"));
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(&entry->route(), &listener_.virtual_hosts[0].routes[0]);
  EXPECT_EQ(&entry->virtualHost(), &listener_.virtual_hosts[0]);
}

// ---- header matchers ----------------------------------------------------------------------------

class HeaderMatchTest : public RouteTableTest {
 protected:
  // One route guarded by `matcher`, then a fallback.
  void buildWith(config::StringMatchKind kind, const std::string& value, bool invert = false,
                 const std::string& name = "x-test") {
    config::Route guarded = prefixRoute("/", "guarded");
    guarded.match.headers.push_back(config::HeaderMatcher{name, kind, value, invert});
    listener_.virtual_hosts = {vhost("v", {"*"}, {guarded, prefixRoute("/", "fallback")})};
    build();
  }
  std::string withHeader(const std::string& value, const std::string& name = "x-test") {
    http::RequestHeaders r = request("h");
    r.headers.add(name, value);
    return clusterFor(r);
  }
  std::string withoutHeader() { return clusterFor(request("h")); }
};

TEST_F(HeaderMatchTest, Exact) {
  buildWith(config::StringMatchKind::Exact, "1");
  EXPECT_EQ(withHeader("1"), "guarded");
  EXPECT_EQ(withHeader("10"), "fallback");
  EXPECT_EQ(withoutHeader(), "fallback");
}

TEST_F(HeaderMatchTest, Prefix) {
  buildWith(config::StringMatchKind::Prefix, "abc");
  EXPECT_EQ(withHeader("abcdef"), "guarded");
  EXPECT_EQ(withHeader("xabc"), "fallback");
}

TEST_F(HeaderMatchTest, Suffix) {
  buildWith(config::StringMatchKind::Suffix, "def");
  EXPECT_EQ(withHeader("abcdef"), "guarded");
  EXPECT_EQ(withHeader("defx"), "fallback");
}

TEST_F(HeaderMatchTest, RegexIsAFullMatch) {
  buildWith(config::StringMatchKind::Regex, "v[0-9]+");
  EXPECT_EQ(withHeader("v12"), "guarded");
  EXPECT_EQ(withHeader("v12x"), "fallback");
  EXPECT_EQ(withHeader("xv12"), "fallback");
}

TEST_F(HeaderMatchTest, Present) {
  buildWith(config::StringMatchKind::Present, "");
  EXPECT_EQ(withHeader(""), "guarded");
  EXPECT_EQ(withHeader("anything"), "guarded");
  EXPECT_EQ(withoutHeader(), "fallback");
}

TEST_F(HeaderMatchTest, InvertNegates) {
  buildWith(config::StringMatchKind::Exact, "1", /*invert=*/true);
  EXPECT_EQ(withHeader("1"), "fallback");
  EXPECT_EQ(withHeader("2"), "guarded");
  EXPECT_EQ(withoutHeader(), "guarded");
}

TEST_F(HeaderMatchTest, InvertedPresentMeansAbsent) {
  buildWith(config::StringMatchKind::Present, "", /*invert=*/true);
  EXPECT_EQ(withHeader("x"), "fallback");
  EXPECT_EQ(withoutHeader(), "guarded");
}

TEST_F(HeaderMatchTest, HostMatcherReadsAuthority) {
  buildWith(config::StringMatchKind::Prefix, "api.", false, "host");
  EXPECT_EQ(clusterFor(request("api.example.com")), "guarded");
  EXPECT_EQ(clusterFor(request("web.example.com")), "fallback");
}

TEST_F(HeaderMatchTest, AuthorityPseudoHeaderReadsAuthority) {
  buildWith(config::StringMatchKind::Exact, "a.com:8080", false, ":authority");
  EXPECT_EQ(clusterFor(request("a.com:8080")), "guarded");
  EXPECT_EQ(clusterFor(request("a.com")), "fallback");
}

TEST_F(HeaderMatchTest, AllMatchersMustMatch) {
  config::Route guarded = prefixRoute("/", "guarded");
  guarded.match.headers.push_back({"x-a", config::StringMatchKind::Exact, "1", false});
  guarded.match.headers.push_back({"x-b", config::StringMatchKind::Present, "", false});
  listener_.virtual_hosts = {vhost("v", {"*"}, {guarded, prefixRoute("/", "fallback")})};
  build();
  http::RequestHeaders r = request("h");
  r.headers.add("x-a", "1");
  EXPECT_EQ(clusterFor(r), "fallback");
  r.headers.add("x-b", "");
  EXPECT_EQ(clusterFor(r), "guarded");
}

// ---- clusters ---------------------------------------------------------------------------------

TEST_F(RouteTableTest, WeightedClustersByCumulativeWeight) {
  config::Route route = prefixRoute("/", "");
  route.route->weighted_clusters = {{"a", 90}, {"b", 10}, {"c", 0}, {"d", 5}};
  listener_.virtual_hosts = {vhost("v", {"*"}, {route})};
  build();
  const RouteEntry* entry = table_->route(request("h"));
  ASSERT_NE(entry, nullptr);
  std::map<std::string, int> counts;
  for (uint64_t r = 0; r < 105; ++r) {
    ++counts[entry->pickCluster(r)];
  }
  EXPECT_EQ(counts["a"], 90);
  EXPECT_EQ(counts["b"], 10);
  EXPECT_EQ(counts["c"], 0);
  EXPECT_EQ(counts["d"], 5);
  EXPECT_EQ(entry->pickCluster(89), "a");
  EXPECT_EQ(entry->pickCluster(90), "b");
  EXPECT_EQ(entry->pickCluster(99), "b");
  EXPECT_EQ(entry->pickCluster(100), "d");
  EXPECT_EQ(entry->pickCluster(105), "a");  // wraps: random % total
  EXPECT_EQ(entry->pickCluster(UINT64_MAX), entry->pickCluster(UINT64_MAX % 105));
}

TEST_F(RouteTableTest, SingleClusterIgnoresRandom) {
  listener_.virtual_hosts = {vhost("v", {"*"}, {prefixRoute("/", "only")})};
  build();
  const RouteEntry* entry = table_->route(request("h"));
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->pickCluster(0), "only");
  EXPECT_EQ(entry->pickCluster(12345), "only");
}

// ---- redirects and rewrites ---------------------------------------------------------------------

class RedirectTest : public RouteTableTest {
 protected:
  std::string location(const config::Redirect& redirect, const http::RequestHeaders& r,
                       config::PathMatchKind kind = config::PathMatchKind::Prefix,
                       const std::string& match = "/") {
    config::Route route;
    route.match.kind = kind;
    route.match.value = match;
    route.redirect = redirect;
    listener_.virtual_hosts = {vhost("v", {"*"}, {route})};
    build();
    const RouteEntry* entry = table_->route(r);
    EXPECT_NE(entry, nullptr);
    return entry == nullptr ? "" : entry->redirectLocation(r);
  }
};

TEST_F(RedirectTest, KeepsEverythingByDefault) {
  EXPECT_EQ(location({}, request("a.com:8080", "/x/y?q=1")), "http://a.com:8080/x/y?q=1");
}

TEST_F(RedirectTest, EmptySchemeIsHttp) {
  http::RequestHeaders r = request("a.com", "/x");
  r.scheme.clear();
  EXPECT_EQ(location({}, r), "http://a.com/x");
}

TEST_F(RedirectTest, HttpsRedirectDropsThePlainTextPort) {
  config::Redirect redirect;
  redirect.scheme = "https";
  EXPECT_EQ(location(redirect, request("a.com:8080", "/x?q=1")), "https://a.com/x?q=1");
}

TEST_F(RedirectTest, HostAndPortReplaced) {
  config::Redirect redirect;
  redirect.host = "b.org";
  redirect.port = 9443;
  EXPECT_EQ(location(redirect, request("a.com:8080", "/x")), "http://b.org:9443/x");
}

TEST_F(RedirectTest, HostReplacedKeepsPort) {
  config::Redirect redirect;
  redirect.host = "b.org";
  EXPECT_EQ(location(redirect, request("a.com:8080", "/x")), "http://b.org:8080/x");
}

TEST_F(RedirectTest, DefaultPortOmitted) {
  config::Redirect redirect;
  redirect.scheme = "https";
  redirect.port = 443;
  EXPECT_EQ(location(redirect, request("a.com:80", "/")), "https://a.com/");
}

TEST_F(RedirectTest, Ipv6HostKeepsBrackets) {
  EXPECT_EQ(location({}, request("[::1]:8080", "/x")), "http://[::1]:8080/x");
}

TEST_F(RedirectTest, PathReplacedKeepsQuery) {
  config::Redirect redirect;
  redirect.path = "/new";
  EXPECT_EQ(location(redirect, request("a.com", "/old/thing?q=1")), "http://a.com/new?q=1");
}

TEST_F(RedirectTest, StripQuery) {
  config::Redirect redirect;
  redirect.path = "/new";
  redirect.strip_query = true;
  EXPECT_EQ(location(redirect, request("a.com", "/old?q=1")), "http://a.com/new");
}

TEST_F(RedirectTest, PrefixRewriteReplacesTheMatchedPrefix) {
  config::Redirect redirect;
  redirect.prefix_rewrite = "/v2/";
  EXPECT_EQ(
      location(redirect, request("a.com", "/v1/users?id=3"), config::PathMatchKind::Prefix, "/v1/"),
      "http://a.com/v2/users?id=3");
}

TEST_F(RouteTableTest, RewritePathReplacesPrefixAndKeepsQuery) {
  config::Route route = prefixRoute("/api/", "c");
  route.route->prefix_rewrite = "/";
  listener_.virtual_hosts = {vhost("v", {"*"}, {route})};
  build();
  const RouteEntry* entry = table_->route(request("h", "/api/users?id=1&x=/api/"));
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->rewritePath("/api/users?id=1&x=/api/"), "/users?id=1&x=/api/");
  EXPECT_EQ(entry->rewritePath("/api/"), "/");
}

TEST_F(RouteTableTest, RewritePathWithoutRewriteIsIdentity) {
  listener_.virtual_hosts = {vhost("v", {"*"}, {prefixRoute("/api/", "c")})};
  build();
  const RouteEntry* entry = table_->route(request("h", "/api/x?y"));
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->rewritePath("/api/x?y"), "/api/x?y");
}

TEST_F(RouteTableTest, RoutingDoesNotAllocate) {
  if (!kCountsAllocations) {
    GTEST_SKIP() << "allocation counting is off under AddressSanitizer";
  }
  config::Route guarded = matchRoute(config::PathMatchKind::Regex, "/users/[0-9]+", "users");
  guarded.match.headers.push_back({"x-v", config::StringMatchKind::Regex, "v[0-9]", false});
  guarded.match.headers.push_back({"host", config::StringMatchKind::Prefix, "Web.", false});
  config::Route weighted = prefixRoute("/", "");
  weighted.route->weighted_clusters = {{"a", 1}, {"b", 1}};
  listener_.virtual_hosts = {vhost("exact", {"api.example.com"}),
                             vhost("wild", {"*.example.com"}, {guarded, weighted}),
                             vhost("any", {"*"})};
  size_t at_start = g_allocations.load();
  build();
  EXPECT_GT(g_allocations.load(), at_start);  // the counter does see allocations
  http::RequestHeaders r = request("Web.Example.com:8443", "/users/12?x=1");
  r.headers.add("x-v", "v1");
  http::RequestHeaders other = request("[::1]:80", "/a/b/c");
  ASSERT_NE(table_->route(r), nullptr);  // warms RE2's lazily built DFA caches
  size_t before = g_allocations.load();
  for (int i = 0; i < 1000; ++i) {
    const RouteEntry* entry = table_->route(r);
    ASSERT_NE(entry, nullptr);
    ASSERT_EQ(entry->pickCluster(static_cast<uint64_t>(i)), "users");
    ASSERT_NE(table_->route(other), nullptr);
  }
  EXPECT_EQ(g_allocations.load() - before, 0u);
}

// ---- build errors -------------------------------------------------------------------------------

TEST(RouteTableBuildTest, InvalidPathRegexIsAnError) {
  config::Listener listener;
  listener.name = "edge";
  listener.virtual_hosts = {vhost(
      "v", {"*"},
      {prefixRoute("/", "ok"), matchRoute(config::PathMatchKind::Regex, "/users/([0-9]+", "bad")})};
  std::string error;
  EXPECT_EQ(createRouteTable(listener, &error), nullptr);
  EXPECT_NE(error.find("virtual_hosts[0].routes[1].match.regex"), std::string::npos) << error;
  EXPECT_NE(error.find("/users/([0-9]+"), std::string::npos) << error;
}

TEST(RouteTableBuildTest, InvalidHeaderRegexIsAnError) {
  config::Listener listener;
  config::Route route = prefixRoute("/", "c");
  route.match.headers.push_back({"x-a", config::StringMatchKind::Present, "", false});
  route.match.headers.push_back({"x-b", config::StringMatchKind::Regex, "a**+[", false});
  listener.virtual_hosts = {vhost("v", {"*"}, {route})};
  std::string error;
  EXPECT_EQ(createRouteTable(listener, &error), nullptr);
  EXPECT_NE(error.find("routes[0].match.headers[1]"), std::string::npos) << error;
}

TEST(RouteTableBuildTest, EmptyListenerRoutesNothing) {
  config::Listener listener;
  std::string error;
  RouteTablePtr table = createRouteTable(listener, &error);
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(table->route(request("a.com")), nullptr);
}

}  // namespace
}  // namespace strait::router
