// The HTTP providers' adapters (proxy/carbon/providers.h): Electricity Maps, the Carbon Aware SDK
// and UK Carbon Intensity. Their payloads are JSON, read with nlohmann; our own signal file is in
// signal_file.cc.

#include "proxy/carbon/providers.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace strait::carbon {

namespace {

using nlohmann::json;

// Ten years of days: a TimeSpan longer than that is a mistake, and observed_at + ttl stays far
// from overflowing.
constexpr int64_t kMaxTimeSpanDays = 3650;

std::string quote(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

// What a value is, for "expected X, got Y": short values verbatim, containers by kind.
std::string describe(const json& value) {
  switch (value.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::string: {
      const std::string& text = value.get_ref<const std::string&>();
      return text.size() <= 40 ? quote(text) : "a string";
    }
    case json::value_t::array:
      return "an array";
    case json::value_t::object:
      return "an object";
    default:
      return value.dump();  // a number or a boolean
  }
}

ParseResult failure(std::string_view source, const std::string& message) {
  ParseResult result;
  result.error = std::string(source) + ": " + message;
  return result;
}

// The body as JSON, or why it is not.
std::optional<json> parseJson(std::string_view text, std::string& error) {
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    error = "empty body";
    return std::nullopt;
  }
  // nlohmann reports where the text goes wrong only by throwing; the exception stays here. Not
  // only parse_error: a number too large for a double is out_of_range.
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    // what() is "[json.exception.parse_error.101] parse error at line 1, column 5: ...": keep
    // the position and the reason.
    std::string what = e.what();
    if (const size_t bracket = what.find("] "); bracket != std::string::npos) {
      what = what.substr(bracket + 2);
    }
    error = "not valid JSON: " + what;
  }
  return std::nullopt;
}

// The message of an HTTP error body: {"status":"error","message":...} (Electricity Maps),
// {"error":...} (Electricity Maps, UK Carbon Intensity: {"error":{"code":...,"message":...}}),
// or an ASP.NET problem description {"title":...,"status":400,"errors":{...}} (Carbon Aware SDK).
std::optional<std::string> apiError(const json& root) {
  if (!root.is_object()) {
    return std::nullopt;
  }
  auto text = [](const json& object, const char* key) -> std::string {
    const auto it = object.find(key);
    if (it == object.end()) {
      return "";
    }
    return it->is_string() ? it->get<std::string>() : it->dump();
  };
  if (const auto it = root.find("error"); it != root.end() && !it->is_null()) {
    if (it->is_object()) {
      const std::string code = text(*it, "code");
      const std::string message = text(*it, "message");
      return code.empty() ? message : code + ": " + message;
    }
    return it->is_string() ? it->get<std::string>() : it->dump();
  }
  if (const auto it = root.find("status"); it != root.end() && *it == "error") {
    const std::string message = text(root, "message");
    return message.empty() ? "(no message)" : message;
  }
  if (root.contains("title") && root.contains("status") && root["status"].is_number()) {
    std::string message = text(root, "title") + " (status " + root["status"].dump() + ")";
    if (const auto errors = root.find("errors"); errors != root.end() && errors->is_object()) {
      for (const auto& [field, reasons] : errors->items()) {
        message += "; " + field + ": " +
                   (reasons.is_array() && !reasons.empty() && reasons[0].is_string()
                        ? reasons[0].get<std::string>()
                        : reasons.dump());
      }
    }
    return message;
  }
  return std::nullopt;
}

// Typed reads of one object's fields, each naming its path in errors; the first fault is kept in
// `error` as "<path>: <what>" and every later read returns nothing.
class ObjectReader {
 public:
  ObjectReader(const json& object, std::string path, std::string& error)
      : object_(object), path_(std::move(path)), error_(error) {
    if (error_.empty() && !object.is_object()) {
      fail(path_, "expected an object, got " + describe(object));
    }
  }

  bool ok() const { return error_.empty(); }
  std::string childPath(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }

