#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "filters/fault/config.h"
#include "tests/unit/filters/parse_block.h"

namespace strait::filters::fault {
namespace {

using ::testing::ElementsAre;
using std::chrono::milliseconds;

// The block as it sits in a listener, so that lines and columns are those of a real file.
testing::ParseResult<FaultConfig> parse(const std::string& block) {
  return testing::parseBlock<FaultConfig>(
      "filters:\n  - name: fault\n    config: " + block + "\n",
      "listeners[0].http.filters[0].config", parseFaultConfig,
      [](const FaultSettings& s) { return s.fault; });
}

std::vector<std::string> errors(const std::string& block) {
  std::vector<std::string> out;
  for (const auto& e : parse(block).errors) {
    out.push_back(e.toString());
  }
  return out;
}

TEST(FaultConfigTest, ConfigMdExample) {
  auto result = parse(
      "{delay: {fixed: 100ms, percent: 10}, abort: {status: 503, percent: 1},"
      " response_rate_limit: {kbps: 64, percent: 100}, header_control: false,"
      " max_active_faults: 100, match: {prefix: /checkout, headers: [{name: x-chaos, exact: \"1\"}],"
      " principals: [\"spiffe://example.org/*\"]}, mode: dry_run}");
  ASSERT_TRUE(result.ok());
  const FaultConfig& c = *result.config;
  EXPECT_EQ(c.mode, FilterMode::DryRun);
  EXPECT_EQ(c.delay->fixed, milliseconds(100));
  EXPECT_EQ(c.delay->percent, 10'000'000u);
  EXPECT_EQ(c.abort->status, 503);
  EXPECT_EQ(c.abort->percent, 1'000'000u);
  EXPECT_EQ(c.response_rate_limit->kbps, 64u);
  EXPECT_EQ(c.response_rate_limit->percent, kPercentScale);
  EXPECT_EQ(c.max_active_faults, 100u);
  EXPECT_EQ(c.match.prefix, "/checkout");
  ASSERT_EQ(c.match.headers.size(), 1u);
  EXPECT_EQ(c.match.headers[0].name, "x-chaos");
  EXPECT_EQ(c.match.principals, std::vector<std::string>{"spiffe://example.org/*"});
}

TEST(FaultConfigTest, AbortResetAndDefaults) {
  auto result = parse("{abort: {reset: true}}");
  ASSERT_TRUE(result.ok());
  EXPECT_TRUE(result.config->abort->reset);
  EXPECT_EQ(result.config->abort->percent, kPercentScale);
  EXPECT_EQ(result.config->mode, FilterMode::Enforce);
  EXPECT_FALSE(result.config->header_control);
  EXPECT_FALSE(result.config->max_active_faults.has_value());
}

TEST(FaultConfigTest, PreciseErrors) {
  EXPECT_THAT(
      errors("{abort: {status: 503, reset: true}}"),
      ElementsAre(
          R"(s.yaml:3:21: listeners[0].http.filters[0].config.abort: expected exactly one of status, reset, got both)"));
  EXPECT_THAT(
      errors("{delay: {fixed: 0s, percent: 101}, mode: chaos}"),
      ElementsAre(
          R"(s.yaml:3:29: listeners[0].http.filters[0].config.delay.fixed: expected a duration greater than zero, got "0s")",
          R"(s.yaml:3:42: listeners[0].http.filters[0].config.delay.percent: expected a number from 0 to 100, got "101")",
          R"(s.yaml:3:54: listeners[0].http.filters[0].config.mode: expected one of enforce, dry_run, got "chaos")"));
  EXPECT_THAT(
      errors("{delai: {fixed: 1s}}"),
      ElementsAre(
          R"(s.yaml:3:14: listeners[0].http.filters[0].config.delai: unknown key "delai" (did you mean "delay"?))"));
  EXPECT_THAT(
      errors("{response_rate_limit: {percent: 5}, match: {prefix: checkout}}"),
      ElementsAre(
          R"(s.yaml:3:35: listeners[0].http.filters[0].config.response_rate_limit.kbps: missing required key "kbps")",
          R"(s.yaml:3:65: listeners[0].http.filters[0].config.match.prefix: expected a path prefix starting with "/", got "checkout")"));
}

TEST(FaultConfigTest, ResponseDelay) {
  auto result = parse("{response_delay: {fixed: 300ms, percent: 12.5}, delay: {fixed: 1s}}");
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.config->response_delay->fixed, milliseconds(300));
  EXPECT_EQ(result.config->response_delay->percent, 12'500'000u);
  EXPECT_EQ(result.config->delay->fixed, milliseconds(1000));
  EXPECT_EQ(parse("{response_delay: {fixed: 5s}}").config->response_delay->percent, kPercentScale);
  EXPECT_FALSE(parse("{delay: {fixed: 5s}}").config->response_delay.has_value());
}

TEST(FaultConfigTest, ResponseDelayErrors) {
  EXPECT_THAT(
      errors("{response_delay: {percent: 5}}"),
      ElementsAre(
          R"(s.yaml:3:30: listeners[0].http.filters[0].config.response_delay.fixed: missing required key "fixed")"));
  EXPECT_THAT(
      errors("{response_delay: {fixed: 0ms, percent: -1, after: 1s}}"),
      ElementsAre(
          R"(s.yaml:3:38: listeners[0].http.filters[0].config.response_delay.fixed: expected a duration greater than zero, got "0ms")",
          R"(s.yaml:3:52: listeners[0].http.filters[0].config.response_delay.percent: expected a number from 0 to 100, got "-1")",
          R"(s.yaml:3:56: listeners[0].http.filters[0].config.response_delay.after: unknown key "after" (allowed: fixed, percent))"));
  EXPECT_THAT(
      errors("{reponse_delay: {fixed: 1s}}"),
      ElementsAre(
          R"(s.yaml:3:14: listeners[0].http.filters[0].config.reponse_delay: unknown key "reponse_delay" (did you mean "response_delay"?))"));
}

TEST(FaultConfigTest, ConnectionFaultsTakeAPercentOrAPercentMap) {
  auto result = parse("{connection: {reset: 100, black_hole: {percent: 0.5}}}");
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.config->connection.reset_percent, kPercentScale);
  EXPECT_EQ(result.config->connection.black_hole_percent, 500'000u);
  EXPECT_TRUE(result.config->connection.any());
  auto none = parse("{connection: {reset: 0}}");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none.config->connection.any());
  EXPECT_FALSE(parse("{abort: {status: 503}}").config->connection.any());
}

