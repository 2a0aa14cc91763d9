#include "proxy/event/dispatcher_impl.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

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

}  // namespace
}  // namespace strait::event
