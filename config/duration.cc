#include "config/duration.h"

#include <cstdint>

namespace strait::config {
namespace {

constexpr std::string_view kAllowed = "a number with a unit: ms, s, m or h, e.g. 250ms or 5s";

bool isDigit(char c) {
  return c >= '0' && c <= '9';
}

// Milliseconds per unit, or 0 for an unknown unit.
int64_t unitMs(std::string_view unit) {
  if (unit == "ms") {
    return 1;
  }
  if (unit == "s") {
    return 1000;
  }
  if (unit == "m") {
    return 60 * 1000;
  }
  if (unit == "h") {
    return 60 * 60 * 1000;
  }
  return 0;
}

DurationParse failure(std::string message, std::string_view allowed = kAllowed) {
  DurationParse result;
  result.error = std::move(message);
  result.allowed = std::string(allowed);
  return result;
}

}  // namespace

DurationParse parseDuration(std::string_view text) {
  if (text == "0") {
    return DurationParse{};
  }
  if (!text.empty() && text.front() == '-') {
    return failure("durations cannot be negative");
  }
  size_t i = 0;
  // Digits are accumulated with a cap so that a long run of digits cannot overflow; anything
  // over the cap is rejected below anyway.
  int64_t whole = 0;
  size_t whole_digits = 0;
  for (; i < text.size() && isDigit(text[i]); ++i, ++whole_digits) {
    if (whole <= kMaxDurationMs) {
      whole = whole * 10 + (text[i] - '0');
    }
  }
  int64_t fraction = 0;
  int64_t fraction_scale = 1;
  bool has_point = i < text.size() && text[i] == '.';
  if (has_point) {
    ++i;
    size_t fraction_digits = 0;
    for (; i < text.size() && isDigit(text[i]); ++i, ++fraction_digits) {
      // More than 9 fractional digits cannot describe a whole millisecond of any unit here
      // unless they are zeros; keep the arithmetic bounded and let the check below decide.
      if (fraction_digits < 9) {
        fraction = fraction * 10 + (text[i] - '0');
        fraction_scale *= 10;
      } else if (text[i] != '0') {
        return failure("durations must be a whole number of milliseconds", kAllowed);
      }
    }
    if (fraction_digits == 0) {
      whole_digits = 0;  // "5." is malformed
    }
  }
  if (whole_digits == 0) {
    return failure("expected a duration");
  }
  std::string_view unit = text.substr(i);
  if (unit.empty()) {
    return failure("durations need a unit");
  }
  int64_t per_unit = unitMs(unit);
  if (per_unit == 0) {
    return failure("unknown duration unit \"" + std::string(unit) + "\"");
  }
  if (whole > kMaxDurationMs / per_unit) {
    return failure("duration is too long", "at most 1000000000000ms");
  }
  int64_t fraction_ms_scaled = fraction * per_unit;
  if (fraction_ms_scaled % fraction_scale != 0) {
    return failure("durations must be a whole number of milliseconds", kAllowed);
  }
  int64_t total = whole * per_unit + fraction_ms_scaled / fraction_scale;
  if (total > kMaxDurationMs) {
    return failure("duration is too long", "at most 1000000000000ms");
  }
  DurationParse result;
  result.value = Duration(total);
  return result;
}

}  // namespace strait::config
