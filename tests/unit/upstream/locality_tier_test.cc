#include "proxy/upstream/locality_tier.h"

#include <gtest/gtest.h>

namespace strait::upstream {
namespace {

using std::chrono::microseconds;

config::Locality at(std::string region, std::string zone = "") {
  return config::Locality{std::move(region), std::move(zone)};
}

TEST(LocalityTierTest, SlotsAreAssignedOnceByRegionAndZone) {
  LocalityTier tier(config::CarbonAware{});
  EXPECT_EQ(tier.slotFor(at("eu-west")), 0u);
  EXPECT_EQ(tier.slotFor(at("eu-west", "a")), 1u);  // a zone is its own locality
  EXPECT_EQ(tier.slotFor(at("eu-west")), 0u);
  EXPECT_EQ(tier.slotOf(at("eu-west", "a")), 1u);
  EXPECT_FALSE(tier.slotOf(at("us-east")).has_value());
  EXPECT_EQ(tier.slots(), 2u);
  for (size_t i = 2; i < LocalityTier::kMaxSlots; i++) {
    EXPECT_EQ(tier.slotFor(at("r" + std::to_string(i))), i);
  }
  EXPECT_FALSE(tier.slotFor(at("one-too-many")).has_value());
  EXPECT_EQ(tier.locality(1).zone, "a");
}

TEST(LocalityTierTest, PickFollowsTheSharesAmongTheCandidates) {
  LocalityTier tier(config::CarbonAware{});
  tier.slotFor(at("a"));
  tier.slotFor(at("b"));
  tier.slotFor(at("c"));
  const std::vector<size_t> all{0, 1, 2};
  EXPECT_FALSE(tier.pick(all, false, 0.5).has_value());  // nothing published: carbon-blind
  tier.setShares({0.7, 0.2, 0.1}, {0.9, 0.05, 0.05}, true);
  EXPECT_EQ(tier.pick(all, false, 0.0), 0u);
  EXPECT_EQ(tier.pick(all, false, 0.69), 0u);
  EXPECT_EQ(tier.pick(all, false, 0.71), 1u);
  EXPECT_EQ(tier.pick(all, false, 0.95), 2u);
  EXPECT_EQ(tier.pick(all, true, 0.89), 0u);  // deferrable routes use their own shares
  EXPECT_EQ(tier.pick(all, true, 0.93), 1u);
  // A worker whose host set lacks "a" draws among the others, in proportion (2:1).
  const std::vector<size_t> some{1, 2};
  EXPECT_EQ(tier.pick(some, false, 0.6), 1u);
  EXPECT_EQ(tier.pick(some, false, 0.7), 2u);
  tier.setShares({0, 0, 0}, {0, 0, 0}, true);
  EXPECT_FALSE(tier.pick(all, false, 0.5).has_value());
  tier.setShares({1, 0, 0}, {1, 0, 0}, false);
  EXPECT_FALSE(tier.pick(all, false, 0.5).has_value());  // inactive: the blind balancer
  EXPECT_DOUBLE_EQ(tier.share(0, false), 1.0);
}

TEST(LocalityTierTest, LatencyWindowsAndOutcomesPerSlot) {
  LocalityTier tier(config::CarbonAware{});
  tier.slotFor(at("a"));
  tier.slotFor(at("b"));
  EXPECT_FALSE(tier.takeLatencyMs(0, 90).has_value());
  for (int i = 0; i < 9; i++) {
    tier.recordLatency(0, microseconds(2000));
  }
  tier.recordLatency(0, microseconds(50000));
  tier.recordLatency(1, microseconds(7000));
  const std::optional<double> p90 = tier.takeLatencyMs(0, 90);
  ASSERT_TRUE(p90.has_value());
  EXPECT_NEAR(*p90, 2.0, 0.2);
  const std::optional<double> p100 = tier.takeLatencyMs(1, 99.9);
  ASSERT_TRUE(p100.has_value());
  EXPECT_NEAR(*p100, 7.0, 0.5);
  EXPECT_FALSE(tier.takeLatencyMs(0, 90).has_value());  // a new window: nothing since
  tier.recordOutcome(1, true);
  tier.recordOutcome(1, false);
  EXPECT_EQ(tier.requests(1), 2u);
  EXPECT_EQ(tier.failures(1), 1u);
  EXPECT_EQ(tier.requests(0), 0u);
}

}  // namespace
}  // namespace strait::upstream
