// parseSignalFile (proxy/carbon/providers.h): our own signal file, read with yaml-cpp so that
// every error can point at its line and column.

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <system_error>

#include "proxy/carbon/providers.h"

#include "config/yaml_reader.h"

namespace strait::carbon {

namespace {

// Ten years: a long-lived figure (a yearly grid average) fits; observed_at + ttl cannot overflow.
constexpr int64_t kMaxTtlSeconds = int64_t{10} * 365 * 24 * 3600;

const std::vector<std::string_view> kTopKeys = {"signals"};
const std::vector<std::string_view> kSignalKeys = {
    "region", "zone",         "intensity",   "type", "emission_factor",
    "source", "estimated", "observed_at", "ttl"};

// The error's place: "<line>:<column>: <path>: ", 1-based. A missing key has no node of its own,
// so callers pass the map that lacks it.
std::string at(const YAML::Node& node, std::string_view path) {
  const YAML::Mark mark = node.Mark();
  std::string out;
  if (!mark.is_null()) {
    out = std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1) + ": ";
  }
  if (!path.empty()) {
    out += std::string(path) + ": ";
  }
  return out;
}

std::string quote(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

// What a node is, for "expected X, got Y".
std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Scalar:
      return quote(node.Scalar());
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    default:
      return "nothing";
  }
}

// yaml-cpp tags a quoted scalar "!": in JSON and in YAML alike, "212" is a string, not a number.
bool isQuoted(const YAML::Node& node) {
  return node.Tag() == "!";
}

// YAML 1.2's spellings of infinity and NaN (from_chars reads C's "inf" and "nan" itself).
bool isYamlNonFinite(std::string_view scalar) {
  if (!scalar.empty() && (scalar.front() == '-' || scalar.front() == '+')) {
    scalar.remove_prefix(1);
  }
  return scalar == ".inf" || scalar == ".Inf" || scalar == ".INF" || scalar == ".nan" ||
         scalar == ".NaN" || scalar == ".NAN";
}

