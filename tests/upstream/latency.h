#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <string_view>

namespace strait::testupstream {

// The shape of the service time, from --latency SPEC. Kind::None means "no distribution": the
// service time is --delay-ms (or a request's own delay_ms), as before the capacity model.
struct LatencySpec {
  enum class Kind { None, Fixed, Exponential, LogNormal, Bimodal };
  Kind kind{Kind::None};
  // fixed: a = ms. exp: a = mean ms. lognormal: a = median ms, b = sigma.
  // bimodal: a = fast ms, b = slow ms, pSlow = probability of the slow one.
  double a{0};
  double b{0};
  double pSlow{0};
};

// Parses "fixed:MS", "exp:MEAN_MS", "lognormal:MEDIAN_MS,SIGMA" or
// "bimodal:FAST_MS,SLOW_MS,P_SLOW". Returns an empty string on success, otherwise why not.
std::string parseLatencySpec(std::string_view text, LatencySpec& out);

// Draws service times from a LatencySpec with a seeded generator, so a run is reproducible:
// the same seed and the same order of arrivals give the same service times.
class LatencyModel {
 public:
  LatencyModel(const LatencySpec& spec, uint64_t seed) : spec_(spec), engine_(seed) {}

  bool configured() const { return spec_.kind != LatencySpec::Kind::None; }
  // One service time in whole milliseconds (uv timers count milliseconds), never negative.
  uint64_t sampleMs();

 private:
  LatencySpec spec_;
  std::mt19937_64 engine_;
};

}  // namespace strait::testupstream
