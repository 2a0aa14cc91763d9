#pragma once

// The `bulkhead` filter's config block (docs/config.md, "bulkhead").

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/types.h"
#include "filters/common/filter_config.h"
#include "filters/common/request_match.h"

namespace strait::filters::bulkhead {

struct Compartment {
  std::string name;
  std::optional<RequestMatchConfig> match;  // absent: every request
  uint32_t max_concurrent = 0;
  uint32_t max_queue = 0;
  std::chrono::milliseconds queue_timeout{1000};
  bool borrow = false;
};

struct BulkheadConfig {
  FilterMode mode = FilterMode::Enforce;
  std::vector<Compartment> compartments;  // a request goes to the first that matches
};

// The settings the loader keeps for one `bulkhead` entry (mode is also in FilterSettings::mode).
struct BulkheadSettings : config::FilterSettings {
  BulkheadConfig bulkhead;
};

// The `bulkhead` config parser (config::FilterConfigParser): reads `config` and reports every
// problem through it.
std::shared_ptr<BulkheadSettings> parseBulkheadConfig(const config::internal::Value& value);
// Registers parseBulkheadConfig under "bulkhead".
void registerBulkheadParser();

}  // namespace strait::filters::bulkhead
