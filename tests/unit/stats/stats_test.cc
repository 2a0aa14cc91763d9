#include "strait/stats/stats.h"

#include <gtest/gtest.h>

#include <thread>

namespace strait::stats {
namespace {

TEST(StatsTest, CountersMergeAcrossShards) {
  Store store(2);
  Counter c = store.counter("strait_dp_test_total", "A test counter.", {{"listener", "edge"}});
  store.shard(0).inc(c);
  store.shard(1).inc(c, 41);
  EXPECT_EQ(store.counterValue(c), 42u);
}

TEST(StatsTest, RegistrationIsIdempotentPerLabelSet) {
  Store store(1);
  Counter a = store.counter("strait_dp_x_total", "x", {{"cluster", "a"}});
  Counter a2 = store.counter("strait_dp_x_total", "x", {{"cluster", "a"}});
  Counter b = store.counter("strait_dp_x_total", "x", {{"cluster", "b"}});
  EXPECT_EQ(a.slot, a2.slot);
  EXPECT_NE(a.slot, b.slot);
}

TEST(StatsTest, GaugesGoUpAndDownAcrossShards) {
  Store store(2);
  Gauge g = store.gauge("strait_dp_active", "Active.");
  store.shard(0).add(g, 3);
  store.shard(1).add(g, 2);
  store.shard(0).sub(g, 4);
  EXPECT_EQ(store.gaugeValue(g), 1);
  store.mainShard().set(g, 10);
  EXPECT_EQ(store.gaugeValue(g), 11);
}

TEST(StatsTest, HistogramRendersCumulativeBuckets) {
  Store store(1);
  Histogram h = store.histogram("strait_dp_rq_time_seconds", "Time.", {{"listener", "edge"}});
  store.shard(0).observeUs(h, 400);      // <= 0.0005
  store.shard(0).observeUs(h, 2000);     // <= 0.0025
  store.shard(0).observeUs(h, 90000000); // +Inf
  std::string text = store.renderPrometheus();
  EXPECT_NE(text.find("# TYPE strait_dp_rq_time_seconds histogram"), std::string::npos);
  EXPECT_NE(text.find("strait_dp_rq_time_seconds_bucket{listener=\"edge\",le=\"0.0005\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("strait_dp_rq_time_seconds_bucket{listener=\"edge\",le=\"0.0025\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("strait_dp_rq_time_seconds_bucket{listener=\"edge\",le=\"+Inf\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("strait_dp_rq_time_seconds_count{listener=\"edge\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("strait_dp_rq_time_seconds_sum{listener=\"edge\"} 90.0024\n"),
            std::string::npos);
}

TEST(StatsTest, RenderEscapesLabelValuesAndSortsFamilies) {
  Store store(1);
  store.counter("strait_dp_b_total", "B.", {{"route", "a\"b\\c\nd"}});
  store.counter("strait_dp_a_total", "A.");
  std::string text = store.renderPrometheus();
  EXPECT_LT(text.find("strait_dp_a_total"), text.find("strait_dp_b_total"));
  EXPECT_NE(text.find(R"(route="a\"b\\c\nd")"), std::string::npos);
}

TEST(StatsTest, ManyMetricsGrowChunksWithoutMovingSlots) {
  Store store(1);
  Counter first = store.counter("strait_dp_first_total", "First.");
  store.shard(0).inc(first, 7);
  for (int i = 0; i < 10000; i++) {
    store.counter("strait_dp_many_total", "Many.", {{"i", std::to_string(i)}});
  }
  EXPECT_EQ(store.counterValue(first), 7u);
}

TEST(StatsTest, WorkersWriteWhileMainReads) {
  Store store(2);
  Counter c = store.counter("strait_dp_race_total", "Race.");
  std::thread t0([&] {
    for (int i = 0; i < 100000; i++) {
      store.shard(0).inc(c);
    }
  });
  std::thread t1([&] {
    for (int i = 0; i < 100000; i++) {
      store.shard(1).inc(c);
    }
  });
  for (int i = 0; i < 100; i++) {
    (void)store.renderPrometheus();
  }
  t0.join();
  t1.join();
  EXPECT_EQ(store.counterValue(c), 200000u);
}

}  // namespace
}  // namespace strait::stats
