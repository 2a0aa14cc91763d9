// The adaptive_concurrency config block: defaults, every knob, and precise errors.

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "filters/adaptive_concurrency/config.h"
#include "tests/unit/filters/parse_block.h"

namespace strait::filters::adaptive_concurrency {
namespace {

using ::testing::ElementsAre;
using std::chrono::milliseconds;

testing::ParseResult<AdaptiveConcurrencyConfig> parse(const std::string& block) {
  return testing::parseBlock<AdaptiveConcurrencyConfig>(
      "filters:\n  - name: adaptive_concurrency\n    config:\n" + block,
      "listeners[0].http.filters[0].config", parseAdaptiveConcurrencyConfig,
      [](const AdaptiveConcurrencySettings& s) { return s.adaptive; });
}

std::vector<std::string> errors(const std::string& block) {
  std::vector<std::string> out;
  for (const auto& e : parse(block).errors) {
    out.push_back(e.toString());
  }
  return out;
}

TEST(AdaptiveConcurrencyConfigTest, Defaults) {
  auto result = parse("      mode: enforce\n");
  ASSERT_TRUE(result.ok());
  const AdaptiveConcurrencyConfig& c = *result.config;
  EXPECT_EQ(c.algorithm, Algorithm::Gradient);
  EXPECT_EQ(c.min_limit, 3u);
  EXPECT_EQ(c.max_limit, 1000u);
  EXPECT_EQ(c.initial_limit, 10u);
  EXPECT_EQ(c.sample_window, milliseconds(100));
  EXPECT_EQ(c.sample_percentile, 50);
  EXPECT_EQ(c.gradient.buffer, 0.25);
  EXPECT_EQ(c.min_rtt.interval, milliseconds(30000));
  EXPECT_EQ(c.min_rtt.requests, 50u);
  EXPECT_EQ(c.queue.max, 0u);
  EXPECT_EQ(c.queue.order, QueueOrder::Fifo);
  EXPECT_FALSE(c.exclude.has_value());
}

TEST(AdaptiveConcurrencyConfigTest, EveryKnob) {
  auto result = parse(
      "      mode: dry_run\n"
      "      algorithm: vegas\n"
      "      min_limit: 5\n"
      "      max_limit: 500\n"
      "      initial_limit: 20\n"
      "      sample_window: 250ms\n"
      "      sample_percentile: 90\n"
      "      gradient: {buffer: 0.5}\n"
      "      vegas: {alpha: 2, beta: 4, smoothing: 0.5}\n"
      "      min_rtt: {interval: 10s, jitter: 0.2, requests: 30, max_duration: 1s,"
      " queue_timeout: 100ms}\n"
      "      queue: {max: 16, timeout: 30ms, order: lifo}\n"
      "      exclude: {headers: [{name: user-agent, prefix: kube-probe/}]}\n");
  ASSERT_TRUE(result.ok()) << (result.errors.empty() ? "" : result.errors[0].toString());
  const AdaptiveConcurrencyConfig& c = *result.config;
  EXPECT_EQ(c.mode, FilterMode::DryRun);
  EXPECT_EQ(c.algorithm, Algorithm::Vegas);
  EXPECT_EQ(c.min_limit, 5u);
  EXPECT_EQ(c.max_limit, 500u);
  EXPECT_EQ(c.initial_limit, 20u);
  EXPECT_EQ(c.sample_window, milliseconds(250));
  EXPECT_EQ(c.sample_percentile, 90);
  EXPECT_EQ(c.gradient.buffer, 0.5);
  EXPECT_EQ(c.vegas.alpha, 2);
  EXPECT_EQ(c.vegas.beta, 4);
  EXPECT_EQ(c.vegas.smoothing, 0.5);
  EXPECT_EQ(c.min_rtt.interval, milliseconds(10000));
  EXPECT_EQ(c.min_rtt.jitter, 0.2);
  EXPECT_EQ(c.min_rtt.requests, 30u);
  EXPECT_EQ(c.min_rtt.max_duration, milliseconds(1000));
  EXPECT_EQ(c.min_rtt.queue_timeout, milliseconds(100));
  EXPECT_EQ(c.queue.max, 16u);
  EXPECT_EQ(c.queue.timeout, milliseconds(30));
  EXPECT_EQ(c.queue.order, QueueOrder::Lifo);
  ASSERT_TRUE(c.exclude.has_value());
  EXPECT_EQ(c.exclude->headers.size(), 1u);
}

// The shared contract's on_limit form: reject at once, or a queue.
TEST(AdaptiveConcurrencyConfigTest, OnLimitRejectOrQueue) {
  auto queued = parse("      on_limit: {queue: {max: 100, timeout: 20ms, order: lifo}}\n");
  ASSERT_TRUE(queued.ok());
  EXPECT_EQ(queued.config->queue.max, 100u);
  EXPECT_EQ(queued.config->queue.timeout, milliseconds(20));
  EXPECT_EQ(queued.config->queue.order, QueueOrder::Lifo);
  auto rejected = parse("      on_limit: {reject: true}\n");
  ASSERT_TRUE(rejected.ok());
  EXPECT_EQ(rejected.config->queue.max, 0u);
  EXPECT_THAT(errors("      on_limit: {reject: true, queue: {max: 1}}\n"),
              ::testing::ElementsAre(::testing::HasSubstr("expected exactly one of reject, queue")));
  EXPECT_THAT(errors("      on_limit: {reject: false}\n"),
              ::testing::ElementsAre(::testing::HasSubstr("reject: false says nothing")));
}

TEST(AdaptiveConcurrencyConfigTest, InitialLimitDefaultsIntoTheRange) {
  auto result = parse("      min_limit: 50\n      max_limit: 100\n");
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.config->initial_limit, 50u);
}

TEST(AdaptiveConcurrencyConfigTest, PreciseErrors) {
  EXPECT_THAT(errors("      algorithm: aimd\n"),
              ElementsAre(::testing::HasSubstr(
                  "s.yaml:4:18: listeners[0].http.filters[0].config.algorithm: expected one of")));
  EXPECT_THAT(errors("      min_limit: 10\n      max_limit: 5\n"),
              ElementsAre("s.yaml:5:18: listeners[0].http.filters[0].config.max_limit: max_limit "
                          "(5) is below min_limit (10)"));
  EXPECT_THAT(errors("      initial_limit: 2000\n"),
              ElementsAre("s.yaml:4:22: listeners[0].http.filters[0].config.initial_limit: "
                          "initial_limit (2000) is outside [min_limit 3, max_limit 1000]"));
  EXPECT_THAT(errors("      queue: {order: random}\n"),
              ElementsAre(::testing::HasSubstr("config.queue.order: expected one of")));
  EXPECT_THAT(errors("      sample_window: 0s\n"),
              ElementsAre(::testing::HasSubstr("config.sample_window")));
  EXPECT_THAT(errors("      vegas: {alpha: 5, beta: 2}\n"),
              ElementsAre(::testing::HasSubstr("config.vegas: vegas.beta")));
  EXPECT_THAT(errors("      min_rtt: {jitter: 0.9}\n"),
              ElementsAre(::testing::HasSubstr("config.min_rtt.jitter")));
  EXPECT_THAT(errors("      limit: 5\n"),
              ElementsAre(::testing::HasSubstr("config.limit: unknown key")));
}

}  // namespace
}  // namespace strait::filters::adaptive_concurrency
