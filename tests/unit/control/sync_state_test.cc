// A proxy's sync state per type: every state, the order in which they are tried, and the age of
// a stale response from the injected time. The type states come from a DiscoverySession driven
// like a proxy would, or are built by hand for what a session reaches only across reconnects.

#include "control/sync_state.h"

#include <gtest/gtest.h>

namespace strait::cp {
namespace {

using config::DiscoveryRequest;
using config::DiscoveryResponse;
using config::ResourceType;
using std::chrono::seconds;

constexpr ResourceType kClusters = ResourceType::Clusters;

GroupSnapshot group(const std::string& clusters_yaml) {
  GroupResult result = buildGroup("edge", {{"c.yaml", clusters_yaml}});
  EXPECT_TRUE(result.errors.empty()) << result.errors[0].toString();
  return result.snapshot;
}

const char* kOne = R"(clusters:
  - {name: api, endpoints: [{address: 127.0.0.1, port: 8081}]}
)";
const char* kTwo = R"(clusters:
  - {name: api, endpoints: [{address: 127.0.0.1, port: 8081}]}
  - {name: search, endpoints: [{address: 127.0.0.1, port: 8082}]}
)";
const char* kSwapped = R"(clusters:
  - {name: api, endpoints: [{address: 127.0.0.1, port: 8081}]}
  - {name: fresh, endpoints: [{address: 127.0.0.1, port: 8083}]}
)";

// A proxy on a simulated clock: `now` only moves when a test moves it.
struct Proxy {
  DiscoverySession session{{"edge-1", "edge", "", ""}, "cp-test", [n = 0]() mutable {
                             return "n" + std::to_string(++n);
                           }};
  SteadyTime now = SteadyTime{} + seconds(1000);

  void subscribe(std::string version = "") {
    DiscoveryRequest request;
    request.type = kClusters;
    request.version_info = std::move(version);
    session.onRequest(request, now, SystemTime{});
  }
  DiscoveryResponse push(const GroupSnapshot& snapshot) {
    std::vector<DiscoveryResponse> sent = session.pending(&snapshot, now, kClusters);
    EXPECT_EQ(sent.size(), 1u);
    return sent.empty() ? DiscoveryResponse{} : sent[0];
  }
  void answer(const DiscoveryResponse& response, bool accept = true) {
    DiscoveryRequest request;
    request.type = kClusters;
    request.response_nonce = response.nonce;
    if (accept) {
      request.version_info = response.version_info;
    } else {
      request.error_detail = config::ErrorDetail{3, "clusters/api: lb: bad"};
    }
    session.onRequest(request, now, SystemTime{});
  }
  const TypeState& state() const { return session.state(kClusters); }
  SyncResult sync(const GroupSnapshot& intended, bool connected = true,
                  std::optional<std::string> applied = std::nullopt) const {
    return evaluateSync(connected, state(), intended.version(kClusters), applied, now);
  }
};

TEST(SyncStateTest, EveryStateHasItsName) {
  EXPECT_EQ(syncStateName(SyncState::Disconnected), "DISCONNECTED");
  EXPECT_EQ(syncStateName(SyncState::NotSent), "NOT_SENT");
  EXPECT_EQ(syncStateName(SyncState::Nacked), "NACKED");
  EXPECT_EQ(syncStateName(SyncState::Stale), "STALE");
  EXPECT_EQ(syncStateName(SyncState::Lagging), "LAGGING");
  EXPECT_EQ(syncStateName(SyncState::Drifted), "DRIFTED");
  EXPECT_EQ(syncStateName(SyncState::Synced), "SYNCED");
}

TEST(SyncStateTest, NothingSentIsNotSentSubscribedOrNot) {
  GroupSnapshot snapshot = group(kTwo);
  Proxy proxy;
  EXPECT_EQ(proxy.sync(snapshot).state, SyncState::NotSent);
  proxy.subscribe();  // subscribed, the response not computed yet
  EXPECT_EQ(proxy.sync(snapshot).state, SyncState::NotSent);
  // A group without a snapshot: nothing is ever sent.
  EXPECT_TRUE(proxy.session.pending(nullptr, proxy.now).empty());
  EXPECT_EQ(evaluateSync(true, proxy.state(), "", std::nullopt, proxy.now).state,
            SyncState::NotSent);
}

