// strait-cp's source: a group's files merged, validated by the proxy's loader with errors
// pointing into the file they came from, and cut into discovery resources.

#include "control/source.h"

#include "filters/parsers.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace strait::cp {
namespace {

using config::ResourceType;

const char* kClusters = R"(clusters:
  - name: api
    endpoints:
      - {address: 127.0.0.1, port: 8081}
      - {address: 127.0.0.1, port: 8082}
  - name: search
    endpoints: [{address: 127.0.0.1, port: 8083}]
)";

const char* kListeners = R"(listeners:
  - name: edge
    port: 8080
    virtual_hosts:
      - name: all
        domains: ["*"]
        routes:
          - match: {prefix: /}
            route: {cluster: api}
)";

TEST(SourceTest, AGroupIsCutIntoResourcesPerType) {
  GroupResult result = buildGroup("edge", {{"shared/clusters.yaml", kClusters},
                                           {"edge/listeners.yaml", kListeners}});
  ASSERT_TRUE(result.errors.empty()) << result.errors[0].toString();
  const GroupSnapshot& s = result.snapshot;
  EXPECT_EQ(s.clusters, 2u);
  EXPECT_EQ(s.endpoints, 3u);
  EXPECT_EQ(s.listeners, 1u);
  ASSERT_EQ(s.of(ResourceType::Clusters).size(), 2u);
  EXPECT_EQ(s.of(ResourceType::Clusters)[0].name, "api");
  EXPECT_EQ(s.of(ResourceType::Clusters)[0].body.find("endpoints"), std::string::npos);
  ASSERT_EQ(s.of(ResourceType::Endpoints).size(), 2u);
  EXPECT_EQ(s.of(ResourceType::Endpoints)[1].body,
            R"({"endpoints":[{"address":"127.0.0.1","port":8083}]})");
  ASSERT_EQ(s.of(ResourceType::Routes).size(), 1u);
  EXPECT_EQ(s.of(ResourceType::Routes)[0].name, "edge");
  EXPECT_NE(s.of(ResourceType::Routes)[0].body.find("\"cluster\":\"api\""), std::string::npos);
  EXPECT_EQ(s.of(ResourceType::Listeners)[0].body.find("virtual_hosts"), std::string::npos);
}

// The same config in another layout, order and quoting has the same versions: two replicas
// reading the same source agree.
TEST(SourceTest, VersionsDependOnContentNotLayout) {
  const char* reordered = R"(clusters:
  - endpoints: [{port: 8083, address: "127.0.0.1"}]
    name: search
  - name: api
    endpoints: [{address: 127.0.0.1, port: 8081}, {address: 127.0.0.1, port: 8082}]
)";
  GroupResult a = buildGroup("g", {{"a.yaml", kClusters}, {"b.yaml", kListeners}});
  GroupResult b = buildGroup("g", {{"b.yaml", kListeners}, {"a.yaml", reordered}});
  ASSERT_TRUE(a.errors.empty() && b.errors.empty());
  EXPECT_EQ(a.snapshot.fingerprint(), b.snapshot.fingerprint());
  // An endpoint-only change moves only the endpoints version.
  std::string moved = kClusters;
  moved.replace(moved.find("8082"), 4, "8092");
  GroupResult c = buildGroup("g", {{"a.yaml", moved}, {"b.yaml", kListeners}});
  ASSERT_TRUE(c.errors.empty());
  for (ResourceType type : config::kPushOrder) {
    EXPECT_EQ(a.snapshot.version(type) == c.snapshot.version(type),
              type != ResourceType::Endpoints)
        << config::typeName(type);
  }
}

TEST(SourceTest, ErrorsPointIntoTheFileTheyCameFrom) {
  const char* bad = R"(clusters:
  - name: extra
    endpoints: [{address: 127.0.0.1, port: 8084}]
    lb: fastest
)";
  GroupResult result =
      buildGroup("edge", {{"clusters.yaml", kClusters}, {"more.yaml", bad}, {"l.yaml", kListeners}});
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].file, "more.yaml");
  EXPECT_EQ(result.errors[0].line, 4);
  EXPECT_EQ(result.errors[0].path, "clusters[0].lb");
  EXPECT_NE(result.errors[0].message.find("round_robin"), std::string::npos);
}

