#include <chrono>

#include <gtest/gtest.h>

#include "filters/fault/token_bucket.h"
#include "tests/mocks/simulated_time.h"

namespace strait::filters::fault {
namespace {

using std::chrono::milliseconds;

TEST(TokenBucketTest, BytesAllowedOverSimulatedTimeMatchTheRate) {
  strait::testing::SimulatedTimeSource time;
  TokenBucket bucket = TokenBucket::fromKbps(64, time.monotonicTime());  // 65536 B/s
  EXPECT_EQ(bucket.capacity(), 3276u);  // 50 ms of the rate
  uint64_t total = bucket.consume(1'000'000, time.monotonicTime());
  EXPECT_EQ(total, 3276u);  // starts full
  EXPECT_EQ(bucket.consume(1, time.monotonicTime()), 0u);
  // 10 ms gives 655.36 bytes: 655 now, the fraction carried.
  time.advance(milliseconds(10));
  EXPECT_EQ(bucket.consume(1'000'000, time.monotonicTime()), 655u);
  for (int i = 1; i < 100; ++i) {
    time.advance(milliseconds(10));
    total += bucket.consume(1'000'000, time.monotonicTime());
  }
  // One simulated second after the initial burst: exactly the rate, no drift.
  EXPECT_EQ(total + 655, 3276u + 65536u);
}

TEST(TokenBucketTest, IdleTimeFillsOnlyToCapacity) {
  strait::testing::SimulatedTimeSource time;
  TokenBucket bucket(1000, time.monotonicTime());  // capacity 50 bytes
  EXPECT_EQ(bucket.consume(50, time.monotonicTime()), 50u);
  time.advance(milliseconds(60'000));
  EXPECT_EQ(bucket.available(time.monotonicTime()), 50u);
  EXPECT_EQ(bucket.consume(30, time.monotonicTime()), 30u);
  EXPECT_EQ(bucket.consume(30, time.monotonicTime()), 20u);
}

TEST(TokenBucketTest, TimeUntilSaysWhenToWriteAgain) {
  strait::testing::SimulatedTimeSource time;
  TokenBucket bucket(65536, time.monotonicTime());
  bucket.consume(1'000'000, time.monotonicTime());
  // 1000 bytes at 65536 B/s: 15258.8 us, rounded up to 16 ms.
  EXPECT_EQ(bucket.timeUntil(1000, time.monotonicTime()), milliseconds(16));
  time.advance(milliseconds(15));
  EXPECT_EQ(bucket.consume(1000, time.monotonicTime()), 983u);  // 15 ms = 983.04 bytes
  time.advance(milliseconds(1));
  EXPECT_EQ(bucket.timeUntil(65, time.monotonicTime()), milliseconds(0));
  // More than the capacity is waited for only up to the capacity.
  EXPECT_EQ(bucket.timeUntil(1'000'000, time.monotonicTime()),
            bucket.timeUntil(bucket.capacity(), time.monotonicTime()));
}

}  // namespace
}  // namespace strait::filters::fault
