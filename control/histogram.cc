#include "control/histogram.h"

#include <cstdio>

namespace strait::cp {

void Histogram::observe(std::chrono::duration<double> value) {
  double seconds = value.count() < 0 ? 0 : value.count();
  for (size_t i = 0; i < kBounds.size(); i++) {
    if (seconds <= kBounds[i]) {
      buckets_[i]++;
      break;
    }
  }
  count_++;
  sum_ += seconds;
}

uint64_t Histogram::cumulative(size_t i) const {
  uint64_t total = 0;
  for (size_t j = 0; j <= i && j < buckets_.size(); j++) {
    total += buckets_[j];
  }
  return total;
}

void Histogram::render(std::string& out, const std::string& name,
                       const std::string& labels) const {
  const std::string prefix = labels.empty() ? "" : labels + ",";
  uint64_t cumulative = 0;
  char number[64];
  for (size_t i = 0; i < kBounds.size(); i++) {
    cumulative += buckets_[i];
    std::snprintf(number, sizeof(number), "%g", kBounds[i]);
    out += name + "_bucket{" + prefix + "le=\"" + number + "\"} " + std::to_string(cumulative) +
           "\n";
  }
  out += name + "_bucket{" + prefix + "le=\"+Inf\"} " + std::to_string(count_) + "\n";
  std::snprintf(number, sizeof(number), "%.6f", sum_);
  std::string braces = labels.empty() ? "" : "{" + labels + "}";
  out += name + "_sum" + braces + " " + number + "\n";
  out += name + "_count" + braces + " " + std::to_string(count_) + "\n";
}

}  // namespace strait::cp
