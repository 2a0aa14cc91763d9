#pragma once

// The `adaptive_concurrency` stream filter (docs/config.md, "adaptive_concurrency"): asks the
// listener's ConcurrencyController for a slot for each request. Admitted: the request goes on;
// its round-trip time (admission to the end of the upstream response) is a sample when the whole
// response came. Over the limit: 503 `adaptive_concurrency over limit N` (or, with a queue, the
// request waits up to queue.timeout for a slot, then 503 `... queue timeout`), with
// `x-strait-overloaded: true` and the flag LS. Requests matching `exclude` (health checks) are
// neither limited nor sampled. Dry run: every request goes on; what would have been refused is
// counted.
//
// Scope: the factory (stats handles, the controller) is per listener per config snapshot; the
// controller is per process and carries over a reload when the entry is unchanged. The queued
// request's timer is its own, on its worker.

#include <memory>

#include "filters/adaptive_concurrency/config.h"
#include "filters/adaptive_concurrency/controller.h"
#include "strait/http/filter.h"

namespace strait::filters::adaptive_concurrency {

struct Counters {
  stats::Counter admitted;
  stats::Counter refused_over_limit;
  stats::Counter refused_queue_full;
  stats::Counter refused_queue_timeout;
  stats::Counter queued_steady;
  stats::Counter queued_probe;
  stats::Counter dry_run_refused;
  stats::Counter excluded;
  stats::Counter dropped_stale;
  stats::Counter dropped_no_response;
  stats::Counter dropped_incomplete;
  stats::Counter samples;
  stats::Gauge in_flight;
  stats::Gauge waiting;
  // Set by the controller's publisher (main shard).
  stats::Gauge limit;
  stats::Gauge min_rtt_us;
  stats::Gauge sample_rtt_us;
  stats::Gauge gradient_permille;
  stats::Gauge probing;
  stats::Gauge recalculations;
  stats::Gauge probes;
};

class AdaptiveConcurrencyFactory : public http::FilterFactory {
 public:
  AdaptiveConcurrencyFactory(const AdaptiveConcurrencySettings& settings,
                             http::FilterFactoryContext& context);
  http::StreamFilterPtr createFilter() const override;

  const ConcurrencyControllerSharedPtr& controller() const { return controller_; }
  const Counters& counters() const { return counters_; }
  const RequestMatcher* exclude() const { return exclude_.get(); }
  const std::shared_ptr<ConcurrencySignal>& signal() const { return signal_; }

 private:
  std::shared_ptr<ConcurrencySignal> signal_;
  ConcurrencyControllerSharedPtr controller_;
  Counters counters_;
  std::unique_ptr<RequestMatcher> exclude_;
};

void registerAdaptiveConcurrencyFilter();

}  // namespace strait::filters::adaptive_concurrency
