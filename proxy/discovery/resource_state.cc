#include "proxy/discovery/resource_state.h"

#include <nlohmann/json.hpp>

#include "config/tree.h"

namespace strait::discovery {

namespace {

using config::ResourceType;
using nlohmann::json;

constexpr size_t index(ResourceType type) { return static_cast<size_t>(type); }

// A resource's body as a tree; a body that is not a JSON object reads as an empty map (the
// discovery client accepts only objects, so this is a persisted file edited by hand).
config::TreeNode bodyOf(const std::string& body) {
  config::SyntaxError syntax;
  std::optional<config::TreeNode> tree = config::parseJson(body, syntax);
  if (!tree.has_value() || !tree->isMap()) {
    return config::TreeNode(config::TreeNode::Kind::Map);
  }
  return std::move(*tree);
}

// The list under `key` of the document map, made a list if it is missing or something else.
config::TreeNode& listIn(config::TreeNode& doc, const char* key) {
  config::TreeNode* list = doc.findMutable(key);
  if (list == nullptr || !list->isList()) {
    doc.set(key, config::TreeNode(config::TreeNode::Kind::List));
    list = doc.findMutable(key);
  }
  return *list;
}

// The static document's items of `list` ("clusters", "listeners") by name.
std::map<std::string, json> staticItems(const json& doc, const char* list) {
  std::map<std::string, json> out;
  if (!doc.is_object() || !doc.contains(list) || !doc[list].is_array()) {
    return out;
  }
  for (const json& item : doc[list]) {
    if (item.is_object() && item.contains("name") && item["name"].is_string()) {
      out[item["name"].get<std::string>()] = item;
    }
  }
  return out;
}

}  // namespace

std::set<std::string> localOverrides(const std::string& static_canonical) {
  std::set<std::string> out;
  json doc = json::parse(static_canonical, nullptr, false);
  if (!doc.is_object() || !doc.contains("control_plane") || !doc["control_plane"].is_object()) {
    return out;
  }
  const json& list = doc["control_plane"].value("local_overrides", json::array());
  if (!list.is_array()) {
    return out;
  }
  std::map<std::string, json> clusters = staticItems(doc, "clusters");
  std::map<std::string, json> listeners = staticItems(doc, "listeners");
  for (const json& name : list) {
    if (!name.is_string()) {
      continue;
    }
    if (clusters.count(name.get<std::string>()) != 0) {
      out.insert("clusters/" + name.get<std::string>());
    }
    if (listeners.count(name.get<std::string>()) != 0) {
      out.insert("listeners/" + name.get<std::string>());
    }
  }
  return out;
}

std::array<std::string, config::kResourceTypes> appliedVersions(
    const std::string& static_canonical, const ResourceSets& sets) {
  std::array<std::string, config::kResourceTypes> out;
  std::set<std::string> overrides = localOverrides(static_canonical);
  json doc = overrides.empty() ? json() : json::parse(static_canonical, nullptr, false);
  // For each pair of types cut from one list: the static item replaces both halves.
  struct Cut {
    ResourceType shape;
    ResourceType part;
    const char* list;
    const char* key;  // the part's key
  };
  std::array<std::map<std::string, std::string>, config::kResourceTypes> running = sets.resources;
  for (const Cut& cut : {Cut{ResourceType::Clusters, ResourceType::Endpoints, "clusters",
                             "endpoints"},
                         Cut{ResourceType::Listeners, ResourceType::Routes, "listeners",
                             "virtual_hosts"}}) {
    std::map<std::string, json> items = staticItems(doc, cut.list);
    for (auto item = items.begin(); item != items.end(); ++item) {
      const std::string& name = item->first;
      if (overrides.count(std::string(cut.list) + "/" + name) == 0) {
        continue;
      }
      auto& shapes = running[index(cut.shape)];
      if (shapes.count(name) == 0) {
        continue;  // not one the control plane pushes: nothing is replaced
      }
      json shape = item->second;
      shape.erase(cut.key);
      shapes[name] = shape.dump();
      auto& parts = running[index(cut.part)];
      if (item->second.contains(cut.key)) {
        parts[name] = json{{cut.key, item->second[cut.key]}}.dump();
      } else {
        parts.erase(name);
      }
    }
  }
  for (ResourceType type : config::kPushOrder) {
    if (sets.version(type).empty()) {
      continue;
    }
    std::vector<config::Resource> resources;
    for (const auto& [name, body] : running[index(type)]) {
      resources.push_back(config::Resource{name, body});
    }
    out[index(type)] = config::resourcesVersion(resources);
  }
  return out;
}

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

Assembled assemble(const std::string& static_canonical, const ResourceSets& sets,
                   const config::TreeNode* secrets) {
  using config::TreeNode;
  config::SyntaxError syntax;
  TreeNode doc = config::parseJson(static_canonical, syntax).value_or(TreeNode());
  if (!doc.isMap()) {
    doc = TreeNode(TreeNode::Kind::Map);
  }
  // Every list exists before any is held: adding one may move the others.
  listIn(doc, "secrets");
  listIn(doc, "filter_configs");
  listIn(doc, "clusters");
  listIn(doc, "listeners");
  TreeNode& secret_list = listIn(doc, "secrets");
  TreeNode& filter_configs = listIn(doc, "filter_configs");
  TreeNode& clusters = listIn(doc, "clusters");
  TreeNode& listeners = listIn(doc, "listeners");
  // Where each item of the assembled lists came from: "" for the static file's own.
  std::vector<std::string> secret_names(secret_list.size());
  std::vector<std::string> filter_config_names(filter_configs.size());
  std::vector<std::string> cluster_names(clusters.size());
  std::vector<std::string> listener_names(listeners.size());
  if (secrets != nullptr) {
    for (const TreeNode& secret : secrets->items()) {
      const TreeNode* name = secret.find("name");
      secret_names.push_back(name != nullptr ? name->text() : "");
      secret_list.push(secret);
    }
  }
  for (const auto& [name, body] : sets.resources[index(ResourceType::FilterConfigs)]) {
    TreeNode named = bodyOf(body);
    named.set("name", TreeNode::scalar(name, true));
    filter_configs.push(std::move(named));
    filter_config_names.push_back(name);
  }
  // A local override's static item stands; the pushed one of its name is left out.
  std::set<std::string> overrides = localOverrides(static_canonical);
  const auto& endpoints = sets.resources[index(ResourceType::Endpoints)];
  for (const auto& [name, body] : sets.resources[index(ResourceType::Clusters)]) {
    if (overrides.count("clusters/" + name) != 0) {
      continue;
    }
    TreeNode cluster = bodyOf(body);
    cluster.set("name", TreeNode::scalar(name, true));
    if (auto it = endpoints.find(name); it != endpoints.end()) {
      TreeNode assignment = bodyOf(it->second);
      if (TreeNode* list = assignment.findMutable("endpoints")) {
        cluster.set("endpoints", std::move(*list));
      }
    }
    clusters.push(std::move(cluster));
    cluster_names.push_back(name);
  }
  const auto& routes = sets.resources[index(ResourceType::Routes)];
  for (const auto& [name, body] : sets.resources[index(ResourceType::Listeners)]) {
    if (overrides.count("listeners/" + name) != 0) {
      continue;
    }
    TreeNode listener = bodyOf(body);
    listener.set("name", TreeNode::scalar(name, true));
    if (auto it = routes.find(name); it != routes.end()) {
      TreeNode route_config = bodyOf(it->second);
      if (TreeNode* hosts = route_config.findMutable("virtual_hosts")) {
        listener.set("virtual_hosts", std::move(*hosts));
      }
    }
    listeners.push(std::move(listener));
    listener_names.push_back(name);
  }
  Assembled out;
  out.loaded = config::loadTree(doc, "control_plane");
  std::string message;
  for (const config::ConfigError& error : out.loaded.errors) {
    std::string where;
    if (std::optional<config::ListPath> at = config::splitListPath(error.path)) {
      std::string rest = !at->rest.empty() && at->rest[0] == '.' ? at->rest.substr(1) : at->rest;
      const std::vector<std::string>* names = at->list == "clusters"    ? &cluster_names
                                              : at->list == "listeners" ? &listener_names
                                              : at->list == "secrets"   ? &secret_names
                                              : at->list == "filter_configs" ? &filter_config_names
                                                                        : nullptr;
      if (names != nullptr && at->index < names->size() && !(*names)[at->index].empty()) {
        bool second_half = at->list == "clusters" ? rest.rfind("endpoints", 0) == 0
                                                  : rest.rfind("virtual_hosts", 0) == 0;
        const char* type = at->list == "secrets"          ? "secrets"
                           : at->list == "filter_configs" ? "filter_configs"
                           : at->list == "clusters" ? (second_half ? "endpoints" : "clusters")
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
