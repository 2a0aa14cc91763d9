#include "config/tree.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <nlohmann/json.hpp>

namespace strait::config {

namespace {

Mark markOf(const YAML::Mark& mark) {
  if (mark.is_null() || mark.line < 0 || mark.column < 0) {
    return Mark{};
  }
  return Mark{mark.line, mark.column};
}

TreeNode::Kind kindOf(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return TreeNode::Kind::Null;
    case YAML::NodeType::Scalar:
      return TreeNode::Kind::Scalar;
    case YAML::NodeType::Sequence:
      return TreeNode::Kind::List;
    case YAML::NodeType::Map:
      return TreeNode::Kind::Map;
    default:
      return TreeNode::Kind::Undefined;
  }
}

// Builds the tree from nlohmann's SAX events: containers in progress on a stack, each finished
// value moved into its parent, so no intermediate nlohmann::json is ever built.
class TreeBuilder : public nlohmann::json_sax<nlohmann::json> {
 public:
  std::optional<TreeNode> root;
  std::optional<SyntaxError> error;

  bool null() override { return put(TreeNode(TreeNode::Kind::Null)); }
  bool boolean(bool value) override {
    return put(TreeNode::scalar(value ? "true" : "false", false));
  }
  bool number_integer(number_integer_t value) override {
    return put(TreeNode::scalar(std::to_string(value), false));
  }
  bool number_unsigned(number_unsigned_t value) override {
    return put(TreeNode::scalar(std::to_string(value), false));
  }
  // The number as written, so that 0.50 stays what the source said.
  bool number_float(number_float_t, const string_t& text) override {
    return put(TreeNode::scalar(text, false));
  }
  bool string(string_t& value) override { return put(TreeNode::scalar(std::move(value), true)); }
  bool binary(binary_t&) override { return false; }  // never produced by the text parser
  bool start_object(std::size_t) override {
    open_.emplace_back(TreeNode::Kind::Map);
    keys_.emplace_back();
    return true;
  }
  bool key(string_t& value) override {
    keys_.back() = std::move(value);
    return true;
  }
  bool end_object() override {
    keys_.pop_back();
    return close();
  }
  bool start_array(std::size_t) override {
    open_.emplace_back(TreeNode::Kind::List);
    return true;
  }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& e) override {
    SyntaxError out;
    out.mark.column = static_cast<int>(position);  // a byte offset; turned into line:col later
    out.message = e.what();
    // nlohmann's what() is "[json.exception.parse_error.101] parse error at line 1, column 5:
    // syntax error ..."; keep the reason after the position.
    if (size_t colon = out.message.find(": "); colon != std::string::npos) {
      out.message = out.message.substr(colon + 2);
    }
    error = std::move(out);
    return false;
  }

 private:
  bool put(TreeNode value) {
    if (open_.empty()) {
      root = std::move(value);
    } else if (open_.back().isMap()) {
      open_.back().add(std::move(keys_.back()), std::move(value));
    } else {
      open_.back().push(std::move(value));
    }
    return true;
  }
  bool close() {
    TreeNode done = std::move(open_.back());
    open_.pop_back();
    return put(std::move(done));
  }

  std::vector<TreeNode> open_;
  std::vector<std::string> keys_;
};

// A byte offset as a 0-based line and column.
Mark markAt(std::string_view text, size_t offset) {
  offset = std::min(offset, text.size());
  Mark mark{0, 0};
  for (size_t i = 0; i < offset; i++) {
    if (text[i] == '\n') {
      mark.line++;
      mark.column = 0;
    } else {
      mark.column++;
    }
  }
  return mark;
}

}  // namespace

TreeNode TreeNode::scalar(std::string text, bool quoted, Mark mark) {
  TreeNode node(Kind::Scalar, mark);
  node.text_ = std::move(text);
  node.quoted_ = quoted;
  return node;
}

void TreeNode::add(TreeEntry entry) { entries_.push_back(std::move(entry)); }

void TreeNode::add(std::string key, TreeNode value) {
  TreeEntry entry;
  entry.key = std::move(key);
  entry.key_mark = value.mark();
  entry.value = std::move(value);
  entries_.push_back(std::move(entry));
}

void TreeNode::set(std::string_view key, TreeNode value) {
  if (TreeNode* existing = findMutable(key)) {
    *existing = std::move(value);
  } else {
    add(std::string(key), std::move(value));
  }
}

bool TreeNode::remove(std::string_view key) {
  size_t before = entries_.size();
  std::erase_if(entries_, [&](const TreeEntry& entry) {
    return entry.key_kind == Kind::Scalar && entry.key == key;
  });
  return entries_.size() != before;
}

const TreeNode* TreeNode::find(std::string_view key) const {
  for (const TreeEntry& entry : entries_) {
    if (entry.key_kind == Kind::Scalar && entry.key == key) {
      return &entry.value;
    }
  }
  return nullptr;
}

TreeNode* TreeNode::findMutable(std::string_view key) {
  return const_cast<TreeNode*>(static_cast<const TreeNode*>(this)->find(key));
}

size_t TreeNode::size() const {
  if (isList()) {
    return items_.size();
  }
  if (isMap()) {
    return entries_.size();
  }
  return 0;
}

TreeNode fromYaml(const YAML::Node& node) {
  if (!node.IsDefined()) {
    return TreeNode();
  }
  Mark mark = markOf(node.Mark());
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return TreeNode::scalar(node.Scalar(), node.Tag() == "!", mark);
    case YAML::NodeType::Sequence: {
      TreeNode out(TreeNode::Kind::List, mark);
      for (const YAML::Node& item : node) {
        out.push(fromYaml(item));
      }
      return out;
    }
    case YAML::NodeType::Map: {
      TreeNode out(TreeNode::Kind::Map, mark);
      // A range-for over value copies: `it->first` on yaml-cpp's proxy iterator trips GCC 12's
      // -Wdangling-pointer.
      for (const auto& pair : node) {
        TreeEntry entry;
        const YAML::Node key = pair.first;
        entry.key_kind = kindOf(key);
        entry.key_mark = markOf(key.Mark());
        if (key.IsScalar()) {
          entry.key = key.Scalar();
        }
        entry.value = fromYaml(pair.second);
        out.add(std::move(entry));
      }
      return out;
    }
    default:
      return TreeNode(kindOf(node), mark);
  }
}

std::optional<TreeNode> parseYaml(const std::string& text, SyntaxError& error) {
  try {
    YAML::Node document = YAML::Load(text);
    if (!document.IsDefined()) {
      return TreeNode(TreeNode::Kind::Null);
    }
    return fromYaml(document);
  } catch (const YAML::Exception& e) {
    // yaml-cpp's `msg` is the bare reason, without the position it prepends to what().
    error.mark = markOf(e.mark);
    error.message = e.msg;
  }
  return std::nullopt;
}

std::optional<TreeNode> parseJson(std::string_view text, SyntaxError& error) {
  TreeBuilder builder;
  bool ok = nlohmann::json::sax_parse(text.begin(), text.end(), &builder,
                                      nlohmann::json::input_format_t::json, true);
  if (ok && builder.root.has_value()) {
    return std::move(builder.root);
  }
  if (builder.error.has_value()) {
    error.message = builder.error->message;
    // nlohmann's position counts the byte that failed (1-based): point at it.
    size_t offset = static_cast<size_t>(builder.error->mark.column);
    error.mark = markAt(text, offset == 0 ? 0 : offset - 1);
  } else {
    error.mark = Mark{};
    error.message = "not valid JSON";
  }
  return std::nullopt;
}

}  // namespace strait::config