  // The field, or nullptr when absent (an error when `required`).
  const json* get(std::string_view key, bool required) {
    if (!ok()) {
      return nullptr;
    }
    const auto it = object_.find(key);
    if (it == object_.end()) {
      if (required) {
        fail(path_, "missing field " + quote(key));
      }
      return nullptr;
    }
    return &*it;
  }

  std::optional<std::string> text(std::string_view key, bool required) {
    const json* value = get(key, required);
    if (value == nullptr) {
      return std::nullopt;
    }
    if (!value->is_string()) {
      fail(childPath(key), "expected a string, got " + describe(*value));
      return std::nullopt;
    }
    return value->get<std::string>();
  }

  // A finite number >= 0 (gCO2eq/kWh). With `nullable`, absent or null is "no value" (nullopt
  // without an error).
  std::optional<double> intensity(std::string_view key, bool nullable = false) {
    const json* value = get(key, !nullable);
    if (value == nullptr || (nullable && value->is_null())) {
      return std::nullopt;
    }
    if (!value->is_number()) {
      fail(childPath(key), "expected a number (gCO2eq/kWh), got " + describe(*value));
      return std::nullopt;
    }
    const double number = value->get<double>();
    if (!std::isfinite(number)) {
      fail(childPath(key), "must be a finite number, got " + value->dump());
      return std::nullopt;
    }
    if (number < 0) {
      fail(childPath(key), "must not be negative, got " + value->dump());
      return std::nullopt;
    }
    return number + 0.0;  // -0 reads as 0
  }

  // Optional; null is absent.
  std::optional<bool> boolean(std::string_view key) {
    const json* value = get(key, false);
    if (value == nullptr || value->is_null()) {
      return std::nullopt;
    }
    if (!value->is_boolean()) {
      fail(childPath(key), "expected true or false, got " + describe(*value));
      return std::nullopt;
    }
    return value->get<bool>();
  }

  std::optional<SystemTime> time(std::string_view key) {
    const std::optional<std::string> value = text(key, true);
    if (!value) {
      return std::nullopt;
    }
    std::optional<SystemTime> parsed = parseRfc3339(*value);
    if (!parsed) {
      fail(childPath(key), "not an RFC 3339 time: " + quote(*value));
    }
    return parsed;
  }

  // `path` empty: the fault is the body's own.
  void fail(std::string_view path, const std::string& message) {
    if (error_.empty()) {
      error_ = path.empty() ? message : std::string(path) + ": " + message;
    }
  }

 private:
  const json& object_;
  const std::string path_;
  std::string& error_;
};

// A .NET TimeSpan as the SDK's JSON writes it, "[d.]hh:mm:ss[.fffffff]", in whole seconds.
std::optional<std::chrono::seconds> parseTimeSpan(std::string_view text) {
  auto digits = [&](size_t& pos, size_t min, size_t max) -> std::optional<int64_t> {
    const size_t start = pos;
    int64_t value = 0;
    while (pos < text.size() && pos - start < max && text[pos] >= '0' && text[pos] <= '9') {
      value = value * 10 + (text[pos] - '0');
      pos++;
    }
    return pos - start >= min ? std::optional<int64_t>(value) : std::nullopt;
  };
  size_t pos = 0;
  int64_t days = 0;
  std::optional<int64_t> first = digits(pos, 1, 8);
  if (!first) {
    return std::nullopt;
  }
  // Leading digits followed by '.' are days; by ':' they were the hours.
  std::optional<int64_t> hours = first;
  if (pos < text.size() && text[pos] == '.') {
    days = *first;
    pos++;
    hours = digits(pos, 2, 2);
    if (!hours) {
      return std::nullopt;
    }
  } else if (pos != 2) {
    return std::nullopt;
  }
  if (pos >= text.size() || text[pos++] != ':') {
    return std::nullopt;
  }
  const std::optional<int64_t> minutes = digits(pos, 2, 2);
  if (!minutes || pos >= text.size() || text[pos++] != ':') {
    return std::nullopt;
  }
  const std::optional<int64_t> seconds = digits(pos, 2, 2);
  if (!seconds) {
    return std::nullopt;
  }
  if (pos < text.size() && text[pos] == '.') {
    pos++;
    if (!digits(pos, 1, 7)) {
      return std::nullopt;
    }
  }
  if (pos != text.size() || days > kMaxTimeSpanDays || *hours > 23 || *minutes > 59 ||
      *seconds > 59) {
    return std::nullopt;
  }
  return std::chrono::seconds(((days * 24 + *hours) * 60 + *minutes) * 60 + *seconds);
}

