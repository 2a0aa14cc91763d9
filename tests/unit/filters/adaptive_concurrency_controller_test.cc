// The adaptive concurrency controller on a simulated clock: the first minRTT probe, the gradient
// and vegas limits, app-limited windows, the queue (FIFO, LIFO, full, cancel), dry run, the
// histogram's percentiles, and the two Envoy bugs this controller must not have: the minRTT
// probe pinning the limit to its floor and refusing (envoyproxy/envoy#46532), and samples of
// requests that started before a recalculation steering the next window (#11579).

#include "filters/adaptive_concurrency/controller.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace strait::filters::adaptive_concurrency {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

class RecordingWaiter : public QueueWaiter {
 public:
  RecordingWaiter(int id, std::vector<int>& admitted) : id_(id), admitted_(admitted) {}
  void onAdmitted(uint64_t epoch) override {
    admitted_.push_back(id_);
    epoch_ = epoch;
  }
  uint64_t epoch_ = 0;

 private:
  int id_;
  std::vector<int>& admitted_;
};

class Source : public ConcurrencyController::WaiterSource {
 public:
  std::shared_ptr<QueueWaiter> makeWaiter() override {
    auto w = std::make_shared<RecordingWaiter>(next_id++, admitted);
    waiters.push_back(w);
    return w;
  }
  int next_id = 1;
  std::vector<int> admitted;
  std::vector<std::shared_ptr<RecordingWaiter>> waiters;
};

AdaptiveConcurrencyConfig baseConfig() {
  AdaptiveConcurrencyConfig c;
  c.initial_limit = 10;
  c.min_limit = 3;
  c.max_limit = 1000;
  c.sample_window = milliseconds(100);
  c.sample_percentile = 50;
  c.min_rtt.requests = 5;
  c.min_rtt.interval = milliseconds(30000);
  c.min_rtt.jitter = 0;
  c.min_rtt.max_duration = milliseconds(2000);
  return c;
}

class ControllerTest : public ::testing::Test {
 protected:
  void make(AdaptiveConcurrencyConfig config) {
    signal_ = std::make_shared<ConcurrencySignal>();
    controller_ = std::make_unique<ConcurrencyController>(config, now_, 42, signal_);
  }
  // Admits `n` requests at now_; every one must be admitted at once.
  std::vector<uint64_t> admitAll(uint32_t n) {
    std::vector<uint64_t> epochs;
    for (uint32_t i = 0; i < n; ++i) {
      Admission a = controller_->admit(now_, source_);
      EXPECT_EQ(a.kind, Admission::Kind::Admitted) << "request " << i;
      epochs.push_back(a.epoch);
    }
    return epochs;
  }
  void completeAll(const std::vector<uint64_t>& epochs, milliseconds rtt) {
    for (uint64_t e : epochs) {
      controller_->complete(e, rtt, now_);
    }
  }
  // The first probe: `requests` samples at `rtt`.
  void finishFirstProbe(milliseconds rtt) {
    ASSERT_TRUE(controller_->state().probing);
    completeAll(admitAll(controller_->config().min_rtt.requests), rtt);
    ASSERT_FALSE(controller_->state().probing);
  }
  // One full steady window with the whole limit in flight at `rtt`, then the recalculation.
  void window(milliseconds rtt) {
    completeAll(admitAll(controller_->state().limit), rtt);
    now_ += milliseconds(100);
    controller_->tick(now_);
  }
  uint32_t limit() const { return controller_->state().limit; }

  MonotonicTime now_{std::chrono::seconds(1000)};
  Source source_;
  std::shared_ptr<ConcurrencySignal> signal_;
  std::unique_ptr<ConcurrencyController> controller_;
};

TEST(RttHistogramTest, PercentilesWithinABucket) {
  RttHistogram h;
  EXPECT_EQ(h.percentile(50), microseconds(0));
  for (int us = 1; us <= 10000; ++us) {
    h.add(microseconds(us));
  }
  EXPECT_EQ(h.count(), 10000u);
  EXPECT_EQ(h.min(), microseconds(1));
  EXPECT_NEAR(static_cast<double>(h.percentile(50).count()), 5000, 5000 * 0.07);
  EXPECT_NEAR(static_cast<double>(h.percentile(90).count()), 9000, 9000 * 0.07);
  EXPECT_NEAR(static_cast<double>(h.percentile(100).count()), 10000, 10000 * 0.07);
  h.clear();
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.min(), microseconds(0));
  // Every bucket's bounds are increasing and the index of a bound is that bucket.
  for (uint32_t i = 1; i < RttHistogram::kBuckets; ++i) {
    ASSERT_LT(RttHistogram::lowerBoundOf(i - 1), RttHistogram::lowerBoundOf(i)) << i;
    ASSERT_EQ(RttHistogram::indexOf(RttHistogram::lowerBoundOf(i)), i) << i;
  }
}

