#pragma once

// Helpers for parsing a filter's `config` block (config::FilterConfig: raw YAML with its path)
// with the same precise errors as strait.yaml: `FILE:LINE:COL: path.to.key: message`.

#include <optional>
#include <string>
#include <vector>

#include "config/loader.h"
#include "config/types.h"
#include "config/sections.h"
#include "config/yaml_reader.h"
#include "filters/common/request_match.h"

namespace strait::filters {

// A parsed filter config, or the errors that stopped it.
template <class T>
struct FilterConfigResult {
  std::optional<T> config;
  std::vector<config::ConfigError> errors;
  bool ok() const { return config.has_value() && errors.empty(); }
};

// `mode: enforce | dry_run` (default enforce).
FilterMode parseMode(const config::internal::MapReader& map);
// `match: {prefix, headers, principals}`.
RequestMatchConfig parseRequestMatch(const config::internal::Value& value);

}  // namespace strait::filters