TEST(SourceTest, AReferenceToAMissingClusterIsAnError) {
  std::string listeners = kListeners;
  listeners.replace(listeners.find("cluster: api"), 12, "cluster: apx");
  GroupResult result = buildGroup("edge", {{"c.yaml", kClusters}, {"l.yaml", listeners}});
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].file, "l.yaml");
  EXPECT_EQ(result.errors[0].path, "listeners[0].virtual_hosts[0].routes[0].route.cluster");
  EXPECT_NE(result.errors[0].message.find("did you mean \"api\""), std::string::npos);
}

TEST(SourceTest, ANameDefinedInTwoFilesIsAnError) {
  GroupResult result = buildGroup("edge", {{"a.yaml", kClusters}, {"b.yaml", kClusters}});
  ASSERT_EQ(result.errors.size(), 2u);
  EXPECT_EQ(result.errors[0].toString(),
            "b.yaml:2:5: clusters[0]: cluster \"api\" is defined twice (first at a.yaml:2:5, "
            "clusters[0])");
}

TEST(SourceTest, UnknownKeysAndBadYamlAreErrors) {
  GroupResult result = buildGroup("edge", {{"a.yaml", "listners: []\n"}, {"b.yaml", "[: x"}});
  ASSERT_EQ(result.errors.size(), 2u);
  EXPECT_EQ(result.errors[0].path, "listners");
  EXPECT_EQ(result.errors[1].file, "b.yaml");
  EXPECT_EQ(result.errors[1].message.rfind("invalid YAML", 0), 0u);
}

TEST(SourceTest, JsonFilesAreReadAsJsonWithTheSameResult) {
  const char* clusters_json = R"({"clusters": [
    {"name": "api", "endpoints": [{"address": "127.0.0.1", "port": 8081},
                                  {"address": "127.0.0.1", "port": 8082}]},
    {"name": "search", "endpoints": [{"address": "127.0.0.1", "port": 8083}]}]})";
  GroupResult yaml = buildGroup("g", {{"c.yaml", kClusters}, {"l.yaml", kListeners}});
  GroupResult json = buildGroup("g", {{"c.json", clusters_json}, {"l.yaml", kListeners}});
  ASSERT_TRUE(json.errors.empty()) << json.errors[0].toString();
  EXPECT_EQ(json.snapshot.fingerprint(), yaml.snapshot.fingerprint());

  GroupResult bad = buildGroup("g", {{"c.json", "{\"clusters\": [\n  {\"name\": }]}"}});
  ASSERT_EQ(bad.errors.size(), 1u);
  EXPECT_EQ(bad.errors[0].file, "c.json");
  EXPECT_EQ(bad.errors[0].line, 2);
  EXPECT_EQ(bad.errors[0].message.rfind("invalid JSON: ", 0), 0u) << bad.errors[0].message;
}

// A change re-parses only the file it touched; the result is that of a fresh read.
TEST(SourceTest, UnchangedFilesAreNotParsedAgain) {
  ParsedFiles cache;
  GroupResult first = buildGroup("g", {{"c.yaml", kClusters}, {"l.yaml", kListeners}}, &cache);
  ASSERT_TRUE(first.errors.empty());
  EXPECT_EQ(cache.hits(), 0u);
  std::string listeners = kListeners;
  listeners.replace(listeners.find("prefix: /"), 9, "prefix: /v2");
  GroupResult second = buildGroup("g", {{"c.yaml", kClusters}, {"l.yaml", listeners}}, &cache);
  EXPECT_EQ(cache.hits(), 1u);  // c.yaml only
  GroupResult fresh = buildGroup("g", {{"c.yaml", kClusters}, {"l.yaml", listeners}});
  EXPECT_EQ(second.snapshot.fingerprint(), fresh.snapshot.fingerprint());
  EXPECT_NE(second.snapshot.fingerprint(), first.snapshot.fingerprint());
  // A cached syntax error is reported again, not forgotten.
  buildGroup("g", {{"b.yaml", "[: x"}}, &cache);
  GroupResult again = buildGroup("g", {{"b.yaml", "[: x"}}, &cache);
  ASSERT_EQ(again.errors.size(), 1u);
  EXPECT_EQ(again.errors[0].file, "b.yaml");
}