TEST_F(ControllerTest, FirstProbeMeasuresMinRttAtTheInitialLimit) {
  make(baseConfig());
  EXPECT_EQ(limit(), 10u);
  EXPECT_EQ(signal_->limit(), 10u);
  finishFirstProbe(milliseconds(10));
  const ControllerState s = controller_->state();
  EXPECT_NEAR(static_cast<double>(s.min_rtt.count()), 10000, 10000 * 0.07);
  EXPECT_EQ(s.limit, 10u);  // restored: the probe took nothing at start
  EXPECT_EQ(s.probes, 1u);
  EXPECT_EQ(signal_->inFlight(), 0u);
}

TEST_F(ControllerTest, GradientGrowsAtMinRttAndShrinksWhenRttDoubles) {
  make(baseConfig());
  finishFirstProbe(milliseconds(10));
  std::vector<uint32_t> limits{limit()};
  for (int i = 0; i < 3; ++i) {
    window(milliseconds(10));
    limits.push_back(limit());
  }
  // gradient 1.25 (the buffer): limit × 1.25 + sqrt(limit × 1.25).
  EXPECT_EQ(limits[1], 16u);  // 12.5 + 3.54
  EXPECT_GT(limits[2], limits[1]);
  EXPECT_GT(limits[3], limits[2]);
  EXPECT_NEAR(controller_->state().gradient, 1.25, 0.01);

  const uint32_t before = limit();
  window(milliseconds(40));  // 4x minRTT: gradient clamps at 0.5
  EXPECT_NEAR(controller_->state().gradient, 0.5, 0.01);
  const double expected = before * 0.5 + std::sqrt(before * 0.5);
  EXPECT_NEAR(limit(), expected, 1.0);
  EXPECT_EQ(signal_->limit(), limit());
  EXPECT_EQ(signal_->floor(), 3u);
}

TEST_F(ControllerTest, LimitStaysWithinMinAndMax) {
  AdaptiveConcurrencyConfig c = baseConfig();
  c.max_limit = 20;
  make(c);
  finishFirstProbe(milliseconds(10));
  for (int i = 0; i < 5; ++i) {
    window(milliseconds(10));
  }
  EXPECT_EQ(limit(), 20u);
  for (int i = 0; i < 10; ++i) {
    window(milliseconds(200));
  }
  EXPECT_EQ(limit(), 3u);
}

TEST_F(ControllerTest, AppLimitedWindowDoesNotRaiseTheLimit) {
  make(baseConfig());
  finishFirstProbe(milliseconds(10));
  // Only 4 of 10 in flight at once: nothing says the upstream takes more.
  completeAll(admitAll(4), milliseconds(10));
  now_ += milliseconds(100);
  controller_->tick(now_);
  EXPECT_EQ(limit(), 10u);
  EXPECT_EQ(controller_->state().recalculations, 2u);  // it did recalculate
  // A slower window still lowers it (the signal to back off needs no full window).
  completeAll(admitAll(4), milliseconds(40));
  now_ += milliseconds(100);
  controller_->tick(now_);
  EXPECT_LT(limit(), 10u);
}

TEST_F(ControllerTest, WindowWithoutSamplesChangesNothing) {
  make(baseConfig());
  finishFirstProbe(milliseconds(10));
  const ControllerState before = controller_->state();
  now_ += milliseconds(500);
  controller_->tick(now_);
  EXPECT_EQ(limit(), before.limit);
  EXPECT_EQ(controller_->state().recalculations, before.recalculations);
  EXPECT_EQ(controller_->state().epoch, before.epoch);
}

