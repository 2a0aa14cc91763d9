// The load_shed controller on its own: the probability curve of each class at several
// overloads, the CoDel queue-delay detector (a minimum above target for a full interval, reset by
// one short wait, an empty window decaying), the other signals' pressures, the per-worker
// event-loop lag, and the scripted draws.

#include "filters/load_shed/shed_controller.h"

#include <gtest/gtest.h>

#include "tests/mocks/scripted_random.h"

namespace strait::filters::load_shed {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

constexpr uint64_t kScale = 1'000'000;

LoadShedConfig defaults() {
  return LoadShedConfig{};
}

// A sample whose only signal is the cpu; with cpuOnly()'s threshold 1.0 the overload is the
// utilisation itself.
SignalSample cpu(double utilisation) {
  SignalSample s;
  s.cpu = utilisation;
  return s;
}

LoadShedConfig cpuOnly() {
  LoadShedConfig c;
  c.cpu_threshold = 1.0;
  return c;
}

TEST(ShedCurveTest, DefaultCurvesPerClassAtSeveralOverloads) {
  const LoadShedConfig c = defaults();
  auto p = [&](Priority cls, double o) {
    return ShedController::curveProbability(c.curves[static_cast<size_t>(cls)], o);
  };
  // Not overloaded: nobody is shed.
  for (double o : {0.0, 0.5, 0.99, 1.0}) {
    EXPECT_EQ(p(Priority::NiceToHave, o), 0) << o;
    EXPECT_EQ(p(Priority::Important, o), 0) << o;
    EXPECT_EQ(p(Priority::Critical, o), 0) << o;
  }
  // nice_to_have first, progressively: 1.0 -> 1.5.
  EXPECT_NEAR(p(Priority::NiceToHave, 1.1), 0.2, 1e-9);
  EXPECT_DOUBLE_EQ(p(Priority::NiceToHave, 1.25), 0.5);
  EXPECT_EQ(p(Priority::Important, 1.25), 0);
  EXPECT_EQ(p(Priority::NiceToHave, 1.5), 1);
  // important from 1.25 to 2.0.
  EXPECT_DOUBLE_EQ(p(Priority::Important, 1.5), 1.0 / 3);
  EXPECT_DOUBLE_EQ(p(Priority::Important, 1.625), 0.5);
  EXPECT_EQ(p(Priority::Important, 2.0), 1);
  // critical only past the hard limit 3.0, rising to 1 at 4.0.
  EXPECT_EQ(p(Priority::Critical, 2.99), 0);
  EXPECT_EQ(p(Priority::Critical, 3.0), 0);
  EXPECT_DOUBLE_EQ(p(Priority::Critical, 3.5), 0.5);
  EXPECT_EQ(p(Priority::Critical, 4.0), 1);
  EXPECT_EQ(p(Priority::Critical, 100.0), 1);
  // Lower classes are never shed less than higher ones.
  for (double o = 0; o < 5; o += 0.05) {
    EXPECT_GE(p(Priority::NiceToHave, o), p(Priority::Important, o)) << o;
    EXPECT_GE(p(Priority::Important, o), p(Priority::Critical, o)) << o;
  }
}

TEST(ShedCurveTest, EqualStartAndFullIsAStep) {
  const ShedCurve cliff{2.0, 2.0};
  EXPECT_EQ(ShedController::curveProbability(cliff, 1.999), 0);
  EXPECT_EQ(ShedController::curveProbability(cliff, 2.0), 1);
}

TEST(ShedControllerTest, ProbabilitiesFollowTheOverload) {
  ShedController controller(cpuOnly());
  EXPECT_EQ(controller.overload(), 0);
  controller.update(cpu(1.25));
  EXPECT_DOUBLE_EQ(controller.overload(), 1.25);
  EXPECT_EQ(controller.cause(), Signal::Cpu);
  EXPECT_DOUBLE_EQ(controller.probability(Priority::NiceToHave), 0.5);
  EXPECT_EQ(controller.probability(Priority::Important), 0);
  EXPECT_EQ(controller.probability(Priority::Critical), 0);
  controller.update(cpu(0.5));
  EXPECT_EQ(controller.probability(Priority::NiceToHave), 0);
}

TEST(ShedControllerTest, DrawsDecideBetweenZeroAndOne) {
  ShedController controller(cpuOnly());
  strait::testing::ScriptedRandom random;
  controller.update(cpu(1.25));  // nice_to_have: 0.5
  random.push({kScale / 2 - 1, kScale / 2, kScale - 1});
  EXPECT_TRUE(controller.decide(Priority::NiceToHave, {}, 0, random).shed);
  EXPECT_FALSE(controller.decide(Priority::NiceToHave, {}, 0, random).shed);
  EXPECT_FALSE(controller.decide(Priority::NiceToHave, {}, 0, random).shed);
  EXPECT_EQ(random.calls(), 3u);
  // Probability 0 or 1: no draw.
  Decision important = controller.decide(Priority::Important, {}, 0, random);
  EXPECT_FALSE(important.shed);
  EXPECT_EQ(random.calls(), 3u);
  controller.update(cpu(1.6));
  Decision nice = controller.decide(Priority::NiceToHave, {}, 0, random);
  EXPECT_TRUE(nice.shed);
  EXPECT_EQ(nice.cause, Signal::Cpu);
  EXPECT_EQ(nice.probability, 1);
  EXPECT_EQ(random.calls(), 3u);
}

TEST(ShedControllerTest, ShareShedMatchesTheProbability) {
  ShedController controller(cpuOnly());
  controller.update(cpu(1.5));  // important: (1.5 - 1.25) / 0.75 = 1/3
  strait::testing::ScriptedRandom random;
  for (uint64_t i = 0; i < 300; ++i) {
    random.push({i * kScale / 300});  // evenly spread over [0, 1)
  }
  int shed = 0;
  for (int i = 0; i < 300; ++i) {
    shed += controller.decide(Priority::Important, {}, 0, random).shed ? 1 : 0;
  }
  EXPECT_EQ(shed, 100);
}

TEST(ShedControllerTest, CriticalOnlyPastTheHardLimit) {
  ShedController controller(cpuOnly());
  strait::testing::ScriptedRandom random;  // draws 0: shed whenever the probability is > 0
  controller.update(cpu(2.9));
  EXPECT_TRUE(controller.decide(Priority::NiceToHave, {}, 0, random).shed);
  EXPECT_TRUE(controller.decide(Priority::Important, {}, 0, random).shed);
  EXPECT_FALSE(controller.decide(Priority::Critical, {}, 0, random).shed);
  controller.update(cpu(3.2));
  EXPECT_TRUE(controller.decide(Priority::Critical, {}, 0, random).shed);
}

SignalSample queue(uint64_t samples, milliseconds min) {
  SignalSample s;
  s.queue_samples = samples;
  s.queue_min = min;
  return s;
}

TEST(ShedControllerTest, CodelMinimumAboveTargetForAWholeIntervalIsPressure) {
  ShedController controller(defaults());          // target 5ms
  controller.update(queue(10, milliseconds(5)));  // at the target: not above
  EXPECT_EQ(controller.pressure(Signal::QueueDelay), 0);
  controller.update(queue(10, milliseconds(8)));
  EXPECT_DOUBLE_EQ(controller.pressure(Signal::QueueDelay), 1.6);
  EXPECT_DOUBLE_EQ(controller.overload(), 1.6);
  EXPECT_EQ(controller.cause(), Signal::QueueDelay);
  // One request of the next window was served at once: the minimum is low, no standing queue.
  controller.update(queue(10, milliseconds(0)));
  EXPECT_EQ(controller.pressure(Signal::QueueDelay), 0);
  EXPECT_EQ(controller.overload(), 0);
}

TEST(ShedControllerTest, CodelEmptyWindowDecays) {
  ShedController controller(defaults());
  controller.update(queue(10, milliseconds(10)));
  EXPECT_DOUBLE_EQ(controller.pressure(Signal::QueueDelay), 2.0);
  controller.update(queue(0, milliseconds(0)));
  EXPECT_DOUBLE_EQ(controller.pressure(Signal::QueueDelay), 1.0);
  controller.update(queue(0, milliseconds(0)));
  EXPECT_DOUBLE_EQ(controller.pressure(Signal::QueueDelay), 0.5);
  for (int i = 0; i < 4; ++i) {
    controller.update(queue(0, milliseconds(0)));
  }
  EXPECT_EQ(controller.pressure(Signal::QueueDelay), 0);  // below 0.05: dropped
}

TEST(ShedControllerTest, ConcurrencyPressureOnlyWithALimit) {
  ShedController controller(defaults());
  SignalSample s;
  s.in_flight = 30;
  controller.update(s);
  EXPECT_EQ(controller.pressure(Signal::Concurrency), 0);
  s.limit = 20;
  controller.update(s);
  EXPECT_DOUBLE_EQ(controller.pressure(Signal::Concurrency), 1.5);
  EXPECT_EQ(controller.cause(), Signal::Concurrency);
}

TEST(ShedControllerTest, QueuedRequestsCountInTheConcurrencyPressure) {
  ShedController controller(defaults());
  SignalSample s;
  s.limit = 10;
  s.in_flight = 10;
  s.queued = 5;
  controller.update(s);
  EXPECT_DOUBLE_EQ(controller.pressure(Signal::Concurrency), 1.5);
}

TEST(ShedControllerTest, ConcurrencyDemandIsReadPerRequest) {
  ShedController controller(defaults());
  strait::testing::ScriptedRandom random;  // draws 0: shed whenever the probability is > 0
  controller.update(SignalSample{});       // nothing overloaded at the last interval
  // The limit's queue fills between two intervals: the lower classes go at once, by their curves.
  Decision nice = controller.decide(Priority::NiceToHave, {}, 1.6, random);
  EXPECT_TRUE(nice.shed);
  EXPECT_EQ(nice.cause, Signal::Concurrency);
  EXPECT_EQ(nice.probability, 1);
  Decision important = controller.decide(Priority::Important, {}, 1.6, random);
  EXPECT_DOUBLE_EQ(important.probability, (1.6 - 1.25) / 0.75);
  // Critical only past its hard limit (3.0): the queue of a limit rarely gets there.
  EXPECT_FALSE(controller.decide(Priority::Critical, {}, 2.9, random).shed);
  EXPECT_TRUE(controller.decide(Priority::Critical, {}, 3.5, random).shed);
  // At or under the limit nothing is shed.
  EXPECT_FALSE(controller.decide(Priority::NiceToHave, {}, 1.0, random).shed);
  // Disabled: ignored.
  LoadShedConfig off = defaults();
  off.concurrency_enabled = false;
  ShedController without(off);
  without.update(SignalSample{});
  EXPECT_FALSE(without.decide(Priority::NiceToHave, {}, 2.0, random).shed);
}

TEST(ShedControllerTest, OverloadIsTheLargestPressure) {
  ShedController controller(defaults());
  SignalSample s = queue(5, milliseconds(6));  // 1.2
  s.limit = 10;
  s.in_flight = 13;  // 1.3
  s.cpu = 0.9;       // 1.0
  controller.update(s);
  EXPECT_DOUBLE_EQ(controller.overload(), 1.3);
  EXPECT_EQ(controller.cause(), Signal::Concurrency);
}

TEST(ShedControllerTest, DisabledSignalsAreIgnored) {
  LoadShedConfig c = defaults();
  c.queue_delay_enabled = false;
  c.concurrency_enabled = false;
  c.cpu_enabled = false;
  c.event_loop_lag_enabled = false;
  ShedController controller(c);
  SignalSample s = queue(5, milliseconds(50));
  s.limit = 1;
  s.in_flight = 100;
  s.cpu = 5.0;
  s.max_event_loop_lag = milliseconds(500);
  controller.update(s);
  EXPECT_EQ(controller.overload(), 0);
  strait::testing::ScriptedRandom random;
  EXPECT_FALSE(controller.decide(Priority::NiceToHave, milliseconds(500), 0, random).shed);
}

TEST(ShedControllerTest, EventLoopLagShedsOnlyTheLaggingWorker) {
  ShedController controller(defaults());  // threshold 50ms
  SignalSample s;
  s.max_event_loop_lag = milliseconds(100);
  controller.update(s);
  EXPECT_EQ(controller.overload(), 0);                               // not the process's overload
  EXPECT_DOUBLE_EQ(controller.pressure(Signal::EventLoopLag), 2.0);  // but shown
  strait::testing::ScriptedRandom random;
  Decision lagging = controller.decide(Priority::NiceToHave, milliseconds(100), 0, random);
  EXPECT_TRUE(lagging.shed);
  EXPECT_EQ(lagging.cause, Signal::EventLoopLag);
  EXPECT_FALSE(controller.decide(Priority::NiceToHave, microseconds(500), 0, random).shed);
  // 60ms on a worker: nice_to_have at 1.2 -> 0.4.
  Decision some = controller.decide(Priority::NiceToHave, milliseconds(60), 0, random);
  EXPECT_DOUBLE_EQ(some.probability, 0.4);
}

TEST(ShedControllerTest, ConfiguredCurvesAreUsed) {
  LoadShedConfig c = cpuOnly();
  c.curves[static_cast<size_t>(Priority::Important)] = {1.0, 1.0};  // a cliff, asked for
  ShedController controller(c);
  controller.update(cpu(0.99));
  EXPECT_EQ(controller.probability(Priority::Important), 0);
  controller.update(cpu(1.0));
  EXPECT_EQ(controller.probability(Priority::Important), 1);
}

}  // namespace
}  // namespace strait::filters::load_shed
