// The discovery protocol's messages: what goes on the wire and what a malformed line is told.

#include <gtest/gtest.h>

#include "config/discovery.h"

namespace strait::config {
namespace {

TEST(DiscoveryTypesTest, TypeNamesAndUrlsRoundTrip) {
  for (ResourceType type : kPushOrder) {
    EXPECT_EQ(typeFromName(typeName(type)), type);
    EXPECT_EQ(typeFromUrl(typeUrl(type)), type);
  }
  EXPECT_EQ(typeUrl(ResourceType::FilterConfigs), "type.strait.dev/filter_configs");
  EXPECT_FALSE(typeFromUrl("type.googleapis.com/envoy.config.cluster.v3.Cluster").has_value());
  EXPECT_FALSE(typeFromName("cluster").has_value());
}

TEST(DiscoveryTypesTest, ARequestRoundTripsWithItsNack) {
  DiscoveryRequest request;
  request.version_info = "abc";
  request.node = {"edge-1", "edge", "eu-west", "eu-west-1a"};
  request.type = ResourceType::Routes;
  request.response_nonce = "n-1";
  request.error_detail = ErrorDetail{3, "routes/edge: virtual_hosts[0].routes[0]: unknown cluster"};
  std::string error;
  std::optional<DiscoveryRequest> parsed = parseRequest(serialize(request), error);
  ASSERT_TRUE(parsed.has_value()) << error;
  EXPECT_EQ(parsed->version_info, "abc");
  EXPECT_EQ(parsed->node.id, "edge-1");
  EXPECT_EQ(parsed->node.cluster, "edge");
  EXPECT_EQ(parsed->node.zone, "eu-west-1a");
  EXPECT_EQ(parsed->type, ResourceType::Routes);
  EXPECT_EQ(parsed->response_nonce, "n-1");
  ASSERT_TRUE(parsed->error_detail.has_value());
  EXPECT_EQ(parsed->error_detail->code, 3);
  EXPECT_EQ(parsed->error_detail->message,
            "routes/edge: virtual_hosts[0].routes[0]: unknown cluster");
}

TEST(DiscoveryTypesTest, AResponseCarriesEachBodyAsItsCanonicalText) {
  DiscoveryResponse response;
  response.version_info = "v1";
  response.type = ResourceType::Clusters;
  response.nonce = "n-2";
  response.control_plane = "cp-a";
  response.resources = {{"api", R"({"lb_policy":"round_robin","name":"api"})"}};
  std::string line = serialize(response);
  EXPECT_EQ(line,
            R"({"control_plane":{"identifier":"cp-a"},"nonce":"n-2","resources":[{"name":"api",)"
            R"("resource":{"lb_policy":"round_robin","name":"api"}}],)"
            R"("type_url":"type.strait.dev/clusters","version_info":"v1"})");
  std::string error;
  std::optional<DiscoveryResponse> parsed = parseResponse(line, error);
  ASSERT_TRUE(parsed.has_value()) << error;
  ASSERT_EQ(parsed->resources.size(), 1u);
  EXPECT_EQ(parsed->resources[0].body, response.resources[0].body);
  EXPECT_EQ(parsed->control_plane, "cp-a");
}

TEST(DiscoveryTypesTest, MalformedLinesGetAPreciseError) {
  std::string error;
  EXPECT_FALSE(parseRequest(R"({"type_url":"type.strait.dev/clusters","node":{"id":5}})", error));
  EXPECT_EQ(error, "node.id: expected a string");
  EXPECT_FALSE(parseRequest(R"({"type_url":"type.strait.dev/clusters","version_info":)", error));
  EXPECT_EQ(error, "not valid JSON");
  EXPECT_FALSE(parseRequest(R"([1,2])", error));
  EXPECT_EQ(error, "expected a JSON object");
  EXPECT_FALSE(parseRequest(R"({"version_info":"x"})", error));
  EXPECT_EQ(error.rfind("type_url: required", 0), 0u) << error;
  EXPECT_FALSE(parseRequest(R"({"type_url":"type.strait.dev/pods"})", error));
  EXPECT_EQ(error.rfind("type_url: unknown type \"type.strait.dev/pods\"", 0), 0u) << error;
  EXPECT_FALSE(parseRequest(R"({"type_url":"type.strait.dev/routes","resource_names":["a",1]})",
                            error));
  EXPECT_EQ(error, "resource_names[1]: expected a string");
  EXPECT_FALSE(parseResponse(R"({"type_url":"type.strait.dev/routes","resources":[{"name":"a"}]})",
                             error));
  EXPECT_EQ(error, "resources[0].resource: required, an object");
  EXPECT_FALSE(parseRequest(std::string(kMaxMessageBytes + 1, ' '), error));
  EXPECT_NE(error.find("over the limit"), std::string::npos);
}

TEST(DiscoveryTypesTest, TheVersionIsTheContentHashWhateverTheOrder) {
  std::vector<Resource> a = {{"x", "{\"n\":1}"}, {"y", "{\"n\":2}"}};
  std::vector<Resource> b = {{"y", "{\"n\":2}"}, {"x", "{\"n\":1}"}};
  EXPECT_EQ(resourcesVersion(a), resourcesVersion(b));
  b[0].body = "{\"n\":3}";
  EXPECT_NE(resourcesVersion(a), resourcesVersion(b));
  EXPECT_EQ(resourcesVersion(a).size(), 16u);
}

}  // namespace
}  // namespace strait::config
