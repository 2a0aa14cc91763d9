#pragma once

// Parsing of the duration strings used throughout strait.yaml ("250ms", "5s", "1m", "1h").

#include <string>
#include <string_view>

#include "config/types.h"

namespace strait::config {

// The outcome of parsing one duration: `error` is empty exactly when `value` is meaningful.
struct DurationParse {
  Duration value{0};
  std::string error;    // what is wrong, without the offending text
  std::string allowed;  // what would be accepted instead
  bool ok() const { return error.empty(); }
};

// Accepts a non-negative decimal number followed by a unit (ms, s, m, h), e.g. "250ms", "1.5s";
// "0" alone is accepted for zero. The value must come to a whole number of milliseconds and at
// most kMaxDurationMs. Never throws.
DurationParse parseDuration(std::string_view text);

// About 31 years: far beyond any timeout, and small enough that arithmetic on it cannot overflow.
inline constexpr int64_t kMaxDurationMs = 1'000'000'000'000;

}  // namespace strait::config
