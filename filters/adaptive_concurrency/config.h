#pragma once

// The `adaptive_concurrency` filter's config block (docs/config.md, "adaptive_concurrency").

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>

#include "config/types.h"
#include "filters/common/filter_config.h"
#include "filters/common/request_match.h"

namespace strait::filters::adaptive_concurrency {

enum class Algorithm { Gradient, Vegas };
enum class QueueOrder { Fifo, Lifo };

struct GradientParams {
  // The RTT tolerated above minRTT before the limit shrinks: gradient = minRTT×(1+buffer)/sample.
  double buffer = 0.25;
};

struct VegasParams {
  // Queue-estimate thresholds, in multiples of log10(limit) (Netflix concurrency-limits).
  double alpha = 3;
  double beta = 6;
  // 1: take each new estimate as is; below 1: move that fraction of the way to it.
  double smoothing = 1.0;
};

struct MinRttParams {
  std::chrono::milliseconds interval{30000};  // between two minRTT probes
  double jitter = 0.15;                       // each interval is shortened by up to this fraction
  uint32_t requests = 50;                     // samples a probe takes
  std::chrono::milliseconds max_duration{2000};  // a probe ends then with what it has
  std::chrono::milliseconds queue_timeout{250};  // a request queued by a probe waits this long
};

struct QueueParams {
  uint32_t max = 0;  // 0: a request over the limit is refused at once
  std::chrono::milliseconds timeout{20};
  QueueOrder order = QueueOrder::Fifo;
};

struct AdaptiveConcurrencyConfig {
  FilterMode mode = FilterMode::Enforce;
  Algorithm algorithm = Algorithm::Gradient;
  uint32_t min_limit = 3;
  uint32_t max_limit = 1000;
  uint32_t initial_limit = 10;
  std::chrono::milliseconds sample_window{100};  // between two recalculations
  double sample_percentile = 50;                 // the window's RTT at this percentile
  GradientParams gradient;
  VegasParams vegas;
  MinRttParams min_rtt;
  QueueParams queue;
  std::optional<RequestMatchConfig> exclude;  // neither limited nor sampled (health checks)
};

struct AdaptiveConcurrencySettings : config::FilterSettings {
  AdaptiveConcurrencyConfig adaptive;
};

std::shared_ptr<AdaptiveConcurrencySettings> parseAdaptiveConcurrencyConfig(
    const config::internal::Value& value);
// Registers parseAdaptiveConcurrencyConfig under "adaptive_concurrency".
void registerAdaptiveConcurrencyParser();

}  // namespace strait::filters::adaptive_concurrency