// The adapters' common start: the body parsed, not an error body, and of the expected kind.
std::optional<json> readBody(std::string_view text, bool want_array, std::string& error) {
  std::optional<json> root = parseJson(text, error);
  if (!root) {
    return std::nullopt;
  }
  if (std::optional<std::string> message = apiError(*root)) {
    error = "the API answered an error: " + *message;
    return std::nullopt;
  }
  if (want_array ? !root->is_array() : !root->is_object()) {
    error = std::string("expected a JSON ") + (want_array ? "array" : "object") + ", got " +
            describe(*root);
    return std::nullopt;
  }
  return root;
}

// ---- UK Carbon Intensity pieces ----------------------------------------------------------------

// The list of half-hour periods, national or of one region; sets `path` to its path.
const json* ukPeriods(const json& root, std::string& path, std::string& error) {
  const auto data = root.find("data");
  if (data == root.end()) {
    error = "missing field \"data\"";
    return nullptr;
  }
  // The regional shapes: {"data":[{"regionid":..,"data":[periods]}]}, or for the forward
  // regional endpoints {"data":{"regionid":..,"data":[periods]}}.
  const json* region = nullptr;
  path = "data";
  if (data->is_object()) {
    region = &*data;
  } else if (data->is_array() && !data->empty() && (*data)[0].is_object() &&
             ((*data)[0].contains("regionid") || (*data)[0].contains("data"))) {
    if (data->size() != 1) {
      error =
          "data: expected one region (/regional/regionid/N), got " + std::to_string(data->size());
      return nullptr;
    }
    region = &(*data)[0];
    path = "data[0]";
  }
  if (region != nullptr) {
    const auto periods = region->find("data");
    if (periods == region->end()) {
      error = path + ": missing field \"data\"";
      return nullptr;
    }
    path += ".data";
    return &*periods;
  }
  return &*data;
}

struct UkPeriod {
  SystemTime from;
  SystemTime to;
  double intensity = 0;
  bool is_estimated = false;
};

std::optional<UkPeriod> ukPeriod(const json& entry, const std::string& path, std::string& error) {
  ObjectReader period(entry, path, error);
  const std::optional<SystemTime> from = period.time("from");
  const std::optional<SystemTime> to = period.time("to");
  if (from && to && *to <= *from) {
    period.fail(period.childPath("to"), "must be after \"from\"");
  }
  const json* intensity = period.get("intensity", true);
  if (!period.ok()) {
    return std::nullopt;
  }
  ObjectReader values(*intensity, period.childPath("intensity"), error);
  const std::optional<double> actual = values.intensity("actual", true);
  const std::optional<double> forecast = values.intensity("forecast", true);
  if (!values.ok()) {
    return std::nullopt;
  }
  if (!actual && !forecast) {
    values.fail(period.childPath("intensity"), "neither \"actual\" nor \"forecast\" has a value");
    return std::nullopt;
  }
  UkPeriod out;
  out.from = *from;
  out.to = *to;
  out.intensity = actual ? *actual : *forecast;
  out.is_estimated = !actual;
  return out;
}

}  // namespace

// ---- Electricity Maps -------------------------------------------------------------------------

