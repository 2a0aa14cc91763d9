#include "tests/upstream/latency.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <vector>

namespace strait::testupstream {
namespace {

// Splits "a,b,c" into numbers; false if any is not a finite number.
bool parseNumbers(std::string_view text, std::vector<double>& out) {
  while (true) {
    size_t comma = text.find(',');
    std::string piece(text.substr(0, comma));
    char* end = nullptr;
    double value = std::strtod(piece.c_str(), &end);
    if (piece.empty() || end != piece.c_str() + piece.size() || !std::isfinite(value)) {
      return false;
    }
    out.push_back(value);
    if (comma == std::string_view::npos) {
      return true;
    }
    text = text.substr(comma + 1);
  }
}

}  // namespace

std::string parseLatencySpec(std::string_view text, LatencySpec& out) {
  const std::string bad = "bad --latency " + std::string(text) +
                          ": want fixed:MS, exp:MEAN_MS, lognormal:MEDIAN_MS,SIGMA or "
                          "bimodal:FAST_MS,SLOW_MS,P_SLOW";
  size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    return bad;
  }
  std::string_view kind = text.substr(0, colon);
  std::vector<double> numbers;
  if (!parseNumbers(text.substr(colon + 1), numbers)) {
    return bad;
  }
  for (double value : numbers) {
    if (value < 0) {
      return bad + " (negative value)";
    }
  }
  LatencySpec spec;
  if (kind == "fixed" && numbers.size() == 1) {
    spec.kind = LatencySpec::Kind::Fixed;
  } else if (kind == "exp" && numbers.size() == 1 && numbers[0] > 0) {
    spec.kind = LatencySpec::Kind::Exponential;
  } else if (kind == "lognormal" && numbers.size() == 2 && numbers[0] > 0) {
    spec.kind = LatencySpec::Kind::LogNormal;
  } else if (kind == "bimodal" && numbers.size() == 3 && numbers[2] <= 1) {
    spec.kind = LatencySpec::Kind::Bimodal;
  } else {
    return bad;
  }
  spec.a = numbers[0];
  spec.b = numbers.size() > 1 ? numbers[1] : 0;
  spec.pSlow = numbers.size() > 2 ? numbers[2] : 0;
  out = spec;
  return {};
}

uint64_t LatencyModel::sampleMs() {
  double ms = 0;
  switch (spec_.kind) {
    case LatencySpec::Kind::None:
      return 0;
    case LatencySpec::Kind::Fixed:
      ms = spec_.a;
      break;
    case LatencySpec::Kind::Exponential:
      ms = std::exponential_distribution<double>(1.0 / spec_.a)(engine_);
      break;
    case LatencySpec::Kind::LogNormal:
      // The median of a log-normal is exp(mu).
      ms = std::lognormal_distribution<double>(std::log(spec_.a), spec_.b)(engine_);
      break;
    case LatencySpec::Kind::Bimodal:
      ms = std::bernoulli_distribution(spec_.pSlow)(engine_) ? spec_.b : spec_.a;
      break;
  }
  return static_cast<uint64_t>(std::llround(std::max(ms, 0.0)));
}

}  // namespace strait::testupstream
