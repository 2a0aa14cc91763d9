#include "filters/builtin.h"

#include "filters/adaptive_concurrency/adaptive_concurrency_filter.h"
#include "filters/bulkhead/bulkhead_filter.h"
#include "filters/fault/fault_filter.h"
#include "filters/load_shed/load_shed_filter.h"
#include "filters/mtls_authz/authz_filter.h"

namespace strait::filters {

void registerBuiltinFilters() {
  static const bool once = [] {
    authz::registerAuthzFilter();
    fault::registerFaultFilter();
    bulkhead::registerBulkheadFilter();
    adaptive_concurrency::registerAdaptiveConcurrencyFilter();
    load_shed::registerLoadShedFilter();
    return true;
  }();
  (void)once;
}

}  // namespace strait::filters
