#include "config/yaml_reader.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <tuple>

#include "config/duration.h"

namespace strait::config::internal {
namespace {

std::string formatNumber(double value) {
  std::string text = std::to_string(value);
  // to_string always prints six decimals; trim them so that "100" reads as 100.
  while (!text.empty() && text.back() == '0') {
    text.pop_back();
  }
  if (!text.empty() && text.back() == '.') {
    text.pop_back();
  }
  return text;
}

std::string integerExpectation(uint64_t min, uint64_t max) {
  constexpr uint64_t kUnbounded = std::numeric_limits<uint32_t>::max();
  if (max >= kUnbounded && min == 0) {
    return "expected a non-negative integer";
  }
  if (max >= kUnbounded && min == 1) {
    return "expected a positive integer";
  }
  return "expected an integer from " + std::to_string(min) + " to " + std::to_string(max);
}

}  // namespace

// ---- ErrorList --------------------------------------------------------------------------------

void ErrorList::add(const Mark& mark, std::string path, std::string message) {
  ConfigError error;
  error.file = file_;
  if (mark.known()) {
    error.line = mark.line + 1;
    error.column = mark.column + 1;
  }
  error.path = std::move(path);
  error.message = std::move(message);
  errors_.push_back(std::move(error));
}

std::vector<ConfigError> ErrorList::take() {
  // Cross-reference checks run after the whole tree is read; sorting puts every error back in
  // the order a reader of the file meets it.
  std::stable_sort(errors_.begin(), errors_.end(), [](const ConfigError& a, const ConfigError& b) {
    return std::tie(a.line, a.column) < std::tie(b.line, b.column);
  });
  return std::move(errors_);
}

// ---- free helpers -----------------------------------------------------------------------------

std::string quote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += '?';
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::string describe(const TreeNode& node) {
  switch (node.kind()) {
    case TreeNode::Kind::List:
      return "a list";
    case TreeNode::Kind::Map:
      return "a map";
    case TreeNode::Kind::Scalar:
      return quote(node.text());
    default:
      return "nothing";
  }
}

std::string childPath(const std::string& parent, std::string_view key) {
  if (parent.empty()) {
    return std::string(key);
  }
  return parent + "." + std::string(key);
}

std::string indexPath(const std::string& parent, size_t index) {
  return parent + "[" + std::to_string(index) + "]";
}

size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> previous(b.size() + 1);
  std::vector<size_t> current(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) {
    previous[j] = j;
  }
  for (size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, substitution});
    }
    std::swap(previous, current);
  }
  return previous[b.size()];
}

