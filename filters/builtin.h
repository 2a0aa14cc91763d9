#pragma once

namespace strait::filters {

// Registers every built-in filter's config parser and factory builder by name. Call once at
// startup, before any config is loaded (the loader validates filter configs through them).
void registerBuiltinFilters();

}  // namespace strait::filters
