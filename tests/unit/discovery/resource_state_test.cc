// What the proxy holds from strait-cp: a response replacing its type's set, the assembled config
// validated by the file loader with errors that name the resource, and the persisted form.

#include "proxy/discovery/resource_state.h"

#include <gtest/gtest.h>

#include <set>

namespace strait::discovery {
namespace {

using config::DiscoveryResponse;
using config::ResourceType;

// The file's part: its canonical form, as config::loadString would leave it.
const char* kStatic =
    R"({"admin":{"address":"127.0.0.1","port":0},"control_plane":{"address":"127.0.0.1:18000"},)"
    R"("node":{"cluster":"edge","id":"edge-1"}})";

DiscoveryResponse response(ResourceType type, std::vector<config::Resource> resources,
                           std::string version) {
  DiscoveryResponse out;
  out.type = type;
  out.resources = std::move(resources);
  out.version_info = std::move(version);
  return out;
}

ResourceSets meshSets() {
  ResourceSets sets;
  sets = sets.with(response(ResourceType::Clusters,
                            {{"api", R"({"lb":"round_robin","name":"api"})"}}, "c1"));
  sets = sets.with(response(ResourceType::Endpoints,
                            {{"api", R"({"endpoints":[{"address":"127.0.0.1","port":8081}]})"}},
                            "e1"));
  sets = sets.with(response(ResourceType::Listeners,
                            {{"edge", R"({"address":"127.0.0.1","name":"edge","port":0})"}}, "l1"));
  sets = sets.with(response(
      ResourceType::Routes,
      {{"edge",
        R"({"virtual_hosts":[{"domains":["*"],"name":"all","routes":[{"match":{"prefix":"/"},)"
        R"("route":{"cluster":"api"}}]}]})"}},
      "r1"));
  return sets;
}

TEST(ResourceStateTest, ClustersAndListenersAreAssembledFromTheirTwoHalves) {
  Assembled assembled = assemble(kStatic, meshSets());
  ASSERT_TRUE(assembled.loaded.ok()) << assembled.error;
  const config::Bootstrap& config = *assembled.loaded.bootstrap;
  EXPECT_EQ(config.node.id, "edge-1");
  ASSERT_EQ(config.clusters.size(), 1u);
  ASSERT_EQ(config.clusters[0].endpoints.size(), 1u);
  EXPECT_EQ(config.clusters[0].endpoints[0].port, 8081);
  ASSERT_EQ(config.listeners.size(), 1u);
  ASSERT_EQ(config.listeners[0].virtual_hosts.size(), 1u);
  EXPECT_EQ(config.listeners[0].virtual_hosts[0].name, "all");
  ASSERT_TRUE(config.control_plane.has_value());
}

TEST(ResourceStateTest, AResponseReplacesOnlyItsTypeAndItsVersion) {
  ResourceSets sets = meshSets();
  ResourceSets next = sets.with(response(ResourceType::Endpoints, {}, "e2"));
  EXPECT_TRUE(next.resources[static_cast<size_t>(ResourceType::Endpoints)].empty());
  EXPECT_EQ(next.version(ResourceType::Endpoints), "e2");
  EXPECT_EQ(next.version(ResourceType::Clusters), "c1");
  EXPECT_EQ(sets.version(ResourceType::Endpoints), "e1");  // the original is untouched
}

TEST(ResourceStateTest, ErrorsNameTheResourceTheyComeFrom) {
  ResourceSets sets = meshSets().with(response(
      ResourceType::Endpoints,
      {{"api", R"({"endpoints":[{"address":"127.0.0.1","port":"eighty"}]})"}}, "e2"));
  Assembled bad_endpoint = assemble(kStatic, sets);
  ASSERT_FALSE(bad_endpoint.loaded.ok());
  EXPECT_EQ(bad_endpoint.error.rfind("endpoints/api: endpoints[0].port: ", 0), 0u)
      << bad_endpoint.error;

  sets = meshSets().with(
      response(ResourceType::Clusters, {{"api", R"({"lb":"fastest","name":"api"})"}}, "c2"));
  Assembled bad_cluster = assemble(kStatic, sets);
  EXPECT_EQ(bad_cluster.error.rfind("clusters/api: lb: expected one of", 0), 0u)
      << bad_cluster.error;

  // A route to a cluster that is gone is the routes resource's error.
  sets = meshSets().with(response(ResourceType::Clusters, {}, "c3"));
  Assembled dangling = assemble(kStatic, sets);
  EXPECT_EQ(dangling.error.rfind("routes/edge: virtual_hosts[0].routes[0].route.cluster: unknown "
                                 "cluster \"api\"",
                                 0),
            0u)
      << dangling.error;
}

TEST(ResourceStateTest, APushedNameThatTheFileAlsoDefinesIsAnError) {
  std::string with_static =
      R"({"clusters":[{"endpoints":[{"address":"127.0.0.1","port":9000}],"name":"api"}],)"
      R"("node":{"cluster":"edge","id":"edge-1"}})";
  Assembled assembled = assemble(with_static, meshSets());
  ASSERT_FALSE(assembled.loaded.ok());
  EXPECT_NE(assembled.error.find("duplicate cluster name \"api\""), std::string::npos)
      << assembled.error;
}

// Real content hashes, as strait-cp sends them: the applied versions are recomputed from the
// resources, so they match the pushed ones only when the pushed ones are honest.
ResourceSets hashedSets() {
  ResourceSets sets;
  const ResourceSets mesh = meshSets();
  for (ResourceType type : config::kPushOrder) {
    const auto& held = mesh.resources[static_cast<size_t>(type)];
    std::vector<config::Resource> resources;
    for (const auto& [name, body] : held) {
      resources.push_back({name, body});
    }
    if (!resources.empty()) {
      sets = sets.with(response(type, resources, config::resourcesVersion(resources)));
    }
  }
  return sets;
}

TEST(ResourceStateTest, AppliedVersionsAreThePushedOnesWithoutAnOverride) {
  ResourceSets sets = hashedSets();
  std::array<std::string, config::kResourceTypes> applied = appliedVersions(kStatic, sets);
  for (ResourceType type : config::kPushOrder) {
    EXPECT_EQ(applied[static_cast<size_t>(type)], sets.version(type)) << config::typeName(type);
  }
  EXPECT_EQ(applied[static_cast<size_t>(ResourceType::Secrets)], "");  // nothing held
}

TEST(ResourceStateTest, ALocalOverrideReplacesThePushedClusterAndShowsInTheAppliedVersions) {
  std::string with_override =
      R"({"clusters":[{"endpoints":[{"address":"127.0.0.1","port":9000}],"name":"api"}],)"
      R"("control_plane":{"address":"127.0.0.1:18000","local_overrides":["api"]},)"
      R"("node":{"cluster":"edge","id":"edge-1"}})";
  EXPECT_EQ(localOverrides(with_override), (std::set<std::string>{"clusters/api"}));
  ResourceSets sets = hashedSets();
  Assembled assembled = assemble(with_override, sets);
  ASSERT_TRUE(assembled.loaded.ok()) << assembled.error;
  const config::Bootstrap& config = *assembled.loaded.bootstrap;
  ASSERT_EQ(config.clusters.size(), 1u);
  ASSERT_EQ(config.clusters[0].endpoints.size(), 1u);
  EXPECT_EQ(config.clusters[0].endpoints[0].port, 9000);  // the file's, not the pushed 8081
  EXPECT_EQ(config.clusters[0].lb, config::LbPolicy::RoundRobin);

  std::array<std::string, config::kResourceTypes> applied = appliedVersions(with_override, sets);
  auto at = [&](ResourceType type) { return applied[static_cast<size_t>(type)]; };
  EXPECT_NE(at(ResourceType::Clusters), sets.version(ResourceType::Clusters));
  EXPECT_NE(at(ResourceType::Endpoints), sets.version(ResourceType::Endpoints));
  EXPECT_EQ(at(ResourceType::Listeners), sets.version(ResourceType::Listeners));
  EXPECT_EQ(at(ResourceType::Routes), sets.version(ResourceType::Routes));
  // The version of what runs: the file's cluster cut as strait-cp cuts one.
  EXPECT_EQ(at(ResourceType::Endpoints),
            config::resourcesVersion(
                {{"api", R"({"endpoints":[{"address":"127.0.0.1","port":9000}]})"}}));

  // An override of a name strait-cp does not push replaces nothing.
  std::string unpushed =
      R"({"clusters":[{"endpoints":[{"address":"127.0.0.1","port":9000}],"name":"local"}],)"
      R"("control_plane":{"address":"127.0.0.1:18000","local_overrides":["local"]},)"
      R"("node":{"cluster":"edge","id":"edge-1"}})";
  EXPECT_EQ(appliedVersions(unpushed, sets)[static_cast<size_t>(ResourceType::Clusters)],
            sets.version(ResourceType::Clusters));
}

TEST(ResourceStateTest, ThePersistedFormRoundTrips) {
  ResourceSets sets = meshSets();
  std::string error;
  std::optional<ResourceSets> back = parsePersisted(persistText(sets), error);
  ASSERT_TRUE(back.has_value()) << error;
  for (ResourceType type : config::kPushOrder) {
    EXPECT_EQ(back->version(type), sets.version(type));
    EXPECT_EQ(back->resources[static_cast<size_t>(type)],
              sets.resources[static_cast<size_t>(type)]);
  }
  EXPECT_FALSE(parsePersisted("{\"format\":\"other\"}", error).has_value());
  EXPECT_EQ(error, "not a strait discovery state file (format strait-discovery-state/1)");
  EXPECT_FALSE(parsePersisted("not json", error).has_value());
}

}  // namespace
}  // namespace strait::discovery
