#include <atomic>
#include <list>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "proxy/upstream/resource_manager.h"

namespace strait::upstream {
namespace {

config::CircuitBreakers breakers(uint32_t connections, uint32_t pending, uint32_t requests,
                                 double percent = 20, uint32_t min_concurrency = 3) {
  config::CircuitBreakers c;
  c.max_connections = connections;
  c.max_pending_requests = pending;
  c.max_requests = requests;
  c.retry_budget.percent = percent;
  c.retry_budget.min_concurrency = min_concurrency;
  return c;
}

TEST(ResourceManagerTest, AcquireUpToLimitThenOverflow) {
  ResourceManager rm(breakers(2, 1, 3));
  EXPECT_TRUE(rm.tryAcquireConnection());
  EXPECT_FALSE(rm.connections().open());
  EXPECT_TRUE(rm.tryAcquireConnection());
  EXPECT_TRUE(rm.connections().open());  // at the limit
  EXPECT_FALSE(rm.tryAcquireConnection());
  EXPECT_FALSE(rm.tryAcquireConnection());
  EXPECT_EQ(rm.connections().active(), 2u);
  EXPECT_EQ(rm.connections().overflows(), 2u);  // every overflow counted

  rm.releaseConnection();
  EXPECT_EQ(rm.connections().active(), 1u);
  EXPECT_FALSE(rm.connections().open());
  EXPECT_TRUE(rm.tryAcquireConnection());

  EXPECT_TRUE(rm.tryAcquirePending());
  EXPECT_FALSE(rm.tryAcquirePending());
  EXPECT_EQ(rm.pending().overflows(), 1u);
  rm.releasePending();
  EXPECT_EQ(rm.pending().active(), 0u);
}

TEST(ResourceManagerTest, ZeroPendingLimitRejectsEveryQueuedRequest) {
  ResourceManager rm(breakers(1, 0, 1));
  EXPECT_FALSE(rm.tryAcquirePending());
  EXPECT_TRUE(rm.pending().open());
  EXPECT_EQ(rm.pending().overflows(), 1u);
}

TEST(ResourceManagerTest, ReleaseNeverGoesBelowZero) {
  ResourceManager rm(breakers(1, 1, 1));
  rm.releaseRequest();
  EXPECT_EQ(rm.requests().active(), 0u);
  EXPECT_TRUE(rm.tryAcquireRequest());
  EXPECT_FALSE(rm.tryAcquireRequest());
}

// The gauge must say open for any scrape window in which an overflow happened, even if the
// count dropped back below the limit before the scrape (Envoy's "503s with every gauge at 0").
TEST(ResourceManagerTest, ScrapeSeesOpenAfterShortOverflowBurst) {
  ResourceManager rm(breakers(10, 10, 1));
  EXPECT_FALSE(rm.requests().openSinceLastScrape());
  ASSERT_TRUE(rm.tryAcquireRequest());
  EXPECT_FALSE(rm.tryAcquireRequest());  // overflow
  rm.releaseRequest();                   // back below the limit before any scrape
  EXPECT_FALSE(rm.requests().open());
  EXPECT_TRUE(rm.requests().openSinceLastScrape());   // the burst is still reported
  EXPECT_FALSE(rm.requests().openSinceLastScrape());  // and only once
}

TEST(ResourceManagerTest, StaysOpenAfterOverflowUntilCountDropsBelowLimit) {
  ResourceManager rm(breakers(10, 10, 2));
  ASSERT_TRUE(rm.tryAcquireRequest());
  ASSERT_TRUE(rm.tryAcquireRequest());
  EXPECT_FALSE(rm.tryAcquireRequest());
  rm.updateLimits(breakers(10, 10, 5));  // the limit grows, but an overflow just happened
  EXPECT_TRUE(rm.requests().open());
  rm.releaseRequest();
  EXPECT_FALSE(rm.requests().open());
}

TEST(ResourceManagerTest, ConcurrentAcquireNeverExceedsLimit) {
  constexpr uint32_t kLimit = 7;
  constexpr int kThreads = 6;
  constexpr int kRounds = 20000;
  ResourceManager rm(breakers(kLimit, 1, 1));
  std::atomic<uint64_t> in_use{0};
  std::atomic<uint64_t> max_seen{0};
  std::atomic<uint64_t> rejected{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kRounds; ++i) {
        if (rm.tryAcquireConnection()) {
          uint64_t now = in_use.fetch_add(1) + 1;
          uint64_t seen = max_seen.load();
          while (now > seen && !max_seen.compare_exchange_weak(seen, now)) {
          }
          EXPECT_LE(rm.connections().active(), kLimit);
          in_use.fetch_sub(1);
          rm.releaseConnection();
        } else {
          rejected.fetch_add(1);
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  EXPECT_LE(max_seen.load(), kLimit);
  EXPECT_EQ(rm.connections().active(), 0u);
  EXPECT_EQ(rm.connections().overflows(), rejected.load());
}

TEST(ResourceManagerTest, ConcurrentHoldersStopExactlyAtLimit) {
  constexpr uint32_t kLimit = 100;
  ResourceManager rm(breakers(1, 1, kLimit));
  std::atomic<uint64_t> granted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        if (rm.tryAcquireRequest()) {
          granted.fetch_add(1);
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(granted.load(), kLimit);
  EXPECT_EQ(rm.requests().active(), kLimit);
  EXPECT_EQ(rm.requests().overflows(), 4000u - kLimit);
  for (uint32_t i = 0; i < kLimit; ++i) {
    rm.releaseRequest();
  }
  EXPECT_EQ(rm.requests().active(), 0u);
  EXPECT_TRUE(rm.tryAcquireRequest());
}

TEST(ResourceManagerTest, RetryBudgetFloorIsMinConcurrency) {
  // 20% of 4 active requests is 0.8, floored to 0: the floor of 3 applies.
  ResourceManager rm(breakers(100, 100, 100, 20, 3));
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(rm.tryAcquireRequest());
  }
  EXPECT_EQ(rm.retryLimit(), 3u);
  EXPECT_TRUE(rm.tryAcquireRetry());
  EXPECT_TRUE(rm.tryAcquireRetry());
  EXPECT_TRUE(rm.tryAcquireRetry());
  EXPECT_TRUE(rm.retryBudgetOpen());
  EXPECT_FALSE(rm.tryAcquireRetry());
  EXPECT_EQ(rm.retries().overflows(), 1u);
  rm.releaseRetry();
  EXPECT_FALSE(rm.retryBudgetOpen());
  EXPECT_TRUE(rm.tryAcquireRetry());
}

TEST(ResourceManagerTest, RetryBudgetGrowsWithActiveRequests) {
  // 20% of 50 active + 10 pending = 12 retries, above the floor of 3.
  ResourceManager rm(breakers(100, 100, 100, 20, 3));
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(rm.tryAcquireRequest());
  }
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(rm.tryAcquirePending());
  }
  EXPECT_EQ(rm.retryLimit(), 12u);
  int allowed = 0;
  while (rm.tryAcquireRetry()) {
    ++allowed;
  }
  EXPECT_EQ(allowed, 12);
  // Fractional percent: 12.5% of 60 = 7.5, floored to 7.
  rm.updateLimits(breakers(100, 100, 100, 12.5, 0));
  EXPECT_EQ(rm.retryLimit(), 7u);
}

TEST(ResourceManagerTest, RetryBudgetZeroWithoutFloorRejects) {
  ResourceManager rm(breakers(100, 100, 100, 0, 0));
  ASSERT_TRUE(rm.tryAcquireRequest());
  EXPECT_FALSE(rm.tryAcquireRetry());
  EXPECT_EQ(rm.retries().overflows(), 1u);
}


// ---- the pending queue for max_requests ---------------------------------------------------------

// A worker's dispatcher reduced to its post() queue: runPosted() plays the worker's loop turn.
class PostQueue : public event::Dispatcher {
 public:
  void deferredDelete(event::DeferredDeletablePtr) override {}
  event::TimerPtr createTimer(event::TimerCb) override { return nullptr; }
  void flushAtEndOfIteration(event::EndOfIterationTarget*) override {}
  void cancelFlush(event::EndOfIterationTarget*) override {}
  void post(event::PostCb cb) override {
    std::lock_guard<std::mutex> lock(mutex_);
    posted_.push_back(std::move(cb));
  }
  MonotonicTime approximateMonotonicTime() const override { return {}; }
  TimeSource& timeSource() override { std::abort(); }
  void run() override {}
  void exit() override {}
  bool isThreadSafe() const override { return true; }

