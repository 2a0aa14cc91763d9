#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "filters/bulkhead/config.h"
#include "tests/unit/filters/parse_block.h"

namespace strait::filters::bulkhead {
namespace {

using ::testing::ElementsAre;
using std::chrono::milliseconds;

testing::ParseResult<BulkheadConfig> parse(const std::string& block) {
  return testing::parseBlock<BulkheadConfig>(
      "filters:\n  - name: bulkhead\n    config:\n" + block,
      "listeners[0].http.filters[2].config", parseBulkheadConfig,
      [](const BulkheadSettings& s) { return s.bulkhead; });
}

std::vector<std::string> errors(const std::string& block) {
  std::vector<std::string> out;
  for (const auto& e : parse(block).errors) {
    out.push_back(e.toString());
  }
  return out;
}

TEST(BulkheadConfigTest, ConfigMdExample) {
  auto result = parse(
      "      compartments:\n"
      "        - {name: checkout, match: {prefix: /checkout}, max_concurrent: 50, max_queue: 100,"
      " queue_timeout: 500ms, borrow: true}\n"
      "        - {name: default, max_concurrent: 200, max_queue: 0}\n");
  ASSERT_TRUE(result.ok());
  const BulkheadConfig& c = *result.config;
  EXPECT_EQ(c.mode, FilterMode::Enforce);
  ASSERT_EQ(c.compartments.size(), 2u);
  EXPECT_EQ(c.compartments[0].name, "checkout");
  EXPECT_EQ(c.compartments[0].match->prefix, "/checkout");
  EXPECT_EQ(c.compartments[0].max_concurrent, 50u);
  EXPECT_EQ(c.compartments[0].max_queue, 100u);
  EXPECT_EQ(c.compartments[0].queue_timeout, milliseconds(500));
  EXPECT_TRUE(c.compartments[0].borrow);
  EXPECT_FALSE(c.compartments[1].match.has_value());
  EXPECT_EQ(c.compartments[1].queue_timeout, milliseconds(1000));
  EXPECT_FALSE(c.compartments[1].borrow);
}

TEST(BulkheadConfigTest, PreciseErrors) {
  EXPECT_THAT(
      errors("      mode: dry_run\n"
             "      compartments:\n"
             "        - {name: a, max_concurrent: 0}\n"
             "        - {name: a, max_concurrent: 1, queue_timeout: 0s}\n"
             "        - {max_concurrent: 1, borow: true}\n"),
      ElementsAre(
          R"(s.yaml:6:37: listeners[0].http.filters[2].config.compartments[0].max_concurrent: expected a positive integer, got "0")",
          R"(s.yaml:7:11: listeners[0].http.filters[2].config.compartments[1]: duplicate compartment name "a")",
          R"(s.yaml:7:11: listeners[0].http.filters[2].config.compartments[1]: unreachable: compartment "a" before it has no match and takes every request)",
          R"(s.yaml:7:55: listeners[0].http.filters[2].config.compartments[1].queue_timeout: expected a duration greater than zero, got "0s")",
          R"(s.yaml:8:11: listeners[0].http.filters[2].config.compartments[2].name: missing required key "name")",
          R"(s.yaml:8:31: listeners[0].http.filters[2].config.compartments[2].borow: unknown key "borow" (did you mean "borrow"?))"));
  EXPECT_THAT(
      errors("      compartments:\n"
             "        - {name: all, max_concurrent: 1}\n"
             "        - {name: never, max_concurrent: 1}\n"),
      ElementsAre(
          R"(s.yaml:6:11: listeners[0].http.filters[2].config.compartments[1]: unreachable: compartment "all" before it has no match and takes every request)"));
  EXPECT_THAT(errors("      {}\n"),
              ElementsAre(
                  R"(s.yaml:4:7: listeners[0].http.filters[2].config.compartments: missing required key "compartments")"));
}

}  // namespace
}  // namespace strait::filters::bulkhead
