#include "filters/adaptive_concurrency/config.h"

#include <algorithm>
#include <string>

namespace strait::filters::adaptive_concurrency {

using config::internal::MapReader;
using config::internal::Value;

namespace {

void readNumber(const MapReader& map, std::string_view key, double& out, double min, double max) {
  if (std::optional<Value> value = map.get(key)) {
    if (std::optional<double> number = value->number(min, max)) {
      out = *number;
    }
  }
}

void parseGradient(const Value& value, GradientParams& out) {
  MapReader map(value, {"buffer"});
  readNumber(map, "buffer", out.buffer, 0, 10);
}

void parseVegas(const Value& value, VegasParams& out) {
  MapReader map(value, {"alpha", "beta", "smoothing"});
  readNumber(map, "alpha", out.alpha, 0, 1000);
  readNumber(map, "beta", out.beta, 0, 1000);
  readNumber(map, "smoothing", out.smoothing, 0.01, 1);
  if (out.beta < out.alpha) {
    value.error("vegas.beta (" + std::to_string(out.beta) + ") must not be below alpha (" +
                std::to_string(out.alpha) + ")");
  }
}

void parseMinRtt(const Value& value, MinRttParams& out) {
  MapReader map(value, {"interval", "jitter", "requests", "max_duration", "queue_timeout"});
  map.readDuration("interval", out.interval, false);
  readNumber(map, "jitter", out.jitter, 0, 0.5);
  map.readUint32("requests", out.requests, 1, 100000);
  map.readDuration("max_duration", out.max_duration, false);
  map.readDuration("queue_timeout", out.queue_timeout, false);
}

void parseQueue(const Value& value, QueueParams& out) {
  MapReader map(value, {"max", "timeout", "order"});
  map.readUint32("max", out.max, 0, 100000);
  map.readDuration("timeout", out.timeout, false);
  if (std::optional<Value> order = map.get("order")) {
    out.order = order->oneOf<QueueOrder>({{"fifo", QueueOrder::Fifo}, {"lifo", QueueOrder::Lifo}})
                    .value_or(QueueOrder::Fifo);
  }
}

}  // namespace

std::shared_ptr<AdaptiveConcurrencySettings> parseAdaptiveConcurrencyConfig(const Value& root) {
  auto settings = std::make_shared<AdaptiveConcurrencySettings>();
  AdaptiveConcurrencyConfig& c = settings->adaptive;
  MapReader map(root, {"mode", "algorithm", "min_limit", "max_limit", "initial_limit",
                       "sample_window", "sample_percentile", "gradient", "vegas", "min_rtt",
                       "queue", "on_limit", "exclude"});
  config::readFilterMode(map, *settings);
  c.mode = settings->mode;
  if (std::optional<Value> algorithm = map.get("algorithm")) {
    c.algorithm = algorithm
                      ->oneOf<Algorithm>({{"gradient", Algorithm::Gradient},
                                          {"vegas", Algorithm::Vegas}})
                      .value_or(Algorithm::Gradient);
  }
  map.readUint32("min_limit", c.min_limit, 1, 1000000);
  map.readUint32("max_limit", c.max_limit, 1, 1000000);
  const bool initial_given = map.get("initial_limit").has_value();
  map.readUint32("initial_limit", c.initial_limit, 1, 1000000);
  if (c.max_limit < c.min_limit) {
    map.get("max_limit").value_or(root).error("max_limit (" + std::to_string(c.max_limit) +
                                              ") is below min_limit (" +
                                              std::to_string(c.min_limit) + ")");
  } else if (initial_given && (c.initial_limit < c.min_limit || c.initial_limit > c.max_limit)) {
    map.get("initial_limit")
        ->error("initial_limit (" + std::to_string(c.initial_limit) + ") is outside [min_limit " +
                std::to_string(c.min_limit) + ", max_limit " + std::to_string(c.max_limit) + "]");
  } else if (!initial_given) {
    c.initial_limit = std::clamp(c.initial_limit, c.min_limit, c.max_limit);
  }
  map.readDuration("sample_window", c.sample_window, false);
  readNumber(map, "sample_percentile", c.sample_percentile, 1, 100);
  if (std::optional<Value> gradient = map.get("gradient")) {
    parseGradient(*gradient, c.gradient);
  }
  if (std::optional<Value> vegas = map.get("vegas")) {
    parseVegas(*vegas, c.vegas);
  }
  if (std::optional<Value> min_rtt = map.get("min_rtt")) {
    parseMinRtt(*min_rtt, c.min_rtt);
  }
  if (std::optional<Value> queue = map.get("queue")) {
    parseQueue(*queue, c.queue);
  }
  // The shared contract's form: on_limit: {reject: true} (refuse at once) or {queue: {...}}.
  if (std::optional<Value> on_limit = map.get("on_limit")) {
    MapReader limit(*on_limit, {"reject", "queue"});
    if (limit.isMap() && limit.has("reject") == limit.has("queue")) {
      limit.error("expected exactly one of reject, queue");
    }
    if (std::optional<Value> reject = limit.get("reject")) {
      if (reject->boolean() == true) {
        c.queue.max = 0;
      } else if (reject->boolean() == false) {
        reject->error("reject: false says nothing; use queue: {max, timeout, order} instead");
      }
    }
    if (std::optional<Value> queue = limit.get("queue")) {
      parseQueue(*queue, c.queue);
    }
  }
  if (std::optional<Value> exclude = map.get("exclude")) {
    c.exclude = parseRequestMatch(*exclude);
  }
  return settings;
}

void registerAdaptiveConcurrencyParser() {
  config::registerFilterParser(
      "adaptive_concurrency", [](const Value& value) -> config::FilterSettingsPtr {
        return parseAdaptiveConcurrencyConfig(value);
      });
}

}  // namespace strait::filters::adaptive_concurrency
