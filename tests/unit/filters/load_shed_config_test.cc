// The load_shed config parser: the docs/config.md example, the defaults, and errors with their
// positions and field paths. And the priority resolver: precedence of the sources and the
// untrusted header.

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "filters/load_shed/config.h"
#include "filters/load_shed/priority.h"
#include "tests/unit/filters/parse_block.h"

namespace strait::filters::load_shed {
namespace {

using ::testing::ElementsAre;
using std::chrono::milliseconds;

testing::ParseResult<LoadShedConfig> parse(const std::string& block) {
  return testing::parseBlock<LoadShedConfig>(
      "filters:\n  - name: load_shed\n    config:\n" + block,
      "listeners[0].http.filters[2].config", parseLoadShedConfig,
      [](const LoadShedSettings& s) { return s.load_shed; });
}

std::vector<std::string> errors(const std::string& block) {
  std::vector<std::string> out;
  for (const auto& e : parse(block).errors) {
    out.push_back(e.toString());
  }
  return out;
}

TEST(LoadShedConfigTest, ConfigMdExample) {
  auto result = parse(
      "      mode: dry_run\n"
      "      interval: 200ms\n"
      "      retry_after: 2s\n"
      "      priority:\n"
      "        header: X-Strait-Priority\n"
      "        trusted_principals: [spiffe://mesh/ns/edge/*]\n"
      "        principals: {spiffe://mesh/ns/batch/*: nice_to_have, spiffe://mesh/ns/pay/sa/api: critical}\n"
      "        routes: {checkout: critical, recommendations: nice_to_have}\n"
      "        default: important\n"
      "      classes:\n"
      "        nice_to_have: {start: 0.9, full: 1.4}\n"
      "        critical: {start: 2.5}\n"
      "      signals:\n"
      "        queue_delay: {target: 10ms}\n"
      "        concurrency: {enabled: false}\n"
      "        event_loop_lag: {threshold: 20ms}\n"
      "        cpu: {threshold: 0.8}\n");
  ASSERT_TRUE(result.ok()) << (result.errors.empty() ? "" : result.errors[0].toString());
  const LoadShedConfig& c = *result.config;
  EXPECT_EQ(c.mode, FilterMode::DryRun);
  EXPECT_EQ(c.interval, milliseconds(200));
  EXPECT_EQ(c.retry_after, milliseconds(2000));
  EXPECT_EQ(c.priority.header, "x-strait-priority");
  EXPECT_THAT(c.priority.trusted_principals, ElementsAre("spiffe://mesh/ns/edge/*"));
  ASSERT_EQ(c.priority.principals.size(), 2u);
  EXPECT_EQ(c.priority.principals[0].first, "spiffe://mesh/ns/batch/*");
  EXPECT_EQ(c.priority.principals[0].second, Priority::NiceToHave);
  EXPECT_EQ(c.priority.principals[1].second, Priority::Critical);
  EXPECT_EQ(c.priority.routes.at("checkout"), Priority::Critical);
  EXPECT_EQ(c.priority.routes.at("recommendations"), Priority::NiceToHave);
  EXPECT_EQ(c.priority.default_class, Priority::Important);
  EXPECT_EQ(c.curves[2].start, 0.9);
  EXPECT_EQ(c.curves[2].full, 1.4);
  EXPECT_EQ(c.curves[1].start, 1.25);  // default kept
  EXPECT_EQ(c.curves[0].start, 2.5);
  EXPECT_EQ(c.curves[0].full, 4.0);
  EXPECT_TRUE(c.queue_delay_enabled);
  EXPECT_EQ(c.queue_delay_target, milliseconds(10));
  EXPECT_FALSE(c.concurrency_enabled);
  EXPECT_EQ(c.event_loop_lag_threshold, milliseconds(20));
  EXPECT_EQ(c.cpu_threshold, 0.8);
}

TEST(LoadShedConfigTest, EmptyBlockIsEveryDefault) {
  auto result = parse("      {}\n");
  ASSERT_TRUE(result.ok());
  const LoadShedConfig& c = *result.config;
  EXPECT_EQ(c.mode, FilterMode::Enforce);
  EXPECT_EQ(c.interval, milliseconds(100));
  EXPECT_EQ(c.retry_after, milliseconds(1000));
  EXPECT_EQ(c.priority.header, "x-strait-priority");
  EXPECT_TRUE(c.priority.trusted_principals.empty());
  EXPECT_EQ(c.priority.default_class, Priority::Important);
  EXPECT_EQ(c.curves[0].start, 3.0);
  EXPECT_EQ(c.curves[1].start, 1.25);
  EXPECT_EQ(c.curves[1].full, 2.0);
  EXPECT_EQ(c.curves[2].start, 1.0);
  EXPECT_EQ(c.curves[2].full, 1.5);
  EXPECT_EQ(c.queue_delay_target, milliseconds(5));
  EXPECT_EQ(c.event_loop_lag_threshold, milliseconds(50));
  EXPECT_EQ(c.cpu_threshold, 0.9);
}

TEST(LoadShedConfigTest, PreciseErrors) {
  EXPECT_THAT(
      errors("      interval: 0s\n"
             "      priority:\n"
             "        routes: {a: urgent}\n"
             "        default: low\n"
             "        trusted: [x]\n"
             "      classes:\n"
             "        important: {start: 2.0, full: 1.5}\n"
             "        critical: {start: 1.1, full: 4}\n"
             "      signals:\n"
             "        cpu: {threshold: 0}\n"
             "        queue_delay: {target: 0ms}\n"),
      ElementsAre(
          R"(s.yaml:4:17: listeners[0].http.filters[2].config.interval: expected a duration greater than zero, got "0s")",
          R"(s.yaml:6:21: listeners[0].http.filters[2].config.priority.routes.a: expected one of critical, important, nice_to_have, got "urgent")",
          R"(s.yaml:7:18: listeners[0].http.filters[2].config.priority.default: expected one of critical, important, nice_to_have, got "low")",
          R"(s.yaml:8:9: listeners[0].http.filters[2].config.priority.trusted: unknown key "trusted" (allowed: header, trusted_principals, principals, routes, default))",
          R"(s.yaml:10:20: listeners[0].http.filters[2].config.classes.important: full (1.5) must not be below start (2))",
          R"(s.yaml:11:19: listeners[0].http.filters[2].config.classes.critical: critical would be shed before important: its start and full must not be below those of the class under it)",
          R"(s.yaml:13:26: listeners[0].http.filters[2].config.signals.cpu.threshold: expected a number greater than zero, got 0)",
          R"(s.yaml:14:31: listeners[0].http.filters[2].config.signals.queue_delay.target: expected a duration greater than zero, got "0ms")"));
}

TEST(LoadShedConfigTest, DuplicateKeysInClassMaps) {
  EXPECT_THAT(
      errors("      priority:\n"
             "        routes: {a: critical, a: important}\n"),
      ElementsAre(
          R"(s.yaml:5:34: listeners[0].http.filters[2].config.priority.routes.a: duplicate route "a")"));
}

PriorityConfig priorities() {
  PriorityConfig c;
  c.trusted_principals = {"spiffe://mesh/ns/edge/*"};
  c.principals = {{"spiffe://mesh/ns/batch/*", Priority::NiceToHave},
                  {"*", Priority::Important}};
  c.routes = {{"checkout", Priority::Critical}};
  c.default_class = Priority::NiceToHave;
  return c;
}

constexpr const char* kEdge = "spiffe://mesh/ns/edge/sa/gw";
constexpr const char* kBatch = "spiffe://mesh/ns/batch/sa/job";

// The shared contract's (CONFIG.md) flat keys say what the grouped blocks say.
TEST(LoadShedConfigTest, TheContractsFlatKeys) {
  auto result = parse(
      "      priority_header: X-Tier\n"
      "      trusted_principals: [\"spiffe://example.org/ns/gateway/*\"]\n"
      "      default_priority: nice_to_have\n"
      "      queue_time_target: 8ms\n"
      "      interval: 50ms\n"
      "      cpu_target: 0.8\n");
  ASSERT_TRUE(result.ok());
  const LoadShedConfig& c = *result.config;
  EXPECT_EQ(c.priority.header, "x-tier");
  EXPECT_THAT(c.priority.trusted_principals, ElementsAre("spiffe://example.org/ns/gateway/*"));
  EXPECT_EQ(c.priority.default_class, Priority::NiceToHave);
  EXPECT_TRUE(c.queue_delay_enabled);
  EXPECT_EQ(c.queue_delay_target, milliseconds(8));
  EXPECT_EQ(c.interval, milliseconds(50));
  EXPECT_TRUE(c.cpu_enabled);
  EXPECT_DOUBLE_EQ(c.cpu_threshold, 0.8);
  EXPECT_THAT(errors("      default_priority: urgent\n"),
              ElementsAre(::testing::HasSubstr(
                  "default_priority: expected one of critical, important, nice_to_have")));
}

TEST(PriorityResolverTest, TheRoutesOwnPriorityKeyWinsOverTheRoutesMap) {
  PriorityResolver resolver(priorities());
  PriorityResult r = resolver.resolve("checkout", "critical", kEdge, Priority::NiceToHave);
  EXPECT_EQ(r.priority, Priority::NiceToHave);
  EXPECT_EQ(r.source, PrioritySource::Route);
}

TEST(PriorityResolverTest, RouteKeyComesFirst) {
  PriorityResolver resolver(priorities());
  PriorityResult r = resolver.resolve("checkout", "nice_to_have", kEdge);
  EXPECT_EQ(r.priority, Priority::Critical);
  EXPECT_EQ(r.source, PrioritySource::Route);
  EXPECT_FALSE(r.untrusted_header);
}

TEST(PriorityResolverTest, TrustedHeaderBeforePrincipal) {
  PriorityResolver resolver(priorities());
  PriorityResult r = resolver.resolve("other", "critical", kEdge);
  EXPECT_EQ(r.priority, Priority::Critical);
  EXPECT_EQ(r.source, PrioritySource::Header);
}

TEST(PriorityResolverTest, UntrustedHeaderIsIgnoredAndReported) {
  PriorityResolver resolver(priorities());
  PriorityResult r = resolver.resolve("", "critical", kBatch);
  EXPECT_EQ(r.priority, Priority::NiceToHave);  // its principal's class
  EXPECT_EQ(r.source, PrioritySource::Principal);
  EXPECT_TRUE(r.untrusted_header);
  // Without mTLS nobody is trusted.
  r = resolver.resolve("", "critical", "");
  EXPECT_EQ(r.priority, Priority::NiceToHave);
  EXPECT_EQ(r.source, PrioritySource::Default);
  EXPECT_TRUE(r.untrusted_header);
  // Reported even when the route decides.
  r = resolver.resolve("checkout", "critical", kBatch);
  EXPECT_EQ(r.source, PrioritySource::Route);
  EXPECT_TRUE(r.untrusted_header);
}

TEST(PriorityResolverTest, InvalidHeaderFromATrustedPeerFallsThrough) {
  PriorityResolver resolver(priorities());
  PriorityResult r = resolver.resolve("", "urgent", kEdge);
  EXPECT_TRUE(r.invalid_header);
  EXPECT_FALSE(r.untrusted_header);
  EXPECT_EQ(r.priority, Priority::Important);  // "*" principal
  EXPECT_EQ(r.source, PrioritySource::Principal);
}

TEST(PriorityResolverTest, PrincipalPatternsInOrderThenDefault) {
  PriorityResolver resolver(priorities());
  EXPECT_EQ(resolver.resolve("", std::nullopt, kBatch).priority, Priority::NiceToHave);
  EXPECT_EQ(resolver.resolve("", std::nullopt, "spiffe://mesh/ns/web/sa/a").priority,
            Priority::Important);
  PriorityResult r = resolver.resolve("", std::nullopt, "");
  EXPECT_EQ(r.priority, Priority::NiceToHave);
  EXPECT_EQ(r.source, PrioritySource::Default);
}

}  // namespace
}  // namespace strait::filters::load_shed
