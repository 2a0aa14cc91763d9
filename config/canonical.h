#pragma once

// The canonical form of a config: the parsed document as JSON with sorted keys and typed scalars
// (unquoted integers and booleans stay numbers and booleans; everything else is a string), so
// that two files that say the same thing in different layouts, orders or quoting have the same
// text. Resource versions are content hashes of it, per resource kind: two processes (two
// proxies, two control-plane replicas) that read the same config compute the same versions.

#include <string>
#include <string_view>

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

}  // namespace strait::config
