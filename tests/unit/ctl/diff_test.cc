// straitctl diff's pure half (ctl/diff.h): a /config_dump cut into strait-cp's resources,
// /intended parsed, the comparison (secrets by name, carbon signals not at all), the unified
// diffs and the --json shape. No network.

#include "ctl/diff.h"

#include <gtest/gtest.h>

namespace strait::ctl {
namespace {

using config::ResourceType;
using nlohmann::json;

constexpr size_t index(ResourceType type) {
  return static_cast<size_t>(type);
}

// A /config_dump as the proxy writes it: the static file's part (node, admin, control_plane, a
// cluster of its own) assembled with what strait-cp pushed, secret-looking values redacted.
json configDump(int listener_port) {
  json config = {
      {"node", {{"id", "edge-1"}, {"cluster", "edge"}}},
      {"admin", {{"address", "127.0.0.1"}, {"port", 0}}},
      {"control_plane", {{"address", "127.0.0.1:18000"}}},
      {"secrets", json::array({{{"name", "edge-cert"},
                                {"cert", "/var/lib/strait/secrets/edge-cert-1.pem"},
                                {"key", "[redacted]"}}})},
      {"filter_configs", json::array({{{"name", "limits"}, {"rate_limit", {{"rps", 10}}}}})},
      {"clusters",
       json::array({{{"name", "local"}, {"endpoints", json::array()}},
                    {{"name", "api"},
                     {"connect_timeout", "1s"},
                     {"endpoints", json::array({{{"address", "127.0.0.1"}, {"port", 8080}}})}}})},
      {"listeners", json::array({{{"name", "edge"},
                                  {"address", "127.0.0.1"},
                                  {"port", listener_port},
                                  {"tls", {{"secret", "[redacted]"}}},
                                  {"virtual_hosts", json::array({{{"name", "all"}}})}}})}};
  return {{"version", 3}, {"applied_by", "control_plane"}, {"config", config}};
}

// strait-cp's /intended/edge-1 for the same config, `listener_port` intended.
json intendedDoc(int listener_port) {
  auto type = [](json resources) {
    return json{{"version", "0123456789abcdef"}, {"resources", std::move(resources)}};
  };
  auto resource = [](const std::string& name, json body) {
    return json{{"name", name}, {"resource", std::move(body)}};
  };
  json types = {
      {"secrets", type(json::array({resource("edge-cert", {{"certificate_chain", "-----BEGIN"},
                                                           {"private_key", "[redacted]"}})}))},
      {"filter_configs", type(json::array({resource("limits", {{"rate_limit", {{"rps", 10}}}})}))},
      {"clusters",
       type(json::array({resource("api", {{"name", "api"}, {"connect_timeout", "1s"}})}))},
      {"endpoints",
       type(json::array({resource(
           "api", {{"endpoints", json::array({{{"address", "127.0.0.1"}, {"port", 8080}}})}})}))},
      {"listeners", type(json::array({resource("edge", {{"name", "edge"},
                                                        {"address", "127.0.0.1"},
                                                        {"port", listener_port},
                                                        {"tls", {{"secret", "[redacted]"}}}})}))},
      {"routes", type(json::array(
                     {resource("edge", {{"virtual_hosts", json::array({{{"name", "all"}}})}})}))},
      {"carbon_signals", type(json::array({resource("eu-north", {{"intensity", 30}})}))}};
  return {{"node", "edge-1"}, {"group", "edge"}, {"types", types}};
}

TEST(DiffCut, AConfigDumpIsCutAsStraitCpCutsItsOwn) {
  std::string error;
  std::optional<ProxyConfig> proxy = cutConfigDump(configDump(0), error);
  ASSERT_TRUE(proxy.has_value()) << error;
  EXPECT_EQ(proxy->node_id, "edge-1");
  const ResourcesByType& r = proxy->resources;
  // Clusters without their endpoints; endpoints only for a cluster that has the key.
  EXPECT_EQ(r[index(ResourceType::Clusters)].at("api"),
            (json{{"name", "api"}, {"connect_timeout", "1s"}}));
  EXPECT_EQ(r[index(ResourceType::Clusters)].at("local"), (json{{"name", "local"}}));
  EXPECT_EQ(r[index(ResourceType::Endpoints)].at("api"),
            (json{{"endpoints", json::array({{{"address", "127.0.0.1"}, {"port", 8080}}})}}));
  EXPECT_EQ(r[index(ResourceType::Endpoints)].at("local"), (json{{"endpoints", json::array()}}));
  // Listeners without their virtual hosts, which are the routes.
  EXPECT_EQ(r[index(ResourceType::Listeners)].at("edge"),
            (json{{"name", "edge"},
                  {"address", "127.0.0.1"},
                  {"port", 0},
                  {"tls", {{"secret", "[redacted]"}}}}));
  EXPECT_EQ(r[index(ResourceType::Routes)].at("edge"),
            (json{{"virtual_hosts", json::array({{{"name", "all"}}})}}));
  EXPECT_EQ(r[index(ResourceType::FilterConfigs)].at("limits"),
            (json{{"rate_limit", {{"rps", 10}}}}));
  // Secrets by name only; the static file's node, admin and control_plane are no resources.
  EXPECT_EQ(r[index(ResourceType::Secrets)].at("edge-cert"), (json{{"name", "edge-cert"}}));
  EXPECT_TRUE(r[index(ResourceType::CarbonSignals)].empty());
}

TEST(DiffCut, ADumpWithoutAConfigIsAnError) {
  std::string error;
  EXPECT_FALSE(cutConfigDump(json{{"version", 1}, {"config", nullptr}}, error).has_value());
  EXPECT_EQ(error, "the proxy's /config_dump holds no config");
  EXPECT_FALSE(cutConfigDump(json::array(), error).has_value());
}

TEST(DiffIntended, ParsesEveryTypeAndRefusesAMalformedAnswer) {
  std::string error;
  std::optional<IntendedConfig> intended = parseIntended(intendedDoc(0), error);
  ASSERT_TRUE(intended.has_value()) << error;
  EXPECT_EQ(intended->group, "edge");
  EXPECT_EQ(intended->resources[index(ResourceType::Secrets)].at("edge-cert"),
            (json{{"name", "edge-cert"}}));
  EXPECT_EQ(intended->resources[index(ResourceType::CarbonSignals)].size(), 1u);
  EXPECT_FALSE(parseIntended(json{{"node", "edge-1"}}, error).has_value());
  EXPECT_NE(error.find("\"types\""), std::string::npos);
  json bad = intendedDoc(0);
  bad["types"]["clusters"]["resources"].push_back({{"resource", json::object()}});
  EXPECT_FALSE(parseIntended(bad, error).has_value());
  EXPECT_NE(error.find("types.clusters"), std::string::npos);
  // A type this straitctl does not know is left out, not an error.
  json newer = intendedDoc(0);
  newer["types"]["quotas"] = {{"version", ""}, {"resources", json::array()}};
  EXPECT_TRUE(parseIntended(newer, error).has_value());
}

struct Sides {
  IntendedConfig intended;
  ProxyConfig proxy;
};

Sides sides(int intended_port, int proxy_port) {
  std::string error;
  return {*parseIntended(intendedDoc(intended_port), error),
          *cutConfigDump(configDump(proxy_port), error)};
}

TEST(DiffCompare, TheSameConfigHasOnlyTheStaticFilesResourcesOnTheProxySide) {
  Sides s = sides(0, 0);
  std::vector<Difference> differences = compareResources(s.intended.resources, s.proxy.resources);
  // The static cluster "local" and its endpoints; carbon signals are not compared.
  ASSERT_EQ(differences.size(), 2u);
  EXPECT_EQ(differences[0].type, ResourceType::Clusters);
  EXPECT_EQ(differences[0].name, "local");
  EXPECT_FALSE(differences[0].intended.has_value());
  EXPECT_EQ(differences[1].type, ResourceType::Endpoints);
  EXPECT_EQ(differences[1].name, "local");
  s.proxy.resources[index(ResourceType::Clusters)].erase("local");
  s.proxy.resources[index(ResourceType::Endpoints)].erase("local");
  EXPECT_TRUE(compareResources(s.intended.resources, s.proxy.resources).empty());
}

TEST(DiffCompare, InPushOrderSecretsByNameOnly) {
  Sides s = sides(8443, 0);
  s.proxy.resources[index(ResourceType::Clusters)].erase("local");
  s.proxy.resources[index(ResourceType::Endpoints)].erase("local");
  s.intended.resources[index(ResourceType::Secrets)]["new-cert"] = json{{"name", "new-cert"}};
  s.intended.resources[index(ResourceType::Routes)].erase("edge");
  std::vector<Difference> differences = compareResources(s.intended.resources, s.proxy.resources);
  ASSERT_EQ(differences.size(), 3u);
  EXPECT_EQ(differences[0].type, ResourceType::Secrets);
  EXPECT_EQ(differences[0].name, "new-cert");
  EXPECT_FALSE(differences[0].proxy.has_value());
  EXPECT_EQ(differences[1].type, ResourceType::Listeners);
  EXPECT_EQ((*differences[1].intended)["port"], 8443);
  EXPECT_EQ((*differences[1].proxy)["port"], 0);
  EXPECT_EQ(differences[2].type, ResourceType::Routes);
  EXPECT_FALSE(differences[2].intended.has_value());
  EXPECT_TRUE(hasSecrets(s.intended.resources, s.proxy.resources));
}

TEST(DiffRender, APortChangeAsAUnifiedDiff) {
  Sides s = sides(8443, 0);
  s.proxy.resources[index(ResourceType::Clusters)].erase("local");
  s.proxy.resources[index(ResourceType::Endpoints)].erase("local");
  std::vector<Difference> differences = compareResources(s.intended.resources, s.proxy.resources);
  EXPECT_EQ(renderDiffs("edge-1", differences, false),
            "--- strait-cp/listeners/edge\n"
            "+++ edge-1/listeners/edge\n"
            "@@ -1,7 +1,7 @@\n"
            " {\n"
            "   \"address\": \"127.0.0.1\",\n"
            "   \"name\": \"edge\",\n"
            "-  \"port\": 8443,\n"
            "+  \"port\": 0,\n"
            "   \"tls\": {\n"
            "     \"secret\": \"[redacted]\"\n"
            "   }\n"
            "edge-1: 1 resource differs from strait-cp's intended config\n");
}

TEST(DiffRender, ASideWithoutTheResourceIsLabelled) {
  Difference only_proxy{ResourceType::Clusters, "local", std::nullopt, json{{"name", "local"}}};
  Difference only_intended{ResourceType::Secrets, "new", json{{"name", "new"}}, std::nullopt};
  std::string out = renderDiffs("edge-1", {only_intended, only_proxy}, true);
  EXPECT_EQ(out,
            "--- strait-cp/secrets/new\n"
            "+++ edge-1/secrets/new (not in force on edge-1)\n"
            "@@ -1,3 +0,0 @@\n"
            "-{\n"
            "-  \"name\": \"new\"\n"
            "-}\n"
            "--- strait-cp/clusters/local (not intended: from edge-1's static file, or a removal "
            "it has not applied)\n"
            "+++ edge-1/clusters/local\n"
            "@@ -0,0 +1,3 @@\n"
            "+{\n"
            "+  \"name\": \"local\"\n"
            "+}\n"
            "edge-1: 2 resources differ from strait-cp's intended config\n"
            "(secrets are compared by name only: the proxy holds them as files, and its "
            "/config_dump shows their paths, not their PEM text)\n");
}

TEST(DiffRender, NoDifferences) {
  EXPECT_EQ(renderDiffs("edge-1", {}, false),
            "edge-1: no differences with strait-cp's intended config\n");
}

TEST(DiffRender, PrettyJsonSortsKeys) {
  EXPECT_EQ(prettyJson(json::parse(R"({"b": 1, "a": [true, "x"]})")),
            "{\n  \"a\": [\n    true,\n    \"x\"\n  ],\n  \"b\": 1\n}\n");
}

TEST(DiffJson, TheShape) {
  Difference changed{ResourceType::Listeners, "edge", json{{"port", 1}}, json{{"port", 2}}};
  Difference only_proxy{ResourceType::Clusters, "local", std::nullopt, json{{"name", "local"}}};
  json doc = diffJson("edge-1", "edge", {changed, only_proxy});
  EXPECT_EQ(doc["node"], "edge-1");
  EXPECT_EQ(doc["group"], "edge");
  EXPECT_EQ(doc["exit_code"], kDiffDiffers);
  ASSERT_EQ(doc["differences"].size(), 2u);
  EXPECT_EQ(doc["differences"][0], (json{{"type", "listeners"},
                                         {"name", "edge"},
                                         {"intended", {{"port", 1}}},
                                         {"proxy", {{"port", 2}}}}));
  EXPECT_TRUE(doc["differences"][1]["intended"].is_null());
  EXPECT_EQ(diffJson("edge-1", "edge", {})["exit_code"], kDiffSame);
}

}  // namespace
}  // namespace strait::ctl