std::optional<std::string_view> nearestKey(std::string_view word,
                                           const std::vector<std::string_view>& candidates) {
  std::optional<std::string_view> best;
  size_t best_distance = std::numeric_limits<size_t>::max();
  for (std::string_view candidate : candidates) {
    size_t distance = editDistance(word, candidate);
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  // Three edits catch transpositions and small misspellings; the length condition keeps a
  // one- or two-letter key from "resembling" everything.
  if (best.has_value() && best_distance <= 3 && best_distance < word.size()) {
    return best;
  }
  return std::nullopt;
}

std::string joinNames(const std::vector<std::string_view>& names) {
  std::string out;
  for (std::string_view name : names) {
    if (!out.empty()) {
      out += ", ";
    }
    out += name;
  }
  return out;
}

// ---- Value ------------------------------------------------------------------------------------

void Value::error(std::string message) const {
  errors_->add(mark(), path_, std::move(message));
}

std::optional<std::string> Value::scalarText() const {
  if (node_->isScalar()) {
    return node_->text();
  }
  return std::nullopt;
}

std::optional<std::string> Value::string() const {
  std::optional<std::string> text = scalarText();
  if (!text.has_value()) {
    error("expected a string, got " + describe(*node_));
  }
  return text;
}

std::optional<std::string> Value::nonEmptyString() const {
  std::optional<std::string> text = scalarText();
  if (!text.has_value() || text->empty()) {
    error("expected a non-empty string, got " + describe(*node_));
    return std::nullopt;
  }
  return text;
}

std::optional<bool> Value::boolean() const {
  // Only YAML 1.2's true/false: the YAML 1.1 spellings (yes, no, on, off) surprise people.
  std::optional<std::string> text = scalarText();
  if (text == "true") {
    return true;
  }
  if (text == "false") {
    return false;
  }
  error("expected true or false, got " + describe(*node_));
  return std::nullopt;
}

std::optional<uint64_t> Value::integer(uint64_t min, uint64_t max) const {
  std::optional<std::string> text = scalarText();
  uint64_t value = 0;
  bool parsed = false;
  if (text.has_value() && !text->empty()) {
    const char* begin = text->data();
    const char* end = begin + text->size();
    auto [ptr, ec] = std::from_chars(begin, end, value);
    parsed = ec == std::errc() && ptr == end;
  }
  if (!parsed || value < min || value > max) {
    error(integerExpectation(min, max) + ", got " + describe(*node_));
    return std::nullopt;
  }
  return value;
}

std::optional<double> Value::number(double min, double max) const {
  std::optional<std::string> text = scalarText();
  bool parsed = false;
  double value = 0;
  // strtod also takes hex, "inf" and "nan"; only plain decimal notation is a sensible config.
  if (text.has_value() && !text->empty() &&
      text->find_first_not_of("0123456789.eE+-") == std::string::npos) {
    char* end = nullptr;
    value = std::strtod(text->c_str(), &end);
    parsed = end == text->c_str() + text->size() && std::isfinite(value);
  }
  if (!parsed || value < min || value > max) {
    error("expected a number from " + formatNumber(min) + " to " + formatNumber(max) + ", got " +
          describe(*node_));
    return std::nullopt;
  }
  return value;
}

std::optional<Duration> Value::duration(bool allow_zero) const {
  std::optional<std::string> text = scalarText();
  if (!text.has_value()) {
    error("expected a duration, got " + describe(*node_) +
          " (a number with a unit: ms, s, m or h, e.g. 250ms or 5s)");
    return std::nullopt;
  }
  DurationParse parsed = parseDuration(*text);
  if (!parsed.ok()) {
    error(parsed.error + ", got " + describe(*node_) + " (" + parsed.allowed + ")");
    return std::nullopt;
  }
  if (!allow_zero && parsed.value.count() == 0) {
    error("expected a duration greater than zero, got " + describe(*node_));
    return std::nullopt;
  }
  return parsed.value;
}

bool Value::expectList() const {
  if (node_->isList()) {
    return true;
  }
  error("expected a list, got " + describe(*node_));
  return false;
}

std::vector<Value> Value::items() const {
  std::vector<Value> out;
  if (!expectList()) {
    return out;
  }
  out.reserve(node_->size());
  size_t index = 0;
  for (const TreeNode& item : node_->items()) {
    out.emplace_back(item, indexPath(path_, index), *errors_);
    ++index;
  }
  return out;
}

std::optional<std::vector<std::string>> Value::stringList() const {
  if (!expectList()) {
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  for (const Value& item : items()) {
    std::optional<std::string> text = item.string();
    if (text.has_value()) {
      out.push_back(std::move(*text));
    } else {
      ok = false;
    }
  }
  if (!ok) {
    return std::nullopt;
  }
  return out;
}

// ---- MapReader --------------------------------------------------------------------------------

MapReader::MapReader(const Value& value, std::initializer_list<std::string_view> known_keys)
    : self_(value) {
  const TreeNode& node = value.node();
  if (!node.isMap()) {
    value.error("expected a map, got " + describe(node));
    return;
  }
  is_map_ = true;
  std::vector<std::string_view> known(known_keys);
  entries_.reserve(node.size());
  for (const TreeEntry& pair : node.entries()) {
    if (pair.key_kind != TreeNode::Kind::Scalar) {
      value.errors().add(pair.key_mark, value.path(),
                         "keys must be strings, got " + describe(TreeNode(pair.key_kind)));
      continue;
    }
    const std::string& key = pair.key;
    std::string path = childPath(value.path(), key);
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      std::optional<std::string_view> suggestion = nearestKey(key, known);
      std::string message = "unknown key " + quote(key);
      if (suggestion.has_value()) {
        message += " (did you mean " + quote(*suggestion) + "?)";
      } else {
        message += " (allowed: " + joinNames(known) + ")";
      }
      value.errors().add(pair.key_mark, std::move(path), std::move(message));
      continue;
    }
    if (find(key) != nullptr) {
      // The tree keeps both entries of a repeated key; silently taking one would hide a mistake.
      value.errors().add(pair.key_mark, std::move(path), "duplicate key " + quote(key));
      continue;
    }
    entries_.push_back(Entry{key, &pair.value});
  }
}

const MapReader::Entry* MapReader::find(std::string_view key) const {
  for (const Entry& entry : entries_) {
    if (entry.key == key) {
      return &entry;
    }
  }
  return nullptr;
}

std::optional<Value> MapReader::get(std::string_view key) const {
  const Entry* entry = find(key);
  if (entry == nullptr) {
    return std::nullopt;
  }
  return Value(*entry->value, childPath(self_.path(), key), self_.errors());
}

std::optional<Value> MapReader::require(std::string_view key) const {
  std::optional<Value> value = get(key);
  if (!value.has_value() && is_map_) {
    self_.errors().add(self_.mark(), childPath(self_.path(), key),
                       "missing required key " + quote(key));
  }
  return value;
}

void MapReader::readString(std::string_view key, std::string& out) const {
  if (std::optional<Value> value = get(key)) {
    if (std::optional<std::string> text = value->string()) {
      out = std::move(*text);
    }
  }
}

void MapReader::readBool(std::string_view key, bool& out) const {
  if (std::optional<Value> value = get(key)) {
    if (std::optional<bool> flag = value->boolean()) {
      out = *flag;
    }
  }
}

void MapReader::readDuration(std::string_view key, Duration& out, bool allow_zero) const {
  if (std::optional<Value> value = get(key)) {
    if (std::optional<Duration> duration = value->duration(allow_zero)) {
      out = *duration;
    }
  }
}

void MapReader::readUint32(std::string_view key, uint32_t& out, uint64_t min, uint64_t max) const {
  max = std::min<uint64_t>(max, std::numeric_limits<uint32_t>::max());
  if (std::optional<Value> value = get(key)) {
    if (std::optional<uint64_t> number = value->integer(min, max)) {
      out = static_cast<uint32_t>(*number);
    }
  }
}

void MapReader::readUint16(std::string_view key, uint16_t& out, uint64_t min, uint64_t max) const {
  max = std::min<uint64_t>(max, std::numeric_limits<uint16_t>::max());
  if (std::optional<Value> value = get(key)) {
    if (std::optional<uint64_t> number = value->integer(min, max)) {
      out = static_cast<uint16_t>(*number);
    }
  }
}

void MapReader::readStringList(std::string_view key, std::vector<std::string>& out) const {
  if (std::optional<Value> value = get(key)) {
    if (std::optional<std::vector<std::string>> list = value->stringList()) {
      out = std::move(*list);
    }
  }
}

}  // namespace strait::config::internal
