// The behavioural divergence detector (control/divergence.h) on a simulated clock, and the
// report's codec (config/report.h).

#include "control/divergence.h"

#include <gtest/gtest.h>

#include "config/report.h"

namespace strait::cp {
namespace {

using namespace std::chrono_literals;
using config::ClusterReport;
using config::EndpointReport;
using config::ProxyReport;
using Time = std::chrono::steady_clock::time_point;

// Group edge: cluster api with a (zone a, weight 3), b (zone a, weight 1) and c (zone b, weight 4).
GroupSnapshot snapshot() {
  GroupSnapshot s;
  s.group = "edge";
  s.resources[static_cast<size_t>(config::ResourceType::Endpoints)] = {
      {"api",
       R"({"endpoints":[{"address":"10.0.0.1","port":80,"weight":3,)"
       R"("locality":{"region":"r","zone":"a"}},)"
       R"({"address":"10.0.0.2","port":80,"locality":{"region":"r","zone":"a"}},)"
       R"({"address":"10.0.0.3","port":80,"weight":4,"locality":{"region":"r","zone":"b"}}]})"},
  };
  return s;
}

EndpointReport endpoint(const std::string& address, const std::string& zone, uint64_t requests,
                        bool ejected = false) {
  EndpointReport e;
  e.address = address;
  e.locality = "r/" + zone;
  e.requests = requests;
  e.ejected = ejected;
  return e;
}

ProxyReport report(std::vector<EndpointReport> endpoints) {
  ProxyReport r;
  r.interval_ms = 1000;
  ClusterReport c;
  c.name = "api";
  c.endpoints = std::move(endpoints);
  r.clusters.push_back(c);
  return r;
}

class DivergenceTest : public ::testing::Test {
 protected:
  DivergenceDetector::IntendedFn intended() {
    return [this](const std::string& group, const std::string&) -> const GroupSnapshot* {
      return group == "edge" ? &snapshot_ : nullptr;
    };
  }
  void send(const std::string& node, ProxyReport r) {
    detector_.onReport(node, "edge", std::move(r), now_, intended());
  }
  std::vector<Finding> findings() { return detector_.findings(now_, intended()); }

  DivergenceOptions options() {
    DivergenceOptions o;
    o.share_l1_threshold = 0.3;
    o.share_hold = 5s;
    o.share_min_requests = 20;
    return o;
  }

  GroupSnapshot snapshot_ = snapshot();
  DivergenceDetector detector_{options()};
  Time now_ = Time{} + 1000s;
};

TEST_F(DivergenceTest, SharesAndTheirDistance) {
  std::map<std::string, double> want = intendedShare(snapshot_, "api");
  EXPECT_DOUBLE_EQ(want["r/a"], 0.5);
  EXPECT_DOUBLE_EQ(want["r/b"], 0.5);
  EXPECT_TRUE(intendedShare(snapshot_, "other").empty());
  EXPECT_DOUBLE_EQ(shareDistance({{"x", 1.0}}, {{"y", 1.0}}), 2.0);
  EXPECT_DOUBLE_EQ(shareDistance({{"x", 0.5}, {"y", 0.5}}, {{"x", 0.75}, {"y", 0.25}}), 0.5);
}

TEST_F(DivergenceTest, AnEndpointMostProxiesEjectIsAFindingNamingThem) {
  send("p1", report({endpoint("10.0.0.1:80", "a", 10), endpoint("10.0.0.3:80", "b", 10, true)}));
  send("p2", report({endpoint("10.0.0.1:80", "a", 10), endpoint("10.0.0.3:80", "b", 10, true)}));
  send("p3", report({endpoint("10.0.0.1:80", "a", 10), endpoint("10.0.0.3:80", "b", 10)}));
  std::vector<Finding> found = findings();
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].kind, "ejected_intended_healthy");
  EXPECT_EQ(found[0].cluster, "api");
  EXPECT_EQ(found[0].subject, "10.0.0.3:80");
  EXPECT_EQ(found[0].nodes, (std::vector<std::string>{"p1", "p2"}));
  EXPECT_NEAR(found[0].value, 2.0 / 3, 1e-9);
  EXPECT_NE(found[0].detail.find("2 of 3 proxies (p1, p2)"), std::string::npos)
      << found[0].detail;
  EXPECT_EQ(found[0].since, now_);

