#pragma once

// strait-cp's source of truth: a directory with one folder per proxy group (named as the
// proxies' `node.cluster`) of YAML files using the `secrets`, `listeners` and `clusters` keys of
// strait.yaml, plus `_shared/` whose files apply to every group. Each group's files are merged
// (a name defined twice is an error), validated by the proxy's own config loader, and cut into
// discovery resources (docs/discovery-protocol.md, "Resources").

#include <array>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/discovery.h"
#include "config/loader.h"
#include "config/tree.h"

namespace strait::cp {

// One group's intended config as resources, with a version per type.
struct GroupSnapshot {
  std::string group;
  // When strait-cp first saw the source change this snapshot came from (its watch tick, before
  // the debounce): convergence is measured from here to each proxy's ACK. Not in fingerprint().
  std::chrono::steady_clock::time_point changed_at{};
  std::array<std::vector<config::Resource>, config::kResourceTypes> resources;  // sorted by name
  std::array<std::string, config::kResourceTypes> versions;
  size_t clusters = 0;
  size_t endpoints = 0;  // static endpoints over every cluster
  size_t listeners = 0;

  const std::vector<config::Resource>& of(config::ResourceType type) const {
    return resources[static_cast<size_t>(type)];
  }
  const std::string& version(config::ResourceType type) const {
    return versions[static_cast<size_t>(type)];
  }
  // Per-node overrides (docs/discovery-protocol.md, "Per-node overrides"): for each node.id
  // that a source item names with `node:`, the group's config with that node's items in place
  // of those of the same name. A node not named here is served the group's snapshot.
  std::map<std::string, std::shared_ptr<const GroupSnapshot>> nodes;

  // The snapshot `node_id` is served: its override, or this one.
  const GroupSnapshot& forNode(const std::string& node_id) const;
  // The versions of every type, joined (and those of every node override): tells two snapshots
  // apart.
  std::string fingerprint() const;
};

struct SourceResult {
  std::map<std::string, GroupSnapshot> groups;  // the groups whose files are all valid
  // Per group (or "_shared"): why it could not be read; such a group keeps its last snapshot.
  std::map<std::string, std::vector<config::ConfigError>> errors;
  bool ok() const { return errors.empty(); }
};

struct SourceFile {
  std::string path;
  std::string text;
};

// The parsed trees of the source files, kept between reads so that a change re-parses only the
// files whose text changed (a 2 MB YAML file costs yaml-cpp about half a second). *.json files
// are parsed as JSON (no yaml-cpp), the others as YAML.
class ParsedFiles {
 public:
  struct Parsed {
    std::optional<config::TreeNode> tree;  // nullopt: a syntax error
    config::ConfigError error;             // FILE:LINE:COL of the syntax error
  };
  const Parsed& parse(const SourceFile& file);
  // Forgets the files not parsed since the last prune (deleted ones).
  void prune();
  // Parses served from the cache, for tests.
  size_t hits() const { return hits_; }

 private:
  static Parsed parseFile(const SourceFile& file);
  struct Entry {
    std::string text;
    std::optional<Parsed> parsed;
    bool used = false;
  };
  std::map<std::string, Entry> entries_;
  size_t hits_ = 0;
};

// Reads every group of `dir`. Files are *.yaml, *.yml and *.json, read in name order. With
// `cache`, unchanged files are not parsed again.
SourceResult loadSource(const std::string& dir, ParsedFiles* cache = nullptr);

// One group from the texts of its files ({path, text}, `_shared/` ones first): what
// loadSource() does per group, without the file system (unit tests use it directly).
struct GroupResult {
  GroupSnapshot snapshot;
  std::vector<config::ConfigError> errors;
};
GroupResult buildGroup(const std::string& group, const std::vector<SourceFile>& files,
                       ParsedFiles* cache = nullptr);

// What the PEM files of a group's secrets hold, by absolute path.
using PemFiles = std::map<std::string, std::string>;

// The snapshot's resources from a validated config's canonical form: a cluster without its
// endpoints (clusters), each cluster's `endpoints` list (endpoints, named by the cluster), a
// listener without its virtual hosts (listeners), each listener's `virtual_hosts` (routes,
// named by the listener), and each secret with its files' PEM text (secrets:
// {certificate_chain, private_key, trust_bundle}, the ones it has).
GroupSnapshot cutResources(const std::string& group, const config::Bootstrap& config,
                           const PemFiles& pem = {});

// A content hash of every file's path, size and text under `dir`: the watch compares it.
std::string sourceFingerprint(const std::string& dir);

}  // namespace strait::cp