// An item with `node:` replaces the item of the same name for that node only, or adds one.
TEST(SourceTest, PerNodeOverridesReplaceOrAddForThatNodeOnly) {
  const char* overrides = R"(clusters:
  - name: api
    node: canary-1
    endpoints: [{address: 127.0.0.1, port: 9091}]
  - name: debug
    node: [canary-1, canary-2]
    endpoints: [{address: 127.0.0.1, port: 9099}]
)";
  GroupResult result = buildGroup(
      "edge", {{"c.yaml", kClusters}, {"l.yaml", kListeners}, {"o.yaml", overrides}});
  ASSERT_TRUE(result.errors.empty()) << result.errors[0].toString();
  const GroupSnapshot& group = result.snapshot;
  EXPECT_EQ(group.of(ResourceType::Clusters).size(), 2u);  // api, search: no debug
  ASSERT_EQ(group.nodes.size(), 2u);
  const GroupSnapshot& canary = group.forNode("canary-1");
  ASSERT_EQ(canary.of(ResourceType::Clusters).size(), 3u);
  EXPECT_EQ(canary.of(ResourceType::Clusters)[1].name, "debug");
  EXPECT_NE(canary.of(ResourceType::Endpoints)[0].body.find("9091"), std::string::npos);
  EXPECT_EQ(canary.of(ResourceType::Endpoints)[0].body.find("8081"), std::string::npos);
  EXPECT_EQ(canary.of(ResourceType::Clusters)[0].body.find("\"node\""), std::string::npos);
  const GroupSnapshot& other = group.forNode("canary-2");
  EXPECT_NE(other.of(ResourceType::Endpoints)[0].body.find("8081"), std::string::npos);
  EXPECT_EQ(other.of(ResourceType::Clusters).size(), 3u);
  EXPECT_EQ(&group.forNode("anyone-else"), &group);
  EXPECT_NE(canary.version(ResourceType::Endpoints), group.version(ResourceType::Endpoints));
  EXPECT_EQ(canary.version(ResourceType::Routes), group.version(ResourceType::Routes));
  // A change to an override alone changes the group's fingerprint (so it is published).
  std::string changed = overrides;
  changed.replace(changed.find("9091"), 4, "9092");
  GroupResult next = buildGroup(
      "edge", {{"c.yaml", kClusters}, {"l.yaml", kListeners}, {"o.yaml", changed}});
  ASSERT_TRUE(next.errors.empty());
  EXPECT_NE(next.snapshot.fingerprint(), group.fingerprint());
}

