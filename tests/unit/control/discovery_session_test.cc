// One proxy's protocol state in strait-cp: ACK, NACK and stale requests told apart, push order,
// removals only after the additions were answered, and a resumed stream not resent.

#include "control/discovery_session.h"

#include <gtest/gtest.h>

namespace strait::cp {
namespace {

using config::DiscoveryRequest;
using config::DiscoveryResponse;
using config::ResourceType;
using Kind = DiscoverySession::RequestKind;

GroupSnapshot group(const std::string& clusters_yaml) {
  GroupResult result = buildGroup("edge", {{"c.yaml", clusters_yaml}});
  EXPECT_TRUE(result.errors.empty()) << result.errors[0].toString();
  return result.snapshot;
}

const char* kTwo = R"(clusters:
  - {name: api, endpoints: [{address: 127.0.0.1, port: 8081}]}
  - {name: search, endpoints: [{address: 127.0.0.1, port: 8082}]}
)";
const char* kSwapped = R"(clusters:
  - {name: api, endpoints: [{address: 127.0.0.1, port: 8081}]}
  - {name: fresh, endpoints: [{address: 127.0.0.1, port: 8083}]}
)";

struct Proxy {
  DiscoverySession session{{"edge-1", "edge", "", ""}, "cp-test", [n = 0]() mutable {
                             return "n" + std::to_string(++n);
                           }};
  SteadyTime now{};
  SystemTime wall_now{};

  Kind subscribe(ResourceType type, std::string version = "") {
    DiscoveryRequest request;
    request.type = type;
    request.version_info = std::move(version);
    return session.onRequest(request, now, wall_now);
  }
  Kind answer(const DiscoveryResponse& response, bool accept = true) {
    DiscoveryRequest request;
    request.type = response.type;
    request.response_nonce = response.nonce;
    if (accept) {
      request.version_info = response.version_info;
    } else {
      request.error_detail = config::ErrorDetail{3, "clusters/api: lb: bad"};
    }
    return session.onRequest(request, now, wall_now);
  }
};

std::vector<std::string> names(const DiscoveryResponse& response) {
  std::vector<std::string> out;
  for (const auto& resource : response.resources) {
    out.push_back(resource.name);
  }
  return out;
}

TEST(DiscoverySessionTest, SendsOnceAndRecordsTheAck) {
  GroupSnapshot snapshot = group(kTwo);
  Proxy proxy;
  EXPECT_EQ(proxy.subscribe(ResourceType::Clusters), Kind::Initial);
  std::vector<DiscoveryResponse> sent = proxy.session.pending(&snapshot, proxy.now);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].version_info, snapshot.version(ResourceType::Clusters));
  EXPECT_EQ(sent[0].nonce, "n1");
  EXPECT_EQ(names(sent[0]), (std::vector<std::string>{"api", "search"}));
  EXPECT_TRUE(proxy.session.pending(&snapshot, proxy.now).empty());  // one outstanding
  proxy.now += std::chrono::seconds(2);
  proxy.wall_now = SystemTime{} + std::chrono::seconds(1700000000);
  EXPECT_EQ(proxy.answer(sent[0]), Kind::Ack);
  const TypeState& state = proxy.session.state(ResourceType::Clusters);
  EXPECT_EQ(state.acked->version, sent[0].version_info);
  EXPECT_EQ(state.acked->at, proxy.now);
  EXPECT_EQ(state.acked->wall_at, proxy.wall_now);  // both clocks, for ages and for dates
  EXPECT_EQ(state.acks, 1u);
  EXPECT_TRUE(proxy.session.pending(&snapshot, proxy.now).empty());  // nothing new
}

TEST(DiscoverySessionTest, AStaleNonceIsIgnoredAndCounted) {
  GroupSnapshot snapshot = group(kTwo);
  Proxy proxy;
  proxy.subscribe(ResourceType::Clusters);
  DiscoveryResponse first = proxy.session.pending(&snapshot, proxy.now)[0];
  DiscoveryResponse old = first;
  old.nonce = "n0";
  EXPECT_EQ(proxy.answer(old), Kind::Stale);
  const TypeState& state = proxy.session.state(ResourceType::Clusters);
  EXPECT_EQ(state.stale, 1u);
  EXPECT_TRUE(state.awaiting);  // still waiting for the answer to n1
  EXPECT_FALSE(state.acked.has_value());
  EXPECT_EQ(proxy.answer(first), Kind::Ack);
}

TEST(DiscoverySessionTest, ANackKeepsTheErrorAndTheVersionIsNotResent) {
  GroupSnapshot snapshot = group(kTwo);
  Proxy proxy;
  proxy.subscribe(ResourceType::Clusters);
  DiscoveryResponse sent = proxy.session.pending(&snapshot, proxy.now)[0];
  EXPECT_EQ(proxy.answer(sent, /*accept=*/false), Kind::Nack);
  const TypeState& state = proxy.session.state(ResourceType::Clusters);
  ASSERT_TRUE(state.nack.has_value());
  EXPECT_EQ(state.nack->version, sent.version_info);
  EXPECT_EQ(state.nack->error.message, "clusters/api: lb: bad");
  EXPECT_TRUE(proxy.session.pending(&snapshot, proxy.now).empty());
  GroupSnapshot fixed = group(kSwapped);
  std::vector<DiscoveryResponse> next = proxy.session.pending(&fixed, proxy.now);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].version_info, fixed.version(ResourceType::Clusters));
  EXPECT_EQ(proxy.answer(next[0]), Kind::Ack);
  EXPECT_FALSE(state.nack.has_value());
}

