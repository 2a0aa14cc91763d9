#pragma once

// A filter's `config` block as it was parsed, with its positions. Only config code (and tests of
// it) include this: the typed config in config/types.h carries it as an opaque pointer, so the
// data path does not pull in the parser's tree.

#include "config/tree.h"

namespace strait::config {

struct RawConfig {
  TreeNode node;
};

}  // namespace strait::config
