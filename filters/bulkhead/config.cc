#include "filters/bulkhead/config.h"

namespace strait::filters::bulkhead {

using config::internal::MapReader;
using config::internal::Value;

namespace {

Compartment parseCompartment(const Value& value) {
  Compartment c;
  MapReader map(value,
                {"name", "match", "max_concurrent", "max_queue", "queue_timeout", "borrow"});
  if (std::optional<Value> name = map.require("name")) {
    c.name = name->nonEmptyString().value_or("");
  }
  if (std::optional<Value> match = map.get("match")) {
    c.match = parseRequestMatch(*match);
  }
  if (map.require("max_concurrent").has_value()) {
    map.readUint32("max_concurrent", c.max_concurrent, 1, UINT32_MAX);
  }
  map.readUint32("max_queue", c.max_queue, 0, UINT32_MAX);
  map.readDuration("queue_timeout", c.queue_timeout, false);
  map.readBool("borrow", c.borrow);
  return c;
}

}  // namespace

std::shared_ptr<BulkheadSettings> parseBulkheadConfig(const Value& root) {
  auto settings = std::make_shared<BulkheadSettings>();
  BulkheadConfig& bulkhead = settings->bulkhead;
  MapReader map(root, {"mode", "compartments"});
  config::readFilterMode(map, *settings);
  bulkhead.mode = settings->mode;
  if (std::optional<Value> list = map.require("compartments")) {
    std::vector<Value> items = list->items();
    if (items.empty() && list->node().isList()) {
      list->error("expected at least one compartment");
    }
    std::vector<std::string> names;
    for (const Value& item : items) {
      Compartment c = parseCompartment(item);
      if (!c.name.empty()) {
        for (const std::string& seen : names) {
          if (seen == c.name) {
            item.error("duplicate compartment name " + config::internal::quote(c.name));
          }
        }
        names.push_back(c.name);
      }
      bulkhead.compartments.push_back(std::move(c));
    }
    // A compartment after one without `match` could never be chosen.
    for (size_t i = 0; i + 1 < bulkhead.compartments.size(); ++i) {
      if (!bulkhead.compartments[i].match.has_value()) {
        items[i + 1].error("unreachable: compartment " +
                           config::internal::quote(bulkhead.compartments[i].name) +
                           " before it has no match and takes every request");
        break;
      }
    }
  }
  return settings;
}

void registerBulkheadParser() {
  config::registerFilterParser("bulkhead", [](const Value& value) -> config::FilterSettingsPtr {
    return parseBulkheadConfig(value);
  });
}

}  // namespace strait::filters::bulkhead
