// straitctl status's pure half (ctl/status.h): two replicas' /status merged, the table, the
// exit code per state mix, the --json shape. No network.

#include "ctl/status.h"

#include <gtest/gtest.h>

namespace strait::ctl {
namespace {

using nlohmann::json;

// A /status "types" entry as strait-cp writes it.
json type(const std::string& state, bool subscribed = true, const std::string& acked = "") {
  json out = {{"state", state}, {"subscribed", subscribed}, {"acks", 1}};
  if (!acked.empty()) {
    out["acked"] = {{"version", acked}};
  }
  return out;
}

json node(const std::string& id, bool connected, json types) {
  return {{"id", id},
          {"cluster", "edge"},
          {"connected", connected},
          {"transport", "stream"},
          {"types", std::move(types)}};
}

ReplicaStatus replica(const std::string& url, json nodes) {
  return {url, true, "", {{"groups", json::object()}, {"nodes", std::move(nodes)}}};
}

json syncedTypes() {
  return {{"clusters", type("SYNCED", true, "0123456789abcdef")},
          {"listeners", type("SYNCED", true, "fedcba9876543210")},
          {"carbon_signals", type("NOT_SENT", false)}};
}

TEST(StatusMerge, NodesOfTwoReplicasAreJoinedAndTheConnectedEntryWins) {
  json stale_b = {{"clusters", type("DISCONNECTED", true, "0123456789abcdef")}};
  MergedStatus merged = mergeStatus(
      {replica("http://a",
               json::array({node("edge-1", true, syncedTypes()), node("edge-2", false, stale_b)})),
       replica("http://b", json::array({node("edge-2", true, syncedTypes())}))});
  ASSERT_EQ(merged.nodes.size(), 2u);
  EXPECT_EQ(merged.nodes[0].id, "edge-1");
  EXPECT_EQ(merged.nodes[0].replica, "http://a");
  EXPECT_EQ(merged.nodes[1].id, "edge-2");
  EXPECT_TRUE(merged.nodes[1].connected);
  EXPECT_EQ(merged.nodes[1].replica, "http://b");
  EXPECT_EQ(merged.reached, (std::vector<std::string>{"http://a", "http://b"}));
  EXPECT_EQ(exitCode(merged), kExitSynced);
}

TEST(StatusMerge, BetweenTwoDisconnectedEntriesTheFirstReplicaWins) {
  json a = {{"clusters", type("DISCONNECTED", true, "aaaaaaaaaaaa")}};
  json b = {{"clusters", type("DISCONNECTED", true, "bbbbbbbbbbbb")}};
  MergedStatus merged = mergeStatus({replica("http://a", json::array({node("n", false, a)})),
                                     replica("http://b", json::array({node("n", false, b)}))});
  ASSERT_EQ(merged.nodes.size(), 1u);
  EXPECT_EQ(merged.nodes[0].types[0].acked_version, "aaaaaaaaaaaa");
}

TEST(StatusMerge, OnlySubscribedTypesInPushOrder) {
  MergedStatus merged = mergeStatus(
      {replica("http://a", json::array({node("n", true,
                                             {{"routes", type("SYNCED")},
                                              {"clusters", type("SYNCED")},
                                              {"secrets", type("SYNCED")},
                                              {"carbon_signals", type("NOT_SENT", false)}})}))});
  ASSERT_EQ(merged.nodes[0].types.size(), 3u);
  EXPECT_EQ(merged.nodes[0].types[0].type, "secrets");
  EXPECT_EQ(merged.nodes[0].types[1].type, "clusters");
  EXPECT_EQ(merged.nodes[0].types[2].type, "routes");
}

TEST(StatusTable, ShowsStatesVersionsAgeAndNackErrors) {
  json types = {{"clusters", type("SYNCED", true, "0123456789abcdef")},
                {"listeners", type("NACKED", true, "fedcba9876543210")},
                {"routes", type("STALE", true)}};
  types["listeners"]["error"] = "listener edge: address in use";
  types["routes"]["state_age_seconds"] = 12.25;
  MergedStatus merged = mergeStatus(
      {replica("http://a", json::array({node("edge-1", true, types),
                                        node("edge-22", true, {{"clusters", type("SYNCED")}})}))});
  EXPECT_EQ(renderTable(merged),
            "NODE     GROUP  CLUSTERS         LISTENERS        ROUTES  AGE    FINDINGS\n"
            "edge-1   edge   SYNCED 01234567  NACKED fedcba98  STALE   12.2s\n"
            "edge-22  edge   SYNCED           -                -\n"
            "\n"
            "NACK errors:\n"
            "  edge-1 listeners: listener edge: address in use\n");
}

json finding(const std::string& subject, std::vector<std::string> nodes) {
  return {{"kind", "ejected_intended_healthy"}, {"group", "edge"},   {"cluster", "api"},
          {"subject", subject},                 {"nodes", nodes},    {"value", 1.0},
          {"detail", "endpoint " + subject + " ejected"}, {"for_seconds", 3.0}};
}

TEST(StatusFindings, ReplicasFindingsAreJoinedShownPerNodeAndFailTheExitCode) {
  ReplicaStatus a = replica("http://a", json::array({node("p1", true, syncedTypes())}));
  a.status["findings"] = json::array({finding("10.0.0.3:80", {"p1"})});
  ReplicaStatus b = replica("http://b", json::array({node("p2", true, syncedTypes()),
                                                     node("p3", true, syncedTypes())}));
  b.status["findings"] = json::array({finding("10.0.0.3:80", {"p2"})});
  MergedStatus merged = mergeStatus({a, b});
  ASSERT_EQ(merged.findings.size(), 1u);
  EXPECT_EQ(merged.findings[0].nodes, (std::vector<std::string>{"p1", "p2"}));
  EXPECT_EQ(exitCode(merged), kExitNotSynced);  // every proxy SYNCED, yet a finding
  std::string table = renderTable(merged);
  EXPECT_NE(table.find("AGE  FINDINGS\n"), std::string::npos) << table;
  EXPECT_NE(table.find("\nBehaviour findings:\n  ejected_intended_healthy edge/api 10.0.0.3:80 "
                       "[p1,p2]: endpoint 10.0.0.3:80 ejected\n"),
            std::string::npos)
      << table;
  // p1 and p2 are named by one finding, p3 by none.
  for (const std::string& line : {std::string("p1 "), std::string("p2 ")}) {
    size_t at = table.find("\n" + line);
    ASSERT_NE(at, std::string::npos) << table;
    std::string row = table.substr(at + 1, table.find('\n', at + 1) - at - 1);
    EXPECT_EQ(row.back(), '1') << row;
  }
  size_t p3 = table.find("\np3 ");
  std::string row = table.substr(p3 + 1, table.find('\n', p3 + 1) - p3 - 1);
  EXPECT_NE(row.back(), '1') << row;
  json doc = statusJson(merged);
  ASSERT_EQ(doc["findings"].size(), 1u);
  EXPECT_EQ(doc["findings"][0]["nodes"], json::array({"p1", "p2"}));
  EXPECT_EQ(doc["exit_code"], 1);
}

TEST(StatusTable, ADriftedTypeShowsTheVersionItRuns) {
  json types = {{"clusters", type("DRIFTED", true, "0123456789abcdef")}};
  types["clusters"]["applied"] = "aaaabbbbccccdddd";
  MergedStatus merged = mergeStatus({replica("http://a", json::array({node("n", true, types)}))});
  EXPECT_NE(renderTable(merged).find("DRIFTED 01234567 (runs aaaabbbb)"), std::string::npos)
      << renderTable(merged);
  EXPECT_EQ(statusJson(merged)["nodes"][0]["types"]["clusters"]["applied_version"],
            "aaaabbbbccccdddd");
}

TEST(StatusTable, NoNodeSaysNoProxies) {
  MergedStatus merged = mergeStatus({replica("http://a", json::array())});
  EXPECT_EQ(renderTable(merged), "no proxies\n");
  EXPECT_EQ(exitCode(merged), kExitNotSynced);
}

TEST(StatusExitCode, OnlyAllSyncedIsZero) {
  for (const char* state : {"NOT_SENT", "NACKED", "STALE", "LAGGING", "DRIFTED", "DISCONNECTED"}) {
    json types = {{"clusters", type("SYNCED")}, {"routes", type(state)}};
    MergedStatus merged = mergeStatus({replica("http://a", json::array({node("n", true, types)}))});
    EXPECT_EQ(exitCode(merged), kExitNotSynced) << state;
  }
  // A type not subscribed does not count, whatever its state.
  json types = {{"clusters", type("SYNCED")}, {"routes", type("NOT_SENT", false)}};
  EXPECT_EQ(exitCode(mergeStatus({replica("http://a", json::array({node("n", true, types)}))})),
            kExitSynced);
  // A node subscribed to nothing gets no config: not synced.
  EXPECT_EQ(exitCode(mergeStatus({replica("http://a", json::array({node("n", true, {})}))})),
            kExitNotSynced);
}

TEST(StatusExitCode, AnUnreachableReplicaIsTwoAndTheOthersStillShow) {
  ReplicaStatus down{"http://127.0.0.1:1", false, "connect 127.0.0.1:1: Connection refused", {}};
  MergedStatus merged =
      mergeStatus({replica("http://a", json::array({node("n", true, syncedTypes())})), down});
  EXPECT_EQ(exitCode(merged), kExitUnreachable);
  ASSERT_EQ(merged.nodes.size(), 1u);
  ASSERT_EQ(merged.unreachable.size(), 1u);
  EXPECT_EQ(merged.unreachable[0].url, "http://127.0.0.1:1");
}

TEST(StatusJson, Shape) {
  json types = syncedTypes();
  types["listeners"] = type("NACKED", true, "fedcba9876543210");
  types["listeners"]["error"] = "boom";
  ReplicaStatus down{"http://down", false, "refused", {}};
  json out = statusJson(
      mergeStatus({replica("http://a", json::array({node("edge-1", true, types)})), down}));
  EXPECT_EQ(out["exit_code"], 2);
  EXPECT_EQ(out["synced"], false);
  ASSERT_EQ(out["replicas"].size(), 2u);
  EXPECT_EQ(out["replicas"][0], json({{"url", "http://a"}, {"ok", true}}));
  EXPECT_EQ(out["replicas"][1],
            json({{"url", "http://down"}, {"ok", false}, {"error", "refused"}}));
  ASSERT_EQ(out["nodes"].size(), 1u);
  const json& n = out["nodes"][0];
  EXPECT_EQ(n["id"], "edge-1");
  EXPECT_EQ(n["group"], "edge");
  EXPECT_EQ(n["connected"], true);
  EXPECT_EQ(n["transport"], "stream");
  EXPECT_EQ(n["replica"], "http://a");
  EXPECT_EQ(n["synced"], false);
  EXPECT_EQ(n["types"]["clusters"],
            json({{"state", "SYNCED"}, {"acked_version", "0123456789abcdef"}}));
  EXPECT_EQ(n["types"]["listeners"]["error"], "boom");
  EXPECT_FALSE(n["types"].contains("carbon_signals"));
}

}  // namespace
}  // namespace strait::ctl
