// Snapshot building (issue 10, items 3 and 4): what a new config reuses from the snapshot in
// force. An endpoint change keeps the cluster's ClusterInfo, the listener's runtime (route table,
// filter factories) and the Host objects of endpoints that stay; a change of shape does not.

#include "proxy/server/snapshot.h"

#include <gtest/gtest.h>

#include "config/loader.h"
#include "tests/mocks/test_process.h"

namespace strait::server {
namespace {

std::string configText(const std::string& endpoints, const std::string& route_prefix = "/",
                       const std::string& connect_timeout = "1s") {
  return "listeners:\n"
         "  - name: main\n"
         "    address: 127.0.0.1\n"
         "    port: 0\n"
         "    virtual_hosts:\n"
         "      - name: default\n"
         "        domains: [\"*\"]\n"
         "        routes:\n"
         "          - match: {prefix: " + route_prefix + "}\n"
         "            route: {cluster: backend}\n"
         "clusters:\n"
         "  - name: backend\n"
         "    connect_timeout: " + connect_timeout + "\n"
         "    endpoints:\n" + endpoints;
}

const std::string kTwoHosts =
    "      - {address: 127.0.0.1, port: 9001, weight: 1}\n"
    "      - {address: 127.0.0.1, port: 9002, weight: 1}\n";

class SnapshotTest : public ::testing::Test {
 protected:
  SnapshotSharedPtr build(const std::string& text, const Snapshot* previous) {
    config::LoadResult loaded = config::loadString(text, "test.yaml");
    EXPECT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors[0].toString());
    if (!loaded.ok()) {
      return nullptr;
    }
    std::string error;
    SnapshotSharedPtr snapshot = buildSnapshot(loaded.bootstrap, previous, store_, process_.context,
                                               ++version_,
                                               SnapshotSource{ConfigSource::AdminReload, ""},
                                               error);
    EXPECT_NE(snapshot, nullptr) << error;
    if (snapshot != nullptr) {
      activateSnapshot(*snapshot);
    }
    return snapshot;
  }

  static const upstream::ClusterSnapshot& backend(const Snapshot& s) {
    return s.clusters.at("backend");
  }

