#include "config/discovery.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "config/canonical.h"

namespace strait::config {

namespace {

using nlohmann::json;

constexpr std::array<std::string_view, kResourceTypes> kTypeNames = {
    "clusters", "endpoints", "listeners", "routes", "secrets", "filter_configs", "carbon_signals"};
constexpr std::string_view kTypeUrlPrefix = "type.strait.dev/";

// Reads the message's fields one by one; the first problem ends the parse with its path.
class Fields {
 public:
  Fields(const json& object, std::string& error) : object_(object), error_(error) {}

  bool ok() const { return error_.empty(); }
  void fail(std::string path, std::string_view message) {
    if (error_.empty()) {
      error_ = path + ": " + std::string(message);
    }
  }
  // An optional string field; absent or null leaves `out`.
  void string(const json& object, const std::string& path, const char* key, std::string& out) {
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) {
      return;
    }
    if (!it->is_string()) {
      fail(path + key, "expected a string");
      return;
    }
    out = it->get<std::string>();
  }
  const json* object(const json& parent, const std::string& path, const char* key) {
    auto it = parent.find(key);
    if (it == parent.end() || it->is_null()) {
      return nullptr;
    }
    if (!it->is_object()) {
      fail(path + key, "expected an object");
      return nullptr;
    }
    return &*it;
  }
  const json* array(const json& parent, const char* key) {
    auto it = parent.find(key);
    if (it == parent.end() || it->is_null()) {
      return nullptr;
    }
    if (!it->is_array()) {
      fail(key, "expected a list");
      return nullptr;
    }
    return &*it;
  }
  std::optional<ResourceType> type(std::optional<ResourceType> default_type = std::nullopt) {
    auto it = object_.find("type_url");
    if ((it == object_.end() || it->is_null()) && default_type.has_value()) {
      return default_type;
    }
    if (it == object_.end() || !it->is_string()) {
      fail("type_url", "required, a string such as \"type.strait.dev/clusters\"");
      return std::nullopt;
    }
    std::optional<ResourceType> type = typeFromUrl(it->get<std::string>());
    if (!type.has_value()) {
      fail("type_url", "unknown type " + it->dump() + " (known: type.strait.dev/ followed by " +
                           "clusters, endpoints, listeners, routes, secrets, filter_configs or " +
                           "carbon_signals)");
    }
    return type;
  }

 private:
  const json& object_;
  std::string& error_;
};

std::optional<json> parseObject(std::string_view line, std::string& error) {
  if (line.size() > kMaxMessageBytes) {
    error = "message of " + std::to_string(line.size()) + " bytes, over the limit of " +
            std::to_string(kMaxMessageBytes);
    return std::nullopt;
  }
  json doc = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    error = "not valid JSON";
    return std::nullopt;
  }
  if (!doc.is_object()) {
    error = "expected a JSON object";
    return std::nullopt;
  }
  return doc;
}

}  // namespace

std::string_view typeName(ResourceType type) { return kTypeNames[static_cast<size_t>(type)]; }

std::string typeUrl(ResourceType type) {
  return std::string(kTypeUrlPrefix) + std::string(typeName(type));
}

std::optional<ResourceType> typeFromName(std::string_view name) {
  for (size_t i = 0; i < kResourceTypes; i++) {
    if (kTypeNames[i] == name) {
      return static_cast<ResourceType>(i);
    }
  }
  return std::nullopt;
}

std::optional<ResourceType> typeFromUrl(std::string_view url) {
  if (url.substr(0, kTypeUrlPrefix.size()) != kTypeUrlPrefix) {
    return std::nullopt;
  }
  return typeFromName(url.substr(kTypeUrlPrefix.size()));
}

std::string serialize(const DiscoveryRequest& request) {
  json out = json::object();
  out["version_info"] = request.version_info;
  out["node"] = {{"id", request.node.id},
                 {"cluster", request.node.cluster},
                 {"locality", {{"region", request.node.region}, {"zone", request.node.zone}}}};
  out["resource_names"] = request.resource_names;
  out["type_url"] = typeUrl(request.type);
  out["response_nonce"] = request.response_nonce;
  if (request.error_detail.has_value()) {
    out["error_detail"] = {{"code", request.error_detail->code},
                           {"message", request.error_detail->message}};
  }
  return out.dump();
}

