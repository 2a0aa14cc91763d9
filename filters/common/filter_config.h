#pragma once

// Helpers for the filters' config parsers (config::FilterConfigParser): they read the `config`
// block through the loader's config::internal::Value, so every problem is reported like any other
// key of strait.yaml: `FILE:LINE:COL: listeners[0].http.filters[1].config.key: message`.

#include "config/filter_registry.h"
#include "config/loader.h"
#include "config/sections.h"
#include "config/types.h"
#include "config/yaml_reader.h"
#include "filters/common/request_match.h"

namespace strait::filters {

// `match: {prefix, headers, principals}`.
RequestMatchConfig parseRequestMatch(const config::internal::Value& value);

}  // namespace strait::filters
