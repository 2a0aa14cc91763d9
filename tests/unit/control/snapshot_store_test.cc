// The guard in front of published snapshots: an empty or sharply shrunk group is refused
// (once, with its reason) and the last good one keeps serving until it is forced.

#include "control/snapshot_store.h"

#include <gtest/gtest.h>

namespace strait::cp {
namespace {

GroupSnapshot snapshotOf(const std::string& group, size_t clusters, size_t endpoints,
                         std::string tag = "") {
  GroupSnapshot s;
  s.group = group;
  s.clusters = clusters;
  s.endpoints = endpoints;
  s.listeners = 1;
  s.versions[0] = std::to_string(clusters) + "/" + std::to_string(endpoints) + tag;
  return s;
}

TEST(SnapshotStoreTest, PublishesChangesOnlyAndCallsBack) {
  SnapshotStore store(0.5);
  std::vector<std::string> published;
  store.setOnPublish([&](const std::string& group, const GroupSnapshotPtr& s) {
    published.push_back(group + "=" + (s ? s->versions[0] : "gone"));
  });
  EXPECT_TRUE(store.offer(snapshotOf("edge", 4, 8)));
  EXPECT_FALSE(store.offer(snapshotOf("edge", 4, 8)));  // unchanged
  EXPECT_TRUE(store.offer(snapshotOf("edge", 4, 9)));
  EXPECT_EQ(published, (std::vector<std::string>{"edge=4/8", "edge=4/9"}));
  EXPECT_EQ(store.publishedTotal(), 2u);
}

TEST(SnapshotStoreTest, AShrinkOverTheLimitIsRefusedUntilForced) {
  SnapshotStore store(0.5);
  ASSERT_TRUE(store.offer(snapshotOf("edge", 10, 20)));
  EXPECT_TRUE(store.offer(snapshotOf("edge", 5, 20)));  // exactly half: allowed
  EXPECT_FALSE(store.offer(snapshotOf("edge", 2, 20)));
  ASSERT_EQ(store.refused().count("edge"), 1u);
  EXPECT_EQ(store.refused().at("edge").reason,
            "clusters 5 -> 2 (60% fewer, over the limit of 50%)");
  EXPECT_EQ(store.find("edge")->clusters, 5u);  // the last good one serves
  EXPECT_FALSE(store.offer(snapshotOf("edge", 2, 20)));
  EXPECT_EQ(store.refusedTotal(), 1u);  // the same refused snapshot is counted once
  EXPECT_TRUE(store.publishRefused("edge"));
  EXPECT_EQ(store.find("edge")->clusters, 2u);
  EXPECT_TRUE(store.refused().empty());
}

TEST(SnapshotStoreTest, EndpointsShrinkAndEmptySnapshotsAreRefused) {
  SnapshotStore store(0.5);
  EXPECT_FALSE(store.offer([] {
    GroupSnapshot s = snapshotOf("edge", 0, 0);
    s.listeners = 0;
    return s;
  }()));
  EXPECT_EQ(store.refused().at("edge").reason, "empty snapshot (no clusters and no listeners)");
  ASSERT_TRUE(store.offer(snapshotOf("edge", 3, 10)));
  EXPECT_FALSE(store.offer(snapshotOf("edge", 3, 4)));
  EXPECT_EQ(store.refused().at("edge").reason,
            "endpoints 10 -> 4 (60% fewer, over the limit of 50%)");
  EXPECT_TRUE(store.offer(snapshotOf("edge", 3, 4), /*force=*/true));
  EXPECT_FALSE(store.offerRemoved("edge"));
  EXPECT_NE(store.find("edge"), nullptr);
  EXPECT_TRUE(store.offerRemoved("edge", true));
  EXPECT_EQ(store.find("edge"), nullptr);
}

}  // namespace
}  // namespace strait::cp