// envoyproxy/envoy#11579: a request admitted under the old limit reports its RTT after the
// limit changed; Envoy counts it in the new window.
TEST_F(ControllerTest, SamplesOfRequestsStartedBeforeARecalculationAreDropped) {
  make(baseConfig());
  finishFirstProbe(milliseconds(10));
  std::vector<uint64_t> old = admitAll(2);  // started in this epoch, still in flight
  completeAll(admitAll(limit() - 2), milliseconds(10));
  now_ += milliseconds(100);
  controller_->tick(now_);  // the limit changes: a new epoch
  ASSERT_EQ(limit(), 16u);
  const uint64_t epoch = controller_->state().epoch;
  ASSERT_NE(old[0], epoch);
  // The old requests end with a huge RTT: dropped, they do not pull the next window down.
  EXPECT_FALSE(controller_->complete(old[0], milliseconds(1000), now_));
  EXPECT_FALSE(controller_->complete(old[1], milliseconds(1000), now_));
  const uint32_t before = limit();
  window(milliseconds(10));
  EXPECT_GT(limit(), before);  // only the new 10ms samples counted: it grew
  EXPECT_NEAR(static_cast<double>(controller_->state().sample_rtt.count()), 10000, 700);
  EXPECT_EQ(controller_->state().in_flight, 0u);  // the dropped ones gave their slots back
}

// envoyproxy/envoy#46532: during every minRTT window Envoy pins the limit to min_concurrency
// and refuses everything else with 503.
TEST_F(ControllerTest, MinRttProbeLowersTheLimitOnlyAsFarAsNeededAndQueues) {
  AdaptiveConcurrencyConfig c = baseConfig();
  c.initial_limit = 40;
  c.min_rtt.interval = milliseconds(1000);
  make(c);
  finishFirstProbe(milliseconds(10));
  window(milliseconds(12));  // 1.2x minRTT: gradient 1.04, the limit grows a little
  const uint32_t steady = limit();
  ASSERT_GT(steady, 40u);
  const double sample_ms = controller_->state().sample_rtt.count() / 1000.0;
  const double min_ms = controller_->state().min_rtt.count() / 1000.0;

  now_ += milliseconds(1000);  // the next probe is due
  controller_->tick(now_);
  ControllerState s = controller_->state();
  ASSERT_TRUE(s.probing);
  EXPECT_EQ(s.probes, 2u);
  // limit × minRTT / sampleRTT (what the upstream serves without queueing), far above the floor.
  const uint32_t probe = s.limit;
  EXPECT_NEAR(probe, std::ceil(steady * min_ms / sample_ms), 1.0);
  EXPECT_GT(probe, 3 * c.min_limit);
  EXPECT_LT(probe, steady);

  // Requests over the probe limit wait (there is no queue outside the probe: queue.max 0).
  std::vector<uint64_t> in = admitAll(probe);
  std::vector<Admission> over;
  for (uint32_t i = 0; i < steady - probe; ++i) {
    over.push_back(controller_->admit(now_, source_));
    EXPECT_EQ(over.back().kind, Admission::Kind::Queued);
    EXPECT_EQ(over.back().queue_timeout, c.min_rtt.queue_timeout);
  }
  // Beyond the slots the probe took, refused.
  EXPECT_EQ(controller_->admit(now_, source_).refusal, Refusal::QueueFull);

  // The probe's samples end it: the steady limit is back, the queued requests get in.
  completeAll(std::vector<uint64_t>(in.begin(), in.begin() + 5), milliseconds(10));
  s = controller_->state();
  EXPECT_FALSE(s.probing);
  EXPECT_EQ(s.limit, steady);
  EXPECT_EQ(source_.admitted.size(), steady - probe);
  EXPECT_EQ(s.queued, 0u);
  // After the probe there is no queue again: over the limit is refused at once.
  completeAll(std::vector<uint64_t>(in.begin() + 5, in.end()), milliseconds(10));
}

TEST_F(ControllerTest, ProbeEndsAtItsDeadlineWithTheSamplesItHas) {
  AdaptiveConcurrencyConfig c = baseConfig();
  c.min_rtt.requests = 100;
  make(c);
  completeAll(admitAll(3), milliseconds(8));
  EXPECT_TRUE(controller_->state().probing);
  now_ += milliseconds(2000);
  controller_->tick(now_);
  EXPECT_FALSE(controller_->state().probing);
  EXPECT_NEAR(static_cast<double>(controller_->state().min_rtt.count()), 8000, 600);
}

TEST_F(ControllerTest, SteadyWindowFasterThanMinRttLowersMinRtt) {
  make(baseConfig());
  finishFirstProbe(milliseconds(20));
  window(milliseconds(10));
  EXPECT_NEAR(static_cast<double>(controller_->state().min_rtt.count()), 10000, 700);
}

