// The resilience keys added for issue 5: outlier detection detectors and retry body/method rules.

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/loader.h"

namespace strait::config {
namespace {

using ::testing::ElementsAre;

BootstrapSharedPtr loadOk(const std::string& yaml) {
  LoadResult result = loadString(yaml, "t.yaml");
  for (const ConfigError& error : result.errors) {
    ADD_FAILURE() << error.toString();
  }
  return result.bootstrap;
}

std::vector<std::string> errorsIn(const std::string& yaml) {
  LoadResult result = loadString(yaml, "t.yaml");
  EXPECT_FALSE(result.ok());
  std::vector<std::string> out;
  for (const ConfigError& error : result.errors) {
    out.push_back(error.toString());
  }
  return out;
}

std::string clusterWithOutlier(const std::string& outlier) {
  return "clusters:\n"
         "  - name: c\n"
         "    endpoints: [{address: 10.0.0.1, port: 80}]\n"
         "    outlier_detection: " +
         outlier + "\n";
}

std::string routeWithRetry(const std::string& retry) {
  return "listeners:\n"
         "  - name: l\n"
         "    virtual_hosts:\n"
         "      - domains: [\"*\"]\n"
         "        routes:\n"
         "          - {match: {prefix: /}, route: {cluster: c, retry: " +
         retry +
         "}}\n"
         "clusters:\n"
         "  - {name: c, endpoints: [{address: 10.0.0.1, port: 80}]}\n";
}

TEST(OutlierConfigTest, DefaultsWhenOnlyTheBlockIsGiven) {
  BootstrapSharedPtr config = loadOk(clusterWithOutlier("{}"));
  ASSERT_NE(config, nullptr);
  const OutlierDetection& o = *config->clusters[0].outlier_detection;
  EXPECT_EQ(o.consecutive_5xx, 5u);
  EXPECT_EQ(o.consecutive_gateway_failure, 0u);
  EXPECT_EQ(o.consecutive_local_origin_failure, 5u);
  EXPECT_FALSE(o.success_rate.has_value());
  EXPECT_FALSE(o.failure_percentage.has_value());
  EXPECT_TRUE(o.enforcing.consecutive_5xx);
  EXPECT_TRUE(o.enforcing.success_rate);
  EXPECT_EQ(o.interval, Duration(10000));
  EXPECT_EQ(o.base_ejection_time, Duration(30000));
  EXPECT_EQ(o.max_ejection_time, Duration(300000));
  EXPECT_EQ(o.max_ejection_percent, 10u);
}

TEST(OutlierConfigTest, EveryDetectorParses) {
  BootstrapSharedPtr config = loadOk(clusterWithOutlier(
      "{consecutive_5xx: 0, consecutive_gateway_failure: 3, consecutive_local_origin_failure: 2,"
      " success_rate: {minimum_hosts: 3, request_volume: 20, stdev_factor: 1000},"
      " failure_percentage: {threshold: 50, minimum_hosts: 2, request_volume: 10},"
      " enforcing: {success_rate: false, consecutive_gateway_failure: false},"
      " interval: 1s, base_ejection_time: 5s, max_ejection_time: 1m, max_ejection_percent: 50}"));
  ASSERT_NE(config, nullptr);
  const OutlierDetection& o = *config->clusters[0].outlier_detection;
  EXPECT_EQ(o.consecutive_5xx, 0u);
  EXPECT_EQ(o.consecutive_gateway_failure, 3u);
  EXPECT_EQ(o.consecutive_local_origin_failure, 2u);
  ASSERT_TRUE(o.success_rate.has_value());
  EXPECT_EQ(o.success_rate->minimum_hosts, 3u);
  EXPECT_EQ(o.success_rate->request_volume, 20u);
  EXPECT_EQ(o.success_rate->stdev_factor, 1000u);
  ASSERT_TRUE(o.failure_percentage.has_value());
  EXPECT_EQ(o.failure_percentage->threshold, 50u);
  EXPECT_EQ(o.failure_percentage->minimum_hosts, 2u);
  EXPECT_EQ(o.failure_percentage->request_volume, 10u);
  EXPECT_FALSE(o.enforcing.success_rate);
  EXPECT_FALSE(o.enforcing.consecutive_gateway_failure);
  EXPECT_TRUE(o.enforcing.consecutive_5xx);
  EXPECT_TRUE(o.enforcing.failure_percentage);
  EXPECT_EQ(o.interval, Duration(1000));
  EXPECT_EQ(o.base_ejection_time, Duration(5000));
  EXPECT_EQ(o.max_ejection_time, Duration(60000));
  EXPECT_EQ(o.max_ejection_percent, 50u);
}

TEST(OutlierConfigTest, PreciseErrors) {
  EXPECT_THAT(
      errorsIn(clusterWithOutlier("{failure_percentage: {threshold: 101}}")),
      ElementsAre(
          R"(t.yaml:4:57: clusters[0].outlier_detection.failure_percentage.threshold: expected an integer from 0 to 100, got "101")"));
  EXPECT_THAT(
      errorsIn(clusterWithOutlier("{success_rate: {stdev_factr: 1}}")),
      ElementsAre(
          R"(t.yaml:4:40: clusters[0].outlier_detection.success_rate.stdev_factr: unknown key "stdev_factr" (did you mean "stdev_factor"?))"));
  EXPECT_THAT(
      errorsIn(clusterWithOutlier("{enforcing: {success_rate: maybe}}")),
      ElementsAre(
          R"(t.yaml:4:51: clusters[0].outlier_detection.enforcing.success_rate: expected true or false, got "maybe")"));
  EXPECT_THAT(
      errorsIn(clusterWithOutlier("{base_ejection_time: 10s, max_ejection_time: 5s}")),
      ElementsAre(
          R"(t.yaml:4:69: clusters[0].outlier_detection.max_ejection_time: max_ejection_time must not be below base_ejection_time (10000ms))"));
}

TEST(RetryConfigTest, NonIdempotentAndBodyLimit) {
  BootstrapSharedPtr config = loadOk(routeWithRetry("{on: [5xx]}"));
  ASSERT_NE(config, nullptr);
  const RetryPolicy& defaults =
      *config->listeners[0].virtual_hosts[0].routes[0].route->retry;
  EXPECT_FALSE(defaults.non_idempotent);
  EXPECT_EQ(defaults.max_body_bytes, 65536u);

  config = loadOk(routeWithRetry(
      "{on: [retriable-status-codes], retriable_status_codes: [409, 429],"
      " non_idempotent: true, max_body_bytes: 0}"));
  ASSERT_NE(config, nullptr);
  const RetryPolicy& retry = *config->listeners[0].virtual_hosts[0].routes[0].route->retry;
  EXPECT_TRUE(retry.non_idempotent);
  EXPECT_EQ(retry.max_body_bytes, 0u);
  EXPECT_THAT(retry.retriable_status_codes, ElementsAre(409, 429));

  EXPECT_THAT(
      errorsIn(routeWithRetry("{on: [5xx], non_idempotent: 1}")),
      ElementsAre(
          R"(t.yaml:6:89: listeners[0].virtual_hosts[0].routes[0].route.retry.non_idempotent: expected true or false, got "1")"));
}

}  // namespace
}  // namespace strait::config
