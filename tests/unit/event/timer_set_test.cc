#include "proxy/event/timer_set.h"

#include <gtest/gtest.h>

#include "proxy/event/dispatcher_impl.h"

#include <memory>
#include <vector>

namespace strait::event {
namespace {

// The checks are lower bounds on the dispatcher's monotonic time in whole milliseconds, the clock
// the set keeps its deadlines in, so a slow machine cannot fail them; a guard timer ends each
// loop.

uint64_t millis(MonotonicTime t) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count());
}

struct Fixture {
  RealTimeSource time;
  DispatcherImpl dispatcher{time};
  TimerSet set{dispatcher};
  uint64_t start = millis(dispatcher.approximateMonotonicTime());
  uint64_t elapsed() { return millis(dispatcher.approximateMonotonicTime()) - start; }
  void runFor(std::chrono::milliseconds limit) {
    TimerPtr guard = dispatcher.createTimer([this] { dispatcher.exit(); });
    guard->enableTimer(limit);
    dispatcher.run();
  }
};

TEST(TimerSetTest, EachTimerFiresOnceAtOrAfterItsDeadlineAndDisabledOnesNever) {
  Fixture f;
  std::vector<std::pair<int, uint64_t>> fired;
  std::vector<TimerPtr> timers;
  const int delays[] = {40, 5, 20, 60};
  for (int i = 0; i < 4; i++) {
    timers.push_back(f.set.createTimer([&, i] { fired.emplace_back(i, f.elapsed()); }));
    timers.back()->enableTimer(std::chrono::milliseconds(delays[i]));
  }
  TimerPtr disabled = f.set.createTimer([&] { fired.emplace_back(99, f.elapsed()); });
  disabled->enableTimer(std::chrono::milliseconds(10));
  disabled->disableTimer();
  EXPECT_FALSE(disabled->enabled());
  EXPECT_EQ(f.set.size(), 5u);
  f.runFor(std::chrono::milliseconds(150));
  ASSERT_EQ(fired.size(), 4u);
  // In deadline order, each no earlier than its delay.
  EXPECT_EQ(fired[0].first, 1);
  EXPECT_EQ(fired[1].first, 2);
  EXPECT_EQ(fired[2].first, 0);
  EXPECT_EQ(fired[3].first, 3);
  for (const auto& [index, at] : fired) {
    EXPECT_GE(at, static_cast<uint64_t>(delays[index]));
  }
  for (const auto& timer : timers) {
    EXPECT_FALSE(timer->enabled());
  }
}

TEST(TimerSetTest, DeadlineMovedLaterFiresAtTheLaterOne) {
  Fixture f;
  uint64_t fired_at = 0;
  TimerPtr timer = f.set.createTimer([&] { fired_at = f.elapsed(); });
  timer->enableTimer(std::chrono::milliseconds(5));
  timer->enableTimer(std::chrono::milliseconds(50));
  f.runFor(std::chrono::milliseconds(120));
  EXPECT_GE(fired_at, 50u);
}

TEST(TimerSetTest, ATimerDestroyedByAnEarlierCallbackOfTheSameFiringDoesNotRun) {
  Fixture f;
  int second_ran = 0;
  TimerPtr second;
  // Timers due at the same turn run in creation order: `first` runs first and destroys `second`.
  TimerPtr first = f.set.createTimer([&] { second.reset(); });
  second = f.set.createTimer([&] { second_ran++; });
  first->enableTimer(std::chrono::milliseconds(1));
  second->enableTimer(std::chrono::milliseconds(1));
  f.runFor(std::chrono::milliseconds(50));
  EXPECT_EQ(second, nullptr);
  EXPECT_EQ(second_ran, 0);
  EXPECT_EQ(f.set.size(), 1u);
}

TEST(TimerSetTest, CallbackMayReArmItsOwnTimer) {
  Fixture f;
  int fired = 0;
  TimerPtr timer;
  timer = f.set.createTimer([&] {
    if (++fired < 3) {
      timer->enableTimer(std::chrono::milliseconds(1));
    }
  });
  timer->enableTimer(std::chrono::milliseconds(1));
  f.runFor(std::chrono::milliseconds(100));
  EXPECT_EQ(fired, 3);
}

}  // namespace
}  // namespace strait::event