  stats::Store store_{1};
  strait::testing::TestProcess process_;
  uint64_t version_ = 0;
};

TEST_F(SnapshotTest, EndpointChangeKeepsClusterInfoListenerAndStayingHosts) {
  SnapshotSharedPtr first = build(configText(kTwoHosts), nullptr);
  ASSERT_NE(first, nullptr);
  const upstream::Host* staying = backend(*first).hosts->hosts()[0].get();

  // 9001's weight changes, 9002 leaves, 9003 joins.
  SnapshotSharedPtr second = build(
      configText("      - {address: 127.0.0.1, port: 9001, weight: 5}\n"
                 "      - {address: 127.0.0.1, port: 9003, weight: 1}\n"),
      first.get());
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(backend(*second).info, backend(*first).info);
  EXPECT_NE(backend(*second).hosts, backend(*first).hosts);
  ASSERT_EQ(backend(*second).hosts->size(), 2u);
  EXPECT_EQ(backend(*second).hosts->hosts()[0].get(), staying);
  EXPECT_EQ(staying->weight(), 5u);
  EXPECT_EQ(backend(*second).hosts->hosts()[1]->port(), 9003);
  EXPECT_FALSE(backend(*second).hosts->contains(backend(*first).hosts->hosts()[1].get()));
  // Nothing of the listener changed: the same runtime, so the same route table and factories.
  ASSERT_EQ(second->listeners.size(), 1u);
  EXPECT_EQ(second->listeners[0], first->listeners[0]);
  EXPECT_EQ(second->versions.listeners, first->versions.listeners);
  EXPECT_EQ(second->versions.clusters, first->versions.clusters);
  EXPECT_NE(second->versions.endpoints, first->versions.endpoints);
}

TEST_F(SnapshotTest, SameConfigReusesTheHostSetItself) {
  SnapshotSharedPtr first = build(configText(kTwoHosts), nullptr);
  SnapshotSharedPtr second = build(configText(kTwoHosts), first.get());
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(backend(*second).hosts, backend(*first).hosts);  // workers see no update
  EXPECT_EQ(second->versions, first->versions);
}

TEST_F(SnapshotTest, RouteChangeRebuildsTheListenerButNotTheCluster) {
  SnapshotSharedPtr first = build(configText(kTwoHosts), nullptr);
  SnapshotSharedPtr second = build(configText(kTwoHosts, "/api"), first.get());
  ASSERT_NE(second, nullptr);
  EXPECT_NE(second->listeners[0], first->listeners[0]);
  EXPECT_NE(second->versions.routes, first->versions.routes);
  EXPECT_EQ(second->versions.listeners, first->versions.listeners);
  EXPECT_EQ(backend(*second).info, backend(*first).info);
  EXPECT_EQ(backend(*second).hosts, backend(*first).hosts);
}

TEST_F(SnapshotTest, ShapeChangeBuildsANewClusterWithNewHosts) {
  SnapshotSharedPtr first = build(configText(kTwoHosts), nullptr);
  SnapshotSharedPtr second = build(configText(kTwoHosts, "/", "2s"), first.get());
  ASSERT_NE(second, nullptr);
  EXPECT_NE(backend(*second).info, backend(*first).info);
  // A reshaped cluster starts anew: its hosts are new objects (fresh counters and outlier state).
  EXPECT_NE(backend(*second).hosts->hosts()[0], backend(*first).hosts->hosts()[0]);
  EXPECT_NE(second->versions.clusters, first->versions.clusters);
  EXPECT_EQ(second->versions.endpoints, first->versions.endpoints);
  EXPECT_EQ(second->listeners[0], first->listeners[0]);
}

TEST_F(SnapshotTest, UnresolvableEndpointRefusesTheSnapshotAndChangesNothing) {
  SnapshotSharedPtr first = build(configText(kTwoHosts), nullptr);
  const upstream::Host* host = backend(*first).hosts->hosts()[0].get();
  config::LoadResult loaded = config::loadString(
      configText("      - {address: 127.0.0.1, port: 9001, weight: 7}\n"
                 "      - {address: no-such-host.invalid, port: 9002}\n"),
      "test.yaml");
  ASSERT_TRUE(loaded.ok());
  std::string error;
  SnapshotSharedPtr refused = buildSnapshot(loaded.bootstrap, first.get(), store_,
                                            process_.context, 9, SnapshotSource{}, error);
  EXPECT_EQ(refused, nullptr);
  EXPECT_NE(error.find("no-such-host.invalid"), std::string::npos) << error;
  EXPECT_EQ(host->weight(), 1u);  // the refused set was never activated
}

TEST_F(SnapshotTest, StatRegistrationFailureIsAConfigErrorNotAnException) {
  // A name the cluster needs as a counter is already a gauge: building must refuse, not throw.
  store_.gauge("strait_dp_upstream_rq_retry_total", "taken", {{"cluster", "other"}});
  config::LoadResult loaded = config::loadString(configText(kTwoHosts), "test.yaml");
  ASSERT_TRUE(loaded.ok());
  std::string error;
  SnapshotSharedPtr snapshot;
  EXPECT_NO_THROW(snapshot = buildSnapshot(loaded.bootstrap, nullptr, store_,
                                           process_.context, 1, SnapshotSource{}, error));
  EXPECT_EQ(snapshot, nullptr);
  EXPECT_EQ(error, "stats: metric registered with two types: strait_dp_upstream_rq_retry_total");
}

TEST_F(SnapshotTest, ListenerAndClusterStatsRegisterUnderTheirDeclaredNames) {
  SnapshotSharedPtr snapshot = build(configText(kTwoHosts), nullptr);
  ASSERT_NE(snapshot, nullptr);
  const std::string text = store_.renderPrometheus();
  for (const char* series :
       {"strait_dp_upstream_rq_retry_total{cluster=\"backend\"} 0",
        "strait_dp_upstream_cx_active{cluster=\"backend\"} 0",
        "strait_dp_upstream_rq_total{cluster=\"backend\",code_class=\"5xx\"} 0",
        "strait_dp_downstream_cx_total{listener=\"main\"} 0",
        "strait_dp_downstream_rq_rejected_total{listener=\"main\",status=\"431\"} 0",
        "# TYPE strait_dp_downstream_rq_time_seconds histogram"}) {
    EXPECT_NE(text.find(series), std::string::npos) << series;
  }
  store_.mainShard().inc(snapshot->clusters.at("backend").info->stats.rq_retry);
  EXPECT_NE(store_.renderPrometheus().find("strait_dp_upstream_rq_retry_total{cluster=\"backend\"} 1"),
            std::string::npos);
}

// A filter whose factory records the process context it was built with.
class ProbeFactory : public http::FilterFactory {
 public:
  http::StreamFilterPtr createFilter() const override { return nullptr; }
};
const http::ProcessContext* probe_seen = nullptr;
uint32_t probe_workers = 0;
bool probe_draining = true;

TEST_F(SnapshotTest, FilterFactoriesAreBuiltWithTheProcessContext) {
  config::registerFilterParser("process_probe", [](const config::internal::Value&) {
    return std::make_shared<config::FilterSettings>();
  });
  http::registerFilterFactory(
      "process_probe", [](const config::FilterSettings&, http::FilterFactoryContext& context) {
        probe_seen = &context.process;
        probe_workers = context.process.signals.workerCount();
        probe_draining = context.process.signals.draining();
        return std::make_shared<ProbeFactory>();
      });
  process_.signals.workers = 3;
  std::string text = configText(kTwoHosts);
  text.replace(text.find("    virtual_hosts:"), 0,
               "    http:\n      filters:\n        - name: process_probe\n");
  SnapshotSharedPtr snapshot = build(text, nullptr);
  ASSERT_NE(snapshot, nullptr);
  EXPECT_EQ(probe_seen, &process_.context);
  EXPECT_EQ(&probe_seen->main_dispatcher, &process_.dispatcher);
  EXPECT_EQ(&probe_seen->time, &process_.time);
  EXPECT_EQ(probe_workers, 3u);
  EXPECT_FALSE(probe_draining);
  EXPECT_EQ(snapshot->listeners[0]->filter_factories.size(), 1u);
}

}  // namespace
}  // namespace strait::server
