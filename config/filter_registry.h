#pragma once

// Filter config parsers, by filter name. Each filter parses and validates its own `config` block
// while the file is loaded, so a bad filter config is reported like any other key
// (FILE:LINE:COL: listeners[0].http.filters[1].config.abort.percent: ...) by the loader, by
// `strait --validate`, and on reload. Parsers are registered once at startup
// (filters::registerBuiltinFilters()), before any config is loaded; read-only afterwards.

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace strait::config {

namespace internal {
class Value;
class MapReader;
}  // namespace internal

enum class FilterMode {
  Enforce,  // act on the decision
  DryRun,   // evaluate and count, never act
};

// The typed settings of one filter entry; each filter derives its own.
struct FilterSettings {
  virtual ~FilterSettings() = default;
  FilterMode mode = FilterMode::Enforce;
};

using FilterSettingsPtr = std::shared_ptr<const FilterSettings>;

// Parses `config` (possibly a null node: the entry had no `config` key) and reports every problem
// through it. Returns the settings; the return value is ignored when errors were reported.
using FilterConfigParser = std::function<FilterSettingsPtr(const internal::Value& config)>;

void registerFilterParser(std::string name, FilterConfigParser parser);
const FilterConfigParser* findFilterParser(std::string_view name);
// Sorted names, for "unknown filter" messages.
std::vector<std::string> registeredFilterNames();

// Reads the `mode` key every filter takes (enforce | dry_run) into `settings`. The MapReader must
// list "mode" among its known keys.
void readFilterMode(const internal::MapReader& map, FilterSettings& settings);

}  // namespace strait::config
