#pragma once

// The `fault` stream filter (docs/config.md, "fault"): injects a request delay, an abort (a local
// reply with a status, or a reset), a response delay (the upstream response head held) and a
// response bandwidth limit into the requests its FaultDecider picks; and, as the listener's
// AcceptHook, resets or black-holes the connections it picks. Dry run: decides and counts,
// injects nothing.
//
// Scope: the factory (settings, stats handles, the FaultDecider) is per listener per config
// snapshot and shared read-only by the workers; the FaultDecider is per process (its
// max_active_faults cap counts across workers) and carries over a reload when the entry is
// unchanged. The per-stream filter holds one decision, its timers and the held response bytes.

#include <cstdint>
#include <memory>

#include "filters/fault/config.h"
#include "filters/fault/fault_decision.h"
#include "strait/http/filter.h"

namespace strait::filters::fault {

// While the filter holds more than this many response bytes, the upstream is asked to stop.
inline constexpr uint64_t kRateLimitHighWatermark = 64 * 1024;

struct FaultStats {
  stats::Counter delays;
  stats::Counter response_delays;
  stats::Counter aborts;
  stats::Counter resets;
  stats::Counter rate_limits;
  stats::Counter overflow;
  stats::Counter dry_run;
  stats::Counter connection_resets;
  stats::Counter connection_black_holes;
  stats::Gauge black_holes_active;  // held by the worker while a black-holed connection is open
};

class FaultFactory : public http::FilterFactory, public http::AcceptHook {
 public:
  FaultFactory(const FaultSettings& settings, http::FilterFactoryContext& context);

  // http::FilterFactory
  http::StreamFilterPtr createFilter() const override;
  // This factory when the block has connection faults, else null.
  const http::AcceptHook* acceptHook() const override;

  // http::AcceptHook: draws the connection faults (counted; dry run acts on nothing).
  http::AcceptDecision onAccept(RandomGenerator& random, stats::Shard& shard) const override;

  FaultDecider& decider() const { return *decider_; }
  const FaultStats& stats() const { return stats_; }

 private:
  FaultDeciderSharedPtr decider_;
  FaultStats stats_;
};

void registerFaultFilter();

}  // namespace strait::filters::fault
