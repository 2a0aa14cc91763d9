#include "proxy/upstream/health_state.h"

#include <gtest/gtest.h>

namespace strait::upstream {
namespace {

TEST(HealthStateTest, StartsHealthyByDefault) {
  HealthState state(2, 3);
  EXPECT_TRUE(state.healthy());
  EXPECT_EQ(state.consecutiveFailures(), 0u);
  EXPECT_EQ(state.consecutiveSuccesses(), 0u);
}

TEST(HealthStateTest, CanStartUnhealthy) {
  HealthState state(2, 3, false);
  EXPECT_FALSE(state.healthy());
  EXPECT_EQ(state.onSuccess(), HealthTransition::None);
  EXPECT_EQ(state.onSuccess(), HealthTransition::BecameHealthy);
  EXPECT_TRUE(state.healthy());
}

TEST(HealthStateTest, UnhealthyAfterThresholdConsecutiveFailures) {
  HealthState state(2, 3);
  EXPECT_EQ(state.onFailure(), HealthTransition::None);
  EXPECT_EQ(state.onFailure(), HealthTransition::None);
  EXPECT_TRUE(state.healthy());
  EXPECT_EQ(state.onFailure(), HealthTransition::BecameUnhealthy);
  EXPECT_FALSE(state.healthy());
  EXPECT_EQ(state.consecutiveFailures(), 3u);
  // Further failures are no new transition.
  EXPECT_EQ(state.onFailure(), HealthTransition::None);
  EXPECT_FALSE(state.healthy());
}

TEST(HealthStateTest, SuccessResetsFailureRun) {
  HealthState state(2, 3);
  state.onFailure();
  state.onFailure();
  EXPECT_EQ(state.onSuccess(), HealthTransition::None);
  EXPECT_EQ(state.consecutiveFailures(), 0u);
  EXPECT_EQ(state.onFailure(), HealthTransition::None);
  EXPECT_EQ(state.onFailure(), HealthTransition::None);
  EXPECT_TRUE(state.healthy());
  EXPECT_EQ(state.onFailure(), HealthTransition::BecameUnhealthy);
}

TEST(HealthStateTest, HealthyAgainAfterThresholdConsecutiveSuccesses) {
  HealthState state(2, 1);
  EXPECT_EQ(state.onFailure(), HealthTransition::BecameUnhealthy);
  EXPECT_EQ(state.onSuccess(), HealthTransition::None);
  EXPECT_FALSE(state.healthy());
  // A failure in between restarts the run of successes.
  EXPECT_EQ(state.onFailure(), HealthTransition::None);
  EXPECT_EQ(state.consecutiveSuccesses(), 0u);
  EXPECT_EQ(state.onSuccess(), HealthTransition::None);
  EXPECT_EQ(state.onSuccess(), HealthTransition::BecameHealthy);
  EXPECT_TRUE(state.healthy());
  EXPECT_EQ(state.onSuccess(), HealthTransition::None);
}

TEST(HealthStateTest, ThresholdOfOneFlipsAtOnce) {
  HealthState state(1, 1);
  EXPECT_EQ(state.onFailure(), HealthTransition::BecameUnhealthy);
  EXPECT_EQ(state.onSuccess(), HealthTransition::BecameHealthy);
}

TEST(HealthStateTest, ZeroThresholdsAreTreatedAsOne) {
  HealthState state(0, 0);
  EXPECT_EQ(state.onFailure(), HealthTransition::BecameUnhealthy);
  EXPECT_EQ(state.onSuccess(), HealthTransition::BecameHealthy);
}

}  // namespace
}  // namespace strait::upstream
