#include <atomic>
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

}  // namespace
}  // namespace strait::upstream
