#pragma once

// `straitctl diff NODE`, the pure half: strait-cp's /intended/<node> document and the proxy's
// /config_dump cut into the same resources, compared resource by resource, and rendered as
// unified diffs or JSON. No network here (diff_command.cc fetches), so unit tests drive it with
// JSON text.

#include <nlohmann/json.hpp>

#include <array>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/discovery.h"

namespace strait::ctl {

// Per resource type, each resource's body by name. A secret's body is {"name": NAME} on both
// sides: the proxy holds a pushed secret as files (its /config_dump shows their paths, the key
// redacted) where strait-cp holds the PEM text, so secrets compare by name only.
using ResourcesByType = std::array<std::map<std::string, nlohmann::json>, config::kResourceTypes>;

struct IntendedConfig {
  std::string group;
  ResourcesByType resources;
};

// strait-cp's /intended/<node> document. Nullopt with `error` set when it is not one.
std::optional<IntendedConfig> parseIntended(const nlohmann::json& doc, std::string& error);

struct ProxyConfig {
  std::string node_id;  // the config's node.id ("" when it has none)
  ResourcesByType resources;
};

// The proxy's /config_dump: its config in force (the static file's resources and the pushed
// ones, as one document) cut as strait-cp cuts its own (config::cutCanonical). Nullopt with
// `error` set when the document holds no config.
std::optional<ProxyConfig> cutConfigDump(const nlohmann::json& dump, std::string& error);

// One resource that is not the same on both sides; nullopt for the side that lacks it.
struct Difference {
  config::ResourceType type;
  std::string name;
  std::optional<nlohmann::json> intended;
  std::optional<nlohmann::json> proxy;
};

// The types compared: every pushed type but carbon_signals, which the proxy's config in force
// does not hold (it has its own provider).
bool comparedType(config::ResourceType type);

// The resources that differ, in push order and by name within a type.
std::vector<Difference> compareResources(const ResourcesByType& intended,
                                         const ResourcesByType& proxy);

// Whether either side holds a secret (the output then says they compare by name only).
bool hasSecrets(const ResourcesByType& intended, const ResourcesByType& proxy);

// The JSON a diff shows: pretty-printed with sorted keys, two spaces, ending in a newline.
std::string prettyJson(const nlohmann::json& body);

// One unified diff per difference (`--- strait-cp/TYPE/NAME`, `+++ NODE/TYPE/NAME`, a side that
// lacks the resource labelled so), then a summary line; or NODE's "no differences" line. Ends in
// a newline.
std::string renderDiffs(const std::string& node, const std::vector<Difference>& differences,
                        bool secrets);

enum DiffExit : int { kDiffSame = 0, kDiffDiffers = 1, kDiffError = 2 };

// The --json output: {"node", "group", "differences": [{"type", "name", "intended": {...}|null,
// "proxy": {...}|null}], "exit_code"}.
nlohmann::json diffJson(const std::string& node, const std::string& group,
                        const std::vector<Difference>& differences);

}  // namespace strait::ctl
