#include "proxy/event/dispatcher_impl.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

namespace strait::event {
namespace {

class Deletable : public DeferredDeletable {
 public:
  explicit Deletable(int& deleted) : deleted_(deleted) {}
  ~Deletable() override { deleted_++; }

 private:
  int& deleted_;
};

TEST(DispatcherTest, PostFromAnotherThreadRunsOnTheLoopAndExits) {
  RealTimeSource time;
  DispatcherImpl dispatcher(time);
  std::atomic<int> ran{0};
  std::thread other([&] {
    for (int i = 0; i < 100; i++) {
      dispatcher.post([&] { ran++; });
    }
    dispatcher.post([&] { dispatcher.exit(); });
  });
  dispatcher.run();
  other.join();
  EXPECT_EQ(ran.load(), 100);
}

TEST(DispatcherTest, TimerFiresOnceAndDisableCancels) {
  RealTimeSource time;
  DispatcherImpl dispatcher(time);
  int fired = 0;
  int cancelled_fired = 0;
  TimerPtr cancelled = dispatcher.createTimer([&] { cancelled_fired++; });
  cancelled->enableTimer(std::chrono::milliseconds(1));
  cancelled->disableTimer();
  EXPECT_FALSE(cancelled->enabled());
  TimerPtr timer = dispatcher.createTimer([&] {
    fired++;
    dispatcher.exit();
  });
  timer->enableTimer(std::chrono::milliseconds(1));
  EXPECT_TRUE(timer->enabled());
  dispatcher.run();
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(cancelled_fired, 0);
}

TEST(DispatcherTest, DestroyedTimerNeverFires) {
  RealTimeSource time;
  DispatcherImpl dispatcher(time);
  int fired = 0;
  {
    TimerPtr timer = dispatcher.createTimer([&] { fired++; });
    timer->enableTimer(std::chrono::milliseconds(0));
  }
  TimerPtr stop = dispatcher.createTimer([&] { dispatcher.exit(); });
  stop->enableTimer(std::chrono::milliseconds(5));
  dispatcher.run();
  EXPECT_EQ(fired, 0);
}

// What a posted callback owns at teardown (a factory's runtime handed to the main thread, say) is
// released while the loop still exists, and its due timer does not fire: the loop is torn down,
// not run. Before this, the timer fired inside the destructor's last loop turn, when what it used
// was already gone (an ASan finding at proxy exit after a reload).
TEST(DispatcherTest, TeardownReleasesPostedCallbacksAndFiresNoTimer) {
  struct Holder {
    TimerPtr timer;
  };
  RealTimeSource time;
  auto dispatcher = std::make_unique<DispatcherImpl>(time);
  int fired = 0;
  auto holder = std::make_shared<Holder>();
  holder->timer = dispatcher->createTimer([&] { fired++; });
  holder->timer->enableTimer(std::chrono::milliseconds(0));
  std::weak_ptr<Holder> watch = holder;
  dispatcher->post([holder = std::move(holder)] {});
  ASSERT_FALSE(watch.expired());
  dispatcher.reset();
  EXPECT_TRUE(watch.expired());
  EXPECT_EQ(fired, 0);
}

TEST(DispatcherTest, DeferredDeleteRunsAfterTheCallback) {
  RealTimeSource time;
  DispatcherImpl dispatcher(time);
  int deleted = 0;
  int seen_in_callback = -1;
  dispatcher.post([&] {
    dispatcher.deferredDelete(std::make_unique<Deletable>(deleted));
    seen_in_callback = deleted;
    dispatcher.post([&] { dispatcher.exit(); });
  });
  dispatcher.run();
  EXPECT_EQ(seen_in_callback, 0);
  EXPECT_EQ(deleted, 1);
}

// Lazy re-arming (dispatcher_impl.cc): pushing a deadline later, or disabling, leaves libuv's
// timer where it was; what the timer's user sees must not change. The checks are lower bounds on
// libuv's loop time (uv_now), the clock the timers run on, so a slow machine cannot fail them.

TEST(DispatcherTimerTest, DeadlinePushedLaterFiresAtTheLaterOne) {
  RealTimeSource time;
  DispatcherImpl dispatcher(time);
  uint64_t start = uv_now(dispatcher.loop());
  uint64_t fired_at = 0;
  int fired = 0;
  TimerPtr timer = dispatcher.createTimer([&] {
    fired++;
    fired_at = uv_now(dispatcher.loop());
    dispatcher.exit();
  });
  timer->enableTimer(std::chrono::milliseconds(5));
  timer->enableTimer(std::chrono::milliseconds(60));  // later: libuv still holds 5 ms
  EXPECT_TRUE(timer->enabled());
  dispatcher.run();
  EXPECT_EQ(fired, 1);
  EXPECT_GE(fired_at - start, 60u);
  EXPECT_FALSE(timer->enabled());
}

TEST(DispatcherTimerTest, DeadlinePulledEarlierFiresAtTheEarlierOne) {
  RealTimeSource time;
  DispatcherImpl dispatcher(time);
  int fired = 0;
  TimerPtr timer = dispatcher.createTimer([&] {
    fired++;
    dispatcher.exit();
  });
  timer->enableTimer(std::chrono::hours(1));
  timer->enableTimer(std::chrono::milliseconds(1));  // earlier: libuv is re-armed
  TimerPtr guard = dispatcher.createTimer([&] { dispatcher.exit(); });
  guard->enableTimer(std::chrono::seconds(5));  // only if the timer never fires
  dispatcher.run();
  EXPECT_EQ(fired, 1);  // long before the hour
}

TEST(DispatcherTimerTest, DisabledThenReenabledFiresOnceAtTheNewDeadline) {
  RealTimeSource time;
  DispatcherImpl dispatcher(time);
  uint64_t start = uv_now(dispatcher.loop());
  std::vector<uint64_t> fired_at;
  TimerPtr timer = dispatcher.createTimer([&] { fired_at.push_back(uv_now(dispatcher.loop())); });
  timer->enableTimer(std::chrono::milliseconds(5));
  timer->disableTimer();
  EXPECT_FALSE(timer->enabled());
  timer->enableTimer(std::chrono::milliseconds(40));
  TimerPtr guard = dispatcher.createTimer([&] { dispatcher.exit(); });
  guard->enableTimer(std::chrono::milliseconds(150));
  dispatcher.run();
  ASSERT_EQ(fired_at.size(), 1u);  // not at 5 ms, once at 40 ms
  EXPECT_GE(fired_at[0] - start, 40u);
}

TEST(DispatcherTimerTest, CallbackMayReenableItsOwnTimer) {
  RealTimeSource time;
  DispatcherImpl dispatcher(time);
  int fired = 0;
  TimerPtr timer;
  timer = dispatcher.createTimer([&] {
    if (++fired == 3) {
      dispatcher.exit();
      return;
    }
    timer->enableTimer(std::chrono::milliseconds(1));
  });
  timer->enableTimer(std::chrono::milliseconds(1));
  dispatcher.run();
  EXPECT_EQ(fired, 3);
}

// flushAtEndOfIteration(): once per iteration however often asked, after the iteration's
// callbacks, before its deferred deletions; a cancelled target is not called.
struct FlushCounter : EndOfIterationTarget {
  void onEndOfIteration() override { calls++; }
  int calls = 0;
};

TEST(DispatcherFlushTest, OncePerIterationBeforeDeferredDeletesAndCancelWorks) {
  RealTimeSource time;
  DispatcherImpl dispatcher(time);
  FlushCounter counted;
  FlushCounter cancelled;
  int deleted = 0;
  int calls_seen_by_delete = -1;
  struct Probe : DeferredDeletable {
    Probe(int& deleted, int& seen, FlushCounter& counted)
        : deleted_(deleted), seen_(seen), counted_(counted) {}
    ~Probe() override {
      deleted_++;
      seen_ = counted_.calls;
    }
    int& deleted_;
    int& seen_;
    FlushCounter& counted_;
  };
  dispatcher.post([&] {
    dispatcher.flushAtEndOfIteration(&counted);
    dispatcher.flushAtEndOfIteration(&counted);  // again in the same iteration: still once
    dispatcher.flushAtEndOfIteration(&cancelled);
    dispatcher.cancelFlush(&cancelled);
    dispatcher.deferredDelete(std::make_unique<Probe>(deleted, calls_seen_by_delete, counted));
    EXPECT_EQ(counted.calls, 0);  // not inside the callback
  });
  TimerPtr stop = dispatcher.createTimer([&] { dispatcher.exit(); });
  stop->enableTimer(std::chrono::milliseconds(20));
  dispatcher.run();
  EXPECT_EQ(counted.calls, 1);
  EXPECT_EQ(cancelled.calls, 0);
  EXPECT_EQ(deleted, 1);
  EXPECT_EQ(calls_seen_by_delete, 1);  // the flush ran before the deletion
}

}  // namespace
}  // namespace strait::event
