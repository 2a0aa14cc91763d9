#pragma once

// The `load_shed` stream filter (docs/config.md, "load_shed"): gives each request a priority
// class (PriorityResolver) and asks the ShedController whether to shed it, given the overload of
// the process and the event-loop lag of the request's own worker. Shed: 503
// `load_shed <class> <cause>` with `retry-after` and `x-strait-overloaded: true`, flag LS.
// Dry run: counts what would have been shed and lets every request through.
//
// Scope: the factory (settings, resolver, stats handles) is per listener per config snapshot,
// shared by the workers. The ShedRuntime (controller + its main-thread sampling timer) is per
// process and carries over a reload when the entry is unchanged. Per request: a few relaxed
// atomic loads, one draw when the probability is strictly between 0 and 1, no lock, no
// allocation unless the request is shed.
//
// Threads: the runtime's timer runs on the main dispatcher and is destroyed there: a factory
// released on a worker (the last stream of an old snapshot) posts its reference to the runtime
// to the main thread, so the runtime (and its timer) always dies on the main thread, and never
// inside its own timer callback.

#include <array>
#include <memory>
#include <string>

#include "filters/common/concurrency_signal.h"
#include "filters/load_shed/config.h"
#include "filters/load_shed/priority.h"
#include "filters/load_shed/shed_controller.h"
#include "strait/http/filter.h"

namespace strait::filters::load_shed {

// The controller and what feeds it: every `interval` on the main thread, one SignalSample read
// from the listener's ConcurrencySignal and the ProcessSignals, then the gauges.
class ShedRuntime {
 public:
  struct Gauges {
    stats::Gauge overload;                                 // permille
    std::array<stats::Gauge, kPriorityCount> probability;  // permille, by class
    std::array<stats::Gauge, kSignalCount> pressure;       // permille, by signal
  };

  // Main thread. Starts the timer.
  ShedRuntime(const LoadShedConfig& config, const http::ProcessContext& process,
              std::shared_ptr<ConcurrencySignal> signal, stats::Store& store, Gauges gauges);
  // Main thread only (see the file comment).
  ~ShedRuntime();

  ShedController& controller() { return controller_; }
  const ShedController& controller() const { return controller_; }
  const http::ProcessSignals& signals() const { return process_.signals; }
  const ConcurrencySignal& concurrency() const { return *signal_; }
  // One sampling step (the timer's callback; tests may call it).
  void tick();

 private:
  ShedController controller_;
  const http::ProcessContext& process_;
  std::shared_ptr<ConcurrencySignal> signal_;
  stats::Store& store_;
  Gauges gauges_;
  event::TimerPtr timer_;
};

struct ClassCounters {
  stats::Counter admitted;
  std::array<stats::Counter, kSignalCount> shed;          // by cause
  std::array<stats::Counter, kSignalCount> dry_run_shed;  // by cause
};

class LoadShedFactory : public http::FilterFactory {
 public:
  LoadShedFactory(const LoadShedSettings& settings, http::FilterFactoryContext& context);
  ~LoadShedFactory() override;
  http::StreamFilterPtr createFilter() const override;

  const LoadShedConfig& config() const { return settings_.load_shed; }
  const PriorityResolver& resolver() const { return resolver_; }
  const std::shared_ptr<ShedRuntime>& runtime() const { return runtime_; }
  const ClassCounters& counters(Priority priority) const {
    return counters_[static_cast<size_t>(priority)];
  }
  stats::Counter untrustedPriority() const { return untrusted_priority_; }
  stats::Counter invalidPriority() const { return invalid_priority_; }
  const std::string& retryAfter() const { return retry_after_; }

 private:
  const LoadShedSettings& settings_;
  event::Dispatcher& main_dispatcher_;
  PriorityResolver resolver_;
  std::shared_ptr<ShedRuntime> runtime_;
  std::array<ClassCounters, kPriorityCount> counters_;
  stats::Counter untrusted_priority_;
  stats::Counter invalid_priority_;
  std::string retry_after_;  // seconds
};

void registerLoadShedFilter();

}  // namespace strait::filters::load_shed
