#include "proxy/discovery/resource_state.h"

#include <nlohmann/json.hpp>

namespace strait::discovery {

namespace {

using config::ResourceType;
using nlohmann::json;

constexpr size_t index(ResourceType type) { return static_cast<size_t>(type); }

}  // namespace

ResourceSets ResourceSets::with(const config::DiscoveryResponse& response) const {
  ResourceSets out = *this;
  auto& set = out.resources[index(response.type)];
  set.clear();
  for (const config::Resource& resource : response.resources) {
    set[resource.name] = resource.body;
  }
  out.versions[index(response.type)] = response.version_info;
  return out;
}

bool ResourceSets::empty() const {
  for (const auto& set : resources) {
    if (!set.empty()) {
      return false;
    }
  }
  return true;
}

Assembled assemble(const std::string& static_canonical, const ResourceSets& sets) {
  json doc = json::parse(static_canonical, nullptr, false);
  if (!doc.is_object()) {
    doc = json::object();
  }
  // Where each item of the assembled lists came from: "" for the static file's own.
  std::vector<std::string> cluster_names(doc.value("clusters", json::array()).size());
  std::vector<std::string> listener_names(doc.value("listeners", json::array()).size());
  json& clusters = doc["clusters"];
  if (!clusters.is_array()) {
    clusters = json::array();
  }
  json& listeners = doc["listeners"];
  if (!listeners.is_array()) {
    listeners = json::array();
  }
  const auto& endpoints = sets.resources[index(ResourceType::Endpoints)];
  for (const auto& [name, body] : sets.resources[index(ResourceType::Clusters)]) {
    json cluster = json::parse(body, nullptr, false);
    if (!cluster.is_object()) {
      cluster = json::object();
    }
    cluster["name"] = name;
    if (auto it = endpoints.find(name); it != endpoints.end()) {
      json assignment = json::parse(it->second, nullptr, false);
      if (assignment.is_object() && assignment.contains("endpoints")) {
        cluster["endpoints"] = assignment["endpoints"];
      }
    }
    clusters.push_back(std::move(cluster));
    cluster_names.push_back(name);
  }
  const auto& routes = sets.resources[index(ResourceType::Routes)];
  for (const auto& [name, body] : sets.resources[index(ResourceType::Listeners)]) {
    json listener = json::parse(body, nullptr, false);
    if (!listener.is_object()) {
      listener = json::object();
    }
    listener["name"] = name;
    if (auto it = routes.find(name); it != routes.end()) {
      json route_config = json::parse(it->second, nullptr, false);
      if (route_config.is_object() && route_config.contains("virtual_hosts")) {
        listener["virtual_hosts"] = route_config["virtual_hosts"];
      }
    }
    listeners.push_back(std::move(listener));
    listener_names.push_back(name);
  }
  Assembled out;
  out.loaded = config::loadJson(doc.dump(), "control_plane");
  std::string message;
  for (const config::ConfigError& error : out.loaded.errors) {
    std::string where;
    if (std::optional<config::ListPath> at = config::splitListPath(error.path)) {
      std::string rest = !at->rest.empty() && at->rest[0] == '.' ? at->rest.substr(1) : at->rest;
      const std::vector<std::string>* names = at->list == "clusters"    ? &cluster_names
                                              : at->list == "listeners" ? &listener_names
                                                                        : nullptr;
      if (names != nullptr && at->index < names->size() && !(*names)[at->index].empty()) {
        bool second_half = at->list == "clusters" ? rest.rfind("endpoints", 0) == 0
                                                  : rest.rfind("virtual_hosts", 0) == 0;
        const char* type = at->list == "clusters" ? (second_half ? "endpoints" : "clusters")
                                                  : (second_half ? "routes" : "listeners");
        where = std::string(type) + "/" + (*names)[at->index] + (rest.empty() ? "" : ": " + rest);
      } else if (names != nullptr && at->index < names->size()) {
        where = "static file: " + error.path;
      }
    }
    if (where.empty()) {
      where = error.path.empty() ? "config" : error.path;
    }
    if (!message.empty()) {
      message += "; ";
    }
    message += where + ": " + error.message;
  }
  out.error = std::move(message);
  return out;
}

std::string persistText(const ResourceSets& sets) {
  json out = json::object();
  out["format"] = "strait-discovery-state/1";
  json types = json::object();
  for (ResourceType type : config::kPushOrder) {
    json resources = json::object();
    for (const auto& [name, body] : sets.resources[index(type)]) {
      resources[name] = json::parse(body, nullptr, false);
    }
    types[std::string(config::typeName(type))] = {{"version_info", sets.version(type)},
                                                  {"resources", resources}};
  }
  out["types"] = types;
  return out.dump(1) + "\n";
}

std::optional<ResourceSets> parsePersisted(const std::string& text, std::string& error) {
  json doc = json::parse(text, nullptr, false);
  if (!doc.is_object() || doc.value("format", "") != "strait-discovery-state/1" ||
      !doc.contains("types") || !doc["types"].is_object()) {
    error = "not a strait discovery state file (format strait-discovery-state/1)";
    return std::nullopt;
  }
  ResourceSets sets;
  for (const auto& [name, entry] : doc["types"].items()) {
    std::optional<ResourceType> type = config::typeFromName(name);
    if (!type.has_value() || !entry.is_object()) {
      error = "types." + name + ": unknown resource type";
      return std::nullopt;
    }
    sets.versions[index(*type)] = entry.value("version_info", "");
    const json resources = entry.value("resources", json::object());
    for (const auto& [resource, body] : resources.items()) {
      if (!body.is_object()) {
        error = "types." + name + ".resources." + resource + ": expected an object";
        return std::nullopt;
      }
      sets.resources[index(*type)][resource] = body.dump();
    }
  }
  return sets;
}

}  // namespace strait::discovery
