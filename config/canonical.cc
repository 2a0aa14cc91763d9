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

}  // namespace strait::config
