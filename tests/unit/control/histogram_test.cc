// strait-cp's duration histograms in the Prometheus text format: cumulative buckets, +Inf equal
// to the count, the sum in seconds.

#include "control/histogram.h"

#include <gtest/gtest.h>

namespace strait::cp {
namespace {

using std::chrono::milliseconds;

TEST(HistogramTest, BucketsAreCumulativeAndInfIsTheCount) {
  Histogram h;
  h.observe(milliseconds(3));
  h.observe(milliseconds(3));
  h.observe(milliseconds(200));
  h.observe(std::chrono::seconds(100));  // over the last bound: +Inf only
  std::string out;
  h.render(out, "x_seconds", "type=\"routes\"");
  EXPECT_NE(out.find("x_seconds_bucket{type=\"routes\",le=\"0.001\"} 0\n"), std::string::npos);
  EXPECT_NE(out.find("x_seconds_bucket{type=\"routes\",le=\"0.005\"} 2\n"), std::string::npos);
  EXPECT_NE(out.find("x_seconds_bucket{type=\"routes\",le=\"0.25\"} 3\n"), std::string::npos);
  EXPECT_NE(out.find("x_seconds_bucket{type=\"routes\",le=\"60\"} 3\n"), std::string::npos);
  EXPECT_NE(out.find("x_seconds_bucket{type=\"routes\",le=\"+Inf\"} 4\n"), std::string::npos);
  EXPECT_NE(out.find("x_seconds_sum{type=\"routes\"} 100.206000\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_count{type=\"routes\"} 4\n"), std::string::npos);
  EXPECT_EQ(h.count(), 4u);
}

TEST(HistogramTest, WithoutLabelsAndEmpty) {
  Histogram h;
  h.observe(milliseconds(-5));  // a clock step never makes a negative duration
  std::string out;
  h.render(out, "y", "");
  EXPECT_NE(out.find("y_bucket{le=\"0.001\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("y_sum 0.000000\ny_count 1\n"), std::string::npos) << out;
}

}  // namespace
}  // namespace strait::cp