TEST(SyncStateTest, AnUnansweredResponseIsStaleWithItsAgeFromTheInjectedTime) {
  GroupSnapshot snapshot = group(kTwo);
  Proxy proxy;
  proxy.subscribe();
  proxy.push(snapshot);
  EXPECT_EQ(proxy.sync(snapshot).state, SyncState::Stale);
  EXPECT_EQ(proxy.sync(snapshot).age, seconds(0));
  proxy.now += seconds(42);
  SyncResult result = proxy.sync(snapshot);
  EXPECT_EQ(result.state, SyncState::Stale);
  EXPECT_EQ(result.age, seconds(42));
  EXPECT_TRUE(result.error.empty());
}

TEST(SyncStateTest, AnAckOfTheIntendedVersionIsSynced) {
  GroupSnapshot snapshot = group(kTwo);
  Proxy proxy;
  proxy.subscribe();
  proxy.answer(proxy.push(snapshot));
  SyncResult result = proxy.sync(snapshot);
  EXPECT_EQ(result.state, SyncState::Synced);
  EXPECT_EQ(result.age, seconds(0));
}

TEST(SyncStateTest, ANackOfTheVersionInForceIsNackedWithTheProxysError) {
  GroupSnapshot v1 = group(kOne);
  GroupSnapshot v2 = group(kTwo);
  Proxy proxy;
  proxy.subscribe();
  proxy.answer(proxy.push(v1));
  proxy.answer(proxy.push(v2), /*accept=*/false);
  // It runs v1 and refused v2: NACKED wins over LAGGING.
  SyncResult result = proxy.sync(v2);
  EXPECT_EQ(result.state, SyncState::Nacked);
  EXPECT_EQ(result.error, "clusters/api: lb: bad");
}

TEST(SyncStateTest, DisconnectedWinsOverEveryOtherState) {
  GroupSnapshot snapshot = group(kTwo);
  Proxy proxy;
  EXPECT_EQ(proxy.sync(snapshot, /*connected=*/false).state, SyncState::Disconnected);
  proxy.subscribe();
  proxy.answer(proxy.push(snapshot), /*accept=*/false);
  SyncResult result = proxy.sync(snapshot, /*connected=*/false);
  EXPECT_EQ(result.state, SyncState::Disconnected);  // not NACKED
  EXPECT_TRUE(result.error.empty());
}

TEST(SyncStateTest, ANackOfAnOlderVersionThenAnAckOfTheIntendedOneIsSynced) {
  GroupSnapshot v1 = group(kOne);
  GroupSnapshot v2 = group(kTwo);
  Proxy proxy;
  proxy.subscribe();
  proxy.answer(proxy.push(v1), /*accept=*/false);
  proxy.now += seconds(1);
  proxy.answer(proxy.push(v2));
  EXPECT_EQ(proxy.sync(v2).state, SyncState::Synced);

  // The same when the old NACK is still on record (the session drops it on an ACK; the rule
  // does not depend on that).
  TypeState state = proxy.state();
  state.nack = NackState{v1.version(kClusters), "n1", {3, "clusters/api: lb: bad"}, proxy.now};
  EXPECT_EQ(evaluateSync(true, state, v2.version(kClusters), std::nullopt, proxy.now).state,
            SyncState::Synced);
}

TEST(SyncStateTest, ANewerVersionSentAfterANackIsStaleNotNacked) {
  GroupSnapshot v1 = group(kOne);
  GroupSnapshot v2 = group(kTwo);
  Proxy proxy;
  proxy.subscribe();
  proxy.answer(proxy.push(v1), /*accept=*/false);
  proxy.push(v2);
  proxy.now += seconds(5);
  SyncResult result = proxy.sync(v2);
  EXPECT_EQ(result.state, SyncState::Stale);
  EXPECT_EQ(result.age, seconds(5));
}

// A poll with an empty nonce reopens the type: nothing is sent any more, and the refused
// version is not sent again, so the NACK still stands.
TEST(SyncStateTest, AReopenedTypeStaysNacked) {
  GroupSnapshot snapshot = group(kTwo);
  Proxy proxy;
  proxy.subscribe();
  proxy.answer(proxy.push(snapshot), /*accept=*/false);
  proxy.subscribe();
  EXPECT_FALSE(proxy.state().sent.has_value());
  EXPECT_TRUE(proxy.session.pending(&snapshot, proxy.now).empty());
  SyncResult result = proxy.sync(snapshot);
  EXPECT_EQ(result.state, SyncState::Nacked);
  EXPECT_EQ(result.error, "clusters/api: lb: bad");
}

