#pragma once

// The `load_shed` filter's config block (docs/config.md, "load_shed").

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config/types.h"
#include "filters/common/filter_config.h"

namespace strait::filters::load_shed {

// The degradation tiers, most important first (the order is used as an array index).
enum class Priority : uint8_t { Critical = 0, Important = 1, NiceToHave = 2 };
inline constexpr size_t kPriorityCount = 3;
const char* priorityName(Priority priority);

// The shedding probability of one class as a function of the overload o: 0 up to `start`,
// rising linearly to 1 at `full`, 1 beyond. start == full is a step (a cliff, only if asked for).
struct ShedCurve {
  double start = 1.0;
  double full = 1.5;
};

// Where a request's class comes from. Precedence: the route's key, then the header (only from a
// trusted principal), then the principal, then `default_class`.
struct PriorityConfig {
  std::string header = "x-strait-priority";     // lower-case; empty: no header source
  std::vector<std::string> trusted_principals;  // principal patterns (principalMatches)
  std::vector<std::pair<std::string, Priority>> principals;  // pattern -> class, first match
  std::map<std::string, Priority, std::less<>> routes;       // route name -> class
  Priority default_class = Priority::Important;
};

struct LoadShedConfig {
  FilterMode mode = FilterMode::Enforce;
  // The sampling period of every signal (and CoDel's interval).
  std::chrono::milliseconds interval{100};
  std::chrono::milliseconds retry_after{1000};  // sent in whole seconds, at least 1
  PriorityConfig priority;
  ShedCurve curves[kPriorityCount] = {{3.0, 4.0}, {1.25, 2.0}, {1.0, 1.5}};

  // Signals; each may be disabled. Pressure 1.0 = at its target.
  bool queue_delay_enabled = true;
  std::chrono::milliseconds queue_delay_target{5};
  bool concurrency_enabled = true;
  bool event_loop_lag_enabled = true;
  std::chrono::milliseconds event_loop_lag_threshold{50};
  bool cpu_enabled = true;
  double cpu_threshold = 0.9;  // of the process's worker cores
};

struct LoadShedSettings : config::FilterSettings {
  LoadShedConfig load_shed;
};

std::shared_ptr<LoadShedSettings> parseLoadShedConfig(const config::internal::Value& value);
// Registers parseLoadShedConfig under "load_shed".
void registerLoadShedParser();

}  // namespace strait::filters::load_shed
