#pragma once

// Parses and validates strait.yaml into an immutable Bootstrap, or a list of precise errors.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/types.h"

namespace strait::config {

class TreeNode;

struct ConfigError {
  std::string file;
  int line = 0;    // 1-based; 0 when unknown
  int column = 0;  // 1-based; 0 when unknown
  std::string path;     // e.g. "listeners[0].http.max_headers"
  std::string message;  // what is wrong and what is allowed

  // "FILE:LINE:COL: path: message"
  std::string toString() const;
};

// An error path that starts in a top-level list, taken apart: "clusters[3].endpoints[0].port"
// is list "clusters", index 3, rest ".endpoints[0].port". Those who merge or assemble lists
// (strait-cp's groups, the proxy's pushed resources) map the index back to where it came from.
struct ListPath {
  std::string list;
  size_t index = 0;
  std::string rest;
};
std::optional<ListPath> splitListPath(const std::string& path);

struct LoadResult {
  BootstrapSharedPtr bootstrap;  // null when errors is not empty
  std::vector<ConfigError> errors;
  bool ok() const { return bootstrap != nullptr && errors.empty(); }
};

// Reads, parses and validates a file. Never throws.
LoadResult loadFile(const std::string& path);
// The same for a file's text already read (the config watch hashes what it read, so that what
// it parses is exactly what it compares); `path` becomes the config's source_path.
LoadResult loadFileText(const std::string& text, const std::string& path);
// Parses and validates YAML text; `file` is only used in error messages.
LoadResult loadString(const std::string& yaml, const std::string& file);
// Validates a document already parsed (config/tree.h; strait-cp merges a group's files into
// one, the proxy assembles the pushed resources into one); error positions are the nodes' own
// marks.
LoadResult loadTree(const TreeNode& document, const std::string& file);
// Parses and validates JSON text: the same loader, the same checks, without yaml-cpp; errors
// have no line, only the path (a syntax error has its line and column).
LoadResult loadJson(std::string_view json, const std::string& file);

}  // namespace strait::config
