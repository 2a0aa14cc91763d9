#include "config/canonical.h"

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "config/tree.h"
#include "config/types.h"

namespace strait::config {

namespace {

nlohmann::json toJson(const TreeNode& node) {
  switch (node.kind()) {
    case TreeNode::Kind::Map: {
      nlohmann::json out = nlohmann::json::object();  // std::map underneath: sorted keys
      for (const TreeEntry& entry : node.entries()) {
        out[entry.key] = toJson(entry.value);
      }
      return out;
    }
    case TreeNode::Kind::List: {
      nlohmann::json out = nlohmann::json::array();
      for (const TreeNode& item : node.items()) {
        out.push_back(toJson(item));
      }
      return out;
    }
    case TreeNode::Kind::Scalar: {
      const std::string& text = node.text();
      if (!node.quoted()) {  // keep integers and booleans typed
        if (text == "true" || text == "false") {
          return text == "true";
        }
        char* end = nullptr;
        long long n = std::strtoll(text.c_str(), &end, 10);
        if (!text.empty() && end != nullptr && *end == '\0') {
          return n;
        }
      }
      return text;
    }
    default:
      return nullptr;
  }
}

// The hash of each element of `items` with `key` taken out (or only `key` kept), in order.
std::string hashEach(const nlohmann::json& items, const char* key, bool keep_only) {
  std::string all;
  if (items.is_array()) {
    for (const auto& item : items) {
      nlohmann::json part = item;
      if (part.is_object()) {
        if (keep_only) {
          nlohmann::json only = nlohmann::json::object();
          only["name"] = part.value("name", nlohmann::json());
          only[key] = part.value(key, nlohmann::json());
          part = std::move(only);
        } else {
          part.erase(key);
        }
      }
      all += part.dump();
      all.push_back('\n');
    }
  }
  return contentHash(all);
}

}  // namespace

std::string canonicalJson(const TreeNode& node) { return toJson(node).dump(); }

std::string contentHash(std::string_view text) {
  uint64_t h = 14695981039346656037ULL;  // the FNV-1a 64 offset basis
  for (unsigned char c : text) {
    h = (h ^ c) * 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

ResourceVersions resourceVersions(const Bootstrap& config) {
  nlohmann::json doc = nlohmann::json::parse(config.canonical, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    doc = nlohmann::json::object();
  }
  const nlohmann::json listeners = doc.value("listeners", nlohmann::json::array());
  const nlohmann::json clusters = doc.value("clusters", nlohmann::json::array());
  ResourceVersions out;
  out.listeners = hashEach(listeners, "virtual_hosts", false);
  out.routes = hashEach(listeners, "virtual_hosts", true);
  out.clusters = hashEach(clusters, "endpoints", false);
  out.endpoints = hashEach(clusters, "endpoints", true);
  return out;
}

namespace {

// A name that is not a string (the loader refuses those) cuts as "".
std::string nameOf(const nlohmann::json& item) {
  auto name = item.find("name");
  return name != item.end() && name->is_string() ? name->get<std::string>() : std::string();
}

bool isSecretKey(const std::string& key) {
  return key == "key" || key == "password" || key == "secret" || key == "token" ||
         key == "private_key";
}

}  // namespace

CutConfig cutCanonical(std::string_view canonical) {
  using nlohmann::json;
  CutConfig out;
  json doc = json::parse(canonical, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return out;
  }
  auto add = [&](ResourceType type, std::string name, const json& body) {
    out.resources[static_cast<size_t>(type)].push_back(Resource{std::move(name), body.dump()});
  };
  auto listAt = [&](const char* key) {
    auto it = doc.find(key);
    return it != doc.end() && it->is_array() ? *it : json::array();
  };
  for (const json& cluster : listAt("clusters")) {
    if (!cluster.is_object()) {
      continue;
    }
    json shape = cluster;
    shape.erase("endpoints");
    add(ResourceType::Clusters, nameOf(cluster), shape);
    if (auto endpoints = cluster.find("endpoints"); endpoints != cluster.end()) {
      add(ResourceType::Endpoints, nameOf(cluster), json{{"endpoints", *endpoints}});
      out.endpoints += endpoints->is_array() ? endpoints->size() : 0;
    }
  }
  for (const json& named : listAt("filter_configs")) {
    if (!named.is_object()) {
      continue;
    }
    json body = named;
    body.erase("name");
    add(ResourceType::FilterConfigs, nameOf(named), body);
  }
  for (const json& listener : listAt("listeners")) {
    if (!listener.is_object()) {
      continue;
    }
    json shape = listener;
    shape.erase("virtual_hosts");
    add(ResourceType::Listeners, nameOf(listener), shape);
    auto hosts = listener.find("virtual_hosts");
    add(ResourceType::Routes, nameOf(listener),
        json{{"virtual_hosts", hosts != listener.end() ? *hosts : json::array()}});
  }
  return out;
}

nlohmann::json redactSecrets(nlohmann::json node) {
  if (node.is_object()) {
    for (auto& [key, value] : node.items()) {
      value = isSecretKey(key) ? nlohmann::json("[redacted]") : redactSecrets(std::move(value));
    }
  } else if (node.is_array()) {
    for (auto& item : node) {
      item = redactSecrets(std::move(item));
    }
  }
  return node;
}

}  // namespace strait::config
