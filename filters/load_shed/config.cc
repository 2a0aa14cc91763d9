#include "filters/load_shed/config.h"

#include <algorithm>
#include <cctype>
#include <sstream>

#include "filters/load_shed/priority.h"

namespace strait::filters::load_shed {

using config::internal::MapReader;
using config::internal::quote;
using config::internal::Value;

namespace {

std::optional<Priority> readClass(const Value& value) {
  return value.oneOf<Priority>({{"critical", Priority::Critical},
                                {"important", Priority::Important},
                                {"nice_to_have", Priority::NiceToHave}});
}

// A map whose keys are the user's (principal patterns, route names), each to a class. Calls
// `add(key, class, value)` in document order; reports non-string and empty keys.
template <class Add>
void readClassMap(const Value& value, Add add) {
  if (!value.isMap()) {
    value.error("expected a map of name: class");
    return;
  }
  for (const config::TreeEntry& entry : value.node().entries()) {
    const std::string path = config::internal::childPath(value.path(), entry.key);
    if (entry.key_kind != config::TreeNode::Kind::Scalar || entry.key.empty()) {
      value.errors().add(entry.key_mark, value.path(), "keys must be non-empty strings");
      continue;
    }
    Value item(entry.value, path, value.errors());
    if (std::optional<Priority> priority = readClass(item)) {
      add(entry.key, *priority, item);
    }
  }
}

void parsePriorityBlock(const Value& value, PriorityConfig& out) {
  MapReader map(value, {"header", "trusted_principals", "principals", "routes", "default"});
  map.readString("header", out.header);
  std::transform(out.header.begin(), out.header.end(), out.header.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  map.readStringList("trusted_principals", out.trusted_principals);
  if (std::optional<Value> principals = map.get("principals")) {
    readClassMap(*principals, [&](const std::string& key, Priority priority, const Value& item) {
      for (const auto& seen : out.principals) {
        if (seen.first == key) {
          item.error("duplicate principal " + quote(key));
          return;
        }
      }
      out.principals.emplace_back(key, priority);
    });
  }
  if (std::optional<Value> routes = map.get("routes")) {
    readClassMap(*routes, [&](const std::string& key, Priority priority, const Value& item) {
      if (!out.routes.emplace(key, priority).second) {
        item.error("duplicate route " + quote(key));
      }
    });
  }
  if (std::optional<Value> fallback = map.get("default")) {
    out.default_class = readClass(*fallback).value_or(out.default_class);
  }
}

// A curve may start as late as this overload (in effect: never shed that class).
constexpr double kMaxOverload = 1'000'000;

std::string format(double number) {
  std::ostringstream out;
  out << number;
  return out.str();
}

void readPositive(const MapReader& map, std::string_view key, double& out, double max) {
  if (std::optional<Value> value = map.get(key)) {
    if (std::optional<double> number = value->number(0, max)) {
      if (*number <= 0) {
        value->error("expected a number greater than zero, got 0");
      } else {
        out = *number;
      }
    }
  }
}

void parseCurve(const Value& value, ShedCurve& curve) {
  MapReader map(value, {"start", "full"});
  readPositive(map, "start", curve.start, kMaxOverload);
  readPositive(map, "full", curve.full, kMaxOverload);
  if (curve.full < curve.start) {
    map.error("full (" + format(curve.full) + ") must not be below start (" + format(curve.start) +
              ")");
  }
}

void parseClasses(const Value& value, LoadShedConfig& c) {
  MapReader map(value, {"critical", "important", "nice_to_have"});
  std::optional<Value> given[kPriorityCount];
  for (size_t i = 0; i < kPriorityCount; ++i) {
    const char* name = priorityName(static_cast<Priority>(i));
    given[i] = map.get(name);
    if (given[i].has_value()) {
      parseCurve(*given[i], c.curves[i]);
    }
  }
  // Lower classes are shed first: a class's curve may not start (or reach 1) before the curve of
  // the class below it. Reported at the higher class when it was given, else at the lower one.
  for (size_t i = 0; i + 1 < kPriorityCount; ++i) {
    const ShedCurve& high = c.curves[i];
    const ShedCurve& low = c.curves[i + 1];
    if (high.start < low.start || high.full < low.full) {
      const Value& at = given[i].has_value()       ? *given[i]
                        : given[i + 1].has_value() ? *given[i + 1]
                                                   : map.self();
      at.error(std::string(priorityName(static_cast<Priority>(i))) + " would be shed before " +
               priorityName(static_cast<Priority>(i + 1)) +
               ": its start and full must not be below those of the class under it");
    }
  }
}

void parseSignals(const Value& value, LoadShedConfig& c) {
  MapReader map(value, {"queue_delay", "concurrency", "event_loop_lag", "cpu"});
  if (std::optional<Value> v = map.get("queue_delay")) {
    MapReader signal(*v, {"enabled", "target"});
    signal.readBool("enabled", c.queue_delay_enabled);
    signal.readDuration("target", c.queue_delay_target, false);
  }
  if (std::optional<Value> v = map.get("concurrency")) {
    MapReader signal(*v, {"enabled"});
    signal.readBool("enabled", c.concurrency_enabled);
  }
  if (std::optional<Value> v = map.get("event_loop_lag")) {
    MapReader signal(*v, {"enabled", "threshold"});
    signal.readBool("enabled", c.event_loop_lag_enabled);
    signal.readDuration("threshold", c.event_loop_lag_threshold, false);
  }
  if (std::optional<Value> v = map.get("cpu")) {
    MapReader signal(*v, {"enabled", "threshold"});
    signal.readBool("enabled", c.cpu_enabled);
    readPositive(signal, "threshold", c.cpu_threshold, 1);
  }
}

}  // namespace

std::shared_ptr<LoadShedSettings> parseLoadShedConfig(const Value& root) {
  auto settings = std::make_shared<LoadShedSettings>();
  LoadShedConfig& c = settings->load_shed;
  if (root.node().kind() == config::TreeNode::Kind::Undefined ||
      root.node().kind() == config::TreeNode::Kind::Null) {
    return settings;  // every default
  }
  // The shared contract's flat keys (priority_header, trusted_principals, default_priority,
  // queue_time_target, cpu_target) and the grouped blocks (priority, signals) say the same things;
  // a flat key wins over its grouped twin.
  MapReader map(root, {"mode", "interval", "retry_after", "priority", "classes", "signals",
                       "priority_header", "trusted_principals", "default_priority",
                       "queue_time_target", "cpu_target"});
  config::readFilterMode(map, *settings);
  c.mode = settings->mode;
  map.readDuration("interval", c.interval, false);
  map.readDuration("retry_after", c.retry_after, false);
  if (std::optional<Value> priority = map.get("priority")) {
    parsePriorityBlock(*priority, c.priority);
  }
  if (std::optional<Value> classes = map.get("classes")) {
    parseClasses(*classes, c);
  }
  if (std::optional<Value> signals = map.get("signals")) {
    parseSignals(*signals, c);
  }
  if (std::optional<Value> header = map.get("priority_header")) {
    c.priority.header = header->nonEmptyString().value_or(c.priority.header);
    std::transform(c.priority.header.begin(), c.priority.header.end(), c.priority.header.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  }
  map.readStringList("trusted_principals", c.priority.trusted_principals);
  if (std::optional<Value> fallback = map.get("default_priority")) {
    c.priority.default_class = readClass(*fallback).value_or(c.priority.default_class);
  }
  if (map.has("queue_time_target")) {
    c.queue_delay_enabled = true;
    map.readDuration("queue_time_target", c.queue_delay_target, false);
  }
  if (map.has("cpu_target")) {
    c.cpu_enabled = true;
    readPositive(map, "cpu_target", c.cpu_threshold, 1);
  }
  return settings;
}

void registerLoadShedParser() {
  config::registerFilterParser("load_shed", [](const Value& value) -> config::FilterSettingsPtr {
    return parseLoadShedConfig(value);
  });
}

}  // namespace strait::filters::load_shed
