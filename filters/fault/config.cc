#include "filters/fault/config.h"

#include <cmath>

namespace strait::filters::fault {

using config::internal::MapReader;
using config::internal::Value;

namespace {

uint32_t readPercent(const MapReader& map, uint32_t fallback) {
  if (std::optional<Value> percent = map.get("percent")) {
    if (std::optional<double> value = percent->number(0, 100)) {
      return percentFromDouble(*value);
    }
  }
  return fallback;
}

DelayFault parseDelay(const Value& value) {
  DelayFault delay;
  MapReader map(value, {"fixed", "percent"});
  if (map.require("fixed").has_value()) {
    map.readDuration("fixed", delay.fixed, false);
  }
  delay.percent = readPercent(map, delay.percent);
  return delay;
}

AbortFault parseAbort(const Value& value) {
  AbortFault abort;
  MapReader map(value, {"status", "reset", "percent"});
  if (map.isMap() && map.has("status") == map.has("reset")) {
    map.error(std::string("expected exactly one of status, reset, got ") +
              (map.has("status") ? "both" : "none"));
  }
  map.readUint16("status", abort.status, 200, 599);
  if (std::optional<Value> reset = map.get("reset")) {
    abort.reset = reset->boolean().value_or(false);
    if (reset->node().isScalar() && !abort.reset && !map.has("status")) {
      reset->error("reset: false injects nothing; remove the abort block or give a status");
    }
  }
  abort.percent = readPercent(map, abort.percent);
  return abort;
}

RateLimitFault parseRateLimit(const Value& value) {
  RateLimitFault limit;
  MapReader map(value, {"kbps", "percent"});
  if (map.require("kbps").has_value()) {
    uint32_t kbps = 0;
    map.readUint32("kbps", kbps, 1, UINT32_MAX);
    limit.kbps = kbps;
  }
  limit.percent = readPercent(map, limit.percent);
  return limit;
}

// `reset: 5` or `reset: {percent: 5}` (the percent is required in the map form).
uint32_t parseConnectionPercent(const Value& value) {
  if (value.isMap()) {
    MapReader map(value, {"percent"});
    std::optional<Value> percent = map.require("percent");
    return percent ? percentFromDouble(percent->number(0, 100).value_or(0)) : 0;
  }
  return percentFromDouble(value.number(0, 100).value_or(0));
}

ConnectionFaults parseConnection(const Value& value) {
  ConnectionFaults faults;
  MapReader map(value, {"reset", "black_hole"});
  if (std::optional<Value> reset = map.get("reset")) {
    faults.reset_percent = parseConnectionPercent(*reset);
  }
  if (std::optional<Value> hole = map.get("black_hole")) {
    faults.black_hole_percent = parseConnectionPercent(*hole);
  }
  return faults;
}

}  // namespace

uint32_t percentFromDouble(double percent) {
  if (!(percent > 0)) {
    return 0;
  }
  if (percent >= 100) {
    return kPercentScale;
  }
  return static_cast<uint32_t>(std::llround(percent * 1'000'000.0));
}

std::shared_ptr<FaultSettings> parseFaultConfig(const Value& root) {
  auto settings = std::make_shared<FaultSettings>();
  FaultConfig& fault = settings->fault;
  MapReader map(root, {"mode", "delay", "response_delay", "abort", "response_rate_limit",
                       "header_control", "max_active_faults", "match", "connection"});
  config::readFilterMode(map, *settings);
  fault.mode = settings->mode;
  if (std::optional<Value> delay = map.get("delay")) {
    fault.delay = parseDelay(*delay);
  }
  if (std::optional<Value> delay = map.get("response_delay")) {
    fault.response_delay = parseDelay(*delay);
  }
  if (std::optional<Value> abort = map.get("abort")) {
    fault.abort = parseAbort(*abort);
  }
  if (std::optional<Value> limit = map.get("response_rate_limit")) {
    fault.response_rate_limit = parseRateLimit(*limit);
  }
  map.readBool("header_control", fault.header_control);
  if (map.has("max_active_faults")) {
    uint32_t cap = 0;
    map.readUint32("max_active_faults", cap, 0, UINT32_MAX);
    fault.max_active_faults = cap;
  }
  if (std::optional<Value> match = map.get("match")) {
    fault.match = parseRequestMatch(*match);
  }
  if (std::optional<Value> connection = map.get("connection")) {
    fault.connection = parseConnection(*connection);
    if (fault.connection.any() && map.has("match")) {
      // Drawn at accept time, before any request: a match could only be ignored.
      connection->error(
          "connection faults are drawn when a connection is accepted, before any request, so "
          "match cannot scope them; put them in a fault entry without match");
    }
  }
  return settings;
}

void registerFaultParser() {
  config::registerFilterParser("fault", [](const Value& value) -> config::FilterSettingsPtr {
    return parseFaultConfig(value);
  });
}

}  // namespace strait::filters::fault