  // It keeps its first-seen time while it lasts.
  Time first = now_;
  now_ += 10s;
  send("p1", report({endpoint("10.0.0.3:80", "b", 0, true)}));
  send("p2", report({endpoint("10.0.0.3:80", "b", 0, true)}));
  send("p3", report({endpoint("10.0.0.3:80", "b", 0)}));
  ASSERT_EQ(findings().size(), 1u);
  EXPECT_EQ(findings()[0].since, first);
}

TEST_F(DivergenceTest, OneProxyOfThreeEjectingIsNotAFinding) {
  send("p1", report({endpoint("10.0.0.3:80", "b", 10, true)}));
  send("p2", report({endpoint("10.0.0.3:80", "b", 10)}));
  send("p3", report({endpoint("10.0.0.3:80", "b", 10)}));
  EXPECT_TRUE(findings().empty());
  // Half is not most either.
  send("p2", report({endpoint("10.0.0.3:80", "b", 10, true)}));
  send("p4", report({endpoint("10.0.0.3:80", "b", 10)}));
  EXPECT_TRUE(findings().empty());
}

TEST_F(DivergenceTest, UnhealthyCountsAsEjectedAndUnlistedEndpointsAreIgnored) {
  EndpointReport sick = endpoint("10.0.0.2:80", "a", 0);
  sick.healthy = false;
  send("p1", report({sick, endpoint("192.168.9.9:80", "a", 0, true)}));
  std::vector<Finding> found = findings();
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].subject, "10.0.0.2:80");
}

TEST_F(DivergenceTest, QuietAndDisconnectedProxiesStopCounting) {
  send("p1", report({endpoint("10.0.0.3:80", "b", 0, true)}));
  ASSERT_EQ(findings().size(), 1u);
  now_ += 3001ms;  // over 3 intervals of 1 s: the report is stale
  EXPECT_TRUE(findings().empty());
  send("p1", report({endpoint("10.0.0.3:80", "b", 0, true)}));
  ASSERT_EQ(findings().size(), 1u);
  detector_.onDisconnect("p1");
  EXPECT_TRUE(findings().empty());
  EXPECT_EQ(detector_.report("p1"), nullptr);
}

TEST_F(DivergenceTest, ALocalityShareOffForTheHoldTimeIsAFinding) {
  // Intended 50/50; p1 sends 90% to zone a (distance 0.8), p2 as intended.
  auto skewed = [] {
    return report({endpoint("10.0.0.1:80", "a", 90), endpoint("10.0.0.3:80", "b", 10)});
  };
  auto even = [] {
    return report({endpoint("10.0.0.1:80", "a", 50), endpoint("10.0.0.3:80", "b", 50)});
  };
  send("p1", skewed());
  send("p2", even());
  EXPECT_TRUE(findings().empty());  // not for long enough yet
  Time over_since = now_;
  for (int i = 0; i < 4; i++) {
    now_ += 1s;
    send("p1", skewed());
    send("p2", even());
    EXPECT_TRUE(findings().empty()) << i;
  }
  now_ += 1s;  // 5 s over the threshold
  send("p1", skewed());
  send("p2", even());
  std::vector<Finding> found = findings();
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].kind, "locality_share");
  EXPECT_EQ(found[0].subject, "p1");
  EXPECT_NEAR(found[0].value, 0.8, 1e-9);
  EXPECT_EQ(found[0].since, over_since);
  EXPECT_NE(found[0].detail.find("r/a=90% r/b=10%, intended r/a=50% r/b=50%"), std::string::npos)
      << found[0].detail;

  // A window with too few requests neither confirms nor clears; one within the threshold clears.
  now_ += 1s;
  send("p1", report({endpoint("10.0.0.1:80", "a", 5)}));
  EXPECT_EQ(findings().size(), 1u);
  now_ += 1s;
  send("p1", even());
  EXPECT_TRUE(findings().empty());
}

TEST_F(DivergenceTest, AProxyAtItsConcurrencyFloorWhileOthersAreNot) {
  auto with_limit = [](uint64_t limit) {
    ProxyReport r = report({});
    r.clusters[0].concurrency = config::ConcurrencyReport{limit, 4};
    return r;
  };
  send("p1", with_limit(4));
  send("p2", with_limit(4));
  EXPECT_TRUE(findings().empty());  // everyone at the floor: the upstream, not one proxy
  send("p3", with_limit(40));
  std::vector<Finding> found = findings();
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].kind, "concurrency_at_floor");
  EXPECT_EQ(found[0].subject, "p1");
  EXPECT_EQ(found[1].subject, "p2");
}

