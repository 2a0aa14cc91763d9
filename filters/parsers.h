#pragma once

// Registers the config parser of every built-in filter (config::registerFilterParser) and
// nothing of the filters themselves: strait-cp validates filter blocks with the proxy's own
// parsers without linking proxy code. The proxy calls registerBuiltinFilters() instead, which
// registers the parsers and the filter factories.

namespace strait::filters {

void registerBuiltinFilterParsers();

}  // namespace strait::filters
