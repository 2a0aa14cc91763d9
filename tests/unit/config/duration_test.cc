#include "config/duration.h"

#include <gtest/gtest.h>

namespace strait::config {
namespace {

int64_t ms(std::string_view text) {
  DurationParse parsed = parseDuration(text);
  EXPECT_TRUE(parsed.ok()) << text << ": " << parsed.error;
  return parsed.value.count();
}

std::string errorOf(std::string_view text) {
  DurationParse parsed = parseDuration(text);
  EXPECT_FALSE(parsed.ok()) << text << " was accepted as " << parsed.value.count() << "ms";
  return parsed.error;
}

TEST(DurationTest, ParsesEveryUnit) {
  EXPECT_EQ(ms("250ms"), 250);
  EXPECT_EQ(ms("5s"), 5000);
  EXPECT_EQ(ms("1m"), 60000);
  EXPECT_EQ(ms("1h"), 3600000);
  EXPECT_EQ(ms("90s"), 90000);
}

TEST(DurationTest, ZeroNeedsNoUnit) {
  EXPECT_EQ(ms("0"), 0);
  EXPECT_EQ(ms("0s"), 0);
  EXPECT_EQ(ms("0ms"), 0);
}

TEST(DurationTest, AcceptsFractionsThatAreWholeMilliseconds) {
  EXPECT_EQ(ms("1.5s"), 1500);
  EXPECT_EQ(ms("0.25m"), 15000);
  EXPECT_EQ(ms("2.0ms"), 2);
  EXPECT_EQ(errorOf("0.5ms"), "durations must be a whole number of milliseconds");
  EXPECT_EQ(errorOf("1.0001s"), "durations must be a whole number of milliseconds");
}

TEST(DurationTest, RejectsBareNumbersBadUnitsAndNegatives) {
  EXPECT_EQ(errorOf("5"), "durations need a unit");
  EXPECT_EQ(errorOf("5x"), "unknown duration unit \"x\"");
  EXPECT_EQ(errorOf("5 s"), "unknown duration unit \" s\"");
  EXPECT_EQ(errorOf("-1s"), "durations cannot be negative");
  EXPECT_EQ(errorOf(""), "expected a duration");
  EXPECT_EQ(errorOf("s"), "expected a duration");
  EXPECT_EQ(errorOf("5.s"), "expected a duration");
  EXPECT_EQ(errorOf("1e3ms"), "unknown duration unit \"e3ms\"");
}

TEST(DurationTest, RejectsHugeValuesWithoutOverflow) {
  EXPECT_EQ(ms("1000000000000ms"), 1000000000000);
  EXPECT_EQ(errorOf("1000000000001ms"), "duration is too long");
  EXPECT_EQ(errorOf("99999999999999999999999999h"), "duration is too long");
}

}  // namespace
}  // namespace strait::config