TEST_F(ControllerTest, VegasStepsByLog10OfTheLimit) {
  AdaptiveConcurrencyConfig c = baseConfig();
  c.algorithm = Algorithm::Vegas;
  make(c);
  finishFirstProbe(milliseconds(10));
  window(milliseconds(10));  // no queue: limit + beta × log10(10) = 10 + 6
  EXPECT_EQ(limit(), 16u);
  window(milliseconds(40));  // queue = 16 × 0.75 = 12 > beta × log10(16) = 7.2: 16 − 1.2
  EXPECT_EQ(limit(), 15u);
  EXPECT_NEAR(controller_->state().gradient, 0.25, 0.02);
  // Between alpha and beta: unchanged. queue = 15 × (1 − 10/14) = 4.3; alpha×L = 3.5, beta×L = 7.1.
  window(milliseconds(14));
  EXPECT_EQ(limit(), 15u);
}

TEST_F(ControllerTest, OverTheLimitWithoutQueueIsRefused) {
  make(baseConfig());
  finishFirstProbe(milliseconds(10));
  std::vector<uint64_t> in = admitAll(10);
  Admission a = controller_->admit(now_, source_);
  EXPECT_EQ(a.kind, Admission::Kind::Refused);
  EXPECT_EQ(a.refusal, Refusal::OverLimit);
  EXPECT_EQ(source_.waiters.size(), 0u);  // nothing allocated for a refusal
  controller_->release();
  EXPECT_EQ(controller_->admit(now_, source_).kind, Admission::Kind::Admitted);
}

class QueueOrderTest : public ControllerTest, public ::testing::WithParamInterface<QueueOrder> {};

TEST_P(QueueOrderTest, QueuedRequestsGetFreedSlotsInOrder) {
  AdaptiveConcurrencyConfig c = baseConfig();
  c.queue.max = 3;
  c.queue.order = GetParam();
  make(c);
  finishFirstProbe(milliseconds(10));
  std::vector<uint64_t> in = admitAll(10);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(controller_->admit(now_, source_).kind, Admission::Kind::Queued);
  }
  EXPECT_EQ(controller_->admit(now_, source_).refusal, Refusal::QueueFull);
  EXPECT_EQ(controller_->state().queued, 3u);
  // What load_shed reads per request: (10 in flight + 3 queued) / limit 10.
  EXPECT_EQ(signal_->inFlight(), 10u);
  EXPECT_EQ(signal_->queued(), 3u);
  EXPECT_DOUBLE_EQ(signal_->demand(), 1.3);
  // The second leaves (its timeout): it no longer takes a slot.
  EXPECT_TRUE(controller_->cancel(*source_.waiters[1]));
  controller_->complete(in[0], milliseconds(10), now_);
  controller_->complete(in[1], milliseconds(10), now_);
  const std::vector<int> expected =
      GetParam() == QueueOrder::Fifo ? std::vector<int>{1, 3} : std::vector<int>{3, 1};
  EXPECT_EQ(source_.admitted, expected);
  EXPECT_EQ(controller_->state().queued, 0u);
  EXPECT_EQ(controller_->state().in_flight, 10u);
  EXPECT_EQ(signal_->queued(), 0u);
  EXPECT_DOUBLE_EQ(signal_->demand(), 1.0);
  // Admitted ones cannot be cancelled any more: they hold a slot.
  EXPECT_FALSE(controller_->cancel(*source_.waiters[0]));
}

INSTANTIATE_TEST_SUITE_P(Orders, QueueOrderTest,
                         ::testing::Values(QueueOrder::Fifo, QueueOrder::Lifo));

TEST_F(ControllerTest, DryRunAdmitsEverythingAndSaysWhatItWouldRefuse) {
  AdaptiveConcurrencyConfig c = baseConfig();
  c.mode = FilterMode::DryRun;
  make(c);
  int would = 0;
  for (int i = 0; i < 15; ++i) {
    Admission a = controller_->admit(now_, source_);
    EXPECT_EQ(a.kind, Admission::Kind::Admitted);
    would += a.dry_run_would_refuse ? 1 : 0;
  }
  EXPECT_EQ(would, 5);
  EXPECT_EQ(signal_->limit(), 0u);  // a dry run steers no shedder
}

}  // namespace
}  // namespace strait::filters::adaptive_concurrency
