#pragma once

// The discovery protocol's types (docs/discovery-protocol.md), shared by strait-cp and the
// proxy's discovery client: xDS semantics carried as JSON, one object per line. Parsing never
// throws: a message that is not what the protocol says gives a precise error instead.

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace strait::config {

// The resource types, in push order: a proxy applies clusters before the endpoints, listeners
// and routes that refer to them.
enum class ResourceType {
  Clusters,
  Endpoints,
  Listeners,
  Routes,
  Secrets,
  FilterConfigs,
  CarbonSignals,
};
inline constexpr size_t kResourceTypes = 7;
// What others name goes first, so a proxy can apply each type as it arrives: secrets (named by
// clusters and listeners) and filter configs (named by listeners' filter chains), then
// clusters -> endpoints -> listeners -> routes.
inline constexpr std::array<ResourceType, kResourceTypes> kPushOrder = {
    ResourceType::Secrets,   ResourceType::FilterConfigs, ResourceType::Clusters,
    ResourceType::Endpoints, ResourceType::Listeners,     ResourceType::Routes,
    ResourceType::CarbonSignals};

// "clusters", "filter_configs": the long-poll path's last segment and the metrics' type label.
std::string_view typeName(ResourceType type);
// "type.strait.dev/clusters".
std::string typeUrl(ResourceType type);
std::optional<ResourceType> typeFromName(std::string_view name);
std::optional<ResourceType> typeFromUrl(std::string_view url);

struct DiscoveryNode {
  std::string id;
  std::string cluster;  // the proxy group
  std::string region;
  std::string zone;
};

struct ErrorDetail {
  int code = 0;  // gRPC-style status code: 3 (INVALID_ARGUMENT) for a rejected resource
  std::string message;
};

struct DiscoveryRequest {
  std::string version_info;  // the last version this proxy applied for the type ("" at first)
  DiscoveryNode node;
  std::vector<std::string> resource_names;  // empty: every resource of the type (the default)
  ResourceType type = ResourceType::Clusters;
  std::string response_nonce;  // the nonce of the response this one answers ("" at first)
  std::optional<ErrorDetail> error_detail;  // set: a NACK of that response
};

// One resource: its name and its body, the canonical JSON of its block (config/canonical.h).
struct Resource {
  std::string name;
  std::string body;  // a JSON object, compact, sorted keys
};

struct DiscoveryResponse {
  std::string version_info;
  std::vector<Resource> resources;  // sorted by name
  ResourceType type = ResourceType::Clusters;
  std::string nonce;
  std::string control_plane;  // the serving replica's identifier
};

// The largest message either side accepts; a longer line is a protocol error.
inline constexpr size_t kMaxMessageBytes = 64 * 1024 * 1024;

// One JSON line, without the newline.
std::string serialize(const DiscoveryRequest& request);
std::string serialize(const DiscoveryResponse& response);
// Nullopt with `error` set ("node.cluster: expected a string") when `line` is not a message.
// `default_type`: the type of a request without type_url (a long-poll's path names it).
std::optional<DiscoveryRequest> parseRequest(
    std::string_view line, std::string& error,
    std::optional<ResourceType> default_type = std::nullopt);
std::optional<DiscoveryResponse> parseResponse(std::string_view line, std::string& error);

// A type's version: the content hash of its resources' canonical serialization (each
// "name\tbody\n", sorted by name), so replicas reading the same source agree.
std::string resourcesVersion(const std::vector<Resource>& resources);

}  // namespace strait::config
