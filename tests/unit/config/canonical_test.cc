#include "config/canonical.h"

#include <gtest/gtest.h>

#include <string>

#include "config/loader.h"

namespace strait::config {
namespace {

// A config with one listener, one route and one cluster of two endpoints; the parameters vary
// one resource kind at a time.
std::string configText(const std::string& weight = "1", const std::string& prefix = "/",
                       const std::string& connect_timeout = "1s",
                       const std::string& idle_timeout = "60s") {
  return "listeners:\n"
         "  - name: main\n"
         "    port: 0\n"
         "    http: {idle_timeout: " + idle_timeout + "}\n"
         "    virtual_hosts:\n"
         "      - name: all\n"
         "        domains: ['*']\n"
         "        routes:\n"
         "          - match: {prefix: " + prefix + "}\n"
         "            route: {cluster: backend}\n"
         "clusters:\n"
         "  - name: backend\n"
         "    connect_timeout: " + connect_timeout + "\n"
         "    endpoints:\n"
         "      - {address: 127.0.0.1, port: 8001, weight: " + weight + "}\n"
         "      - {address: 127.0.0.1, port: 8002}\n";
}

ResourceVersions versionsOf(const std::string& text) {
  LoadResult result = loadString(text, "t.yaml");
  EXPECT_TRUE(result.ok()) << (result.errors.empty() ? "" : result.errors[0].toString());
  return result.ok() ? resourceVersions(*result.bootstrap) : ResourceVersions{};
}

TEST(CanonicalTest, KeyOrderLayoutAndQuotingDoNotChangeTheForm) {
  LoadResult a = loadString("workers: 2\nadmin: {port: 0, address: 127.0.0.1}\n", "a.yaml");
  LoadResult b = loadString("admin:\n  address: '127.0.0.1'\n  port: 0\nworkers: 2\n", "b.yaml");
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a.bootstrap->canonical, b.bootstrap->canonical);
  EXPECT_EQ(a.bootstrap->canonical, R"({"admin":{"address":"127.0.0.1","port":0},"workers":2})");
}

TEST(CanonicalTest, AnEndpointWeightChangesOnlyTheEndpointsVersion) {
  ResourceVersions base = versionsOf(configText());
  ResourceVersions next = versionsOf(configText("5"));
  EXPECT_NE(base.endpoints, next.endpoints);
  EXPECT_EQ(base.clusters, next.clusters);
  EXPECT_EQ(base.listeners, next.listeners);
  EXPECT_EQ(base.routes, next.routes);
}

TEST(CanonicalTest, EachKindHasItsOwnVersion) {
  ResourceVersions base = versionsOf(configText());
  ResourceVersions route = versionsOf(configText("1", "/api"));
  EXPECT_NE(base.routes, route.routes);
  EXPECT_EQ(base.listeners, route.listeners);
  EXPECT_EQ(base.clusters, route.clusters);
  EXPECT_EQ(base.endpoints, route.endpoints);

  ResourceVersions cluster = versionsOf(configText("1", "/", "2s"));
  EXPECT_NE(base.clusters, cluster.clusters);
  EXPECT_EQ(base.endpoints, cluster.endpoints);
  EXPECT_EQ(base.routes, cluster.routes);

  ResourceVersions listener = versionsOf(configText("1", "/", "1s", "30s"));
  EXPECT_NE(base.listeners, listener.listeners);
  EXPECT_EQ(base.routes, listener.routes);
  EXPECT_EQ(base.clusters, listener.clusters);
}

TEST(CanonicalTest, ContentHashIsStableHex) {
  EXPECT_EQ(contentHash(""), "cbf29ce484222325");  // the FNV-1a 64 offset basis
  EXPECT_EQ(contentHash("a").size(), 16u);
  EXPECT_NE(contentHash("a"), contentHash("b"));
}

}  // namespace
}  // namespace strait::config
