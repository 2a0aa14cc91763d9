#include "proxy/carbon/policy.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "tests/mocks/simulated_time.h"

namespace strait::carbon {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr std::optional<double> kNoSamples = std::nullopt;
constexpr std::optional<double> kNoSignal = std::nullopt;

LocalityInput at(const std::string& zone, double capacity, std::optional<double> latency_ms,
                 std::optional<double> intensity) {
  LocalityInput input;
  input.locality.region = "eu";
  input.locality.zone = zone;
  input.capacity = capacity;
  input.latency_ms = latency_ms;
  input.intensity = intensity;
  return input;
}

::testing::AssertionResult sharesNear(const std::vector<double>& actual,
                                      const std::vector<double>& expected) {
  auto render = [](const std::vector<double>& v) {
    std::string out = "{";
    for (double x : v) {
      out += " " + std::to_string(x);
    }
    return out + " }";
  };
  bool ok = actual.size() == expected.size();
  for (size_t i = 0; ok && i < actual.size(); i++) {
    ok = std::abs(actual[i] - expected[i]) < 1e-9;
  }
  if (ok) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "shares " << render(actual) << ", expected " << render(expected);
}

class CarbonPolicyTest : public ::testing::Test {
 protected:
  CarbonPolicyTest() {
    // Bounds wide open unless a test is about them: the shares are the raw proportions.
    config_.min_share = 0;
    config_.max_share = 1;
  }
  MonotonicTime now() const { return time_.monotonicTime(); }
  void advanceTo(MonotonicTime t) {
    time_.advance(std::chrono::duration_cast<milliseconds>(t - now()));
  }
  CarbonPolicy policy() const { return CarbonPolicy(config_, now()); }

