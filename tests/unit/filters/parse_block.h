#pragma once

// Runs a filter's config parser (config::FilterConfigParser) on a block as it sits in a listener,
// with the loader's ErrorList, so that lines, columns and paths are those of a real file.

#include <optional>
#include <string>
#include <vector>

#include "config/loader.h"
#include "config/tree.h"
#include "config/yaml_reader.h"

namespace strait::filters::testing {

template <class Config>
struct ParseResult {
  std::optional<Config> config;
  std::vector<config::ConfigError> errors;
  bool ok() const { return config.has_value() && errors.empty(); }
};

// `yaml` holds `filters: [{name, config}]`; the parser reads filters[0].config at `path`.
template <class Config, class Parser, class Get>
ParseResult<Config> parseBlock(const std::string& yaml, const std::string& path, Parser parser,
                               Get get) {
  config::SyntaxError syntax;
  std::optional<config::TreeNode> root = config::parseYaml(yaml, syntax);
  if (!root.has_value()) {
    ParseResult<Config> result;
    result.errors.push_back(config::ConfigError{"s.yaml", syntax.mark.line + 1,
                                                syntax.mark.column + 1, "", syntax.message});
    return result;
  }
  const config::TreeNode& block = root->find("filters")->items()[0];
  static const config::TreeNode kUndefined;
  const config::TreeNode* found = block.find("config");
  config::internal::ErrorList errors("s.yaml");
  config::internal::Value value(found != nullptr ? *found : kUndefined, path, errors);
  auto settings = parser(value);
  ParseResult<Config> result;
  if (errors.empty()) {
    result.config = get(*settings);
  }
  result.errors = errors.take();
  return result;
}

}  // namespace strait::filters::testing