ParseResult parseElectricityMaps(std::string_view text, const config::Locality& locality,
                                 std::chrono::seconds ttl, std::string_view expected_zone) {
  const std::string_view source = kSourceElectricityMaps;
  if (locality.region.empty()) {
    return failure(source, "the locality has no region");
  }
  std::string error;
  const std::optional<json> root = readBody(text, /*want_array=*/false, error);
  if (!root) {
    return failure(source, error);
  }
  ObjectReader body(*root, "", error);
  const std::optional<std::string> zone = body.text("zone", true);
  if (zone && !expected_zone.empty() && *zone != expected_zone) {
    body.fail("zone", "expected " + quote(expected_zone) + ", got " + quote(*zone));
  }
  if (const json* value = body.get("carbonIntensity", true); value && value->is_null()) {
    body.fail("carbonIntensity",
              "null: Electricity Maps has no value for zone " + quote(zone.value_or("?")));
  }
  const std::optional<double> intensity = body.intensity("carbonIntensity");
  const std::optional<SystemTime> observed_at = body.time("datetime");
  std::optional<config::EmissionFactor> factor = config::EmissionFactor::Lifecycle;
  if (const json* value = body.get("emissionFactorType", false); value && !value->is_null()) {
    const std::optional<std::string> word = body.text("emissionFactorType", true);
    factor = word ? parseEmissionFactor(*word) : std::nullopt;
    if (word && !factor) {
      body.fail("emissionFactorType",
                "unknown emission factor " + quote(*word) + " (expected lifecycle or direct)");
    }
  }
  const std::optional<bool> is_estimated = body.boolean("isEstimated");
  if (!body.ok()) {
    return failure(source, error);
  }
  ParseResult result;
  CarbonSignal& signal = result.signals.emplace_back();
  signal.locality = locality;
  signal.intensity = *intensity;
  signal.type = config::CarbonSignalType::Average;
  signal.factor = *factor;
  signal.source = std::string(source);
  signal.is_estimated = is_estimated.value_or(false);
  signal.observed_at = *observed_at;
  signal.ttl = ttl;
  return result;
}

std::optional<std::string> electricityMapsUrl(std::string_view base, std::string_view zone) {
  while (!base.empty() && base.back() == '/') {
    base.remove_suffix(1);
  }
  if (base.empty() || zone.empty()) {
    return std::nullopt;
  }
  std::string url = std::string(base) + "/v3/carbon-intensity/latest?zone=";
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (const char c : zone) {
    const auto byte = static_cast<unsigned char>(c);
    // RFC 3986's unreserved characters pass; everything else is escaped.
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      url += c;
    } else {
      url += '%';
      url += kHex[byte >> 4];
      url += kHex[byte & 0xF];
    }
  }
  return url;
}

HttpHeaders electricityMapsHeaders(std::string_view token) {
  return {{"auth-token", std::string(token)}};
}

// ---- Carbon Aware SDK -------------------------------------------------------------------------