TEST(DiscoverySessionTest, TypesGoOutInPushOrder) {
  GroupSnapshot snapshot = group(kTwo);
  Proxy proxy;
  for (ResourceType type : {ResourceType::Routes, ResourceType::Listeners,
                            ResourceType::Endpoints, ResourceType::Clusters}) {
    proxy.subscribe(type);
  }
  std::vector<DiscoveryResponse> sent = proxy.session.pending(&snapshot, proxy.now);
  ASSERT_EQ(sent.size(), 4u);
  EXPECT_EQ(sent[0].type, ResourceType::Clusters);
  EXPECT_EQ(sent[1].type, ResourceType::Endpoints);
  EXPECT_EQ(sent[2].type, ResourceType::Listeners);
  EXPECT_EQ(sent[3].type, ResourceType::Routes);
  EXPECT_TRUE(sent[2].resources.empty());  // no listeners in this group: an empty set is sent
}

// `search` is replaced by `fresh`: first both (the addition), and only once that is answered
// the set without `search` (the removal).
TEST(DiscoverySessionTest, RemovalsGoOutAfterTheAdditionsWereAnswered) {
  GroupSnapshot before = group(kTwo);
  GroupSnapshot after = group(kSwapped);
  Proxy proxy;
  proxy.subscribe(ResourceType::Clusters);
  proxy.subscribe(ResourceType::Endpoints);
  for (const DiscoveryResponse& response : proxy.session.pending(&before, proxy.now)) {
    proxy.answer(response);
  }
  std::vector<DiscoveryResponse> additions = proxy.session.pending(&after, proxy.now);
  ASSERT_EQ(additions.size(), 2u);
  EXPECT_EQ(names(additions[0]), (std::vector<std::string>{"api", "fresh", "search"}));
  EXPECT_EQ(names(additions[1]), (std::vector<std::string>{"api", "fresh", "search"}));
  EXPECT_NE(additions[0].version_info, after.version(ResourceType::Clusters));
  proxy.answer(additions[0]);
  EXPECT_TRUE(proxy.session.pending(&after, proxy.now).empty());  // endpoints not answered yet
  proxy.answer(additions[1]);
  std::vector<DiscoveryResponse> removals = proxy.session.pending(&after, proxy.now);
  ASSERT_EQ(removals.size(), 2u);
  EXPECT_EQ(names(removals[0]), (std::vector<std::string>{"api", "fresh"}));
  EXPECT_EQ(removals[0].version_info, after.version(ResourceType::Clusters));
  EXPECT_EQ(removals[1].type, ResourceType::Endpoints);
}

// Long-polls ask for one type at a time: a removal of that type still waits for every other
// subscribed type's additions to be sent and answered.
TEST(DiscoverySessionTest, ARemovalForOneTypeWaitsForTheOtherTypesAdditions) {
  GroupSnapshot before = group(kTwo);
  GroupSnapshot after = group(kSwapped);
  Proxy proxy;
  proxy.subscribe(ResourceType::Clusters);
  proxy.subscribe(ResourceType::Endpoints);
  for (const DiscoveryResponse& response : proxy.session.pending(&before, proxy.now)) {
    proxy.answer(response);
  }
  std::vector<DiscoveryResponse> clusters =
      proxy.session.pending(&after, proxy.now, ResourceType::Clusters);
  ASSERT_EQ(clusters.size(), 1u);  // the addition (search still in it)
  EXPECT_EQ(names(clusters[0]), (std::vector<std::string>{"api", "fresh", "search"}));
  proxy.answer(clusters[0]);
  // Endpoints have not been sent their addition yet: no removal for clusters.
  EXPECT_TRUE(proxy.session.pending(&after, proxy.now, ResourceType::Clusters).empty());
  std::vector<DiscoveryResponse> endpoints =
      proxy.session.pending(&after, proxy.now, ResourceType::Endpoints);
  ASSERT_EQ(endpoints.size(), 1u);
  EXPECT_TRUE(proxy.session.pending(&after, proxy.now, ResourceType::Clusters).empty());
  proxy.answer(endpoints[0]);
  std::vector<DiscoveryResponse> removal =
      proxy.session.pending(&after, proxy.now, ResourceType::Clusters);
  ASSERT_EQ(removal.size(), 1u);
  EXPECT_EQ(names(removal[0]), (std::vector<std::string>{"api", "fresh"}));
}

// A proxy that moved from another replica says which version it runs: the same content hash
// here, so nothing is resent.
TEST(DiscoverySessionTest, AResumedStreamAtTheCurrentVersionIsNotResent) {
  GroupSnapshot snapshot = group(kTwo);
  Proxy proxy;
  EXPECT_EQ(proxy.subscribe(ResourceType::Clusters, snapshot.version(ResourceType::Clusters)),
            Kind::Initial);
  EXPECT_TRUE(proxy.session.pending(&snapshot, proxy.now).empty());
  Proxy other;
  other.subscribe(ResourceType::Clusters, "0123456789abcdef");
  EXPECT_EQ(other.session.pending(&snapshot, other.now).size(), 1u);
}

}  // namespace
}  // namespace strait::cp
