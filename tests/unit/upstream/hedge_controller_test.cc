#include "proxy/upstream/hedge_controller.h"

#include <gtest/gtest.h>

#include <chrono>

#include "tests/mocks/simulated_time.h"

namespace strait::upstream {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

TEST(LatencyHistogramTest, BucketsAreExactBelowSixteenAndWithinASixteenthAbove) {
  for (uint64_t v = 0; v < 16; v++) {
    EXPECT_EQ(LatencyHistogram::upperBoundOf(LatencyHistogram::bucketOf(v)), v);
  }
  for (uint64_t v : {16ULL, 17ULL, 100ULL, 1000ULL, 1023ULL, 1024ULL, 99999ULL, 5000000ULL}) {
    const uint64_t bound = LatencyHistogram::upperBoundOf(LatencyHistogram::bucketOf(v));
    EXPECT_GE(bound, v) << v;
    EXPECT_LE(static_cast<double>(bound), static_cast<double>(v) * (1 + 1.0 / 16)) << v;
  }
  // Beyond the range: the last bucket.
  EXPECT_EQ(LatencyHistogram::bucketOf(uint64_t{1} << 40), LatencyHistogram::kBucketCount - 1);
}

TEST(LatencyHistogramTest, PercentileIsTheNearestRankBucket) {
  LatencyHistogram h;
  EXPECT_EQ(h.percentileMicros(95), 0u);
  for (int i = 0; i < 95; i++) {
    h.record(1000);  // 1 ms
  }
  for (int i = 0; i < 5; i++) {
    h.record(100000);  // 100 ms
  }
  EXPECT_EQ(h.count(), 100u);
  const uint64_t p95 = h.percentileMicros(95);
  EXPECT_GE(p95, 1000u);
  EXPECT_LT(p95, 1100u);
  const uint64_t p96 = h.percentileMicros(96);
  EXPECT_GE(p96, 100000u);
  EXPECT_LT(p96, 107000u);
  h.clear();
  EXPECT_EQ(h.count(), 0u);
}

TEST(LatencyHistogramTest, MinSamplesPutFiveAboveThePercentile) {
  EXPECT_EQ(LatencyHistogram::minSamples(50), 20u);
  EXPECT_EQ(LatencyHistogram::minSamples(95), 100u);
  EXPECT_EQ(LatencyHistogram::minSamples(99), 500u);
}

class HedgeControllerTest : public ::testing::Test {
 protected:
  config::HedgePolicy percentilePolicy(double p) {
    config::HedgePolicy policy;
    policy.percentile = p;
    policy.initial_delay = milliseconds(50);
    policy.min_delay = milliseconds(1);
    policy.window = milliseconds(1000);
    policy.max_extra_load = 0.05;
    return policy;
  }
  MonotonicTime now() const { return time_.monotonicTime(); }
  int64_t gauge() const { return store_.gaugeValue(gauge_); }