TEST(ReportCodecTest, RoundTrip) {
  ProxyReport r;
  r.node = {"edge-1", "edge", "", ""};
  r.interval_ms = 500;
  r.window_ms = 498;
  r.admin = "127.0.0.1:9901";
  r.applied[static_cast<size_t>(config::ResourceType::Clusters)] = "0123456789abcdef";
  ClusterReport c;
  c.name = "api";
  EndpointReport e;
  e.address = "[::1]:80";
  e.locality = "r/z";
  e.healthy = false;
  e.ejected = true;
  e.requests = 12;
  e.errors = 3;
  c.endpoints.push_back(e);
  c.breakers_open = {"max_requests"};
  c.locality_weights = {{"r/z", 7}};
  c.concurrency = config::ConcurrencyReport{10, 2};
  r.clusters.push_back(c);
  std::string line = config::serialize(r);
  EXPECT_TRUE(config::isReportLine(line));
  EXPECT_FALSE(config::isReportLine(R"({"node":{"id":"x"},"type_url":"type.strait.dev/clusters"})"));
  std::string error;
  std::optional<ProxyReport> back = config::parseReport(line, error);
  ASSERT_TRUE(back.has_value()) << error;
  EXPECT_EQ(back->node.id, "edge-1");
  EXPECT_EQ(back->interval_ms, 500u);
  EXPECT_EQ(back->window_ms, 498u);
  EXPECT_EQ(back->admin, "127.0.0.1:9901");
  EXPECT_EQ(back->applied[static_cast<size_t>(config::ResourceType::Clusters)],
            "0123456789abcdef");
  EXPECT_EQ(back->applied[static_cast<size_t>(config::ResourceType::Routes)], "");
  ASSERT_EQ(back->clusters.size(), 1u);
  const ClusterReport& bc = back->clusters[0];
  ASSERT_EQ(bc.endpoints.size(), 1u);
  EXPECT_EQ(bc.endpoints[0].address, "[::1]:80");
  EXPECT_FALSE(bc.endpoints[0].healthy);
  EXPECT_TRUE(bc.endpoints[0].ejected);
  EXPECT_EQ(bc.endpoints[0].requests, 12u);
  EXPECT_EQ(bc.endpoints[0].errors, 3u);
  EXPECT_EQ(bc.breakers_open, (std::vector<std::string>{"max_requests"}));
  ASSERT_EQ(bc.locality_weights.size(), 1u);
  EXPECT_EQ(bc.locality_weights[0].weight, 7u);
  ASSERT_TRUE(bc.concurrency.has_value());
  EXPECT_EQ(bc.concurrency->limit, 10u);
  EXPECT_EQ(bc.concurrency->floor, 2u);
}

TEST(ReportCodecTest, ErrorsNameTheField) {
  std::string error;
  EXPECT_FALSE(config::parseReport("nope", error).has_value());
  EXPECT_EQ(error, "not valid JSON");
  EXPECT_FALSE(config::parseReport(R"({"report": 3})", error).has_value());
  EXPECT_EQ(error, "report: required, an object");
  EXPECT_FALSE(config::parseReport(
                   R"({"report": {"clusters": [{"name": "api", "endpoints": [{"requests": -1}]}]}})",
                   error)
                   .has_value());
  EXPECT_EQ(error, "report.clusters[0].endpoints[0].requests: expected a non-negative integer");
  EXPECT_FALSE(config::parseReport(
                   R"({"report": {"clusters": [{"name": "api", "endpoints": [{"health": "meh"}]}]}})",
                   error)
                   .has_value());
  EXPECT_EQ(error, "report.clusters[0].endpoints[0].health: expected \"healthy\" or \"unhealthy\"");
  EXPECT_FALSE(config::parseReport(R"({"report": {"clusters": [{}]}})", error).has_value());
  EXPECT_EQ(error, "report.clusters[0].name: required, a non-empty string");
  EXPECT_FALSE(config::parseReport(R"({"report": {"applied": {"clusters": 1}}})", error).has_value());
  EXPECT_EQ(error, "report.applied.clusters: expected a string");
  // Unknown types and fields are ignored (forward compatibility).
  EXPECT_TRUE(config::parseReport(R"({"report": {"applied": {"future": "x"}, "extra": 1}})", error)
                  .has_value())
      << error;
}

}  // namespace
}  // namespace strait::cp