// A proxy that says it runs a version it NACKed earlier (it got it from another replica): its
// last answer to that version is no longer the NACK.
TEST(SyncStateTest, AVersionClaimedAfterItsNackIsSynced) {
  GroupSnapshot snapshot = group(kTwo);
  const std::string& version = snapshot.version(kClusters);
  TypeState state;
  state.subscribed = true;
  state.nack = NackState{version, "n1", {3, "bad"}, SteadyTime{} + seconds(10)};
  state.acked = AckedState{version, SteadyTime{} + seconds(20), SystemTime{}, nullptr};
  SteadyTime now = SteadyTime{} + seconds(30);
  EXPECT_EQ(evaluateSync(true, state, version, std::nullopt, now).state, SyncState::Synced);
  state.acked->at = SteadyTime{} + seconds(5);  // claimed before the NACK
  EXPECT_EQ(evaluateSync(true, state, version, std::nullopt, now).state, SyncState::Nacked);
}

// A new stream names the version the proxy runs: at the intended one nothing is sent and it
// is in sync; at another one it lags until the push goes out.
TEST(SyncStateTest, AResumedStreamIsSyncedAtTheIntendedVersionAndLaggingOtherwise) {
  GroupSnapshot snapshot = group(kTwo);
  Proxy resumed;
  resumed.subscribe(snapshot.version(kClusters));
  EXPECT_TRUE(resumed.session.pending(&snapshot, resumed.now).empty());
  EXPECT_EQ(resumed.sync(snapshot).state, SyncState::Synced);
  Proxy behind;
  behind.subscribe("0123456789abcdef");
  EXPECT_EQ(behind.sync(snapshot).state, SyncState::Lagging);
  behind.push(snapshot);
  EXPECT_EQ(behind.sync(snapshot).state, SyncState::Stale);
}

TEST(SyncStateTest, AnAckOfAnotherVersionThanTheIntendedOneIsLagging) {
  GroupSnapshot v1 = group(kOne);
  GroupSnapshot v2 = group(kTwo);
  Proxy proxy;
  proxy.subscribe();
  proxy.answer(proxy.push(v1));
  // The snapshot moved on and the push was not computed yet.
  EXPECT_EQ(proxy.sync(v2).state, SyncState::Lagging);
}

// `search` is replaced by `fresh`: the push's first step keeps `search` (the removal waits),
// so its ACK is not of the intended version; the second step's is.
TEST(SyncStateTest, AnAckedAdditionWhoseRemovalWaitsIsLagging) {
  GroupSnapshot v1 = group(kTwo);
  GroupSnapshot swapped = group(kSwapped);
  Proxy proxy;
  proxy.subscribe();
  proxy.answer(proxy.push(v1));
  DiscoveryResponse staged = proxy.push(swapped);
  EXPECT_NE(staged.version_info, swapped.version(kClusters));
  EXPECT_EQ(staged.resources.size(), 3u);
  proxy.answer(staged);
  EXPECT_EQ(proxy.sync(swapped).state, SyncState::Lagging);
  proxy.answer(proxy.push(swapped));
  EXPECT_EQ(proxy.sync(swapped).state, SyncState::Synced);
}

TEST(SyncStateTest, AnAppliedVersionOtherThanTheAckedOneIsDrifted) {
  GroupSnapshot v1 = group(kOne);
  GroupSnapshot v2 = group(kTwo);
  Proxy proxy;
  proxy.subscribe();
  proxy.answer(proxy.push(v1));
  const std::string& acked = v1.version(kClusters);
  EXPECT_EQ(proxy.sync(v1, true, "0123456789abcdef").state, SyncState::Drifted);
  EXPECT_EQ(proxy.sync(v1, true, acked).state, SyncState::Synced);
  EXPECT_EQ(proxy.sync(v1, true, std::nullopt).state, SyncState::Synced);  // not reported
  // LAGGING and STALE win over DRIFTED.
  EXPECT_EQ(proxy.sync(v2, true, "0123456789abcdef").state, SyncState::Lagging);
  proxy.push(v2);
  EXPECT_EQ(proxy.sync(v2, true, "0123456789abcdef").state, SyncState::Stale);
}

}  // namespace
}  // namespace strait::cp