  strait::testing::SimulatedTimeSource time_;
  stats::Store store_{2};
  stats::Gauge gauge_ = store_.gauge("strait_dp_route_hedge_delay_microseconds", "test");
};

TEST_F(HedgeControllerTest, FixedDelayIsTheConfiguredOne) {
  config::HedgePolicy policy;
  policy.delay = milliseconds(20);
  HedgeController hedge(policy, gauge_);
  EXPECT_EQ(hedge.onRequest(now(), store_.mainShard()), microseconds(20000));
  EXPECT_EQ(gauge(), 20000);
  // Latencies do not move a fixed delay.
  for (int i = 0; i < 1000; i++) {
    hedge.recordLatency(now(), microseconds(100), store_.mainShard());
  }
  time_.advance(milliseconds(20000));
  EXPECT_EQ(hedge.onRequest(now(), store_.mainShard()), microseconds(20000));
}

TEST_F(HedgeControllerTest, PercentileDelayIsLearnedFromTheWindowJustFinished) {
  HedgeController hedge(percentilePolicy(95), gauge_);
  stats::Shard& worker0 = store_.shard(0);
  stats::Shard& worker1 = store_.shard(1);
  // Until a window has finished with enough samples: the initial delay.
  EXPECT_EQ(hedge.onRequest(now(), worker0), microseconds(50000));
  EXPECT_EQ(gauge(), 50000);
  for (int i = 0; i < 190; i++) {
    hedge.recordLatency(now(), microseconds(2000), i % 2 == 0 ? worker0 : worker1);
  }
  for (int i = 0; i < 10; i++) {
    hedge.recordLatency(now(), microseconds(200000), worker1);
  }
  EXPECT_EQ(hedge.delay(), microseconds(50000));  // the window has not ended
  time_.advance(milliseconds(1000));
  // The next window: p95 of 190 x 2 ms + 10 x 200 ms is the 2 ms bucket.
  const microseconds learned = hedge.onRequest(now(), worker1);
  EXPECT_GE(learned.count(), 2000);
  EXPECT_LT(learned.count(), 2200);
  // The gauge follows, published as a difference on whichever shard rotated: the sum is right.
  EXPECT_EQ(gauge(), learned.count());
  // A window with too few samples (p95 needs 100) keeps the delay in force.
  for (int i = 0; i < 50; i++) {
    hedge.recordLatency(now(), microseconds(30000), worker0);
  }
  time_.advance(milliseconds(1000));
  EXPECT_EQ(hedge.onRequest(now(), worker0), learned);
  // A full window of slower requests raises it.
  for (int i = 0; i < 200; i++) {
    hedge.recordLatency(now(), microseconds(30000), worker0);
  }
  time_.advance(milliseconds(1000));
  const microseconds slower = hedge.onRequest(now(), worker0);
  EXPECT_GE(slower.count(), 30000);
  EXPECT_LT(slower.count(), 32000);
  EXPECT_EQ(gauge(), slower.count());
}

TEST_F(HedgeControllerTest, LearnedDelayNeverGoesBelowMinDelay) {
  config::HedgePolicy policy = percentilePolicy(50);
  policy.min_delay = milliseconds(5);
  HedgeController hedge(policy, gauge_);
  hedge.onRequest(now(), store_.mainShard());
  for (int i = 0; i < 100; i++) {
    hedge.recordLatency(now(), microseconds(300), store_.mainShard());
  }
  time_.advance(milliseconds(1000));
  EXPECT_EQ(hedge.onRequest(now(), store_.mainShard()), microseconds(5000));
}

TEST_F(HedgeControllerTest, AnIdleGapDiscardsWhatOlderWindowsRecorded) {
  HedgeController hedge(percentilePolicy(50), gauge_);
  hedge.onRequest(now(), store_.mainShard());
  for (int i = 0; i < 100; i++) {
    hedge.recordLatency(now(), microseconds(8000), store_.mainShard());
  }
  // Three windows later (the histogram slot of this window is the one recorded into above, by
  // epoch % 3): the old samples are not this window's, and the delay learned is kept.
  time_.advance(milliseconds(3000));
  EXPECT_EQ(hedge.onRequest(now(), store_.mainShard()), microseconds(50000));
  for (int i = 0; i < 30; i++) {
    hedge.recordLatency(now(), microseconds(4000), store_.mainShard());
  }
  time_.advance(milliseconds(1000));
  const microseconds learned = hedge.onRequest(now(), store_.mainShard());
  EXPECT_GE(learned.count(), 4000);
  EXPECT_LT(learned.count(), 4300);  // only the 30 samples of 4 ms, none of the 8 ms ones
}

TEST_F(HedgeControllerTest, BudgetAllowsHedgesUpToTheExtraLoadShare) {
  config::HedgePolicy policy;
  policy.delay = milliseconds(10);
  policy.window = milliseconds(1000);
  policy.max_extra_load = 0.05;
  HedgeController hedge(policy, gauge_);
  stats::Shard& shard = store_.mainShard();
  // No request yet: no share.
  EXPECT_FALSE(hedge.tryAcquireHedge(now(), shard));
  for (int i = 0; i < 19; i++) {
    hedge.onRequest(now(), shard);
  }
  EXPECT_FALSE(hedge.tryAcquireHedge(now(), shard));  // 5% of 19 is below one hedge
  hedge.onRequest(now(), shard);
  EXPECT_TRUE(hedge.tryAcquireHedge(now(), shard));   // 20 requests: one
  EXPECT_FALSE(hedge.tryAcquireHedge(now(), shard));
  for (int i = 0; i < 180; i++) {
    hedge.onRequest(now(), shard);
  }
  int granted = 0;
  while (hedge.tryAcquireHedge(now(), shard)) {
    granted++;
  }
  EXPECT_EQ(granted, 9);  // 10 of 200 in all
  EXPECT_DOUBLE_EQ(hedge.windowHedges(now()), 10);
}

TEST_F(HedgeControllerTest, BudgetSlidesThePreviousWindowOut) {
  config::HedgePolicy policy;
  policy.delay = milliseconds(10);
  policy.window = milliseconds(1000);
  policy.max_extra_load = 0.10;
  HedgeController hedge(policy, gauge_);
  stats::Shard& shard = store_.mainShard();
  // Align to the start of a window, so that the weights below are exact.
  const int64_t into = time_.nowMs() % 1000;
  if (into != 0) {
    time_.advance(milliseconds(1000 - into));
  }
  for (int i = 0; i < 100; i++) {
    hedge.onRequest(now(), shard);
  }
  for (int i = 0; i < 10; i++) {
    ASSERT_TRUE(hedge.tryAcquireHedge(now(), shard));
  }
  EXPECT_FALSE(hedge.tryAcquireHedge(now(), shard));
  // Half-way through the next window, half of the last one still counts: 50 requests and 5
  // hedges, so still none.
  time_.advance(milliseconds(1500));
  EXPECT_DOUBLE_EQ(hedge.windowRequests(now()), 50);
  EXPECT_FALSE(hedge.tryAcquireHedge(now(), shard));
  // 20 new requests: 70 weighted, 7 allowed, 5 used: two more.
  for (int i = 0; i < 20; i++) {
    hedge.onRequest(now(), shard);
  }
  EXPECT_TRUE(hedge.tryAcquireHedge(now(), shard));
  EXPECT_TRUE(hedge.tryAcquireHedge(now(), shard));
  EXPECT_FALSE(hedge.tryAcquireHedge(now(), shard));
  // Two windows of silence: nothing counts any more.
  time_.advance(milliseconds(2000));
  EXPECT_DOUBLE_EQ(hedge.windowRequests(now()), 0);
  EXPECT_FALSE(hedge.tryAcquireHedge(now(), shard));
}

}  // namespace
}  // namespace strait::upstream
