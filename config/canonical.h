#pragma once

// The canonical form of a config: the parsed document as JSON with sorted keys and typed scalars
// (unquoted integers and booleans stay numbers and booleans; everything else is a string), so
// that two files that say the same thing in different layouts, orders or quoting have the same
// text. Resource versions are content hashes of it, per resource kind: two processes (two
// proxies, two control-plane replicas) that read the same config compute the same versions.

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "config/discovery.h"

namespace strait::config {

struct Bootstrap;
class TreeNode;

// The canonical JSON text of a parsed node (compact, no whitespace).
std::string canonicalJson(const TreeNode& node);

// A 64-bit FNV-1a content hash as 16 hex digits: a fingerprint that tells versions apart, not a
// security boundary.
std::string contentHash(std::string_view text);

// A content hash per resource kind (ARCHITECTURE.md, "Publishing a config"): what changed
// between two configs, as the control plane's `version_info` will name it.
struct ResourceVersions {
  std::string listeners;  // each listener without its virtual hosts
  std::string routes;     // each listener's virtual hosts
  std::string clusters;   // each cluster without its endpoints (the cluster's shape)
  std::string endpoints;  // each cluster's endpoints
  bool operator==(const ResourceVersions&) const = default;
};

// The versions of a loaded config, from its canonical form (Bootstrap::canonical).
ResourceVersions resourceVersions(const Bootstrap& config);

// A canonical document cut into discovery resources (docs/discovery-protocol.md, "Resources"):
// a cluster without its endpoints (clusters), each cluster's `{"endpoints": [...]}` when it has
// the key (endpoints, named by the cluster), a listener without its virtual hosts (listeners),
// each listener's `{"virtual_hosts": [...]}` (routes, named by the listener), and each filter
// config without its name (filter_configs). strait-cp cuts its intended config this way and
// straitctl diff the proxy's config in force, so the two compare resource by resource. Secrets
// are not cut: their resource is the PEM text of the files they name, which only strait-cp
// reads. Bodies are compact canonical JSON, in document order (not sorted).
struct CutConfig {
  std::array<std::vector<Resource>, kResourceTypes> resources;
  size_t endpoints = 0;  // static endpoints over every cluster
};
CutConfig cutCanonical(std::string_view canonical);

// `node` with the value of every secret-looking key (`key`, `password`, `secret`, `token`,
// `private_key`, at any depth) replaced by "[redacted]": what the proxy's /config_dump and
// strait-cp's /intended show, so that neither serves a private key and the two compare.
nlohmann::json redactSecrets(nlohmann::json node);

}  // namespace strait::config
