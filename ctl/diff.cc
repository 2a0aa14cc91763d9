#include "ctl/diff.h"

#include "config/canonical.h"
#include "ctl/unified_diff.h"

namespace strait::ctl {

namespace {

using config::ResourceType;
using nlohmann::json;

constexpr size_t index(ResourceType type) {
  return static_cast<size_t>(type);
}

std::string stringAt(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

json secretStandIn(const std::string& name) {
  return json{{"name", name}};
}

}  // namespace

std::optional<IntendedConfig> parseIntended(const json& doc, std::string& error) {
  auto types = doc.is_object() ? doc.find("types") : doc.end();
  if (!doc.is_object() || types == doc.end() || !types->is_object()) {
    error = "strait-cp's /intended answer has no \"types\" object";
    return std::nullopt;
  }
  IntendedConfig out;
  out.group = stringAt(doc, "group");
  for (const auto& [name, entry] : types->items()) {
    std::optional<ResourceType> type = config::typeFromName(name);
    if (!type.has_value()) {
      continue;  // a type this straitctl does not know: nothing on the proxy's side to cut it
    }
    auto resources = entry.is_object() ? entry.find("resources") : entry.end();
    if (!entry.is_object() || resources == entry.end() || !resources->is_array()) {
      error = "strait-cp's /intended answer: types." + name + ".resources is not a list";
      return std::nullopt;
    }
    for (const json& resource : *resources) {
      std::string resource_name = resource.is_object() ? stringAt(resource, "name") : "";
      auto body = resource.is_object() ? resource.find("resource") : resource.end();
      if (resource_name.empty() || body == resource.end()) {
        error = "strait-cp's /intended answer: types." + name +
                ".resources holds an entry without a name or a resource";
        return std::nullopt;
      }
      out.resources[index(*type)][resource_name] =
          *type == ResourceType::Secrets ? secretStandIn(resource_name) : *body;
    }
  }
  return out;
}

std::optional<ProxyConfig> cutConfigDump(const json& dump, std::string& error) {
  auto config = dump.is_object() ? dump.find("config") : dump.end();
  if (!dump.is_object() || config == dump.end() || !config->is_object()) {
    error = "the proxy's /config_dump holds no config";
    return std::nullopt;
  }
  ProxyConfig out;
  if (auto node = config->find("node"); node != config->end() && node->is_object()) {
    out.node_id = stringAt(*node, "id");
  }
  config::CutConfig cut = config::cutCanonical(config->dump());
  for (size_t i = 0; i < config::kResourceTypes; i++) {
    for (const config::Resource& resource : cut.resources[i]) {
      out.resources[i][resource.name] = json::parse(resource.body, nullptr, false);
    }
  }
  if (auto secrets = config->find("secrets"); secrets != config->end() && secrets->is_array()) {
    for (const json& secret : *secrets) {
      std::string name = secret.is_object() ? stringAt(secret, "name") : "";
      out.resources[index(ResourceType::Secrets)][name] = secretStandIn(name);
    }
  }
  return out;
}

bool comparedType(ResourceType type) {
  return type != ResourceType::CarbonSignals;
}

std::vector<Difference> compareResources(const ResourcesByType& intended,
                                         const ResourcesByType& proxy) {
  std::vector<Difference> out;
  for (ResourceType type : config::kPushOrder) {
    if (!comparedType(type)) {
      continue;
    }
    const auto& mine = intended[index(type)];
    const auto& theirs = proxy[index(type)];
    // Both maps are sorted by name: one merge pass visits every name once, in order.
    auto a = mine.begin();
    auto b = theirs.begin();
    while (a != mine.end() || b != theirs.end()) {
      Difference difference{type, "", std::nullopt, std::nullopt};
      if (b == theirs.end() || (a != mine.end() && a->first < b->first)) {
        difference.name = a->first;
        difference.intended = a->second;
        ++a;
      } else if (a == mine.end() || b->first < a->first) {
        difference.name = b->first;
        difference.proxy = b->second;
        ++b;
      } else {
        bool same = a->second == b->second;
        difference = {type, a->first, a->second, b->second};
        ++a;
        ++b;
        if (same) {
          continue;
        }
      }
      out.push_back(std::move(difference));
    }
  }
  return out;
}

bool hasSecrets(const ResourcesByType& intended, const ResourcesByType& proxy) {
  return !intended[index(ResourceType::Secrets)].empty() ||
         !proxy[index(ResourceType::Secrets)].empty();
}

std::string prettyJson(const json& body) {
  // nlohmann's objects are std::maps: the keys come out sorted.
  return body.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string renderDiffs(const std::string& node, const std::vector<Difference>& differences,
                        bool secrets) {
  std::string out;
  for (const Difference& difference : differences) {
    std::string path = std::string(config::typeName(difference.type)) + "/" + difference.name;
    std::string from = "strait-cp/" + path;
    std::string to = node + "/" + path;
    if (!difference.intended.has_value()) {
      from += " (not intended: from " + node + "'s static file, or a removal it has not applied)";
    }
    if (!difference.proxy.has_value()) {
      to += " (not in force on " + node + ")";
    }
    std::vector<std::string> intended = difference.intended.has_value()
                                            ? splitLines(prettyJson(*difference.intended))
                                            : std::vector<std::string>{};
    std::vector<std::string> proxy = difference.proxy.has_value()
                                         ? splitLines(prettyJson(*difference.proxy))
                                         : std::vector<std::string>{};
    out += unifiedDiff(intended, proxy, from, to);
  }
  if (differences.empty()) {
    out += node + ": no differences with strait-cp's intended config\n";
  } else {
    out += node + ": " + std::to_string(differences.size()) +
           (differences.size() == 1 ? " resource differs" : " resources differ") +
           " from strait-cp's intended config\n";
  }
  if (secrets) {
    out +=
        "(secrets are compared by name only: the proxy holds them as files, and its "
        "/config_dump shows their paths, not their PEM text)\n";
  }
  return out;
}

json diffJson(const std::string& node, const std::string& group,
              const std::vector<Difference>& differences) {
  json list = json::array();
  for (const Difference& difference : differences) {
    list.push_back({{"type", std::string(config::typeName(difference.type))},
                    {"name", difference.name},
                    {"intended", difference.intended.value_or(nullptr)},
                    {"proxy", difference.proxy.value_or(nullptr)}});
  }
  return {{"node", node},
          {"group", group},
          {"differences", std::move(list)},
          {"exit_code", differences.empty() ? kDiffSame : kDiffDiffers}};
}

}  // namespace strait::ctl