// A map whose keys are all known and none repeated (yaml-cpp keeps both entries of a repeated
// key; taking either would hide a mistake). Reading stops at the first error, kept in `error`.
class MapReader {
 public:
  MapReader(const YAML::Node& map, std::string path, const std::vector<std::string_view>& known,
            std::string& error)
      : map_(map), path_(std::move(path)), error_(error) {
    if (!map.IsMap()) {
      fail(map, path_, "expected a map, got " + describe(map));
      return;
    }
    std::vector<std::string> seen;
    for (const auto& pair : map) {
      // A copy: `it->first` on yaml-cpp's proxy iterator trips GCC 12's -Wdangling-pointer.
      const YAML::Node key = pair.first;
      if (!key.IsScalar()) {
        fail(key, path_, "keys must be strings, got " + describe(key));
        return;
      }
      const std::string& name = key.Scalar();
      if (std::find(known.begin(), known.end(), name) == known.end()) {
        std::string message = "unknown key " + quote(name);
        if (std::optional<std::string_view> near = config::internal::nearestKey(name, known)) {
          message += " (did you mean " + quote(*near) + "?)";
        } else {
          message += " (allowed: " + config::internal::joinNames(known) + ")";
        }
        fail(key, childPath(name), message);
        return;
      }
      if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
        fail(key, childPath(name), "duplicate key " + quote(name));
        return;
      }
      seen.push_back(name);
    }
  }

  bool ok() const { return error_.empty(); }
  std::string childPath(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }

  // The value of `key`, or an undefined node when the map lacks it (an error when `required`).
  YAML::Node get(std::string_view key, bool required) {
    if (!ok()) {
      return YAML::Node(YAML::NodeType::Undefined);
    }
    const YAML::Node value = map_[std::string(key)];
    if (!value.IsDefined() && required) {
      fail(map_, path_, "missing key " + quote(key));
    }
    return value;
  }

  std::optional<std::string> text(std::string_view key, bool required) {
    const YAML::Node value = get(key, required);
    if (!value.IsDefined() || !ok()) {
      return std::nullopt;
    }
    if (!value.IsScalar()) {
      fail(value, childPath(key), "expected a string, got " + describe(value));
      return std::nullopt;
    }
    return value.Scalar();
  }

  // A finite number >= 0; only a plain scalar (a quoted "212" is a string).
  std::optional<double> intensity(std::string_view key) {
    const YAML::Node value = get(key, true);
    if (!value.IsDefined() || !ok()) {
      return std::nullopt;
    }
    const std::string path = childPath(key);
    if (!value.IsScalar() || isQuoted(value)) {
      fail(value, path, "expected a number (gCO2eq/kWh), got " + describe(value));
      return std::nullopt;
    }
    const std::string& scalar = value.Scalar();
    if (isYamlNonFinite(scalar)) {
      fail(value, path, "must be a finite number, got " + scalar);
      return std::nullopt;
    }
    double number = 0;
    const auto [end, ec] = std::from_chars(scalar.data(), scalar.data() + scalar.size(), number);
    if (ec == std::errc::result_out_of_range) {
      fail(value, path, "number out of range: " + scalar);
      return std::nullopt;
    }
    if (ec != std::errc() || end != scalar.data() + scalar.size()) {
      fail(value, path, "expected a number (gCO2eq/kWh), got " + describe(value));
      return std::nullopt;
    }
    if (!std::isfinite(number)) {
      fail(value, path, "must be a finite number, got " + scalar);
      return std::nullopt;
    }
    if (number < 0) {
      fail(value, path, "must not be negative, got " + scalar);
      return std::nullopt;
    }
    return number + 0.0;  // -0 reads as 0
  }

  std::optional<bool> boolean(std::string_view key) {
    const YAML::Node value = get(key, false);
    if (!value.IsDefined() || !ok()) {
      return std::nullopt;
    }
    if (value.IsScalar() && !isQuoted(value)) {
      if (value.Scalar() == "true") {
        return true;
      }
      if (value.Scalar() == "false") {
        return false;
      }
    }
    fail(value, childPath(key), "expected true or false, got " + describe(value));
    return std::nullopt;
  }

  std::optional<SystemTime> time(std::string_view key) {
    const YAML::Node value = get(key, true);
    if (!value.IsDefined() || !ok()) {
      return std::nullopt;
    }
    if (value.IsScalar()) {
      if (std::optional<SystemTime> parsed = parseRfc3339(value.Scalar())) {
        return parsed;
      }
    }
    fail(value, childPath(key),
         "expected an RFC 3339 time such as 2024-05-01T12:00:00Z, got " + describe(value));
    return std::nullopt;
  }

  // <integer><s|m|h>, > 0 and at most ten years.
  std::optional<std::chrono::seconds> ttl(std::string_view key) {
    const YAML::Node value = get(key, false);
    if (!value.IsDefined() || !ok()) {
      return std::nullopt;
    }
    const std::string path = childPath(key);
    const std::string expected = "expected a duration such as 300s, 15m or 1h, got ";
    if (!value.IsScalar()) {
      fail(value, path, expected + describe(value));
      return std::nullopt;
    }
    const std::string& scalar = value.Scalar();
    size_t digits = 0;
    while (digits < scalar.size() && scalar[digits] >= '0' && scalar[digits] <= '9') {
      digits++;
    }
    const std::string_view unit = std::string_view(scalar).substr(digits);
    int64_t per_unit = 0;
    if (unit == "s") {
      per_unit = 1;
    } else if (unit == "m") {
      per_unit = 60;
    } else if (unit == "h") {
      per_unit = 3600;
    }
    if (digits == 0 || per_unit == 0) {
      fail(value, path, expected + describe(value));
      return std::nullopt;
    }
    // Accumulation stops once past the cap, so that a long run of digits cannot overflow.
    int64_t count = 0;
    for (size_t i = 0; i < digits && count <= kMaxTtlSeconds; i++) {
      count = count * 10 + (scalar[i] - '0');
    }
    if (count > kMaxTtlSeconds / per_unit) {
      fail(value, path, "too long (at most 87600h), got " + scalar);
      return std::nullopt;
    }
    if (count == 0) {
      fail(value, path, "must be positive, got " + scalar);
      return std::nullopt;
    }
    return std::chrono::seconds(count * per_unit);
  }

  template <typename Enum>
  std::optional<Enum> word(std::string_view key, std::optional<Enum> (*parse)(std::string_view),
                           std::string_view allowed) {
    const std::optional<std::string> text_value = text(key, true);
    if (!text_value) {
      return std::nullopt;
    }
    if (std::optional<Enum> parsed = parse(*text_value)) {
      return parsed;
    }
    fail(map_[std::string(key)], childPath(key),
         "unknown " + std::string(key) + " " + quote(*text_value) + " (expected " +
             std::string(allowed) + ")");
    return std::nullopt;
  }

  void fail(const YAML::Node& node, std::string_view path, const std::string& message) {
    if (error_.empty()) {
      error_ = at(node, path) + message;
    }
  }

 private:
  const YAML::Node map_;
  const std::string path_;
  std::string& error_;
};

