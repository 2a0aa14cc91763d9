#pragma once

// Loads one filter entry through the real loader (registered parsers, positions) and builds its
// factory through the registered builder.

#include <string>
#include <vector>

#include "config/loader.h"
#include "filters/builtin.h"
#include "strait/http/filter.h"
#include "tests/mocks/test_process.h"

namespace strait::filters::testing {

// `block` is the filter's `config:` body, indented by 12 spaces (line 7 of t.yaml is its first).
inline config::BootstrapSharedPtr loadFilter(const std::string& name, const std::string& block,
                                             std::vector<std::string>* errors = nullptr) {
  registerBuiltinFilters();
  auto result = config::loadString(
      "listeners:\n"
      "  - name: l\n"
      "    http:\n"
      "      filters:\n"
      "        - name: " + name + "\n"
      "          config:\n" + block,
      "t.yaml");
  if (errors != nullptr) {
    for (const auto& e : result.errors) {
      errors->push_back(e.toString());
    }
  }
  return result.ok() ? result.bootstrap : nullptr;
}

inline http::FilterFactoryPtr buildFactory(const config::Bootstrap& bootstrap, stats::Store& store,
                                           const http::FilterFactory* previous = nullptr) {
  const config::FilterConfig& entry = bootstrap.listeners[0].http.filters[0];
  static strait::testing::TestProcess process;  // (factories may keep it: it outlives them)
  http::FilterFactoryContext context{store, "l", entry.name, previous, process.context};
  return (*http::findFilterFactory(entry.name))(*entry.settings, context);
}

}  // namespace strait::filters::testing
