#pragma once

// The `bulkhead` stream filter (docs/config.md, "bulkhead"): puts each request in the first
// compartment whose match holds and asks the BulkheadController for a slot. Admitted: the request
// goes on and gives the slot back when the stream ends. Queued: the request is held until a slot
// frees (it goes on) or its queue_timeout passes (503 `bulkhead <name> queue timeout`). Queue full:
// 503 `bulkhead <name> full`. Both 503s carry `x-strait-overloaded: true` and the flag UO. Dry run:
// counts what would have been queued or rejected and lets every request through.
//
// Scope: the factory (stats handles, the controller) is per listener per config snapshot, shared
// by the workers; the controller is per process and carries over a reload when the entry is
// unchanged. The per-stream filter holds its ticket and, while queued, a timer for its own
// deadline on its own worker (no shared sweeper).
//
// Threads: a queued request is admitted from whichever thread freed the slot. The Waiter only
// posts to the stream's worker; the posted callback checks a flag the filter clears in
// onDestroy(), and onDestroy() settles the ticket with cancel()/release() itself.

#include <memory>
#include <vector>

#include "filters/bulkhead/bulkhead_controller.h"
#include "filters/bulkhead/config.h"
#include "strait/http/filter.h"

namespace strait::filters::bulkhead {

struct CompartmentCounters {
  stats::Counter admitted;
  stats::Counter queued;
  stats::Counter rejected;
  stats::Counter timed_out;
  stats::Counter borrowed;
  stats::Counter dry_run_queued;
  stats::Counter dry_run_rejected;
  stats::Gauge active;
  stats::Gauge waiting;
};

class BulkheadFactory : public http::FilterFactory {
 public:
  BulkheadFactory(const BulkheadSettings& settings, http::FilterFactoryContext& context);
  http::StreamFilterPtr createFilter() const override;

  const BulkheadControllerSharedPtr& controller() const { return controller_; }
  const CompartmentCounters& counters(size_t compartment) const { return counters_[compartment]; }
  const Compartment& settingsOf(size_t compartment) const {
    return settings_.bulkhead.compartments[compartment];
  }

 private:
  const BulkheadSettings& settings_;
  BulkheadControllerSharedPtr controller_;
  std::vector<CompartmentCounters> counters_;
};

void registerBulkheadFilter();

}  // namespace strait::filters::bulkhead
