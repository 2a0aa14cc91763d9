#pragma once

// Small helpers that walk a parsed config tree (config/tree.h: from YAML or from JSON) and turn
// every problem into a ConfigError with a position and a path, so that the section parsers read
// as plain lists of keys.

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/loader.h"
#include "config/tree.h"
#include "config/types.h"

namespace strait::config::internal {

// Collects the errors of one file; parsers append here and carry on instead of stopping.
class ErrorList {
 public:
  explicit ErrorList(std::string file) : file_(std::move(file)) {}

  // `mark` is 0-based; an unknown mark gives line and column 0.
  void add(const Mark& mark, std::string path, std::string message);
  bool empty() const { return errors_.empty(); }
  const std::string& file() const { return file_; }
  // The errors in file order (stable for errors at the same position).
  std::vector<ConfigError> take();

 private:
  std::string file_;
  std::vector<ConfigError> errors_;
};

// "\"abc\"" for a scalar, "a list", "a map" or "nothing": the "got ..." part of a message.
std::string describe(const TreeNode& node);
// Double-quotes `text`, escaping quotes, backslashes and control characters.
std::string quote(std::string_view text);
// "parent.key", or "key" at the top level.
std::string childPath(const std::string& parent, std::string_view key);
// "parent[index]".
std::string indexPath(const std::string& parent, size_t index);
// Levenshtein distance, used to suggest the key that was probably meant.
size_t editDistance(std::string_view a, std::string_view b);
// The candidate nearest to `word` when it is close enough to be a plausible typo.
std::optional<std::string_view> nearestKey(std::string_view word,
                                           const std::vector<std::string_view>& candidates);
// "a, b, c".
std::string joinNames(const std::vector<std::string_view>& names);

// One node of the tree together with its config path. Conversions report a precise error and
// return nullopt when the node does not hold what the key needs. A Value points into the tree:
// the tree must outlive it (the loader's parse of one document).
class Value {
 public:
  Value(const TreeNode& node, std::string path, ErrorList& errors)
      : node_(&node), path_(std::move(path)), errors_(&errors) {}

  const TreeNode& node() const { return *node_; }
  bool isMap() const { return node_->isMap(); }
  bool isList() const { return node_->isList(); }
  const std::string& path() const { return path_; }
  ErrorList& errors() const { return *errors_; }
  Mark mark() const { return node_->mark(); }

  // Reports `message` at this node.
  void error(std::string message) const;

  std::optional<std::string> string() const;
  std::optional<std::string> nonEmptyString() const;
  std::optional<bool> boolean() const;
  // An integer in [min, max]; YAML's hex/octal forms are not accepted.
  std::optional<uint64_t> integer(uint64_t min, uint64_t max) const;
  // A decimal number in [min, max].
  std::optional<double> number(double min, double max) const;
  // A duration string (config/duration.h); `allow_zero` false rejects "0s".
  std::optional<Duration> duration(bool allow_zero = true) const;
  std::optional<std::vector<std::string>> stringList() const;

  // True for a list; reports and returns false otherwise.
  bool expectList() const;
  // The items of a list with their paths; empty (and reported) for a non-list.
  std::vector<Value> items() const;

  // One of a fixed set of words, e.g. lb policies.
  template <class E>
  std::optional<E> oneOf(std::initializer_list<std::pair<std::string_view, E>> table) const {
    std::optional<std::string> text = scalarText();
    if (text.has_value()) {
      for (const auto& [name, value] : table) {
        if (name == *text) {
          return value;
        }
      }
    }
    std::vector<std::string_view> names;
    for (const auto& entry : table) {
      names.push_back(entry.first);
    }
    error("expected one of " + joinNames(names) + ", got " + describe(*node_));
    return std::nullopt;
  }

 private:
  // The text of a non-null scalar, or nullopt (not reported).
  std::optional<std::string> scalarText() const;

  const TreeNode* node_;
  std::string path_;
  ErrorList* errors_;
};

// Reads one YAML map whose allowed keys are fixed. Unknown keys (with the nearest known key
// suggested) and duplicate keys are reported when the reader is built, so a section cannot forget
// to check them. A non-map is reported once and then reads as empty.
class MapReader {
 public:
  MapReader(const Value& value, std::initializer_list<std::string_view> known_keys);

  bool isMap() const { return is_map_; }
  const Value& self() const { return self_; }
  bool has(std::string_view key) const { return find(key) != nullptr; }
  std::optional<Value> get(std::string_view key) const;
  // Like get(), but reports a missing key at the map.
  std::optional<Value> require(std::string_view key) const;
  // Reports `message` at the map itself.
  void error(std::string message) const { self_.error(std::move(message)); }

  // These assign `out` only when the key is present and valid, so defaults stay in place.
  void readString(std::string_view key, std::string& out) const;
  void readBool(std::string_view key, bool& out) const;
  void readDuration(std::string_view key, Duration& out, bool allow_zero = true) const;
  void readUint32(std::string_view key, uint32_t& out, uint64_t min, uint64_t max) const;
  void readUint16(std::string_view key, uint16_t& out, uint64_t min, uint64_t max) const;
  void readStringList(std::string_view key, std::vector<std::string>& out) const;

 private:
  struct Entry {
    std::string_view key;  // in the tree
    const TreeNode* value;
  };
  const Entry* find(std::string_view key) const;

  Value self_;
  bool is_map_ = false;
  std::vector<Entry> entries_;
};

}  // namespace strait::config::internal