  strait::testing::SimulatedTimeSource time_;
  config::CarbonAware config_;
};

// ---- the weights ------------------------------------------------------------------------------

TEST_F(CarbonPolicyTest, TwoLocalitiesSplitInverselyToTheirIntensity) {
  CarbonPolicy p = policy();
  // Before the first update: nothing, carbon-blind.
  EXPECT_TRUE(p.interactive().shares.empty());
  EXPECT_EQ(p.interactive().mode, Mode::CarbonBlindStale);
  // Equal capacity, 100 and 400 gCO2/kWh, alpha 1: weights 1/100 : 1/400 = 4 : 1.
  const Weights& w = p.update({at("a", 10, 20, 100), at("b", 10, 20, 400)}, now());
  EXPECT_TRUE(sharesNear(w.shares, {0.8, 0.2}));
  EXPECT_TRUE(sharesNear(w.blind_shares, {0.5, 0.5}));
  EXPECT_EQ(w.eligible, (std::vector<bool>{true, true}));
  EXPECT_EQ(w.mode, Mode::CarbonAware);
  EXPECT_EQ(w.alpha_in_force, 1.0);
}

TEST_F(CarbonPolicyTest, ThreeLocalitiesWeighCapacityTimesTheCarbonFactor) {
  CarbonPolicy p = policy();
  // Weights 10/100 : 20/200 : 10/400 = 0.1 : 0.1 : 0.025.
  const Weights& w =
      p.update({at("a", 10, 20, 100), at("b", 20, 20, 200), at("c", 10, 20, 400)}, now());
  EXPECT_TRUE(sharesNear(w.shares, {4.0 / 9, 4.0 / 9, 1.0 / 9}));
  EXPECT_TRUE(sharesNear(w.blind_shares, {0.25, 0.5, 0.25}));
}

TEST_F(CarbonPolicyTest, TheReferenceScalesEveryWeightAlikeSoTheSharesDoNotMove) {
  // c is outside the latency budget: it is held at min_share and its intensity is not part of
  // the default reference.
  config_.min_share = 0.05;
  const std::vector<LocalityInput> inputs = {at("a", 10, 20, 100), at("b", 30, 20, 400),
                                             at("c", 10, 500, 1000)};
  CarbonPolicy by_default = policy();
  const Weights& d = by_default.update(inputs, now());
  // The capacity-weighted mean of the eligible ones: (10×100 + 30×400) / 40.
  EXPECT_DOUBLE_EQ(d.reference, 325.0);
  // a : b = 10/100 : 30/400 = 4 : 3 of the 0.95 that c leaves.
  EXPECT_TRUE(sharesNear(d.shares, {0.95 * 4 / 7, 0.95 * 3 / 7, 0.05}));

  config_.reference_intensity = 50;
  CarbonPolicy configured = policy();
  const Weights& c = configured.update(inputs, now());
  EXPECT_DOUBLE_EQ(c.reference, 50.0);
  EXPECT_TRUE(sharesNear(c.shares, d.shares));
}

TEST_F(CarbonPolicyTest, AlphaZeroIsExactlyCarbonBlind) {
  config_.alpha = 0;
  config_.min_share = 0.05;
  config_.max_share = 0.6;
  CarbonPolicy p = policy();
  // Different intensities, a locality outside the latency budget, a blind share above max_share:
  // none of it matters, the shares are the capacity proportions.
  const Weights& w =
      p.update({at("a", 10, 20, 100), at("b", 35, 20, 400), at("c", 5, 900, 20)}, now());
  EXPECT_TRUE(sharesNear(w.shares, {0.2, 0.7, 0.1}));
  EXPECT_TRUE(sharesNear(w.shares, w.blind_shares));
  EXPECT_EQ(w.alpha_in_force, 0.0);
  EXPECT_EQ(w.mode, Mode::CarbonAware);
}

TEST_F(CarbonPolicyTest, MaxShareLeavesTheOtherLocalityTheRest) {
  config_.max_share = 0.9;
  CarbonPolicy p = policy();
  // 10 : 1 would be 0.909 : 0.091.
  EXPECT_TRUE(sharesNear(p.update({at("a", 10, 20, 100), at("b", 10, 20, 1000)}, now()).shares,
                         {0.9, 0.1}));
}

TEST_F(CarbonPolicyTest, MinShareRaisesTheSmallestAndTheRestIsRenormalised) {
  config_.min_share = 0.15;
  config_.max_share = 0.9;
  CarbonPolicy p = policy();
  EXPECT_TRUE(sharesNear(p.update({at("a", 10, 20, 100), at("b", 10, 20, 1000)}, now()).shares,
                         {0.85, 0.15}));
}

TEST_F(CarbonPolicyTest, ThreeLocalitiesOneAtEachBound) {
  config_.min_share = 0.15;
  config_.max_share = 0.6;
  CarbonPolicy p = policy();
  // Raw 16 : 2 : 1 (0.842, 0.105, 0.053): a is capped at 0.6, c raised to 0.15, b takes the 0.25
  // left (its share in proportion would be 0.105).
  const Weights& w =
      p.update({at("a", 10, 20, 50), at("b", 10, 20, 400), at("c", 10, 20, 800)}, now());
  EXPECT_TRUE(sharesNear(w.shares, {0.6, 0.25, 0.15}));
}

TEST_F(CarbonPolicyTest, ThreeLocalitiesTwoAtTheUpperBound) {
  config_.min_share = 0.05;
  config_.max_share = 0.4;
  CarbonPolicy p = policy();
  // Raw 4 : 4 : 1 (0.444, 0.444, 0.111): both capped, the third takes the rest.
  const Weights& w =
      p.update({at("a", 10, 20, 100), at("b", 10, 20, 100), at("c", 10, 20, 400)}, now());
  EXPECT_TRUE(sharesNear(w.shares, {0.4, 0.4, 0.2}));
}

TEST_F(CarbonPolicyTest, InfeasibleBoundsWidenToTheEqualShare) {
  config_.min_share = 0.05;
  config_.max_share = 0.9;
  {
    CarbonPolicy p = policy();  // one locality: everything, whatever max_share says
    EXPECT_TRUE(sharesNear(p.update({at("a", 10, 20, 500)}, now()).shares, {1.0}));
  }
  const std::vector<LocalityInput> three = {at("a", 10, 20, 50), at("b", 10, 20, 400),
                                            at("c", 10, 20, 800)};
  {
    config_.min_share = 0.4;  // 3 × 0.4 > 1
    CarbonPolicy p = policy();
    EXPECT_TRUE(sharesNear(p.update(three, now()).shares, {1.0 / 3, 1.0 / 3, 1.0 / 3}));
  }
  {
    config_.min_share = 0.05;
    config_.max_share = 0.3;  // 3 × 0.3 < 1
    CarbonPolicy p = policy();
    EXPECT_TRUE(sharesNear(p.update(three, now()).shares, {1.0 / 3, 1.0 / 3, 1.0 / 3}));
  }
}

TEST_F(CarbonPolicyTest, ALocalityOutsideTheLatencyBudgetIsHeldAtMinShareHoweverGreen) {
  config_.min_share = 0.05;
  config_.latency_budget = milliseconds(50);
  CarbonPolicy p = policy();
  // Best 10 ms: b at 55 ms is within 50 ms of it, c at 70 ms is not, though the greenest.
  const Weights& w =
      p.update({at("a", 10, 10, 100), at("b", 10, 55, 100), at("c", 10, 70, 10)}, now());
  EXPECT_EQ(w.eligible, (std::vector<bool>{true, true, false}));
  EXPECT_TRUE(sharesNear(w.shares, {0.475, 0.475, 0.05}));
}

TEST_F(CarbonPolicyTest, ANonEligibleLocalityNeverGetsMoreThanItsBlindShare) {
  config_.min_share = 0.05;
  CarbonPolicy p = policy();
  // c's blind share is 1/41 < min_share: it keeps 1/41.
  const Weights& w =
      p.update({at("a", 20, 10, 100), at("b", 20, 10, 400), at("c", 1, 200, 10)}, now());
  const double c = 1.0 / 41;
  EXPECT_TRUE(sharesNear(w.shares, {(1 - c) * 0.8, (1 - c) * 0.2, c}));
}

TEST_F(CarbonPolicyTest, AnUnmeasuredLocalityIsHeldAtMinShareUntilMeasured) {
  config_.min_share = 0.05;
  {
    CarbonPolicy p = policy();
    // b is the greener, but the proxy has no latency for it while it has one for a.
    const Weights& w = p.update({at("a", 10, 10, 400), at("b", 10, kNoSamples, 100)}, now());
    EXPECT_EQ(w.eligible, (std::vector<bool>{true, false}));
    EXPECT_TRUE(sharesNear(w.shares, {0.95, 0.05}));
  }
  {
    CarbonPolicy p = policy();
    // Nobody measured yet: every locality is eligible.
    const Weights& w =
        p.update({at("a", 10, kNoSamples, 400), at("b", 10, kNoSamples, 100)}, now());
    EXPECT_EQ(w.eligible, (std::vector<bool>{true, true}));
    EXPECT_TRUE(sharesNear(w.shares, {0.2, 0.8}));
  }
}

TEST_F(CarbonPolicyTest, ALocalityWithoutCapacityGetsNothing) {
  config_.min_share = 0.05;
  CarbonPolicy p = policy();
  // a would be the greenest; it has no healthy endpoint (and no signal: that does not make the
  // cluster stale, since it gets nothing anyway).
  const Weights& w =
      p.update({at("a", 0, 5, kNoSignal), at("b", 10, 10, 100), at("c", 10, 10, 400)}, now());
  EXPECT_EQ(w.mode, Mode::CarbonAware);
  EXPECT_EQ(w.eligible, (std::vector<bool>{false, true, true}));
  EXPECT_TRUE(sharesNear(w.shares, {0, 0.8, 0.2}));
  EXPECT_TRUE(sharesNear(w.blind_shares, {0, 0.5, 0.5}));

  // No capacity anywhere: nowhere to route, every share 0.
  CarbonPolicy none = policy();
  EXPECT_TRUE(
      sharesNear(none.update({at("a", 0, 5, 100), at("b", 0, 5, 400)}, now()).shares, {0, 0}));
}

TEST_F(CarbonPolicyTest, AMissingSignalMakesTheWholeClusterBlindAtOnceAndFreshRestoresAfterDwell) {
  config_.min_dwell = seconds(30);
  CarbonPolicy p = policy();
  const Weights& first = p.update({at("a", 10, 10, 100), at("b", 30, 10, 400)}, now());
  EXPECT_TRUE(sharesNear(first.shares, {4.0 / 7, 3.0 / 7}));  // 10/100 : 30/400

  // b's signal goes stale one second later: carbon-blind at once, within the dwell.
  time_.advance(seconds(1));
  const MonotonicTime stale_at = now();
  const Weights& stale = p.update({at("a", 10, 10, 100), at("b", 30, 10, kNoSignal)}, now());
  EXPECT_EQ(stale.mode, Mode::CarbonBlindStale);
  EXPECT_TRUE(sharesNear(stale.shares, {0.25, 0.75}));
  EXPECT_EQ(stale.alpha_in_force, 0.0);
  // Blind weights follow capacity at once.
  time_.advance(seconds(1));
  EXPECT_TRUE(sharesNear(p.update({at("a", 10, 10, 100), at("b", 10, 10, kNoSignal)}, now()).shares,
                         {0.5, 0.5}));

  // Fresh again: leaving the blind mode waits for min_dwell since it was entered.
  time_.advance(seconds(1));
  const std::vector<LocalityInput> fresh = {at("a", 10, 10, 100), at("b", 30, 10, 400)};
  const Weights& waiting = p.update(fresh, now());
  EXPECT_EQ(waiting.mode, Mode::CarbonBlindStale);
  EXPECT_TRUE(sharesNear(waiting.shares, {0.25, 0.75}));
  advanceTo(stale_at + seconds(30) - milliseconds(1));
  EXPECT_EQ(p.update(fresh, now()).mode, Mode::CarbonBlindStale);
  time_.advance(milliseconds(1));
  const Weights& back = p.update(fresh, now());
  EXPECT_EQ(back.mode, Mode::CarbonAware);
  EXPECT_TRUE(sharesNear(back.shares, {4.0 / 7, 3.0 / 7}));
}

// ---- hysteresis and dwell ---------------------------------------------------------------------

TEST_F(CarbonPolicyTest, ASmallChangeIsNotApplied) {
  config_.hysteresis = 0.05;
  CarbonPolicy p = policy();
  p.update({at("a", 10, 10, 100), at("b", 10, 10, 400)}, now());
  // 110/400 would move a from 0.8 to 0.784: within the hysteresis, however long it lasts.
  time_.advance(seconds(600));
  const Weights& w = p.update({at("a", 10, 10, 110), at("b", 10, 10, 400)}, now());
  EXPECT_TRUE(sharesNear(w.shares, {0.8, 0.2}));
}

TEST_F(CarbonPolicyTest, ALargeChangeIsAppliedAfterMinDwellNotBefore) {
  config_.hysteresis = 0.05;
  config_.min_dwell = seconds(30);
  CarbonPolicy p = policy();
  p.update({at("a", 10, 10, 100), at("b", 10, 10, 400)}, now());
  // 300/400 moves a to 4/7 = 0.571.
  const std::vector<LocalityInput> changed = {at("a", 10, 10, 300), at("b", 10, 10, 400)};
  time_.advance(seconds(10));
  EXPECT_TRUE(sharesNear(p.update(changed, now()).shares, {0.8, 0.2}));
  time_.advance(seconds(20) - milliseconds(1));
  EXPECT_TRUE(sharesNear(p.update(changed, now()).shares, {0.8, 0.2}));
  time_.advance(milliseconds(1));
  EXPECT_TRUE(sharesNear(p.update(changed, now()).shares, {4.0 / 7, 3.0 / 7}));
}

TEST_F(CarbonPolicyTest, LosingCapacityOrEligibilityAppliesAtOnceRegainingWaits) {
  config_.min_share = 0.05;
  config_.min_dwell = seconds(30);
  CarbonPolicy p = policy();
  p.update({at("a", 10, 10, 100), at("b", 10, 10, 400), at("c", 10, 10, 400)}, now());

  // b loses all its endpoints a second later.
  time_.advance(seconds(1));
  const Weights& lost =
      p.update({at("a", 10, 10, 100), at("b", 0, 10, 400), at("c", 10, 10, 400)}, now());
  EXPECT_TRUE(sharesNear(lost.shares, {0.8, 0, 0.2}));

  // c's latency goes beyond the budget: held at min_share at once.
  time_.advance(seconds(1));
  const MonotonicTime left_at = now();
  const Weights& slow =
      p.update({at("a", 10, 10, 100), at("b", 0, 10, 400), at("c", 10, 200, 400)}, now());
  EXPECT_EQ(slow.eligible, (std::vector<bool>{true, false, false}));
  EXPECT_TRUE(sharesNear(slow.shares, {0.95, 0, 0.05}));

  // Both come back: an increase is an ordinary change, after min_dwell.
  const std::vector<LocalityInput> recovered = {at("a", 10, 10, 100), at("b", 10, 10, 400),
                                                at("c", 10, 10, 400)};
  time_.advance(seconds(1));
  EXPECT_TRUE(sharesNear(p.update(recovered, now()).shares, {0.95, 0, 0.05}));
  advanceTo(left_at + seconds(30));
  EXPECT_TRUE(sharesNear(p.update(recovered, now()).shares, {4.0 / 6, 1.0 / 6, 1.0 / 6}));
}

TEST_F(CarbonPolicyTest, ANonEligibleLocalityLosingCapacityDropsToZeroAtOnce) {
  config_.min_share = 0.05;
  config_.min_dwell = seconds(30);
  CarbonPolicy p = policy();
  // c is already not eligible (too slow), held at min_share: losing its endpoints is not a change
  // of eligibility, yet its share must go at once.
  EXPECT_TRUE(sharesNear(
      p.update({at("a", 10, 10, 100), at("b", 10, 10, 400), at("c", 10, 200, 100)}, now()).shares,
      {0.76, 0.19, 0.05}));
  time_.advance(seconds(1));
  const Weights& w =
      p.update({at("a", 10, 10, 100), at("b", 10, 10, 400), at("c", 0, 200, 100)}, now());
  EXPECT_TRUE(sharesNear(w.shares, {0.8, 0.2, 0}));
}

TEST_F(CarbonPolicyTest, AChangedListOfLocalitiesAppliesAtOnce) {
  config_.min_dwell = seconds(30);
  CarbonPolicy p = policy();
  p.update({at("a", 10, 10, 100), at("b", 10, 10, 400)}, now());
  time_.advance(seconds(1));
  const Weights& w =
      p.update({at("a", 10, 10, 100), at("b", 10, 10, 400), at("c", 20, 10, 100)}, now());
  // 0.1 : 0.025 : 0.2.
  EXPECT_TRUE(sharesNear(w.shares, {0.1 / 0.325, 0.025 / 0.325, 0.2 / 0.325}));
}

// ---- the kill switch --------------------------------------------------------------------------

class KillSwitchTest : public CarbonPolicyTest {
 protected:
  KillSwitchTest() {
    config_.slo_target = 0.99;  // error budget 1%: a burn rate of 10 is 10% errors
    config_.burn_rate_threshold = 10;
    config_.burn_window = seconds(10);
    config_.recovery = seconds(20);
    config_.min_dwell = seconds(10);
  }
  static void record(CarbonPolicy& p, int good, int bad, MonotonicTime now) {
    for (int i = 0; i < good; i++) {
      p.recordOutcome(true, now);
    }
    for (int i = 0; i < bad; i++) {
      p.recordOutcome(false, now);
    }
  }
  const std::vector<LocalityInput> inputs_ = {at("a", 10, 10, 100), at("b", 10, 10, 400)};
};

TEST_F(KillSwitchTest, TripsAtOnceWhenTheBurnRateExceedsTheThreshold) {
  CarbonPolicy p = policy();
  EXPECT_TRUE(sharesNear(p.update(inputs_, now()).shares, {0.8, 0.2}));
  // 11 errors in 111: 9.9% of a 1% budget, a burn rate of 9.9.
  record(p, 100, 11, now());
  EXPECT_NEAR(p.burnRate(now()), 11.0 / 111 / 0.01, 1e-9);
  EXPECT_FALSE(p.killSwitchActive());
  // 12 in 112: 10.7. No update() needed, no dwell: carbon-blind at once, both traffic classes.
  p.recordOutcome(false, now());
  EXPECT_TRUE(p.killSwitchActive());
  for (Traffic traffic : {Traffic::Interactive, Traffic::Deferrable}) {
    const Weights& w = p.inForce(traffic);
    EXPECT_EQ(w.mode, Mode::KillSwitch);
    EXPECT_EQ(w.alpha_in_force, 0.0);
    EXPECT_TRUE(sharesNear(w.shares, {0.5, 0.5}));
  }
}

// A second's outcomes arrive as counts: judged by their ratio, whatever order they came in. (Fed
// one by one with the errors first, 20 errors would trip at the 20th request: 100% errors.)
TEST_F(KillSwitchTest, ABatchIsJudgedByItsRatio) {
  CarbonPolicy p = policy();
  p.update(inputs_, now());
  p.recordOutcomes(1000, 20, now());  // 2%: a burn rate of 2
  EXPECT_NEAR(p.burnRate(now()), 2.0, 1e-9);
  EXPECT_FALSE(p.killSwitchActive());
  p.recordOutcomes(100, 100, now());  // now 120 in 1100: 10.9
  EXPECT_TRUE(p.killSwitchActive());
  p.recordOutcomes(0, 0, now());  // nothing: no change
  EXPECT_TRUE(p.killSwitchActive());
}

TEST_F(KillSwitchTest, NeedsTheMinimumNumberOfRequestsInTheWindow) {
  CarbonPolicy p = policy();
  p.update(inputs_, now());
  record(p, 0, CarbonPolicy::kMinBurnRequests - 1, now());
  EXPECT_NEAR(p.burnRate(now()), 100.0, 1e-9);  // every request failed: 100% of a 1% budget
  EXPECT_FALSE(p.killSwitchActive());
  EXPECT_EQ(p.interactive().mode, Mode::CarbonAware);
  p.recordOutcome(false, now());
  EXPECT_TRUE(p.killSwitchActive());
}

TEST_F(KillSwitchTest, TheWindowSlides) {
  CarbonPolicy p = policy();
  record(p, 90, 10, now());
  EXPECT_EQ(p.burnWindowRequests(now()), 100u);
  time_.advance(seconds(5));
  record(p, 100, 0, now());
  EXPECT_EQ(p.burnWindowRequests(now()), 200u);
  EXPECT_NEAR(p.burnRate(now()), 10.0 / 200 / 0.01, 1e-9);
  // Ten seconds after the first batch, it has left the window.
  time_.advance(seconds(5));
  EXPECT_EQ(p.burnWindowRequests(now()), 100u);
  EXPECT_EQ(p.burnRate(now()), 0.0);
}

TEST_F(KillSwitchTest, IsReleasedOnlyAfterTheBurnRateStayedCalmForRecovery) {
  CarbonPolicy p = policy();
  p.update(inputs_, now());
  record(p, 100, 12, now());
  ASSERT_TRUE(p.killSwitchActive());

  // One second later enough good requests bring the burn rate to 12/122/1% = 9.8: calm from here.
  time_.advance(seconds(1));
  const MonotonicTime calm_at = now();
  record(p, 10, 0, now());
  EXPECT_LE(p.burnRate(now()), 10.0);
  advanceTo(calm_at + seconds(20) - milliseconds(1));
  EXPECT_EQ(p.update(inputs_, now()).mode, Mode::KillSwitch);
  EXPECT_TRUE(p.killSwitchActive());
  time_.advance(milliseconds(1));
  const Weights& w = p.update(inputs_, now());
  EXPECT_FALSE(p.killSwitchActive());
  EXPECT_EQ(w.mode, Mode::CarbonAware);
  EXPECT_EQ(w.alpha_in_force, 1.0);
  EXPECT_TRUE(sharesNear(w.shares, {0.8, 0.2}));
}

TEST_F(KillSwitchTest, ABurnDuringRecoveryRestartsTheClock) {
  CarbonPolicy p = policy();
  p.update(inputs_, now());
  record(p, 100, 12, now());
  time_.advance(seconds(1));
  record(p, 10, 0, now());  // calm: 12 in 122
  time_.advance(seconds(4));
  record(p, 0, 3, now());  // 15 in 125: 12, burning again
  EXPECT_GT(p.burnRate(now()), 10.0);
  time_.advance(seconds(1));
  const MonotonicTime calm_at = now();
  record(p, 30, 0, now());  // 15 in 155: 9.7
  EXPECT_LE(p.burnRate(now()), 10.0);
  // 20 s after the first calm moment, but not after the second.
  time_.advance(seconds(15));
  EXPECT_EQ(p.update(inputs_, now()).mode, Mode::KillSwitch);
  advanceTo(calm_at + seconds(20));
  EXPECT_EQ(p.update(inputs_, now()).mode, Mode::CarbonAware);
}

TEST_F(KillSwitchTest, AQuietClusterThatStillFailsStaysBlind) {
  CarbonPolicy p = policy();
  p.update(inputs_, now());
  record(p, 100, 12, now());
  ASSERT_TRUE(p.killSwitchActive());
  // Traffic drops to a trickle that keeps failing: below the minimum count, but not calm.
  for (int s = 0; s < 60; s++) {
    time_.advance(seconds(1));
    record(p, 0, 1, now());
  }
  EXPECT_LT(p.burnWindowRequests(now()), CarbonPolicy::kMinBurnRequests);
  EXPECT_EQ(p.update(inputs_, now()).mode, Mode::KillSwitch);
}

// ---- dry run and deferrable traffic -----------------------------------------------------------

TEST_F(CarbonPolicyTest, DryRunComputesEverythingAndEnforcesTheBlindShares) {
  config_.dry_run = true;
  config_.max_share = 0.9;
  CarbonPolicy p = policy();
  EXPECT_EQ(p.interactive().mode, Mode::DryRun);
  const Weights& w = p.update({at("a", 10, 10, 100), at("b", 30, 10, 400)}, now());
  EXPECT_EQ(w.mode, Mode::DryRun);
  EXPECT_TRUE(sharesNear(w.shares, {0.25, 0.75}));
  EXPECT_EQ(p.deferrable().mode, Mode::DryRun);
  EXPECT_TRUE(sharesNear(p.deferrable().shares, {0.25, 0.75}));
  // What would be in force: 10/100 : 30/400 = 4 : 3 interactive, 10/100² : 30/400² = 16 : 3
  // deferrable.
  EXPECT_EQ(p.computed().mode, Mode::CarbonAware);
  EXPECT_TRUE(sharesNear(p.computed().shares, {4.0 / 7, 3.0 / 7}));
  EXPECT_TRUE(sharesNear(p.computed(Traffic::Deferrable).shares, {16.0 / 19, 3.0 / 19}));
}

TEST_F(CarbonPolicyTest, DeferrableTrafficShiftsFurtherThanInteractive) {
  {
    CarbonPolicy p = policy();
    p.update({at("a", 10, 10, 100), at("b", 10, 10, 400)}, now());
    EXPECT_TRUE(sharesNear(p.interactive().shares, {0.8, 0.2}));
    // alpha 2: 16 : 1.
    EXPECT_TRUE(sharesNear(p.deferrable().shares, {16.0 / 17, 1.0 / 17}));
    EXPECT_EQ(p.deferrable().alpha_in_force, 2.0);
  }
  {
    // b is the greener but 200 ms slower: beyond the interactive budget (50 ms), within the
    // deferrable one (500 ms).
    config_.min_share = 0.05;
    config_.max_share = 0.9;
    CarbonPolicy p = policy();
    p.update({at("a", 10, 10, 400), at("b", 10, 210, 100)}, now());
    EXPECT_TRUE(sharesNear(p.interactive().shares, {0.95, 0.05}));
    EXPECT_EQ(p.deferrable().eligible, (std::vector<bool>{true, true}));
    EXPECT_TRUE(sharesNear(p.deferrable().shares, {0.1, 0.9}));
  }
}

TEST_F(CarbonPolicyTest, DeferrableTrafficHasItsOwnHysteresis) {
  config_.hysteresis = 0.05;
  config_.min_dwell = seconds(30);
  CarbonPolicy p = policy();
  p.update({at("a", 10, 10, 100), at("b", 10, 10, 100)}, now());
  // 100/120: interactive a would go to 120/220 = 0.545 (within 0.05), deferrable to
  // 1.44/2.44 = 0.590 (beyond it).
  time_.advance(seconds(30));
  p.update({at("a", 10, 10, 100), at("b", 10, 10, 120)}, now());
  EXPECT_TRUE(sharesNear(p.interactive().shares, {0.5, 0.5}));
  EXPECT_TRUE(sharesNear(p.deferrable().shares, {1.44 / 2.44, 1.0 / 2.44}));
}

}  // namespace
}  // namespace strait::carbon
