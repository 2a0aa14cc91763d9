#include "config/filter_registry.h"

#include <algorithm>
#include <map>

#include "config/yaml_reader.h"

namespace strait::config {

namespace {

std::map<std::string, FilterConfigParser, std::less<>>& parsers() {
  static std::map<std::string, FilterConfigParser, std::less<>> registry;
  return registry;
}

}  // namespace

void registerFilterParser(std::string name, FilterConfigParser parser) {
  parsers()[std::move(name)] = std::move(parser);
}

const FilterConfigParser* findFilterParser(std::string_view name) {
  auto it = parsers().find(name);
  return it == parsers().end() ? nullptr : &it->second;
}

std::vector<std::string> registeredFilterNames() {
  std::vector<std::string> names;
  for (const auto& entry : parsers()) {
    names.push_back(entry.first);
  }
  return names;
}

void readFilterMode(const internal::MapReader& map, FilterSettings& settings) {
  if (std::optional<internal::Value> mode = map.get("mode")) {
    settings.mode = mode->oneOf<FilterMode>(
                            {{"enforce", FilterMode::Enforce}, {"dry_run", FilterMode::DryRun}})
                        .value_or(settings.mode);
  }
}

}  // namespace strait::config