  size_t runPosted() {
    std::vector<event::PostCb> run;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      run.swap(posted_);
    }
    for (auto& cb : run) {
      cb();
    }
    return run.size();
  }

 private:
  std::mutex mutex_;
  std::vector<event::PostCb> posted_;
};

struct Waiter : RequestSlotWaiter {
  void onRequestSlotGranted() override { granted++; }
  int granted = 0;
  SlotTicketPtr ticket;
};

config::CircuitBreakers queueing(uint32_t pending, uint32_t requests,
                                 std::chrono::milliseconds timeout = std::chrono::milliseconds(1000)) {
  config::CircuitBreakers c = breakers(100, pending, requests);
  c.queue_timeout = timeout;
  return c;
}

using Admission = ResourceManager::Admission;

TEST(ResourceManagerQueueTest, OverLimitQueuesThenReleaseHandsSlotToOldestWaiter) {
  auto rm = std::make_shared<ResourceManager>(queueing(2, 1));
  PostQueue worker;
  Waiter holder, first, second;
  EXPECT_EQ(rm->admitRequest(worker, holder, holder.ticket), Admission::Admitted);
  EXPECT_EQ(rm->admitRequest(worker, first, first.ticket), Admission::Queued);
  EXPECT_EQ(rm->admitRequest(worker, second, second.ticket), Admission::Queued);
  EXPECT_EQ(rm->queued(), 2u);
  EXPECT_EQ(rm->pending().active(), 2u);  // the queue counts against max_pending_requests
  EXPECT_EQ(rm->requests().overflows(), 0u);  // queued is not refused

  rm->releaseRequest();
  // The slot went to `first` without going back to the count: a newcomer cannot take it.
  EXPECT_EQ(rm->requests().active(), 1u);
  EXPECT_EQ(rm->queued(), 1u);
  EXPECT_EQ(rm->pending().active(), 1u);
  Waiter newcomer;
  EXPECT_EQ(rm->admitRequest(worker, newcomer, newcomer.ticket), Admission::Queued);
  EXPECT_EQ(first.granted, 0);  // delivered on the waiter's own loop turn
  EXPECT_EQ(worker.runPosted(), 1u);
  EXPECT_EQ(first.granted, 1);
  EXPECT_EQ(second.granted, 0);

  rm->releaseRequest();  // `first` is done
  worker.runPosted();
  EXPECT_EQ(second.granted, 1);
  EXPECT_EQ(newcomer.granted, 0);
  rm->releaseRequest();  // `second` is done
  worker.runPosted();
  EXPECT_EQ(newcomer.granted, 1);
  rm->releaseRequest();  // the newcomer is done
  EXPECT_EQ(rm->requests().active(), 0u);
  EXPECT_EQ(rm->pending().active(), 0u);
  EXPECT_EQ(worker.runPosted(), 0u);
}

TEST(ResourceManagerQueueTest, QueueFullIsAnOverflowOfBothLimits) {
  auto rm = std::make_shared<ResourceManager>(queueing(1, 1));
  PostQueue worker;
  Waiter a, b, c;
  EXPECT_EQ(rm->admitRequest(worker, a, a.ticket), Admission::Admitted);
  EXPECT_EQ(rm->admitRequest(worker, b, b.ticket), Admission::Queued);
  EXPECT_EQ(rm->admitRequest(worker, c, c.ticket), Admission::QueueFull);
  EXPECT_EQ(c.ticket, nullptr);
  EXPECT_EQ(rm->requests().overflows(), 1u);
  EXPECT_EQ(rm->pending().overflows(), 1u);
  EXPECT_TRUE(rm->pending().open());
}

TEST(ResourceManagerQueueTest, ZeroQueueTimeoutRefusesAtOnce) {
  auto rm = std::make_shared<ResourceManager>(queueing(10, 1, std::chrono::milliseconds(0)));
  PostQueue worker;
  Waiter a, b;
  EXPECT_EQ(rm->admitRequest(worker, a, a.ticket), Admission::Admitted);
  EXPECT_EQ(rm->admitRequest(worker, b, b.ticket), Admission::Overflow);
  EXPECT_EQ(rm->pending().active(), 0u);
  EXPECT_EQ(rm->requests().overflows(), 1u);
}

TEST(ResourceManagerQueueTest, CancelledWaiterLeavesQueueAndGivesBackPending) {
  auto rm = std::make_shared<ResourceManager>(queueing(5, 1));
  PostQueue worker;
  Waiter holder, gone, stays;
  rm->admitRequest(worker, holder, holder.ticket);
  EXPECT_EQ(rm->admitRequest(worker, gone, gone.ticket), Admission::Queued);
  EXPECT_EQ(rm->admitRequest(worker, stays, stays.ticket), Admission::Queued);
  rm->cancelWait(gone.ticket);  // its queue timeout fired
  EXPECT_EQ(rm->queued(), 1u);
  EXPECT_EQ(rm->pending().active(), 1u);
  rm->releaseRequest();
  worker.runPosted();
  EXPECT_EQ(gone.granted, 0);
  EXPECT_EQ(stays.granted, 1);
}

TEST(ResourceManagerQueueTest, SlotOnItsWayToAWaiterThatGaveUpPassesOn) {
  auto rm = std::make_shared<ResourceManager>(queueing(5, 1));
  PostQueue worker_a, worker_b;
  Waiter holder, late, next;
  rm->admitRequest(worker_a, holder, holder.ticket);
  EXPECT_EQ(rm->admitRequest(worker_a, late, late.ticket), Admission::Queued);
  EXPECT_EQ(rm->admitRequest(worker_b, next, next.ticket), Admission::Queued);
  rm->releaseRequest();      // posted to worker_a for `late`
  rm->cancelWait(late.ticket);  // ... which gave up before its loop turn
  EXPECT_EQ(worker_a.runPosted(), 1u);
  EXPECT_EQ(late.granted, 0);
  EXPECT_EQ(rm->requests().active(), 1u);  // passed straight to `next`, on the other worker
  EXPECT_EQ(worker_b.runPosted(), 1u);
  EXPECT_EQ(next.granted, 1);
  rm->releaseRequest();
  EXPECT_EQ(rm->requests().active(), 0u);
  EXPECT_EQ(rm->queued(), 0u);
}

TEST(ResourceManagerQueueTest, NewcomerQueuesBehindWaitersEvenWhenTheCountHasRoom) {
  auto rm = std::make_shared<ResourceManager>(queueing(5, 2));
  PostQueue worker;
  Waiter a, b, c, d;
  rm->admitRequest(worker, a, a.ticket);
  rm->admitRequest(worker, b, b.ticket);
  EXPECT_EQ(rm->admitRequest(worker, c, c.ticket), Admission::Queued);
  rm->updateLimits(queueing(5, 3));  // a reload raises the limit: the count has room now
  EXPECT_EQ(rm->admitRequest(worker, d, d.ticket), Admission::Queued);  // FIFO: behind c
  rm->releaseRequest();  // hands out two slots: the released one and the new room
  worker.runPosted();
  EXPECT_EQ(c.granted, 1);
  EXPECT_EQ(d.granted, 1);
  EXPECT_EQ(rm->requests().active(), 3u);
}

// Many threads admit and release at once against a small limit, each holding a few slots
// (so together they want more than the limit and must queue): every request is served exactly
// once, the count never goes over the limit, and nothing is left queued or counted at the end (a
// lost wake-up would strand a waiter and its thread would reach the deadline with work undone).
TEST(ResourceManagerQueueTest, ConcurrentAdmitReleaseNeverStrandsAWaiter) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20000;
  constexpr uint32_t kLimit = 3;
  std::atomic<int> ready{0};
  auto rm = std::make_shared<ResourceManager>(queueing(kThreads * kPerThread, kLimit));
  std::atomic<uint64_t> max_seen{0};
  std::atomic<int> served{0};
  std::atomic<int> queued{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&]() {
      PostQueue worker;
      std::list<std::unique_ptr<Waiter>> waiters;  // queued, not granted yet
      int held = 0;
      ready++;
      while (ready.load() < kThreads) {  // start together
        std::this_thread::yield();
      }
      auto serve = [&]() {
        uint64_t now = rm->requests().active();
        uint64_t seen = max_seen.load();
        while (now > seen && !max_seen.compare_exchange_weak(seen, now)) {
        }
        served++;
        held++;
      };
      auto poll = [&]() {
        worker.runPosted();
        for (auto it = waiters.begin(); it != waiters.end();) {
          if ((*it)->granted == 1) {
            serve();
            it = waiters.erase(it);
          } else {
            break;  // FIFO: the grants of one thread's waiters come in the order they queued
          }
        }
      };
      for (int i = 0; i < kPerThread; i++) {
        if (i == 1) {
          // Everyone has asked for one slot (kThreads > kLimit: at least one of them queued)
          // before anyone goes on, so the queue is exercised even when the threads would
          // otherwise run one after the other.
          ready++;
          while (ready.load() < 2 * kThreads) {
            std::this_thread::yield();
          }
        }
        auto waiter = std::make_unique<Waiter>();
        if (rm->admitRequest(worker, *waiter, waiter->ticket) == Admission::Admitted) {
          serve();
        } else {
          queued++;
          waiters.push_back(std::move(waiter));
        }
        poll();
        if (held > 0 && (held > 2 || i % 2 == 1)) {
          rm->releaseRequest();  // a request finishes
          held--;
        }
      }
      auto done = [&]() { return waiters.empty(); };
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (!done() && std::chrono::steady_clock::now() < deadline) {
        if (held > 0) {
          rm->releaseRequest();  // let the others' waiters through
          held--;
        }
        poll();
        std::this_thread::yield();
      }
      while (held > 0) {
        rm->releaseRequest();
        held--;
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  EXPECT_GT(queued.load(), 0) << "max_seen " << max_seen.load() << " served " << served.load();
  EXPECT_EQ(served.load(), kThreads * kPerThread);
  EXPECT_LE(max_seen.load(), kLimit);
  EXPECT_EQ(rm->requests().active(), 0u);
  EXPECT_EQ(rm->pending().active(), 0u);
  EXPECT_EQ(rm->queued(), 0u);
}

}  // namespace
}  // namespace strait::upstream