ParseResult parseCarbonAwareSdk(std::string_view text,
                                const std::map<std::string, config::Locality>& locations,
                                std::chrono::seconds ttl, config::CarbonSignalType type,
                                config::EmissionFactor factor) {
  const std::string_view source = kSourceCarbonAwareSdk;
  for (const auto& [name, locality] : locations) {
    if (locality.region.empty()) {
      return failure(source, "location " + quote(name) + " maps to a locality without a region");
    }
  }
  std::string error;
  const std::optional<json> root = readBody(text, /*want_array=*/true, error);
  if (!root) {
    return failure(source, error);
  }
  if (root->empty()) {
    return failure(source, "no emissions data (an empty array)");
  }
  ParseResult result;
  std::vector<std::string> ignored;
  // Kept in the payload's order of first appearance, so the result does not depend on the map.
  std::vector<std::string> names;
  for (size_t i = 0; i < root->size(); i++) {
    ObjectReader entry((*root)[i], "[" + std::to_string(i) + "]", error);
    const std::optional<std::string> location = entry.text("location", true);
    if (location && location->empty()) {
      entry.fail(entry.childPath("location"), "must not be empty");
    }
    const std::optional<SystemTime> time = entry.time("time");
    const std::optional<double> rating = entry.intensity("rating");
    std::optional<std::chrono::seconds> duration;
    if (const json* value = entry.get("duration", false); value && !value->is_null()) {
      const std::optional<std::string> span = entry.text("duration", true);
      duration = span ? parseTimeSpan(*span) : std::nullopt;
      if (span && !duration) {
        entry.fail(entry.childPath("duration"),
                   "expected a time span such as \"08:00:00\", got " + quote(*span));
      } else if (duration && duration->count() == 0) {
        entry.fail(entry.childPath("duration"), "must be positive, got " + quote(*span));
      }
    }
    if (!entry.ok()) {
      return failure(source, error);
    }
    const auto mapped = locations.find(*location);
    if (mapped == locations.end()) {
      if (std::find(ignored.begin(), ignored.end(), *location) == ignored.end()) {
        ignored.push_back(*location);
      }
      continue;
    }
    const auto known = std::find(names.begin(), names.end(), *location);
    const size_t index = static_cast<size_t>(known - names.begin());
    if (known != names.end() && result.signals[index].observed_at >= *time) {
      continue;  // an older (or equally old) value than the one kept
    }
    CarbonSignal signal;
    signal.locality = mapped->second;
    signal.intensity = *rating;
    signal.type = type;
    signal.factor = factor;
    signal.source = std::string(source);
    signal.observed_at = *time;
    signal.ttl = duration.value_or(ttl);
    if (known == names.end()) {
      names.push_back(*location);
      result.signals.push_back(std::move(signal));
    } else {
      result.signals[index] = std::move(signal);
    }
  }
  result.ignored = ignored.size();
  if (result.signals.empty()) {
    std::string list;
    for (const std::string& name : ignored) {
      list += (list.empty() ? "" : ", ") + quote(name);
    }
    result.error =
        std::string(source) + ": none of the payload's locations is mapped (got " + list + ")";
  }
  return result;
}

// ---- UK Carbon Intensity ----------------------------------------------------------------------

ParseResult parseUkCarbonIntensity(std::string_view text, const config::Locality& locality,
                                   std::chrono::seconds ttl) {
  const std::string_view source = kSourceUkCarbonIntensity;
  if (locality.region.empty()) {
    return failure(source, "the locality has no region");
  }
  std::string error;
  const std::optional<json> root = readBody(text, /*want_array=*/false, error);
  if (!root) {
    return failure(source, error);
  }
  std::string path;
  const json* periods = ukPeriods(*root, path, error);
  if (periods == nullptr) {
    return failure(source, error);
  }
  if (!periods->is_array()) {
    return failure(source, path + ": expected an array, got " + describe(*periods));
  }
  if (periods->empty()) {
    return failure(source, path + ": no periods (an empty array)");
  }
  std::optional<UkPeriod> latest;
  for (size_t i = 0; i < periods->size(); i++) {
    const std::optional<UkPeriod> period =
        ukPeriod((*periods)[i], path + "[" + std::to_string(i) + "]", error);
    if (!period) {
      return failure(source, error);
    }
    if (!latest || period->from > latest->from) {
      latest = period;
    }
  }
  ParseResult result;
  CarbonSignal& signal = result.signals.emplace_back();
  signal.locality = locality;
  signal.intensity = latest->intensity;
  signal.type = config::CarbonSignalType::Average;
  signal.factor = config::EmissionFactor::Direct;
  signal.source = std::string(source);
  signal.is_estimated = latest->is_estimated;
  signal.observed_at = latest->from;
  signal.ttl =
      std::max(std::chrono::duration_cast<std::chrono::seconds>(latest->to - latest->from), ttl);
  return result;
}

}  // namespace strait::carbon
