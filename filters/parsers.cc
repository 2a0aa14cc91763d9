#include "filters/parsers.h"

#include "filters/adaptive_concurrency/config.h"
#include "filters/bulkhead/config.h"
#include "filters/fault/config.h"
#include "filters/load_shed/config.h"
#include "filters/mtls_authz/authz_config.h"

namespace strait::filters {

void registerBuiltinFilterParsers() {
  static const bool once = [] {
    authz::registerAuthzParser();
    fault::registerFaultParser();
    bulkhead::registerBulkheadParser();
    adaptive_concurrency::registerAdaptiveConcurrencyParser();
    load_shed::registerLoadShedParser();
    return true;
  }();
  (void)once;
}

}  // namespace strait::filters
