#pragma once

// A filter's `config` block as it was parsed, with its positions. Only config code (and tests of
// it) include this: the typed config in config/types.h carries it as an opaque pointer, so the
// data path does not pull in yaml-cpp.

#include <yaml-cpp/yaml.h>

namespace strait::config {

struct RawConfig {
  YAML::Node node;
};

}  // namespace strait::config
