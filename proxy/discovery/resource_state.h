#pragma once

// What the proxy holds from the control plane (docs/discovery-protocol.md): per resource type
// the resources last applied and their version. A response is applied by building a candidate
// (the held sets with the response's type replaced), assembling it with the static config file
// into one strait.yaml document, and running the file loader on it; the config that comes out
// goes through Server::publish like any other. The state is persisted as JSON so that a proxy
// restarted while strait-cp is away serves what it last applied.

#include <array>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/discovery.h"
#include "config/loader.h"
#include "config/tree.h"

namespace strait::discovery {

struct ResourceSets {
  // name -> body (a JSON object's text), per type.
  std::array<std::map<std::string, std::string>, config::kResourceTypes> resources;
  std::array<std::string, config::kResourceTypes> versions;

  const std::string& version(config::ResourceType type) const {
    return versions[static_cast<size_t>(type)];
  }
  // A copy with `response`'s type replaced by its resources and version.
  ResourceSets with(const config::DiscoveryResponse& response) const;
  bool empty() const;
};

struct Assembled {
  config::LoadResult loaded;
  // The loader's errors as the control plane is told them, each naming the resource:
  // "clusters/api: lb: expected one of ...". Empty when `loaded` is ok.
  std::string error;
};

// The static file's config (its canonical form) with the pushed secrets, listeners and clusters
// added after its own, validated by the loader. `secrets` is the `secrets` list that names the
// pushed secrets' files (discovery/secret_files.h); without it the pushed secrets are left out.
Assembled assemble(const std::string& static_canonical, const ResourceSets& sets,
                   const config::TreeNode* secrets = nullptr);

// The static file's clusters and listeners that replace the pushed ones of the same name
// (control_plane.local_overrides, each one the file defines), as "clusters/NAME" and
// "listeners/NAME".
std::set<std::string> localOverrides(const std::string& static_canonical);

// The version of each type as the proxy runs it (config::resourcesVersion of the pushed
// resources, with the local overrides' clusters and listeners in place of the pushed ones):
// what it reports as applied. Empty for a type it holds no version of. Equal to the pushed
// versions when nothing is overridden.
std::array<std::string, config::kResourceTypes> appliedVersions(
    const std::string& static_canonical, const ResourceSets& sets);

// The persisted form and back. Nullopt (with `error`) for a file that is not one.
std::string persistText(const ResourceSets& sets);
std::optional<ResourceSets> parsePersisted(const std::string& text, std::string& error);

}  // namespace strait::discovery