// One entry of `signals`, or nullopt with `error` set.
std::optional<CarbonSignal> readSignal(const YAML::Node& node, std::string path,
                                       std::chrono::seconds default_ttl, std::string& error) {
  MapReader entry(node, std::move(path), kSignalKeys, error);
  const std::optional<std::string> region = entry.text("region", true);
  if (region && region->empty()) {
    entry.fail(node["region"], entry.childPath("region"), "must not be empty");
  }
  const std::optional<std::string> zone = entry.text("zone", false);
  const std::optional<double> intensity = entry.intensity("intensity");
  const auto type =
      entry.word<config::CarbonSignalType>("type", parseSignalType, "average or marginal");
  const auto factor = entry.word<config::EmissionFactor>("emission_factor", parseEmissionFactor,
                                                         "lifecycle or direct");
  const std::optional<std::string> source = entry.text("source", false);
  if (source && source->empty()) {
    entry.fail(node["source"], entry.childPath("source"), "must not be empty");
  }
  const std::optional<bool> is_estimated = entry.boolean("estimated");
  const std::optional<SystemTime> observed_at = entry.time("observed_at");
  const std::optional<std::chrono::seconds> ttl = entry.ttl("ttl");
  if (!entry.ok()) {
    return std::nullopt;
  }
  CarbonSignal signal;
  signal.locality.region = *region;
  signal.locality.zone = zone.value_or("");
  signal.intensity = *intensity;
  signal.type = *type;
  signal.factor = *factor;
  signal.source = source.value_or(std::string(kSourceFile));
  signal.is_estimated = is_estimated.value_or(false);
  signal.observed_at = *observed_at;
  signal.ttl = ttl.value_or(default_ttl);
  return signal;
}

bool sameKind(const CarbonSignal& a, const CarbonSignal& b) {
  return a.locality.region == b.locality.region && a.locality.zone == b.locality.zone &&
         a.type == b.type && a.factor == b.factor;
}

ParseResult readDocument(const YAML::Node& document, std::chrono::seconds default_ttl) {
  ParseResult result;
  if (!document.IsDefined() || document.IsNull()) {
    result.error = "empty document (expected a map with key \"signals\")";
    return result;
  }
  MapReader top(document, "", kTopKeys, result.error);
  const YAML::Node list = top.get("signals", true);
  if (!top.ok()) {
    return result;
  }
  if (!list.IsSequence()) {
    top.fail(list, "signals", "expected a list, got " + describe(list));
    return result;
  }
  if (list.size() == 0) {
    top.fail(list, "signals", "no signals (the list is empty)");
    return result;
  }
  std::vector<YAML::Node> nodes;
  for (size_t i = 0; i < list.size(); i++) {
    const YAML::Node item = list[i];
    const std::string path = "signals[" + std::to_string(i) + "]";
    std::optional<CarbonSignal> signal = readSignal(item, path, default_ttl, result.error);
    if (!signal) {
      result.signals.clear();
      return result;
    }
    for (size_t j = 0; j < result.signals.size(); j++) {
      if (sameKind(result.signals[j], *signal)) {
        const std::string zone =
            signal->locality.zone.empty() ? "" : " zone " + quote(signal->locality.zone);
        result.error =
            at(item, path) + "a second signal for region " + quote(signal->locality.region) + zone +
            " (" + std::string(signalTypeName(signal->type)) + ", " +
            std::string(emissionFactorName(signal->factor)) + "); the first is signals[" +
            std::to_string(j) + "] at line " + std::to_string(nodes[j].Mark().line + 1);
        result.signals.clear();
        return result;
      }
    }
    result.signals.push_back(std::move(*signal));
    nodes.push_back(item);
  }
  return result;
}

}  // namespace

ParseResult parseSignalFile(std::string_view text, std::chrono::seconds default_ttl) {
  // yaml-cpp reports syntax errors by throwing; its exceptions stay in this function.
  YAML::Node document;
  try {
    document = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    ParseResult result;
    result.error = e.mark.is_null() ? e.msg
                                    : std::to_string(e.mark.line + 1) + ":" +
                                          std::to_string(e.mark.column + 1) + ": " + e.msg;
    return result;
  }
  try {
    return readDocument(document, default_ttl);
  } catch (const YAML::Exception& e) {
    // Not expected: the reader checks each node's type before reading it.
    ParseResult result;
    result.error = "unreadable document: " + e.msg;
    return result;
  }
}

}  // namespace strait::carbon
