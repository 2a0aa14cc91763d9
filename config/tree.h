#pragma once

// The parsed form of a config document that the section parsers read: maps, lists and scalars
// with their positions. A YAML file (yaml-cpp) and a JSON text (nlohmann's SAX parser, for the
// resources strait-cp pushes) both become this one tree, so the loader has one set of parsers
// and one set of checks, and the proxy's discovery path never goes through yaml-cpp.
//
// Scalars are kept as text, as YAML sees them: a JSON 8080 reads as the plain scalar "8080", a
// JSON "8080" as the quoted one. `quoted` is what the canonical form (config/canonical.h) needs
// to tell a string from a number.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace YAML {
class Node;
}  // namespace YAML

namespace strait::config {

// A 0-based position in the source text; unknown (-1) for nodes that came from JSON or were
// built by code.
struct Mark {
  int line = -1;
  int column = -1;
  bool known() const { return line >= 0 && column >= 0; }
};

struct TreeEntry;

class TreeNode {
 public:
  enum class Kind {
    Undefined,  // not there (a missing key, a filter entry without `config`)
    Null,       // YAML's ~, null or nothing; JSON's null
    Scalar,
    List,
    Map,
  };

  TreeNode() = default;
  explicit TreeNode(Kind kind, Mark mark = {}) : kind_(kind), mark_(mark) {}
  static TreeNode scalar(std::string text, bool quoted, Mark mark = {});

  Kind kind() const { return kind_; }
  bool isDefined() const { return kind_ != Kind::Undefined; }
  bool isNull() const { return kind_ == Kind::Null; }
  bool isScalar() const { return kind_ == Kind::Scalar; }
  bool isList() const { return kind_ == Kind::List; }
  bool isMap() const { return kind_ == Kind::Map; }
  const Mark& mark() const { return mark_; }

  // Scalars.
  const std::string& text() const { return text_; }
  bool quoted() const { return quoted_; }

  // Lists.
  const std::vector<TreeNode>& items() const { return items_; }
  void push(TreeNode item) { items_.push_back(std::move(item)); }

  // Maps, in document order; repeated keys are kept (the loader reports them).
  const std::vector<TreeEntry>& entries() const { return entries_; }
  void add(TreeEntry entry);
  void add(std::string key, TreeNode value);
  // Replaces the value of the first entry with key `key`, or adds one.
  void set(std::string_view key, TreeNode value);
  // Removes every entry with key `key`; false if there was none.
  bool remove(std::string_view key);
  // The value of the first entry with a scalar key `key`, or null.
  const TreeNode* find(std::string_view key) const;
  // Mutable access for code that assembles documents (strait-cp merging a group's files).
  TreeNode* findMutable(std::string_view key);

  // Items of a list, entries of a map, 0 otherwise.
  size_t size() const;

 private:
  Kind kind_ = Kind::Undefined;
  bool quoted_ = false;
  Mark mark_;
  std::string text_;
  std::vector<TreeNode> items_;
  std::vector<TreeEntry> entries_;
};

struct TreeEntry {
  std::string key;  // the key's text when it is a scalar
  // YAML allows a list or a map as a key; the loader refuses them.
  TreeNode::Kind key_kind = TreeNode::Kind::Scalar;
  Mark key_mark;
  TreeNode value;
};

// yaml-cpp's tree as a TreeNode (positions kept). yaml-cpp marks a quoted scalar with the "!"
// tag; that becomes `quoted`.
TreeNode fromYaml(const YAML::Node& node);

// A syntax error of a text, with its position.
struct SyntaxError {
  Mark mark;
  std::string message;  // without the position
};

// Parses YAML text. An empty text gives a Null node.
std::optional<TreeNode> parseYaml(const std::string& text, SyntaxError& error);
// Parses JSON text straight into the tree (no intermediate JSON value); positions are unknown,
// except a syntax error's, which is computed from its byte offset.
std::optional<TreeNode> parseJson(std::string_view text, SyntaxError& error);

}  // namespace strait::config
