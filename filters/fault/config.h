#pragma once

// The `fault` filter's config block (docs/config.md, "fault"): parsed and validated into an
// immutable FaultConfig, or precise errors.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>

#include "config/types.h"
#include "filters/common/filter_config.h"
#include "filters/common/request_match.h"

namespace strait::filters::fault {

// A probability as millionths of a percent: 100% is kPercentScale. "percent in 0..100 with
// millionth precision" without floating point on the request path.
inline constexpr uint32_t kPercentScale = 100'000'000;
uint32_t percentFromDouble(double percent);

struct DelayFault {
  std::chrono::milliseconds fixed{0};
  uint32_t percent = kPercentScale;
};

struct AbortFault {
  uint16_t status = 0;  // 0 when reset
  bool reset = false;   // reset the stream instead of answering
  uint32_t percent = kPercentScale;
};

struct RateLimitFault {
  uint64_t kbps = 0;  // KiB (1024 bytes) per second, as Envoy's limit_kbps
  uint32_t percent = kPercentScale;
};

struct ConnectionFaults {
  uint32_t reset_percent = 0;       // close the accepted connection at once (RST)
  uint32_t black_hole_percent = 0;  // accept and read, never answer

  bool any() const { return reset_percent > 0 || black_hole_percent > 0; }
};

struct FaultConfig {
  FilterMode mode = FilterMode::Enforce;
  std::optional<DelayFault> delay;           // holds the request before it goes upstream
  std::optional<DelayFault> response_delay;  // holds the response head before it goes downstream
  std::optional<AbortFault> abort;
  std::optional<RateLimitFault> response_rate_limit;
  bool header_control = false;
  std::optional<uint32_t> max_active_faults;  // absent: no cap
  RequestMatchConfig match;
  ConnectionFaults connection;
};

// The settings the loader keeps for one `fault` entry (mode is also in FilterSettings::mode).
struct FaultSettings : config::FilterSettings {
  FaultConfig fault;
};

// The `fault` config parser (config::FilterConfigParser): reads `config` and reports every problem
// through it. Connection faults (`connection: {reset, black_hole}`) are refused next to `match`:
// they are drawn at accept time, where no request exists to match, and config that is silently
// ignored is worse.
std::shared_ptr<FaultSettings> parseFaultConfig(const config::internal::Value& value);
// Registers parseFaultConfig under "fault".
void registerFaultParser();

}  // namespace strait::filters::fault