TEST(FaultConfigTest, ConnectionFaultErrors) {
  EXPECT_THAT(
      errors("{connection: {reset: 101, black_hole: {}, drop: 1}}"),
      ElementsAre(
          R"(s.yaml:3:34: listeners[0].http.filters[0].config.connection.reset: expected a number from 0 to 100, got "101")",
          R"(s.yaml:3:51: listeners[0].http.filters[0].config.connection.black_hole.percent: missing required key "percent")",
          R"(s.yaml:3:55: listeners[0].http.filters[0].config.connection.drop: unknown key "drop" (allowed: reset, black_hole))"));
  EXPECT_THAT(
      errors("{connection: {black_hole: yes}}"),
      ElementsAre(
          R"(s.yaml:3:39: listeners[0].http.filters[0].config.connection.black_hole: expected a number from 0 to 100, got "yes")"));
  // Drawn at accept time, before any request: `match` cannot scope them.
  EXPECT_THAT(
      errors("{connection: {reset: 1}, match: {prefix: /a}}"),
      ElementsAre(
          R"(s.yaml:3:26: listeners[0].http.filters[0].config.connection: connection faults are drawn when a connection is accepted, before any request, so match cannot scope them; put them in a fault entry without match)"));
  EXPECT_TRUE(parse("{connection: {reset: 0}, match: {prefix: /a}}").ok());
}

}  // namespace
}  // namespace strait::filters::fault
