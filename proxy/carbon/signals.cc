#include "proxy/carbon/signals.h"

#include <cstdint>

namespace strait::carbon {

namespace {

// Reads exactly `width` decimal digits at `pos`, moving past them.
std::optional<int> readDigits(std::string_view text, size_t& pos, size_t width) {
  if (pos + width > text.size()) {
    return std::nullopt;
  }
  int value = 0;
  for (size_t i = 0; i < width; i++) {
    const char c = text[pos + i];
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    value = value * 10 + (c - '0');
  }
  pos += width;
  return value;
}

bool readChar(std::string_view text, size_t& pos, char a, char b = '\0') {
  if (pos < text.size() && (text[pos] == a || (b != '\0' && text[pos] == b))) {
    pos++;
    return true;
  }
  return false;
}

bool isDigit(char c) {
  return c >= '0' && c <= '9';
}

}  // namespace

bool CarbonSignal::fresh(SystemTime now) const {
  // Without the ttl check, a zero ttl would still be fresh within the skew before observed_at.
  return ttl > std::chrono::seconds(0) && now >= observed_at - kMaxClockSkew &&
         now < observed_at + ttl;
}

std::string_view signalTypeName(config::CarbonSignalType type) {
  switch (type) {
    case config::CarbonSignalType::Average:
      return "average";
    case config::CarbonSignalType::Marginal:
      return "marginal";
  }
  return "average";
}

std::string_view emissionFactorName(config::EmissionFactor factor) {
  switch (factor) {
    case config::EmissionFactor::Lifecycle:
      return "lifecycle";
    case config::EmissionFactor::Direct:
      return "direct";
  }
  return "lifecycle";
}

std::optional<config::CarbonSignalType> parseSignalType(std::string_view word) {
  if (word == "average") {
    return config::CarbonSignalType::Average;
  }
  if (word == "marginal") {
    return config::CarbonSignalType::Marginal;
  }
  return std::nullopt;
}

std::optional<config::EmissionFactor> parseEmissionFactor(std::string_view word) {
  if (word == "lifecycle") {
    return config::EmissionFactor::Lifecycle;
  }
  if (word == "direct") {
    return config::EmissionFactor::Direct;
  }
  return std::nullopt;
}

std::optional<SystemTime> parseRfc3339(std::string_view text) {
  using namespace std::chrono;
  size_t pos = 0;
  const std::optional<int> year = readDigits(text, pos, 4);
  if (!year || !readChar(text, pos, '-')) {
    return std::nullopt;
  }
  const std::optional<int> month = readDigits(text, pos, 2);
  if (!month || !readChar(text, pos, '-')) {
    return std::nullopt;
  }
  const std::optional<int> day = readDigits(text, pos, 2);
  if (!day || !readChar(text, pos, 'T', 't')) {
    return std::nullopt;
  }
  const std::optional<int> hour = readDigits(text, pos, 2);
  if (!hour || !readChar(text, pos, ':')) {
    return std::nullopt;
  }
  const std::optional<int> minute = readDigits(text, pos, 2);
  if (!minute) {
    return std::nullopt;
  }
  int second = 0;
  int64_t nanos = 0;
  if (readChar(text, pos, ':')) {
    const std::optional<int> s = readDigits(text, pos, 2);
    if (!s) {
      return std::nullopt;
    }
    second = *s;
    if (readChar(text, pos, '.')) {
      const size_t start = pos;
      int64_t scale = 100'000'000;
      for (; pos < text.size() && isDigit(text[pos]); pos++) {
        nanos += (text[pos] - '0') * scale;
        scale /= 10;
      }
      if (pos == start) {
        return std::nullopt;
      }
    }
  }
  int offset_minutes = 0;
  if (!readChar(text, pos, 'Z', 'z')) {
    int sign = 0;
    if (readChar(text, pos, '+')) {
      sign = 1;
    } else if (readChar(text, pos, '-')) {
      sign = -1;
    } else {
      return std::nullopt;
    }
    const std::optional<int> offset_hours = readDigits(text, pos, 2);
    if (!offset_hours || !readChar(text, pos, ':')) {
      return std::nullopt;
    }
    const std::optional<int> offset_mins = readDigits(text, pos, 2);
    if (!offset_mins || *offset_hours > 23 || *offset_mins > 59) {
      return std::nullopt;
    }
    offset_minutes = sign * (*offset_hours * 60 + *offset_mins);
  }
  if (pos != text.size()) {
    return std::nullopt;
  }
  if (*year < 1970 || *year > 2200 || *hour > 23 || *minute > 59 || second > 59) {
    return std::nullopt;
  }
  const year_month_day date{std::chrono::year(*year), std::chrono::month(*month),
                            std::chrono::day(*day)};
  if (!date.ok()) {
    return std::nullopt;
  }
  // The local time minus its offset from UTC is UTC.
  const sys_time<nanoseconds> utc = sys_days(date) + hours(*hour) + minutes(*minute) +
                                    seconds(second) + nanoseconds(nanos) - minutes(offset_minutes);
  return time_point_cast<SystemTime::duration>(utc);
}

}  // namespace strait::carbon