TEST(SourceTest, AnInvalidOverrideIsAnErrorOfItsFileAndNode) {
  const char* twice = R"(clusters:
  - {name: api, node: n1, endpoints: [{address: 127.0.0.1, port: 1}]}
  - {name: api, node: n1, endpoints: [{address: 127.0.0.1, port: 2}]}
)";
  GroupResult dup = buildGroup("g", {{"c.yaml", kClusters}, {"o.yaml", twice}});
  ASSERT_EQ(dup.errors.size(), 1u);
  EXPECT_EQ(dup.errors[0].file, "o.yaml");
  EXPECT_EQ(dup.errors[0].path, "clusters[1]");
  EXPECT_EQ(dup.errors[0].message,
            "for node n1: cluster \"api\" is defined twice (first at o.yaml:2:5, clusters[0])");
  // JSON items have no position: the message says the file alone.
  GroupResult dup_json = buildGroup(
      "g", {{"o.json", R"({"clusters": [{"name": "x", "endpoints": [{"address": "127.0.0.1", "port": 1}]},
                                       {"name": "x", "endpoints": [{"address": "127.0.0.1", "port": 2}]}]})"}});
  ASSERT_EQ(dup_json.errors.size(), 1u);
  EXPECT_EQ(dup_json.errors[0].toString(),
            "o.json: clusters[1]: cluster \"x\" is defined twice (first at o.json, clusters[0])");
  // An error of the group's own files is reported once, not again for every node.
  GroupResult group_error = buildGroup(
      "g", {{"c.yaml", "clusters: [{name: api, lb: fastest, endpoints: [{address: 127.0.0.1, port: 1}]}]\n"},
            {"o.yaml", "clusters: [{name: api, node: n1, endpoints: [{address: 127.0.0.1, port: 2}]}]\n"}});
  ASSERT_EQ(group_error.errors.size(), 1u);
  EXPECT_EQ(group_error.errors[0].file, "c.yaml");

  const char* bad = R"(clusters:
  - {name: api, node: n1, lb: fastest, endpoints: [{address: 127.0.0.1, port: 1}]}
)";
  GroupResult invalid = buildGroup("g", {{"c.yaml", kClusters}, {"o.yaml", bad}});
  ASSERT_EQ(invalid.errors.size(), 1u);
  EXPECT_EQ(invalid.errors[0].file, "o.yaml");
  EXPECT_EQ(invalid.errors[0].line, 2);
  EXPECT_EQ(invalid.errors[0].path, "clusters[0].lb");
  EXPECT_EQ(invalid.errors[0].message.rfind("for node n1: ", 0), 0u) << invalid.errors[0].message;

  GroupResult no_id = buildGroup("g", {{"o.yaml", "clusters: [{name: x, node: {}}]\n"}});
  ASSERT_EQ(no_id.errors.size(), 1u);
  EXPECT_EQ(no_id.errors[0].path, "clusters[0].node");
}

// Secrets name PEM files next to their source file; strait-cp pushes the files' text.
TEST(SourceTest, SecretsCarryTheirFilesPemText) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("strait-cp-secrets-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "edge" / "pki");
  const std::string cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  const std::string key = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n";
  std::ofstream(dir / "edge" / "pki" / "edge.crt") << cert;
  std::ofstream(dir / "edge" / "pki" / "edge.key") << key;
  std::ofstream(dir / "edge" / "pki" / "not-a-key.key") << "hello\n";
  std::string secrets = "secrets:\n  - {name: edge-cert, cert: pki/edge.crt, key: pki/edge.key}\n";
  std::string listeners = R"(listeners:
  - name: edge
    port: 8443
    tls: {certificates: [{secret: edge-cert}]}
    virtual_hosts: [{name: all, domains: ["*"], routes: [{match: {prefix: /}, route: {cluster: api}}]}]
)";
  std::string base = (dir / "edge").string();
  GroupResult result = buildGroup("edge", {{base + "/s.yaml", secrets},
                                           {base + "/c.yaml", kClusters},
                                           {base + "/l.yaml", listeners}});
  ASSERT_TRUE(result.errors.empty()) << result.errors[0].toString();
  const auto& pushed = result.snapshot.of(ResourceType::Secrets);
  ASSERT_EQ(pushed.size(), 1u);
  EXPECT_EQ(pushed[0].name, "edge-cert");
  nlohmann::json body = nlohmann::json::parse(pushed[0].body);
  EXPECT_EQ(body["certificate_chain"], cert);
  EXPECT_EQ(body["private_key"], key);
  EXPECT_FALSE(body.contains("trust_bundle"));
  // The listener refers to the secret by name: its resource carries no path and no PEM.
  const std::string& listener = result.snapshot.of(ResourceType::Listeners)[0].body;
  EXPECT_NE(listener.find("\"secret\":\"edge-cert\""), std::string::npos) << listener;
  EXPECT_EQ(listener.find("BEGIN"), std::string::npos);

  // A file that is missing or holds no PEM of its kind is an error at its key.
  GroupResult bad = buildGroup(
      "edge", {{base + "/s.yaml",
                "secrets:\n  - name: a\n    cert: pki/missing.crt\n    key: pki/edge.key\n"
                "  - {name: b, cert: pki/edge.crt, key: pki/not-a-key.key}\n"}});
  ASSERT_EQ(bad.errors.size(), 2u);
  EXPECT_EQ(bad.errors[0].line, 3);
  EXPECT_EQ(bad.errors[0].path, "secrets[0].cert");
  EXPECT_NE(bad.errors[0].message.find("cannot read"), std::string::npos);
  EXPECT_EQ(bad.errors[1].path, "secrets[1].key");
  EXPECT_NE(bad.errors[1].message.find("holds no PEM PRIVATE KEY"), std::string::npos)
      << bad.errors[1].message;
  // A rotated file changes the secrets version, and is seen by the watch.
  std::string before = sourceFingerprint(dir.string());
  std::ofstream(dir / "edge" / "pki" / "edge.crt") << cert << cert;
  EXPECT_NE(sourceFingerprint(dir.string()), before);
  GroupResult rotated = buildGroup("edge", {{base + "/s.yaml", secrets},
                                            {base + "/c.yaml", kClusters},
                                            {base + "/l.yaml", listeners}});
  ASSERT_TRUE(rotated.errors.empty());
  EXPECT_NE(rotated.snapshot.version(ResourceType::Secrets),
            result.snapshot.version(ResourceType::Secrets));
  EXPECT_EQ(rotated.snapshot.version(ResourceType::Listeners),
            result.snapshot.version(ResourceType::Listeners));
  fs::remove_all(dir);
}