std::string serialize(const DiscoveryResponse& response) {
  // Built by hand so that each resource's body goes out as the canonical text it was hashed
  // from, without a parse and re-dump per resource.
  std::string out = "{\"control_plane\":{\"identifier\":" + json(response.control_plane).dump() +
                    "},\"nonce\":" + json(response.nonce).dump() + ",\"resources\":[";
  for (size_t i = 0; i < response.resources.size(); i++) {
    const Resource& resource = response.resources[i];
    if (i > 0) {
      out.push_back(',');
    }
    out += "{\"name\":" + json(resource.name).dump() + ",\"resource\":" + resource.body + "}";
  }
  out += "],\"type_url\":" + json(typeUrl(response.type)).dump() +
         ",\"version_info\":" + json(response.version_info).dump() + "}";
  return out;
}

std::optional<DiscoveryRequest> parseRequest(std::string_view line, std::string& error,
                                             std::optional<ResourceType> default_type) {
  error.clear();
  std::optional<json> doc = parseObject(line, error);
  if (!doc.has_value()) {
    return std::nullopt;
  }
  DiscoveryRequest request;
  Fields fields(*doc, error);
  std::optional<ResourceType> type = fields.type(default_type);
  if (type.has_value()) {
    request.type = *type;
  }
  fields.string(*doc, "", "version_info", request.version_info);
  fields.string(*doc, "", "response_nonce", request.response_nonce);
  if (const json* node = fields.object(*doc, "", "node")) {
    fields.string(*node, "node.", "id", request.node.id);
    fields.string(*node, "node.", "cluster", request.node.cluster);
    if (const json* locality = fields.object(*node, "node.", "locality")) {
      fields.string(*locality, "node.locality.", "region", request.node.region);
      fields.string(*locality, "node.locality.", "zone", request.node.zone);
    }
  }
  if (const json* names = fields.array(*doc, "resource_names")) {
    for (size_t i = 0; i < names->size(); i++) {
      if (!(*names)[i].is_string()) {
        fields.fail("resource_names[" + std::to_string(i) + "]", "expected a string");
        break;
      }
      request.resource_names.push_back((*names)[i].get<std::string>());
    }
  }
  if (const json* detail = fields.object(*doc, "", "error_detail")) {
    ErrorDetail out;
    auto code = detail->find("code");
    if (code != detail->end() && !code->is_null()) {
      if (!code->is_number_integer()) {
        fields.fail("error_detail.code", "expected an integer");
      } else {
        out.code = code->get<int>();
      }
    }
    fields.string(*detail, "error_detail.", "message", out.message);
    request.error_detail = std::move(out);
  }
  if (!fields.ok()) {
    return std::nullopt;
  }
  return request;
}

std::optional<DiscoveryResponse> parseResponse(std::string_view line, std::string& error) {
  error.clear();
  std::optional<json> doc = parseObject(line, error);
  if (!doc.has_value()) {
    return std::nullopt;
  }
  DiscoveryResponse response;
  Fields fields(*doc, error);
  std::optional<ResourceType> type = fields.type();
  if (type.has_value()) {
    response.type = *type;
  }
  fields.string(*doc, "", "version_info", response.version_info);
  fields.string(*doc, "", "nonce", response.nonce);
  if (const json* cp = fields.object(*doc, "", "control_plane")) {
    fields.string(*cp, "control_plane.", "identifier", response.control_plane);
  }
  if (const json* resources = fields.array(*doc, "resources")) {
    for (size_t i = 0; i < resources->size() && fields.ok(); i++) {
      const json& item = (*resources)[i];
      std::string path = "resources[" + std::to_string(i) + "]";
      if (!item.is_object()) {
        fields.fail(path, "expected an object {name, resource}");
        break;
      }
      Resource resource;
      fields.string(item, path + ".", "name", resource.name);
      auto body = item.find("resource");
      if (resource.name.empty()) {
        fields.fail(path + ".name", "required, a non-empty string");
      } else if (body == item.end() || !body->is_object()) {
        fields.fail(path + ".resource", "required, an object");
      } else {
        resource.body = body->dump();  // nlohmann's objects are sorted: canonical again
        response.resources.push_back(std::move(resource));
      }
    }
  }
  if (!fields.ok()) {
    return std::nullopt;
  }
  return response;
}

std::string resourcesVersion(const std::vector<Resource>& resources) {
  std::vector<const Resource*> sorted;
  sorted.reserve(resources.size());
  for (const Resource& resource : resources) {
    sorted.push_back(&resource);
  }
  std::sort(sorted.begin(), sorted.end(),
            [](const Resource* a, const Resource* b) { return a->name < b->name; });
  std::string all;
  for (const Resource* resource : sorted) {
    all += resource->name;
    all.push_back('\t');
    all += resource->body;
    all.push_back('\n');
  }
  return contentHash(all);
}

}  // namespace strait::config
