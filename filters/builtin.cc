#include "filters/builtin.h"

#include "filters/mtls_authz/authz_filter.h"

namespace strait::filters {

void registerBuiltinFilters() {
  static const bool once = [] {
    authz::registerAuthzFilter();
    return true;
  }();
  (void)once;
}

}  // namespace strait::filters