// strait-cp validates filter blocks with the filters' own parsers (filters/parsers.h) and
// pushes filter_configs as resources of their own, which listeners name.
TEST(SourceTest, FilterConfigsAreValidatedByTheFiltersAndPushedOnTheirOwn) {
  filters::registerBuiltinFilterParsers();
  std::string listeners = kListeners;
  listeners.replace(listeners.find("    virtual_hosts:"), 0,
                    "    http: {filters: [{filter_config: chaos}]}\n");
  GroupResult result = buildGroup(
      "g", {{"c.yaml", kClusters},
            {"l.yaml", listeners},
            {"f.yaml", "filter_configs:\n  - {name: chaos, filter: fault, config: {abort: "
                       "{status: 503, percent: 1}}}\n"}});
  ASSERT_TRUE(result.errors.empty()) << result.errors[0].toString();
  const auto& pushed = result.snapshot.of(ResourceType::FilterConfigs);
  ASSERT_EQ(pushed.size(), 1u);
  EXPECT_EQ(pushed[0].name, "chaos");
  EXPECT_EQ(pushed[0].body, R"({"config":{"abort":{"percent":1,"status":503}},"filter":"fault"})");
  EXPECT_NE(result.snapshot.of(ResourceType::Listeners)[0].body.find(R"("filter_config":"chaos")"),
            std::string::npos);

  GroupResult bad = buildGroup(
      "g", {{"f.yaml", "filter_configs:\n  - name: chaos\n    filter: fault\n"
                       "    config: {abort: {status: 99, percent: 1}}\n"}});
  ASSERT_EQ(bad.errors.size(), 1u);
  EXPECT_EQ(bad.errors[0].file, "f.yaml");
  EXPECT_EQ(bad.errors[0].line, 4);
  EXPECT_EQ(bad.errors[0].path, "filter_configs[0].config.abort.status");
}

TEST(SourceTest, ADirectoryHasOneSnapshotPerGroupAndSharedFilesApplyToAll) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("strait-cp-source-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "_shared");
  fs::create_directories(dir / "edge");
  fs::create_directories(dir / "mesh");
  std::ofstream(dir / "_shared" / "clusters.yaml") << kClusters;
  std::ofstream(dir / "edge" / "listeners.yaml") << kListeners;
  std::ofstream(dir / "mesh" / "broken.yaml") << "clusters: {}\n";
  std::ofstream(dir / "edge" / "notes.txt") << "not a source file";
  std::string before = sourceFingerprint(dir.string());
  SourceResult result = loadSource(dir.string());
  ASSERT_EQ(result.groups.size(), 1u);
  EXPECT_EQ(result.groups.at("edge").clusters, 2u);
  ASSERT_EQ(result.errors.count("mesh"), 1u);
  EXPECT_EQ(result.errors.at("mesh")[0].path, "clusters");
  std::ofstream(dir / "mesh" / "broken.yaml") << "listeners: []\n";
  EXPECT_NE(sourceFingerprint(dir.string()), before);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace strait::cp
